"""``songgen_hf.pipelines``: the ``text-to-song`` pipeline (and the checked song it takes), streaming and a
generation progress bar.

Nothing in ``songgen_hf.modeling`` imports this package; it sits on top of the model and processor.
"""

from songgen_hf.lazy_exports import lazy_exports
from songgen_hf.modeling.songgen.generation_songgen import expected_decoder_steps
from songgen_hf.modeling.songgen.progress_songgen import GenerationProgress
from songgen_hf.pipelines.requests import PipelineOptions, SongRequest, prepare_song
from songgen_hf.pipelines.resgen_text_to_song import ResGenTextToSongPipeline  # the task's ResGen variant
from songgen_hf.pipelines.streaming import GenerationCancelled, SongGenStreamer, stream_song
from songgen_hf.pipelines.text_to_song import (
    TASK,
    PreparedPipeline,
    TextToSongPipeline,
    load_text_to_song_pipeline,
    prepare_pipeline,
    register_text_to_song_pipeline,
    text_to_song_pipeline,
)

# diffusers' DiffusionPipeline imports its whole model zoo: loaded when ResGenPipeline is first used
__getattr__, __dir__ = lazy_exports(
    __name__, {"ResGenPipeline": "songgen_hf.modeling.resgen.pipeline_resgen"}, globals()
)

__all__ = [
    "TASK",
    "GenerationCancelled",
    "GenerationProgress",
    "PipelineOptions",
    "PreparedPipeline",
    "ResGenPipeline",
    "ResGenTextToSongPipeline",
    "SongGenStreamer",
    "SongRequest",
    "TextToSongPipeline",
    "expected_decoder_steps",
    "load_text_to_song_pipeline",
    "prepare_pipeline",
    "prepare_song",
    "register_text_to_song_pipeline",
    "stream_song",
    "text_to_song_pipeline",
]
