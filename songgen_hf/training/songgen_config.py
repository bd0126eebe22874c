"""Options of one SongGen training stage (``songgen train CONFIG``), read from JSON or YAML.

Defaults follow SongGen's recipe: AdamW with betas (0.9, 0.99), weight decay 1e-4, eps 1e-8, a
cosine schedule with warm-up, bf16 where the hardware has it, seed 456, the per-codebook loss
curriculum restarting in every stage.  The stages differ in what they load, freeze and drop::

    stage      init_from     freeze         voice_dropout_prob  learning_rate  warmup   data
    step1      (model: ...)  text           0                   1e-4           50k      full
    step2a     step1         conditioning   1/3                 5e-5           20k      full
    step2b     step2a        text           1/2                 5e-5           20k      full
    hqft       step2b        text           1/2                 5e-5           0        hq_filter

``freeze``: "text" keeps the description T5 frozen (every SongGen stage does), "conditioning"
also freezes the projections, the lyrics encoder and the voice path so only the decoder trains
(stage 2a, ``model.freeze_conditioning()``), "none" trains the T5 too.  The codec is always frozen.

``hq_filter`` selects the HQFT subset; every given predicate must hold::

    hq_filter:
      min_vocal_energy: 1000        # SongGen's HQ set: vocal energy > 1000 ...
      min_acc_energy: null
      min_duration: null
      max_duration: null
      include_augmented: false      # mixing-augmented rows are left out unless asked for
      attributes:                   # predicates on the row's attributes (manifest extras land there)
        clap_score: {min: 0.25}     # ... CLAP >= 0.25, lyric edit distance <= 5 %
        edit_distance: {max: 0.05}
        genre: [pop, rock]          # a list: one of these values
        drums: true                 # a scalar: equal to it
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from songgen_hf.modeling.resgen.configuration_resgen import check_nll_beta
from songgen_hf.modeling.songgen.configuration_songgen import (
    CONDITION_DROPOUT_FIELDS,
    check_input_token_noise_prob,
    control_each_dropout_probs,
)
from songgen_hf.pipelines.loading import base_model_folder
from songgen_hf.training.checkpointing import check_checkpoints_total_limit
from songgen_hf.training.config_files import (
    TRAINING_SIZE_RANGES,
    check_config_values,
    dataclass_from_dict,
    read_config_file,
)

FREEZE_CHOICES = ("text", "conditioning", "none")
HQ_FILTER_KEYS = {
    "min_vocal_energy",
    "min_acc_energy",
    "min_duration",
    "max_duration",
    "include_augmented",
    "attributes",
}


@dataclass
class SongGenTrainingConfig:
    # value checks of config_files.check_config_values (other float options must be >= 0)
    positive_fields = ("learning_rate", "adam_epsilon", "max_grad_norm", "eval_duration_s")
    unit_fields = CONDITION_DROPOUT_FIELDS
    bounded_fields = TRAINING_SIZE_RANGES

    # data
    train_data: str | list[str] = ""
    """An encoded dataset folder (``songgen data encode`` output), or a list of them trained on as one
    (concatenated in order; every folder must come from the same codec)."""
    hq_filter: dict[str, Any] | None = None
    max_frames: int | None = None
    """Crop longer records to a random window of this many codec frames (1500 = 30 s at 50 Hz)."""
    bar_aligned_crops: bool = False
    """For models with a tempo control: start crops on a bar line of the caption's tempo, so the
    decoder's metronome (which counts from the first frame) stays on the music's beat."""
    group_by_length: bool = False
    """Batch records of similar length together (less padding), shuffled per epoch."""
    num_workers: int = 0
    max_description_tokens: int = 256
    max_lyrics_tokens: int | None = None
    use_voice: bool = True
    """Feed 3 s reference-voice crops of the vocal stem when the model has a voice encoder."""

    # model and tokenizers
    output_dir: str = "runs/songgen"
    stage: str = "step1"
    init_from: str | None = None
    """A saved SongGen folder (the previous stage's ``final``), or an embedded model's name (``songgen-tiny``)."""
    model: dict[str, Any] | None = field(default_factory=dict)
    """A ``SongGenConfig`` dict for a fresh model, or ``{"preset": "tiny", "track_pattern": ...,
    "use_voice_encoder": ...}`` for :func:`songgen_hf.testing.tiny_songgen_config`; empty or null with ``init_from``."""
    warm_start_from: str | None = None
    """ResGen only: a trained SongGen folder or embedded model name (``songgen-tiny``) whose conditioning,
    musical controls and decoder layers initialise the fresh ``model`` where names and shapes agree
    (:mod:`songgen_hf.modeling.resgen.warm_start`); it must use the same tokenizers (``processor``)."""
    codec: str | None = None
    """A saved X-Codec folder (``songgen codec train``'s ``final``) that becomes a fresh ``model``'s
    audio encoder, config and weights; it must be the codec that encoded ``train_data``."""
    processor: str | None = None
    """A folder holding both tokenizers (description tokenizer files and the lyrics ``vocab.json``,
    at the top or in ``description_tokenizer/`` / ``lyrics_tokenizer/``)."""
    description_tokenizer: str | None = None
    lyrics_tokenizer: str | None = None
    freeze: str = "text"
    description_dropout_prob: float | None = None
    lyrics_dropout_prob: float | None = None
    voice_dropout_prob: float | None = None
    joint_dropout_prob: float | None = None
    control_dropout_prob: float | None = None
    control_each_dropout_prob: float | dict[str, float] | None = None
    """Condition dropout for this run, written to the model config; None keeps the model's value.
    ``control_each_dropout_prob``: each musical control replaced by "unknown" on its own (the others told), so
    that a run also learns its songs where a prompt names a tempo but no key; one number for every control or one
    per control (``{tempo: 0.0, key: 0.5, arrangement: 0.5}``, a control left out at 0)."""
    vocal_heads: bool | None = None
    """SongGen only.  true: train with mixed pro's vocal heads, adding them to a model from ``init_from``
    that has none (``mixed`` -> ``mixed_pro``, ``mixed_stream2`` -> ``mixed_pro_stream2``; the new heads start
    as copies of its mix heads); false: train without them, dropping them; null keeps the model's pattern."""
    dual_track: bool | None = None
    """SongGen only.  true: continue a mix model from ``init_from`` as a dual-track one with the same streams
    (``mixed_stream2`` -> ``parallel_stream2``, ``mixed`` -> ``parallel_std``; ``modeling.songgen.dual_track_init``
    says how its new rows start); ``train_data`` then needs accompaniment and vocal codes.  null/false keeps the
    model's pattern."""
    stem_gains_db: dict[str, float] | None = None
    """SongGen dual-track models only: the gain in dB of each decoded stem before the song sums them
    (``SongGenConfig.stem_gains_db``, e.g. ``{vocals: 1.6}``), written to the model config; null keeps the
    model's value.  Measure it as the level the codec takes from each stem (the RMS of each stem's codec round trip
    against the clean stem's), so the sum of decoded stems is balanced like the training mixes."""
    vocal_loss_weight: float | None = None
    """SongGen only: the weight of the vocal heads' loss (``SongGenConfig.vocal_loss_weight``, default 0.1),
    written to the model config; null keeps the model's value."""
    input_token_noise_prob: float | None = None
    """SongGen only: the probability of replacing each input codec token by a random code in training
    (``SongGenDecoderConfig.input_token_noise_prob``), written to the model config; null keeps the model's value."""
    nll_beta: float | None = None
    """ResGen only: the loss's beta-NLL exponent in [0, 1] (``ResGenConfig.nll_beta``), written to the model
    config; None keeps the model's value.  How a run continued from ``init_from`` changes its loss."""

    # loss
    codebook_curriculum: bool = True
    """Move the codebook weights from ``initial_codebook_weights`` towards uniform over the stage;
    off keeps the initial weights for the whole stage."""
    initial_codebook_weights: list[float] | None = None
    """None uses the model config's (SongGen: 0.25 x3, 0.05 x5)."""

    # optimisation
    max_steps: int = 1000
    schedule_steps: int | None = None
    """The length the lr schedule and the codebook curriculum are laid out over (``None``: ``max_steps``).
    Above ``max_steps`` it stops a run early exactly where an interrupted longer run stopped, which
    is how a recipe records a run that was cut short."""
    batch_size: int = 4
    """Sequences per process per micro-batch."""
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-4
    warmup_steps: int = 0
    lr_scheduler: str = "cosine"
    adam_betas: tuple[float, float] = (0.9, 0.99)
    adam_epsilon: float = 1e-8
    weight_decay: float = 1e-4
    max_grad_norm: float = 1.0
    mixed_precision: str = "auto"
    """"auto" = bf16 on a GPU that supports it, else full precision; or "no" / "bf16" / "fp16"."""
    gradient_checkpointing: bool = False
    """Recompute each decoder and lyrics-encoder layer's activations in the backward pass instead of keeping them
    (``gradient_checkpointing_enable``, non-reentrant): the activations of a 30 s batch stop growing with the
    layer count, for about a third more compute per step (docs/fine_tuning.md measures both)."""
    seed: int = 456

    # bookkeeping
    log_steps: int = 10
    save_steps: int = 1000
    checkpoints_total_limit: int | None = 3
    """Checkpoints of this run kept (oldest deleted once a newer one is complete); null keeps all."""
    eval_steps: int = 0
    """Every this many steps (0 = never), generate songs for ``eval_prompts`` into ``output_dir/samples/``."""
    eval_prompts: list[dict] | None = None
    """``[{"description": ..., "lyrics": ...}]``; default: the first ``num_eval_samples`` training rows."""
    num_eval_samples: int = 2
    eval_duration_s: float = 5.0
    eval_guidance_scale: float | None = None
    validation_data: str | list[str] | None = None
    """Encoded held-out songs (``songgen data encode`` folder(s), the same codec as ``train_data``): their
    teacher-forced loss goes to ``train_log.jsonl`` as ``validation_loss`` (see ``training/validation.py``)."""
    validation_steps: int = 0
    """Every this many steps; 0 = at every checkpoint (``save_steps``).  Always after the last step."""
    validation_max_songs: int | None = 256
    """Score at most this many held-out songs (the first rows); null = all."""

    def __post_init__(self):
        check_config_values(self)
        self.adam_betas = tuple(self.adam_betas)
        for name in ("train_data", "validation_data"):
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):
                if not value or not all(isinstance(p, str) and p for p in value):
                    raise ValueError(f"`{name}` as a list must name encoded dataset folders, got {value!r}.")
                setattr(self, name, list(value))
        if self.validation_data == "":
            self.validation_data = None
        if self.validation_steps < 0:
            raise ValueError(f"validation_steps must be >= 0 (0 = at every checkpoint), got {self.validation_steps}.")
        if self.validation_max_songs is not None and self.validation_max_songs < 1:
            raise ValueError(f"validation_max_songs must be a positive count or null, got {self.validation_max_songs}.")
        if not self.train_data:
            raise ValueError("`train_data` is required: an encoded dataset folder from `songgen data encode`.")
        if bool(self.init_from) == bool(self.model):
            raise ValueError("Give exactly one of `init_from` (a saved SongGen folder) or `model` (a config dict).")
        if self.init_from:  # "songgen-tiny" names the embedded default model (a local folder of that name wins)
            self.init_from = base_model_folder(self.init_from)
        if self.warm_start_from and self.init_from:
            raise ValueError(
                "`warm_start_from` initialises a fresh `model`; a model from `init_from` is already trained."
            )
        if self.codec and self.init_from:
            raise ValueError("`codec` sets a fresh model's codec; a model from `init_from` already has its own.")
        if self.freeze not in FREEZE_CHOICES:
            raise ValueError(f"freeze must be one of {FREEZE_CHOICES}, got {self.freeze!r}.")
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise ValueError(f"mixed_precision must be 'auto', 'no', 'bf16' or 'fp16', got {self.mixed_precision!r}.")
        if self.lr_scheduler not in ("cosine", "constant"):
            raise ValueError(f"lr_scheduler must be 'cosine' or 'constant', got {self.lr_scheduler!r}.")
        for name in ("max_steps", "batch_size", "gradient_accumulation_steps", "log_steps", "save_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be at least 1, got {getattr(self, name)}.")
        check_checkpoints_total_limit(self.checkpoints_total_limit)
        if self.schedule_steps is not None and self.schedule_steps < self.max_steps:
            raise ValueError(
                f"schedule_steps ({self.schedule_steps}) must be at least max_steps ({self.max_steps}), or null."
            )
        if self.warmup_steps < 0 or self.warmup_steps > self.max_steps:
            raise ValueError(f"warmup_steps must be in [0, max_steps={self.max_steps}], got {self.warmup_steps}.")
        if self.eval_steps < 0 or self.eval_duration_s <= 0:
            raise ValueError(
                f"eval_steps must be >= 0 and eval_duration_s > 0, got {self.eval_steps}, {self.eval_duration_s}."
            )
        if self.eval_prompts is not None and not all(
            isinstance(p, dict) and p.get("description") for p in self.eval_prompts
        ):
            raise ValueError(
                "eval_prompts must be a list of {description: ..., lyrics: ...} mappings with a description."
            )
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames must be a positive frame count or null, got {self.max_frames}.")
        if self.nll_beta is not None:
            check_nll_beta(self.nll_beta)
        if self.vocal_heads is not None and not self.init_from:
            raise ValueError(
                "vocal_heads changes a model from `init_from`; a fresh `model` sets its "
                "decoder.track_pattern (mixed_pro, mixed_pro_stream2) instead."
            )
        if self.dual_track and not self.init_from:
            raise ValueError(
                "dual_track continues a mix model from `init_from`; a fresh `model` sets its "
                "decoder.track_pattern (parallel_std, parallel_stream2) instead."
            )
        if self.dual_track and self.vocal_heads:
            raise ValueError(
                "dual_track and vocal_heads both change the model's rows: a dual-track model predicts the "
                "vocals as a track of its own and has no vocal heads; set one of them."
            )
        if self.input_token_noise_prob is not None:
            check_input_token_noise_prob(self.input_token_noise_prob)
        if self.control_each_dropout_prob is not None:
            control_each_dropout_probs(self.control_each_dropout_prob)
        if self.hq_filter is not None:
            check_hq_filter(self.hq_filter)

    @classmethod
    def from_file(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> SongGenTrainingConfig:
        data = {**read_config_file(path), **(overrides or {})}
        return dataclass_from_dict(cls, data, source=str(path))


def check_hq_filter(spec: dict[str, Any]) -> None:
    if not isinstance(spec, dict):
        raise ValueError(f"hq_filter must be a mapping, got {type(spec).__name__}.")
    unknown = sorted(set(spec) - HQ_FILTER_KEYS)
    if unknown:
        raise ValueError(f"Unknown hq_filter option(s) {unknown}. Valid options: {sorted(HQ_FILTER_KEYS)}.")
    for name, predicate in (spec.get("attributes") or {}).items():
        if isinstance(predicate, dict) and (not predicate or set(predicate) - {"min", "max"}):
            raise ValueError(
                f"hq_filter.attributes.{name} must be a value, a list of values or {{min: x, max: y}}, "
                f"got {predicate!r}."
            )


__all__ = ["SongGenTrainingConfig", "check_hq_filter", "FREEZE_CHOICES"]
