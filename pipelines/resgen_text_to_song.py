"""The ``text-to-song`` task for a ResGen model: :class:`TextToSongPipeline`'s inputs and outputs over ResGen's
masked parallel decoding.

Kept apart from :mod:`songgen_hf.modeling.resgen.pipeline_resgen` (the diffusers ``DiffusionPipeline``): importing
diffusers' pipeline base loads its whole model zoo, which registering the task at ``import songgen_hf`` must not pay;
songs are sampled by ``model.generate`` (the masked decoding the diffusers pipeline runs too), which loads diffusers'
scheduler on the first song.
"""

from __future__ import annotations

import os
from typing import Any

from transformers import Pipeline

from songgen_hf.modeling.limits import check_pipeline_options
from songgen_hf.modeling.resgen import ResGenScheduler, check_resgen_arguments
from songgen_hf.modeling.resgen.arguments import CHECKED_ARGUMENTS
from songgen_hf.pipelines.loading import resgen_arguments as _resgen_arguments
from songgen_hf.pipelines.loading import resgen_folder_of
from songgen_hf.pipelines.text_to_song import PIPELINE_CLASSES, PREPROCESS_KWARGS, TextToSongPipeline
from songgen_hf.utils.threads import apply_thread_policy

_TEXT_TO_SONG_KWARGS = frozenset(CHECKED_ARGUMENTS) | {"generator", "audio_prompt", "streamer"}


class ResGenTextToSongPipeline(TextToSongPipeline):
    """The ``text-to-song`` task for a ResGen model: same inputs and outputs as for SongGen
    (the task's factory, :func:`~songgen_hf.pipelines.text_to_song.text_to_song_pipeline`, chooses it for ResGen
    models), ResGen's knobs (``num_inference_steps``,
    ``guidance_scale``, ``duration_s``, ``temperature``, ``top_p``, ``generator``, ``audio_prompt``).
    ``streamer`` (e.g. ``GenerationProgress``) ticks once per step.  The sampling arguments are checked by the model's
    ``generate()``, which samples with them, at every call."""

    def __init__(
        self,
        *args,
        seed: int | None = None,
        scheduler: ResGenScheduler | None = None,
        **kwargs,
    ):
        self._seed = check_pipeline_options(seed, kwargs.get("device"), kwargs.get("batch_size"))
        self.adapters = self._adapter = self.singer = None  # LoRA styles and the told singer are SongGen's
        for key in ("local_files_only", "cache_dir", "force_download"):
            kwargs.pop(key, None)
        model = kwargs.get("model", args[0] if args else None)
        defaults_ = _resgen_arguments(kwargs)
        if defaults_:  # the defaults for every call, checked now; each call checks them with its own arguments
            check_resgen_arguments(defaults_, model.config)
        Pipeline.__init__(self, *args, **kwargs)
        folder = resgen_folder_of(self.model)
        if self.processor is None:
            if folder is None:
                raise ValueError(
                    "This ResGen model was not loaded from a ResGen pipeline folder; "
                    "pass processor=SongGenProcessor(...)."
                )
            from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor

            self.processor = SongGenProcessor.from_pretrained(os.path.join(folder, "processor"))
            self.tokenizer = self.processor.tokenizer
            self.feature_extractor = self.processor.feature_extractor
        if getattr(self.processor, "model_max_lyrics_length", None) is None:
            self.processor.model_max_lyrics_length = self.model.config.lyrics_encoder.max_position_embeddings
        if scheduler is None:
            has_scheduler = folder is not None and os.path.isdir(os.path.join(folder, "scheduler"))
            scheduler = (
                ResGenScheduler.from_pretrained(folder, subfolder="scheduler") if has_scheduler else ResGenScheduler()
            )
        self.scheduler = scheduler
        self.sampling_rate = int(self.model.config.sampling_rate)

    @property
    def has_stems(self) -> bool:
        return False

    # what the model's family decides of a call (TextToSongPipeline.__call__ does the rest)
    def _call_arguments(self, kwargs: dict) -> dict:
        defaults_ = {**getattr(self, "_forward_params", {})}
        return {**_resgen_arguments(defaults_), **_resgen_arguments(kwargs)}

    def _plan_settings(self, arguments: dict) -> dict:
        return {}  # a ResGen song is one pass over its whole length: nothing to plan by sections

    def _progress(self, kwargs: dict, arguments: dict, songs: int):
        return None  # a streamer the caller gives ticks once per step

    def _sanitize_parameters(self, generate_kwargs: dict | None = None, seed: int | None = None, **kwargs):
        preprocess_params = {}
        forward_params = dict(generate_kwargs or {})
        unknown = []
        for key, value in kwargs.items():
            if key in PREPROCESS_KWARGS:
                preprocess_params[key] = value
            elif key in _TEXT_TO_SONG_KWARGS:
                forward_params[key] = value
            else:
                unknown.append(key)
        unknown += sorted(set(forward_params) - _TEXT_TO_SONG_KWARGS)
        if unknown:
            raise ValueError(
                f"Unknown argument(s) {sorted(set(unknown))} for a ResGen model; use seed, num_inference_steps, "
                "guidance_scale, duration_s, temperature, top_p, generator, audio_prompt, max_lyrics_length, "
                "truncation."
            )
        return preprocess_params, forward_params, {}

    def _forward(self, model_inputs, streamer=None, **forward_params):
        apply_thread_policy()  # the cores other programs leave free, unless the user chose (songgen_hf.utils.threads)
        progress = None
        if streamer is not None:

            def progress(steps):
                streamer.put(None)  # opens the bar (the "prefix" push of transformers' streamers)
                for step in steps:
                    yield step
                    streamer.put(None)
                streamer.end()

        output = self.model.generate(**model_inputs, scheduler=self.scheduler, progress=progress, **forward_params)
        return {"audio": output.audio, "audio_lengths": output.audio_lengths}

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any):
        """Save as a :class:`ResGenPipeline` folder (the layout every front door reads)."""
        from songgen_hf.modeling.resgen.pipeline_resgen import ResGenPipeline

        ResGenPipeline(transformer=self.model, scheduler=self.scheduler, processor=self.processor).save_pretrained(
            save_directory, **kwargs
        )


PIPELINE_CLASSES["songgen_resgen"] = ResGenTextToSongPipeline


__all__ = ["ResGenTextToSongPipeline"]
