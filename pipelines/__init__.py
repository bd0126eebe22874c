"""``songgen_hf.pipelines``: the ``text-to-song`` pipeline (and the checked song it takes), streaming and a
generation progress bar.

Nothing in ``songgen_hf.modeling`` imports this package; it sits on top of the model and processor.
"""

from songgen_hf.utils.lazy_exports import lazy_exports

# Loaded on first use, so that what only needs the loader (the command line's checks before any model loads:
# songgen_hf.pipelines.loading) never imports torch and transformers through this package; diffusers' ResGen
# pipeline likewise waits for its first use
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "expected_decoder_steps": "songgen_hf.modeling.songgen.generation_songgen",
        "GenerationProgress": "songgen_hf.modeling.songgen.progress_songgen",
        **dict.fromkeys(("SongRequest", "prepare_song"), "songgen_hf.pipelines.requests"),
        "ResGenTextToSongPipeline": "songgen_hf.pipelines.resgen_text_to_song",
        **dict.fromkeys(("GenerationCancelled", "SongGenStreamer", "stream_song"), "songgen_hf.pipelines.streaming"),
        **dict.fromkeys(
            (
                "TASK",
                "TextToSongPipeline",
                "load_text_to_song_pipeline",
                "prepare_pipeline",
                "register_text_to_song_pipeline",
                "text_to_song_pipeline",
            ),
            "songgen_hf.pipelines.text_to_song",
        ),
        "ResGenPipeline": "songgen_hf.modeling.resgen.pipeline_resgen",
    },
    globals(),
)

__all__ = [
    "TASK",
    "GenerationCancelled",
    "GenerationProgress",
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
