"""X-Codec training with accelerate: generator (codec) and discriminator, checkpoint and resume.

One step: a training forward of the codec (straight-through EMA RVQ with quantiser dropout),
the generator loss (multi-resolution STFT full-band + PQMF sub-band; optional mel, pitch-class
(chroma) and the ISTFT decoder's frame losses; commitment, semantic reconstruction, LSGAN +
feature matching once the discriminator is on), a generator update, then a discriminator update
on the detached reconstruction.

Resume is exact: data order and crops depend only on (seed, epoch, index), and a checkpoint
stores model, discriminator, optimisers, schedulers, RNG states and the step counter; it is
written crash-safe (see :mod:`.checkpointing`).  SIGTERM saves a checkpoint before the process exits.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import set_seed

from songgen_hf.conversion.checkpoint_files import load_codec_of
from songgen_hf.data.audio import (
    AudioSegmentDataset,
    EpochShuffleSampler,
    list_audio_files,
    load_audio,
    segment_samples,
)
from songgen_hf.modeling import XCodecConfig, XCodecModel
from songgen_hf.modeling.xcodec.adversarial import discriminator_loss, feature_matching_loss, generator_adversarial_loss
from songgen_hf.modeling.xcodec.average_spectrum_loss import AverageSpectrumLoss, FrameRateCombLoss
from songgen_hf.modeling.xcodec.chroma_loss import ChromaLoss
from songgen_hf.modeling.xcodec.discriminator import MultiFrequencyDiscriminator
from songgen_hf.modeling.xcodec.frame_losses import FrameLogMagnitudeLoss, InstantaneousFrequencyLoss
from songgen_hf.modeling.xcodec.losses import (
    MelSpectrogramL1Loss,
    MultiResolutionSTFTLoss,
    SubbandMultiResolutionSTFTLoss,
    multi_resolution_mel_distance,
)
from songgen_hf.modeling.xcodec.modeling_xcodec import ISTFTDecoder
from songgen_hf.modeling.xcodec.period_discriminator import DiscriminatorEnsemble, MultiPeriodDiscriminator
from songgen_hf.training.accelerated import LOG_FILE, CheckpointedTrainer
from songgen_hf.training.checkpointing import StepCounter, TerminationFlag
from songgen_hf.training.codec_config import CodecTrainingConfig
from songgen_hf.training.progress import TrainingProgress
from songgen_hf.utils.atomic import atomic_directory

logger = logging.getLogger(__name__)

FINAL_MODEL_DIR = "final"
DECODER_SIDE = ("fc2", "acoustic_decoder")
"""The modules after the codebooks: training only these never changes a code."""
CHROMA_WINDOW = 4096
"""Analysis window of the pitch-class loss: 3.9 Hz bins at 16 kHz, semitones apart from about 70 Hz."""


def is_decoder_side(key: str) -> bool:
    """Whether a codec state-dict key belongs to a module after the codebooks (:data:`DECODER_SIDE`)."""
    return key.split(".")[0] in DECODER_SIDE


def code_side_differences(current: dict, new: dict) -> list[str]:
    """The encoder/codebook keys that one of two codec state dicts lacks or holds a different tensor for: any
    one of them changes what the codes mean.  Empty when ``new`` is ``current`` with only its decoder changed."""
    current_keys = {key for key in current if not is_decoder_side(key)}
    new_keys = {key for key in new if not is_decoder_side(key)}
    differing = sorted(current_keys ^ new_keys)
    return differing + [key for key in sorted(current_keys & new_keys) if not torch.equal(current[key], new[key])]


def build_codec(config: CodecTrainingConfig) -> XCodecModel:
    model = _build_codec(config)
    if config.quantizer_dropout is not None:
        model.config.quantizer_dropout = bool(config.quantizer_dropout)
    return model


def _build_codec(config: CodecTrainingConfig) -> XCodecModel:
    from songgen_hf.modeling.weight_bounds import build_fresh_model

    if config.init_from:
        # float32 master weights (the loader upcasts a float16 folder): AdamW's small updates would
        # vanish in half precision.  Lower-precision compute is ``mixed_precision``'s job.
        model = load_codec_of(config.init_from, "init_from").train()
        if config.replace_decoder:
            unknown = sorted(key for key in config.replace_decoder if not hasattr(model.config, key))
            if unknown:
                raise ValueError(f"Unknown decoder setting(s) {unknown} in `replace_decoder`; use XCodecConfig fields.")
            model.config = XCodecConfig.from_dict({**model.config.to_dict(), **config.replace_decoder})
            model.acoustic_decoder = XCodecModel._build_decoder(model.config)
        if config.teacher_overrides:
            _override_teacher(model, config.teacher_overrides)
        return model
    options = dict(config.model)
    if options.pop("preset", None) == "tiny":
        from songgen_hf.testing import tiny_xcodec_config

        return build_fresh_model(XCodecModel, tiny_xcodec_config(teacher=options.pop("teacher", "mel"), **options))
    teacher = options.pop("teacher", None)
    if teacher == "mel":
        options.setdefault("semantic_model_config", {"model_type": "songgen_mel_teacher"})
    return build_fresh_model(XCodecModel, XCodecConfig(**options))


def _override_teacher(model: XCodecModel, overrides: dict[str, Any]) -> None:
    """Rebuild a weight-free teacher with new settings (its features are computed, not learned)."""
    teacher = getattr(model, "semantic_model", None)
    if teacher is None or teacher.config.model_type != "songgen_mel_teacher":
        kind = "none" if teacher is None else teacher.config.model_type
        raise ValueError(
            f"`teacher_overrides` needs a codec with the weight-free mel teacher, but this codec's teacher is {kind}: "
            "a learned teacher's weights would no longer match its settings."
        )
    unknown = sorted(key for key in overrides if not hasattr(teacher.config, key))
    if unknown:
        raise ValueError(f"Unknown teacher setting(s) {unknown} in `teacher_overrides`; use MelTeacherConfig fields.")
    new_config = type(teacher.config).from_dict({**teacher.config.to_dict(), **overrides})
    if new_config.hidden_size != teacher.config.hidden_size:
        raise ValueError(
            f"`teacher_overrides` {overrides} change the teacher's feature size ({teacher.config.hidden_size} -> "
            f"{new_config.hidden_size}); the codec's semantic encoder and decoder only fit the old size."
        )
    model.semantic_model = type(teacher)(new_config).to(model.fc.weight.device).eval().requires_grad_(False)
    model.config.semantic_model_config = new_config


class CodecLosses(torch.nn.Module):
    """The generator's reconstruction terms, weighted as configured."""

    def __init__(
        self,
        config: CodecTrainingConfig,
        sampling_rate: int,
        decoder: torch.nn.Module | None = None,
        frame_rate: float = 50.0,
    ):
        super().__init__()
        self.config = config
        self.full_band = MultiResolutionSTFTLoss()
        self.sub_band = SubbandMultiResolutionSTFTLoss()
        self.mel = MelSpectrogramL1Loss(sample_rate=sampling_rate) if config.mel_weight > 0 else None
        self.chroma = ChromaLoss(sampling_rate, n_fft=CHROMA_WINDOW) if config.chroma_weight > 0 else None
        self.average_spectrum = AverageSpectrumLoss(sampling_rate) if config.average_spectrum_weight > 0 else None
        self.comb = FrameRateCombLoss(sampling_rate, frame_rate) if config.frame_rate_comb_weight > 0 else None
        self.phase = self.frame_magnitude = None
        if config.phase_weight > 0 or config.frame_magnitude_weight > 0:
            if not isinstance(decoder, ISTFTDecoder):
                raise ValueError(
                    "phase_weight and frame_magnitude_weight need a codec with acoustic_decoder_type='istft' "
                    "(they supervise its STFT frames); set them to 0, or swap the decoder with replace_decoder."
                )
            if config.phase_weight > 0:
                self.phase = InstantaneousFrequencyLoss(decoder.n_fft, decoder.hop_length)
            if config.frame_magnitude_weight > 0:
                self.frame_magnitude = FrameLogMagnitudeLoss(decoder.n_fft, decoder.hop_length)

    @property
    def needs_spectral_frames(self) -> bool:
        return self.phase is not None or self.frame_magnitude is not None

    def forward(
        self,
        reconstruction: torch.Tensor,
        target: torch.Tensor,
        spectral_frames: tuple | None = None,
        phase_advance: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """``spectral_frames`` / ``phase_advance``: the ISTFT decoder's frames and
        :meth:`~ISTFTDecoder.phase_advances`, needed by the frame losses."""
        reconstruction, target = reconstruction.float(), target.float()
        sc, mag = self.full_band(reconstruction, target)
        sub_sc, sub_mag = self.sub_band(reconstruction, target)
        terms = {
            "stft_sc": sc,
            "stft_mag": mag,
            "subband_sc": sub_sc,
            "subband_mag": sub_mag,
        }
        total = self.config.stft_weight * (sc + mag) + self.config.subband_stft_weight * (sub_sc + sub_mag)
        # each optional term: its loss (None when its weight is 0), what it compares with the target; the
        # config's weight of term NAME is NAME_weight
        optional = (
            ("mel", self.mel, reconstruction),
            ("chroma", self.chroma, reconstruction),
            ("average_spectrum", self.average_spectrum, reconstruction),
            ("frame_rate_comb", self.comb, reconstruction),
            ("phase", self.phase, phase_advance),
            ("frame_magnitude", self.frame_magnitude, None if self.frame_magnitude is None else spectral_frames[0]),
        )
        for name, loss, estimate in optional:
            if loss is not None:
                terms[name] = loss(estimate, target)
                total = total + getattr(self.config, f"{name}_weight") * terms[name]
        terms["reconstruction"] = total
        return terms


class CodecTrainer(CheckpointedTrainer):
    def __init__(self, config: CodecTrainingConfig):
        self._set_up(config, config.mixed_precision)
        set_seed(config.seed)
        self.model = build_codec(config)
        if self.model.config.decode_only:
            raise ValueError("Cannot train a decode_only codec; load it without decode_only.")
        self.model.apply_weight_norm(include_encoder=not config.train_decoder_only)
        if config.train_decoder_only:
            self.model.requires_grad_(False)
            for part in DECODER_SIDE:
                getattr(self.model, part).requires_grad_(True)
        self.sampling_rate = self.model.config.sample_rate
        hop = self.model.config.hop_length
        self.segment = segment_samples(config.segment_seconds, self.sampling_rate, hop)
        # built before the segment check: each discriminator knows the shortest input it can judge
        self.discriminator = build_discriminator(config, self.sampling_rate) if config.use_discriminator else None
        min_segment = max(
            2048,
            self.discriminator.min_length if self.discriminator is not None else 0,
            CHROMA_WINDOW if config.chroma_weight > 0 else 0,
            AverageSpectrumLoss(self.sampling_rate).n_fft
            if config.average_spectrum_weight > 0 or config.frame_rate_comb_weight > 0
            else 0,
        )
        if self.segment < min_segment:
            raise ValueError(
                f"segment_seconds={config.segment_seconds} gives {self.segment} samples; the losses need at least "
                f"{min_segment} (the largest STFT window). Raise segment_seconds."
            )
        files = list_audio_files(config.train_data, config.audio_fields)
        self.dataset = AudioSegmentDataset(files, self.sampling_rate, self.segment, config.seed, config.audio_gain)
        self.sampler = EpochShuffleSampler(len(self.dataset), config.seed)
        loader = self._make_loader()
        self.losses = CodecLosses(
            config, self.sampling_rate, self.model.acoustic_decoder, frame_rate=self.sampling_rate / hop
        )
        generator_params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = self._adamw(generator_params)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.counter = StepCounter()
        self.losses.to(self.accelerator.device)  # buffers only: nothing to synchronise
        prepared = [self.model, self.optimizer, self.scheduler, loader]
        if self.discriminator is not None:
            self.optimizer_d = self._adamw(
                self.discriminator.parameters(), config.discriminator_learning_rate or config.learning_rate
            )
            self.scheduler_d = torch.optim.lr_scheduler.LambdaLR(self.optimizer_d, self._lr_factor)
            prepared += [self.discriminator, self.optimizer_d, self.scheduler_d]
        prepared = self.accelerator.prepare(*prepared)
        self.model, self.optimizer, self.scheduler, self.loader = prepared[:4]
        if self.discriminator is not None:
            self.discriminator, self.optimizer_d, self.scheduler_d = prepared[4:]
        self.eval_audio = self._load_eval_audio()

    def _lr_factor(self, step: int) -> float:
        return self.config.lr_decay_gamma ** (step // self.config.lr_decay_every)

    def _load_eval_audio(self) -> torch.Tensor:
        """A fixed batch of held-out (or first) clips, cut to whole frames, for the mel metric."""
        source = self.config.eval_data or self.config.train_data
        files = list_audio_files(source, self.config.audio_fields)[: self.config.num_eval_clips]
        clips = [load_audio(f, self.sampling_rate) for f in files]
        length = min(min(c.shape[0] for c in clips), self.segment)
        length -= length % self.accelerator.unwrap_model(self.model).config.hop_length
        batch = torch.stack([torch.from_numpy(c[:length]) for c in clips]).unsqueeze(1) * self.config.audio_gain
        return batch.to(self.accelerator.device)

    @torch.no_grad()
    def evaluate(self) -> float:
        """Multi-resolution mel distance of the full-bandwidth reconstruction (lower is better)."""
        model = self.accelerator.unwrap_model(self.model)
        was_training = model.training
        model.eval()
        reconstruction = model(self.eval_audio).audio_values
        model.train(was_training)
        return float(multi_resolution_mel_distance(reconstruction, self.eval_audio, sample_rate=self.sampling_rate))

    def _generator_step(
        self, audio: torch.Tensor, use_gan: bool, adversarial_generator: bool = True
    ) -> dict[str, float]:
        """One generator update, then (``use_gan``) one discriminator update; ``adversarial_generator=False``
        (the discriminator's warm-up) keeps the GAN terms out of the generator's loss."""
        config = self.config
        wants_frames = self.losses.needs_spectral_frames
        output = self.model(audio, return_spectral_frames=wants_frames)
        reconstruction = output.audio_values
        phase_advance = None
        if wants_frames:
            decoder = self.accelerator.unwrap_model(self.model).acoustic_decoder
            phase_advance = decoder.phase_advances(output.spectral_frames[1])
        terms = self.losses(reconstruction, audio, output.spectral_frames, phase_advance)
        loss = terms["reconstruction"]
        record = {k: v.item() for k, v in terms.items()}
        if not config.train_decoder_only:
            loss = (
                loss + config.commitment_weight * output.commitment_loss + config.semantic_weight * output.semantic_loss
            )
            record.update(commitment=output.commitment_loss.item(), semantic=output.semantic_loss.item())
        record["num_quantizers"] = int(output.num_quantizers)
        if use_gan and adversarial_generator:
            fake_logits, fake_maps = self.discriminator(reconstruction)
            with torch.no_grad():
                _, real_maps = self.discriminator(audio)
            adversarial = generator_adversarial_loss(fake_logits)
            matching = feature_matching_loss(real_maps, fake_maps)
            loss = loss + config.adversarial_weight * adversarial + config.feature_matching_weight * matching
            record.update(adversarial=adversarial.item(), feature_matching=matching.item())
        self.optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        if config.max_grad_norm:
            self.accelerator.clip_grad_norm_(self.model.parameters(), config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        record["generator_loss"] = loss.item()
        from songgen_hf.training.finite import check_finite_training

        check_finite_training(self.model, loss, self.counter.step + 1, fix="lower learning_rate")
        if use_gan:
            real_logits, _ = self.discriminator(audio)
            fake_logits, _ = self.discriminator(reconstruction.detach())
            d_loss = discriminator_loss(real_logits, fake_logits)
            self.optimizer_d.zero_grad(set_to_none=True)
            self.accelerator.backward(d_loss)
            if config.max_grad_norm:
                self.accelerator.clip_grad_norm_(self.discriminator.parameters(), config.max_grad_norm)
            self.optimizer_d.step()
            self.scheduler_d.step()  # the discriminator's schedule starts when it does
            record["discriminator_loss"] = d_loss.item()
        return record

    def save_final(self) -> Path:
        """Weight norm folded back in, written atomically as a ``save_pretrained`` folder."""
        target = self.output_dir / FINAL_MODEL_DIR
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            model = self.accelerator.unwrap_model(self.model)
            model.remove_weight_norm()
            with atomic_directory(target) as staging:
                model.save_pretrained(staging)
            model.apply_weight_norm()
        return target

    def train(self) -> Path:
        config = self.config
        self._ensure_started()
        # Decoder-only fine-tuning runs the inference path (no EMA updates, no quantiser
        # dropout, all codebooks): the decoder learns from exactly the codes it will be given.
        self.model.train(not config.train_decoder_only)
        if self.counter.step == 0:
            self._log({"step": 0, "eval_mel_distance": self.evaluate()})
        start = time.time()
        progress = TrainingProgress(
            config.max_steps, self.counter.step, "codec train", enabled=self.accelerator.is_main_process
        )
        with TerminationFlag() as termination, contextlib.closing(progress):
            while self.counter.step < config.max_steps:
                loader = self._epoch_loader()
                for audio in loader:
                    use_gan = self.discriminator is not None and self.counter.step >= config.discriminator_start_step
                    adversarial_generator = (
                        self.counter.step >= config.discriminator_start_step + config.discriminator_warmup_steps
                    )
                    record = self._generator_step(audio, use_gan, adversarial_generator)
                    self.counter.step += 1
                    self.counter.batches_in_epoch += 1
                    step = self.counter.step
                    logged = step % config.log_steps == 0 or step == config.max_steps
                    if logged:
                        record.update(
                            step=step, lr=self.scheduler.get_last_lr()[0], seconds=round(time.time() - start, 2)
                        )
                        self._log(record)
                    progress.update(step, record, logged)
                    if step % config.eval_steps == 0 or step == config.max_steps:
                        self._log({"step": step, "eval_mel_distance": self.evaluate()})
                    if step % config.save_steps == 0 or termination.requested:
                        self.save_checkpoint()
                    if termination.requested:
                        self._log({"step": step, "event": "terminated; checkpoint saved"})
                        raise SystemExit(143)
                    if step >= config.max_steps:
                        break
                else:
                    self.counter.epoch += 1
                    self.counter.batches_in_epoch = 0
                    continue
                break
        # a checkpoint only every save_steps (or when stopped): the end of the run writes final/, nothing more
        return self.save_final()


def build_discriminator(config: CodecTrainingConfig, sampling_rate: int) -> torch.nn.Module:
    """The configured discriminator: the multi-frequency one, the multi-period one, or both as one ensemble
    (multi-frequency scales first).  One alone is returned unwrapped, so checkpoints of runs made before
    the period discriminator existed load as they are."""
    members = []
    if config.discriminator_hop_lengths:
        members.append(
            MultiFrequencyDiscriminator(
                hop_lengths=config.discriminator_hop_lengths,
                hidden_channels=config.discriminator_channels,
                sample_rate=sampling_rate,
            )
        )
    if config.discriminator_periods:
        members.append(MultiPeriodDiscriminator(config.discriminator_periods, config.period_discriminator_channels))
    return members[0] if len(members) == 1 else DiscriminatorEnsemble(members)


def train_codec(config: CodecTrainingConfig, resume: bool = False, overwrite: bool = False) -> Path:
    """Train; ``resume`` continues the run in ``output_dir``, ``overwrite`` deletes it first.  A
    folder holding an earlier run with neither is refused before anything is built."""
    return CodecTrainer.run(config, resume=resume, overwrite=overwrite)


__all__ = [
    "CodecTrainer",
    "CodecLosses",
    "build_discriminator",
    "train_codec",
    "build_codec",
    "FINAL_MODEL_DIR",
    "DECODER_SIDE",
    "LOG_FILE",
    "code_side_differences",
    "is_decoder_side",
]
