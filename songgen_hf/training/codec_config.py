"""Options of X-Codec training (``songgen codec train CONFIG``).

Defaults follow the released X-Codec training setup: 3 s segments, AdamW(2e-4, betas
0.8/0.99, eps 1e-6), gradient clipping at 2, full-band and PQMF sub-band multi-resolution
STFT losses, semantic reconstruction weight 100, commitment 1, a multi-frequency STFT
discriminator with LSGAN (weight 1) and feature matching (weight 20).  Mel L1 is off, as in
the released config; set ``mel_weight`` (X-Codec used 45 when it was on) to enable it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from songgen_hf.training.checkpointing import check_checkpoints_total_limit
from songgen_hf.training.config_files import (
    TRAINING_SIZE_RANGES,
    check_config_values,
    dataclass_from_dict,
    read_config_file,
)


@dataclass
class CodecTrainingConfig:
    # data
    # value checks of config_files.check_config_values (other float options must be >= 0)
    bounded_fields = TRAINING_SIZE_RANGES
    positive_fields = (
        "learning_rate",
        "discriminator_learning_rate",
        "adam_epsilon",
        "max_grad_norm",
        "segment_seconds",
        "audio_gain",
        "lr_decay_gamma",
    )
    unit_fields = ("audio_gain", "lr_decay_gamma")

    train_data: str = ""
    """Folder of audio files or a JSONL manifest."""
    audio_fields: tuple[str, ...] = ("audio_path",)
    """Manifest fields holding audio paths (add "vocal_path", "accompaniment_path" to train on stems too)."""
    eval_data: str | None = None
    """Optional folder/manifest for the reconstruction metric; defaults to the first training files."""
    num_eval_clips: int = 4
    segment_seconds: float = 3.0
    audio_gain: float = 0.95
    """X-Codec's ``audio_norm_scale``: segments are scaled by this factor."""

    # model
    output_dir: str = "runs/xcodec"
    init_from: str | None = None
    """A saved codec folder to continue from (e.g. a converted checkpoint)."""
    replace_decoder: dict[str, Any] | None = None
    """Swap the ``init_from`` codec's acoustic decoder for a fresh one built from these ``XCodecConfig``
    fields, e.g. ``{acoustic_decoder_type: istft, istft_decoder_config: {...}}``; with
    ``train_decoder_only`` the codes stay those of ``init_from``."""
    teacher_overrides: dict[str, Any] | None = None
    """Change settings of the ``init_from`` codec's weight-free (mel) teacher, e.g. ``{chroma_scale: 1.0}``
    to weigh the chroma features more in the semantic loss.  Only settings that keep the teacher's
    feature size are accepted: the semantic encoder and decoder were trained on that size."""
    train_decoder_only: bool = False
    """Fine-tune only the decoder side (``fc2`` and the acoustic decoder) of the ``init_from`` codec.
    Encoder, teacher and codebooks are frozen, so every code stays bit-identical: token datasets
    and the language models trained on them stay valid while the audio gets better."""
    quantizer_dropout: bool | None = None
    """Override the codec's bandwidth dropout for this run (``None`` keeps the codec's setting).  Off,
    every step trains the full 8-codebook reconstruction that SongGen uses, instead of one in five
    (X-Codec draws n_q from {1, 2, 3, 4, 8}); a short training budget is then spent where it counts."""
    model: dict[str, Any] = field(default_factory=dict)
    """``XCodecConfig`` fields for a fresh codec; ``{"preset": "tiny", "teacher": "mel"}`` uses
    :func:`songgen_hf.testing.tiny_xcodec_config`."""

    # optimisation
    max_steps: int = 1000
    batch_size: int = 8
    learning_rate: float = 2e-4
    adam_betas: tuple[float, float] = (0.8, 0.99)
    adam_epsilon: float = 1e-6
    weight_decay: float = 0.0
    lr_decay_gamma: float = 0.999
    lr_decay_every: int = 1000
    """Multiply the learning rate by ``lr_decay_gamma`` every this many steps (X-Codec: per epoch)."""
    max_grad_norm: float = 2.0
    mixed_precision: str = "no"
    seed: int = 2333
    num_workers: int = 0

    # losses
    stft_weight: float = 1.0
    subband_stft_weight: float = 1.0
    mel_weight: float = 0.0
    phase_weight: float = 0.0
    """Weight of the instantaneous-frequency loss (ISTFT decoders only): the decoder's phase advance
    per frame against the target's, in radians, magnitude-weighted.  Magnitude losses hardly see
    phase, and without it a Fourier head renders tones at its bins' centre frequencies
    (see :mod:`songgen_hf.modeling.xcodec.frame_losses`)."""
    frame_magnitude_weight: float = 0.0
    """Weight of the L1 between an ISTFT decoder's log-magnitudes and the target's on the decoder's
    own frames (ISTFT decoders only): magnitudes judged without the phases that blur them in the
    waveform losses."""
    chroma_weight: float = 0.0
    """Weight of the pitch-class loss (:class:`~songgen_hf.modeling.xcodec.chroma_loss.ChromaLoss`): the
    decoded audio's per-frame chroma against the original's.  Spectral losses barely notice partials
    a semitone off; this one is about nothing else.  Needs segments of at least 4 096 samples."""
    average_spectrum_weight: float = 0.0
    """Weight of the average-spectrum loss (:class:`~songgen_hf.modeling.xcodec.average_spectrum_loss.
    AverageSpectrumLoss`): each item's log power spectrum averaged over its frames, at 5 Hz resolution, against
    the original's.  It sees the lines a frame-by-frame decoder leaves at its frame rate's harmonics, which
    per-frame losses average away.  Needs segments of at least 0.2 s."""
    frame_rate_comb_weight: float = 0.0
    """Weight of the frame-rate comb loss (:class:`~songgen_hf.modeling.xcodec.average_spectrum_loss.
    FrameRateCombLoss`): the same average spectra, compared only at the harmonics of the codec's frame rate
    against the points between them, i.e. the comb alone; the rest of the spectrum is left to the other losses."""
    commitment_weight: float = 1.0
    semantic_weight: float = 100.0
    use_discriminator: bool = True
    discriminator_start_step: int = 0
    adversarial_weight: float = 1.0
    feature_matching_weight: float = 20.0
    discriminator_hop_lengths: tuple[int, ...] = (32, 64, 128, 256, 512, 1024)
    discriminator_channels: tuple[int, ...] | int = (64, 128, 256, 512, 512, 512)
    """The multi-frequency (STFT magnitude) discriminator's hops and widths; ``discriminator_hop_lengths: []``
    leaves it out (then ``discriminator_periods`` must name the period discriminator's periods)."""
    discriminator_periods: tuple[int, ...] = ()
    """Periods (samples) of a multi-period waveform discriminator beside the multi-frequency one
    (:mod:`songgen_hf.modeling.xcodec.period_discriminator`; HiFi-GAN's are 2, 3, 5, 7, 11): it judges
    samples, not magnitudes, so it sees partials smeared into noise.  Empty: none."""
    period_discriminator_channels: int = 256
    discriminator_learning_rate: float | None = None
    """The discriminators' AdamW rate (same schedule as the codec's); null: ``learning_rate``.  A fresh
    discriminator beside a trained codec learns too slowly at a fine-tune's low rate to say anything."""
    discriminator_warmup_steps: int = 0
    """Steps from ``discriminator_start_step`` during which only the discriminator learns from the GAN terms:
    a fresh discriminator beside a trained codec (a decoder fine-tune) otherwise sends the decoder its
    untrained judgement first."""

    # bookkeeping
    log_steps: int = 10
    eval_steps: int = 200
    save_steps: int = 500
    checkpoints_total_limit: int | None = 3
    """Checkpoints of this run kept (oldest deleted once a newer one is complete); null keeps all."""

    def __post_init__(self):
        check_config_values(self)
        self.audio_fields = tuple(self.audio_fields)
        self.adam_betas = tuple(self.adam_betas)
        self.discriminator_hop_lengths = tuple(self.discriminator_hop_lengths)
        self.discriminator_periods = tuple(self.discriminator_periods)
        if not isinstance(self.discriminator_channels, int):
            self.discriminator_channels = tuple(self.discriminator_channels)
        if not self.train_data:
            raise ValueError("`train_data` is required: a folder of audio files or a JSONL manifest.")
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise ValueError(f"mixed_precision must be 'no', 'bf16' or 'fp16', got {self.mixed_precision!r}.")
        for name in ("max_steps", "batch_size", "log_steps", "eval_steps", "save_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be at least 1, got {getattr(self, name)}.")
        check_checkpoints_total_limit(self.checkpoints_total_limit)
        if self.train_decoder_only and not self.init_from:
            raise ValueError(
                "`train_decoder_only` fine-tunes the decoder of an existing codec; set `init_from` to its folder."
            )
        if self.replace_decoder is not None and not self.init_from:
            raise ValueError("`replace_decoder` swaps the decoder of an existing codec; set `init_from` to its folder.")
        if self.teacher_overrides is not None and not self.init_from:
            raise ValueError(
                "`teacher_overrides` changes the teacher of an existing codec; set `init_from`, or put the "
                "settings in `model.semantic_model_config` for a fresh codec."
            )
        if self.use_discriminator and not (self.discriminator_hop_lengths or self.discriminator_periods):
            raise ValueError(
                "use_discriminator is on but neither `discriminator_hop_lengths` nor `discriminator_periods` names a "
                "discriminator; give one of them, or set use_discriminator: false."
            )
        if any(period < 1 for period in self.discriminator_periods):
            raise ValueError(
                f"`discriminator_periods` must be positive sample counts, got {self.discriminator_periods}."
            )
        for name in ("discriminator_start_step", "discriminator_warmup_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"`{name}` must be 0 or positive, got {getattr(self, name)}.")
        if self.period_discriminator_channels < 1:
            raise ValueError(
                f"`period_discriminator_channels` must be positive, got {self.period_discriminator_channels}."
            )

    @classmethod
    def from_file(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> CodecTrainingConfig:
        data = {**read_config_file(path), **(overrides or {})}
        return dataclass_from_dict(cls, data, source=str(path))


__all__ = ["CodecTrainingConfig"]
