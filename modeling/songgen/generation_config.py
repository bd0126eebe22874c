"""``SongGenGenerationConfig``: transformers' ``GenerationConfig`` plus SongGen's own defaults.

SongGen's ``generate`` takes seven settings the library does not know: ``duration_s``,
``min_duration_s``, ``guidance_conditions``, ``guidance_top_k``, ``control_guidance_scale``,
``codebook_temperatures`` and ``silence_instrumental_vocals``; an eighth, ``cpu_quantize``, is read by the loaders,
not by ``generate``.
Set as loose attributes on a plain ``GenerationConfig`` they are saved but silently dropped on
load: a model's generation config starts as ``from_model_config(...)``, which stamps
``_from_model_config: true`` into ``generation_config.json``, and
``GenerationConfig.from_pretrained`` keeps only the fields it declares when that flag is set.
Declaring the fields here (and writing the flag as false once a config is SongGen's) makes
``model.generation_config.duration_s = 20`` followed by ``save_pretrained`` / ``from_pretrained`` keep the 20 s.

transformers always loads a plain ``GenerationConfig``; the model turns whatever is assigned to
its ``generation_config`` into this class (see ``SongGenGenerationMixin.generation_config``).
"""

from __future__ import annotations

from typing import Any

from transformers import GenerationConfig

SONGGEN_GENERATION_FIELDS = (
    "duration_s",
    "min_duration_s",
    "guidance_conditions",
    "guidance_top_k",
    "control_guidance_scale",
    "silence_instrumental_vocals",
    "cpu_quantize",
    "codebook_temperatures",
)


class SongGenGenerationConfig(GenerationConfig):
    """A ``GenerationConfig`` that also declares SongGen's length and guidance settings.

    Args:
        duration_s: default length budget in seconds when a call gives none (``None``: 30 s or
            the model's longest song).
        min_duration_s: default minimum length in seconds (``None`` or 0: no minimum).
        guidance_conditions: conditions the unconditional branch of guidance nulls (``None``:
            description and lyrics).
        guidance_top_k: sample from the conditional top-k only, reweighted by guidance.
        control_guidance_scale: extra guidance towards the musical controls (``None`` or 0: off).
        codebook_temperatures: sampling temperatures of a track's first codebooks, e.g. ``{"vocals": [0.6, 0.6,
            0.6]}``; the track's other codebooks, and the other tracks, sample at ``temperature`` (``None`` or
            ``{}``: every row at ``temperature``).  Only where sampling is on; patterns with a row per track.
        silence_instrumental_vocals: hold a dual-track model's vocal track silent for instrumental
            requests (``None``: wherever the model can; ``False``: never).
        cpu_quantize: the decoder precision the model's maker measured and recommends on a CPU
            (``"int8-heads"``), which ``load_text_to_song_pipeline``, ``songgen generate`` and ``songgen
            evaluate`` use there when the caller chooses none (``quantize="fp32"`` keeps float32).  A
            loading choice: ``generate`` itself does not read it (see ``quantization.default_quantize``).
        kwargs: every ``GenerationConfig`` field.
    """

    def __init__(
        self,
        duration_s: float | None = None,
        min_duration_s: float | None = None,
        guidance_conditions: list[str] | str | None = None,
        guidance_top_k: int | None = None,
        control_guidance_scale: float | None = None,
        silence_instrumental_vocals: bool | None = None,
        cpu_quantize: str | None = None,
        codebook_temperatures: dict[str, list[float]] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.duration_s = duration_s
        self.min_duration_s = min_duration_s
        self.guidance_conditions = guidance_conditions
        self.guidance_top_k = guidance_top_k
        self.control_guidance_scale = control_guidance_scale
        self.silence_instrumental_vocals = silence_instrumental_vocals
        self.cpu_quantize = cpu_quantize
        self.codebook_temperatures = codebook_temperatures
        # A SongGen config is never "derived from the model config": that flag would make the next
        # load drop the fields above.
        self._from_model_config = False

    @classmethod
    def adopt(cls, config: GenerationConfig | None) -> SongGenGenerationConfig | None:
        """``config`` as this class, every field (loose attributes of a plain config included)
        carried over; a config unchanged since it was loaded stays "unchanged" for the library's
        save-time strictness."""
        if config is None or isinstance(config, cls):
            return config
        unchanged = getattr(config, "_original_object_hash", None) == hash(config)
        adopted = cls.from_dict(config.to_dict())
        if unchanged:
            adopted._original_object_hash = hash(adopted)
        return adopted

    def to_diff_dict(self) -> dict[str, Any]:
        # the library diffs against a plain GenerationConfig, which lacks these fields: unset ones
        # would be written as nulls
        diff = super().to_diff_dict()
        for key in SONGGEN_GENERATION_FIELDS:
            if diff.get(key, 0) is None:
                del diff[key]
        return diff


__all__ = ["SONGGEN_GENERATION_FIELDS", "SongGenGenerationConfig"]
