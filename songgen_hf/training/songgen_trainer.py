"""SongGen training with accelerate: one stage of the recipe (step 1, 2a, 2b or HQFT) per run.

One optimiser step reads ``gradient_accumulation_steps`` micro-batches per process, counts
their supervised tokens per token row, sums the counts over all micro-batches *and* processes,
and backpropagates each micro-batch's summed cross-entropy divided by those global counts.
The accumulated gradient is then exactly the gradient of the loss of one big batch made of
every micro-batch of every process: long songs weigh by their token count, not by the size of
the batch they happened to land in (averaging per-micro-batch means would over-weight short
batches).  Codebook weights follow the stage's curriculum; mixed pro adds the auxiliary vocal
loss with the model's ``vocal_loss_weight``.

Resume is exact: data order and crops depend only on (seed, epoch, index), and a checkpoint
stores model, optimiser, RNG states, the scheduler and the step counter; it is written
crash-safe (see :mod:`.checkpointing`).
SIGTERM saves a checkpoint before the process exits.  The final folder is a self-contained
``save_pretrained`` model with its tokenizers, written atomically.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from pathlib import Path

import torch
from accelerate.utils import DistributedDataParallelKwargs, set_seed

from songgen_hf.data.audio import EpochShuffleSampler
from songgen_hf.modeling.songgen import CodebookCurriculum, SongGenConfig, SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.configuration_songgen import CONDITION_DROPOUT_FIELDS
from songgen_hf.modeling.songgen.description_songgen import musical_controls
from songgen_hf.modeling.songgen.loss import combine_row_losses, row_token_counts
from songgen_hf.training.accelerated import LOG_FILE, CheckpointedTrainer
from songgen_hf.training.checkpointing import StepCounter, TerminationFlag, claim_run_outputs
from songgen_hf.training.model_options import apply_model_options
from songgen_hf.training.progress import TrainingProgress
from songgen_hf.training.songgen_config import SongGenTrainingConfig
from songgen_hf.training.songgen_data import (
    EncodedSongDataset,
    LengthGroupedEpochSampler,
    SongGenCollator,
    hq_filter_indices,
    length_group_size,
    load_encoded_datasets,
    rows_with_tracks,
)
from songgen_hf.training.validation import HeldOutLoss
from songgen_hf.utils.atomic import atomic_directory, write_or_rescue

logger = logging.getLogger(__name__)

FINAL_MODEL_DIR = "final"
TRAINING_CONFIG_FILE = "training_config.json"
DESCRIPTION_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "spiece.model")
LYRICS_VOCAB_FILE = "vocab.json"
PROCESSOR_CONFIG_FILE = "processor_config.json"
VOICE_FEATURES_FILE = "preprocessor_config.json"


# ---------------------------------------------------------------------------------- building blocks
def build_model(config: SongGenTrainingConfig, model_class, config_class, tiny_config):
    from songgen_hf.modeling.weight_bounds import build_fresh_model

    """A fresh model of ``model_class`` (``model``: ``{preset: tiny}`` or ``config_class`` fields, plus
    ``codec``: a trained codec folder whose weights it takes) or the saved model in ``init_from``.

    ``tiny_config(**options)`` builds the ``tiny`` preset (a test-sized config with its own codec)."""
    if config.init_from:
        if not Path(config.init_from).is_dir():
            raise ValueError(
                f"init_from {config.init_from} is not a folder; pass the previous stage's final model "
                "or an embedded model's name (songgen-tiny)."
            )
        # float32 master weights whatever the folder stores (see the codec trainer's init_from)
        return model_class.from_pretrained(config.init_from, dtype=torch.float32)
    options = dict(config.model)
    preset = options.pop("preset", None)
    if preset == "tiny":
        if config.codec:
            raise ValueError("`codec` needs a full `model` config; the 'tiny' preset brings its own test codec.")
        return build_fresh_model(model_class, tiny_config(**options))
    if preset is not None:
        raise ValueError(f"Unknown model preset {preset!r}; the only preset is 'tiny'.")
    if not config.codec:
        return build_fresh_model(model_class, config_class(**options))
    codec = load_trained_codec(config.codec)
    model = build_fresh_model(model_class, config_class(**options, audio_encoder=codec.config))
    model.audio_encoder.load_state_dict(codec.state_dict())
    return model


def build_songgen(config: SongGenTrainingConfig) -> SongGenForConditionalGeneration:
    from songgen_hf.testing import tiny_songgen_config

    return build_model(config, SongGenForConditionalGeneration, SongGenConfig, tiny_songgen_config)


def load_trained_codec(folder: str):
    """The codec a new model is built on: a saved X-Codec folder, or a SongGen folder or embedded model
    name (``songgen-tiny``), whose own codec is taken, so a model can share its codec with a release."""
    from songgen_hf.conversion.checkpoint_files import load_codec_of
    from songgen_hf.pipelines.loading import base_model_folder

    if not (Path(base_model_folder(folder)) / "config.json").is_file():
        raise ValueError(
            f"codec {folder} is not a saved X-Codec or SongGen folder (no config.json); use `songgen codec train`'s "
            "final/, a SongGen model folder or an embedded model's name (songgen-tiny)."
        )
    return load_codec_of(folder, flag="codec")


def _candidates(config: SongGenTrainingConfig, explicit: str | None, subfolder: str) -> list[Path]:
    if explicit:
        return [Path(explicit)]
    roots = [Path(p) for p in (config.processor, config.init_from) if p]
    return [folder for root in roots for folder in (root / subfolder, root)]


def preprocessing_source(config: SongGenTrainingConfig) -> Path | None:
    """The saved processor folder the tokenizers come from (``processor``, else ``init_from``), if any."""
    if config.description_tokenizer or config.lyrics_tokenizer:
        return None
    for folder in (config.processor, config.init_from):
        if folder and (Path(folder) / PROCESSOR_CONFIG_FILE).is_file():
            return Path(folder)
    return None


def load_tokenizers(config: SongGenTrainingConfig):
    """The description tokenizer (any transformers tokenizer) and the VoiceBPE lyrics tokenizer.

    Looked up in the explicit folders, else in ``processor``, else in ``init_from`` (a previous
    stage's final folder carries both), at the top or in ``description_tokenizer/`` /
    ``lyrics_tokenizer/`` subfolders."""
    from transformers import AutoTokenizer

    from songgen_hf.modeling.songgen.tokenization_songgen import VoiceBpeTokenizer

    description = next(
        (
            f
            for f in _candidates(config, config.description_tokenizer, "description_tokenizer")
            if any((f / name).is_file() for name in DESCRIPTION_TOKENIZER_FILES)
        ),
        None,
    )
    lyrics = next(
        (
            f
            for f in _candidates(config, config.lyrics_tokenizer, "lyrics_tokenizer")
            if (f / LYRICS_VOCAB_FILE).is_file()
        ),
        None,
    )
    if description is None or lyrics is None:
        missing = "description_tokenizer" if description is None else "lyrics_tokenizer"
        raise ValueError(
            f"No {missing} found. Set `{missing}` (a tokenizer folder), or `processor` / `init_from` to a folder "
            "that holds both tokenizers."
        )
    return AutoTokenizer.from_pretrained(str(description)), VoiceBpeTokenizer.from_pretrained(lyrics)


def build_voice_extractor(config: SongGenTrainingConfig, model_config: SongGenConfig):
    """Reference-voice features: the saved processor's settings when there is one, else the voice encoder's."""
    if not config.use_voice or model_config.voice_encoder is None:
        return None
    from songgen_hf.modeling.songgen.feature_extraction_songgen import VoiceFeatureExtractor

    source = preprocessing_source(config)
    if source is not None and (source / VOICE_FEATURES_FILE).is_file():
        return VoiceFeatureExtractor.from_pretrained(str(source))
    voice = model_config.voice_encoder
    return VoiceFeatureExtractor(sampling_rate=voice.sampling_rate, clip_seconds=voice.clip_seconds)


def check_vocabularies(model_config: SongGenConfig, description_tokenizer, lyrics_tokenizer) -> None:
    if len(description_tokenizer) > model_config.text_encoder.vocab_size:
        raise ValueError(
            f"The description tokenizer has {len(description_tokenizer)} ids but the text encoder "
            f"{model_config.text_encoder.vocab_size}; use the tokenizer the model was built for."
        )
    if lyrics_tokenizer.vocab_size > model_config.lyrics_encoder.vocab_size:
        raise ValueError(
            f"The lyrics tokenizer has {lyrics_tokenizer.vocab_size} ids but the lyrics encoder "
            f"{model_config.lyrics_encoder.vocab_size}; use the tokenizer the model was built for."
        )


def token_normalised_loss(output, counts, vocal_counts, weights, num_codebooks: int, vocal_loss_weight: float):
    """This micro-batch's share of the big-batch loss: per-row CE sums over *global* token counts.

    Summing it over every micro-batch of every process gives ``combine(sum CE / sum tokens)``,
    the loss of one batch holding all of them."""
    loss = combine_row_losses(output.codebook_loss_sums / counts.clamp(min=1), weights, num_codebooks)
    if output.vocal_codebook_loss_sums is not None:
        vocal = combine_row_losses(output.vocal_codebook_loss_sums / vocal_counts.clamp(min=1), weights, num_codebooks)
        loss = loss + vocal_loss_weight * vocal
    return loss


def _resolved_folders(folders: str | list[str]) -> set[str]:
    return {str(Path(folder).resolve()) for folder in ([folders] if isinstance(folders, str) else folders)}


def resolve_mixed_precision(choice: str) -> str:
    if choice != "auto":
        return choice
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


# ---------------------------------------------------------------------------------- trainer
class SongGenTrainer(CheckpointedTrainer):
    progress_desc = "train"  # the progress bar's label

    def __init__(self, config: SongGenTrainingConfig):
        self._set_up(
            config,
            resolve_mixed_precision(config.mixed_precision),
            # the voice encoder and vocal heads sit idle on batches without voice / vocal stems
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        )
        set_seed(config.seed)
        model = self._build_model(config)
        self._configure_model(model)
        self.description_tokenizer, self.lyrics_tokenizer = load_tokenizers(config)
        check_vocabularies(model.config, self.description_tokenizer, self.lyrics_tokenizer)
        # condition dropout draws from the global RNG: give each process its own stream
        set_seed(config.seed, device_specific=True)

        self.dataset = self._load_dataset(model)
        self.sampler = self._make_sampler()
        self.voice_extractor = build_voice_extractor(config, model.config)
        collator = self._make_collator(model)
        self.validation = self._make_validation(model, collator)
        loader = self._make_loader(collator)
        optimizer = self._adamw([p for p in model.parameters() if p.requires_grad])
        # Not `prepare`d: accelerate would step it once per process; this one steps once per optimiser step.
        self.scheduler = self._make_scheduler(optimizer)
        self.model, self.optimizer, self.loader = self.accelerator.prepare(model, optimizer, loader)
        self.counter = StepCounter()
        self.extra_state = (self.scheduler,)
        self.curriculum = self._make_curriculum(model)

    # Hooks a trainer of another model on the same data and loop overrides (ResGenTrainer).
    def _build_model(self, config: SongGenTrainingConfig):
        if config.warm_start_from:
            raise ValueError(
                "warm_start_from is a ResGen training option (a SongGen's weights into a fresh ResGen); to continue "
                "a SongGen, use init_from."
            )
        if config.nll_beta is not None:
            raise ValueError(
                "nll_beta is a ResGen loss option (beta-NLL of its mixture); SongGen's loss is cross-entropy."
            )
        return apply_model_options(build_songgen(config), config)

    def _make_collator(self, model):
        return SongGenCollator.for_model(
            model,
            self.description_tokenizer,
            self.lyrics_tokenizer,
            voice_extractor=self.voice_extractor,
            max_description_tokens=self.config.max_description_tokens,
            max_lyrics_tokens=self.config.max_lyrics_tokens,
        )

    def _make_curriculum(self, model):
        return CodebookCurriculum(model.config.initial_codebook_weights)

    def _configure_model(self, model: SongGenForConditionalGeneration) -> None:
        config = self.config
        for name in CONDITION_DROPOUT_FIELDS:
            if getattr(config, name) is not None:
                setattr(model.config, name, getattr(config, name))
        if config.initial_codebook_weights is not None:
            if len(config.initial_codebook_weights) != model.config.decoder.num_codebooks:
                raise ValueError(
                    f"initial_codebook_weights has {len(config.initial_codebook_weights)} entries for "
                    f"{model.config.decoder.num_codebooks} codebooks."
                )
            model.config.initial_codebook_weights = list(config.initial_codebook_weights)
        if config.freeze == "conditioning":
            model.freeze_conditioning()
        elif config.freeze == "none":
            model.text_encoder.requires_grad_(True)
        model.freeze_audio_encoder()
        if config.gradient_checkpointing:
            # non-reentrant: gradients reach a LoRA adapter's weights even though the layer inputs need none
            if hasattr(model, "activation_checkpointing_enable"):  # transformers' name from 5.24 on
                model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    def _model_codec(self) -> tuple[str, str] | None:
        """``(digest of the codec's parameters as songgen data encode records them, the model's name)`` where
        the training data must come from the model's own codec; a stage trained from scratch has none yet."""
        return None

    def _load_dataset(self, model) -> EncodedSongDataset:
        dataset, self.num_rows = self._encoded_songs(self.config.train_data, model, self.config.hq_filter, "training")
        return dataset

    def _encoded_songs(self, folders, model, hq_filter=None, purpose: str = "training", max_rows: int | None = None):
        """Encoded rows the model can learn from (its pattern's stems present, ``hq_filter`` passed), cropped as
        training crops them; returns the dataset and ``{"total", "used"}``."""
        config = self.config
        data = load_encoded_datasets(
            folders, (model.config.sampling_rate, model.config.frame_rate), codec=self._model_codec()
        )
        total = len(data)
        keep = list(range(total))
        if hq_filter is not None:
            keep = hq_filter_indices(data, hq_filter)
        stems = tuple(t for t in model.pattern.track_names if t != "mix")
        if stems:
            with_stems = set(rows_with_tracks(data, stems))
            dropped = sum(1 for i in keep if i not in with_stems)
            if dropped:
                logger.warning(
                    "%d %s rows lack %s codes, which pattern %r needs; skipping them.",
                    dropped,
                    purpose,
                    stems,
                    model.pattern.name,
                )
            keep = [i for i in keep if i in with_stems]
        if max_rows is not None:
            keep = keep[:max_rows]
        if not keep:
            raise ValueError(f"No {purpose} rows left out of {total} (hq_filter={hq_filter}, stems needed: {stems}).")
        if len(keep) < total:
            data = data.select(keep, keep_in_memory=True)
        aligned = config.bar_aligned_crops and model.config.decoder.use_tempo_control
        bar_frame_rate = model.config.frame_rate if aligned else None
        dataset = EncodedSongDataset(
            data, model.config.decoder.num_codebooks, config.max_frames, config.seed, bar_frame_rate
        )
        return dataset, {"total": total, "used": len(keep)}

    def _make_validation(self, model, collator) -> HeldOutLoss | None:
        if self.config.validation_data is None:
            return None
        if _resolved_folders(self.config.validation_data) & _resolved_folders(self.config.train_data):
            logger.warning(
                "validation_data shares folders with train_data: its loss is the training songs', not a "
                "held-out figure; encode held-out songs apart (e.g. the corpus's test.jsonl)."
            )
        dataset, _ = self._encoded_songs(
            self.config.validation_data, model, purpose="validation", max_rows=self.config.validation_max_songs
        )
        return HeldOutLoss(dataset, collator, self.config.batch_size)

    def validation_weights(self) -> torch.Tensor:
        """Codebook weights of the held-out loss: a curriculum's end weights, so the figure does not move with the
        step's weights; without a curriculum, training's own."""
        return self.curriculum.weights(1.0 if self.config.codebook_curriculum else 0.0)

    def validate(self) -> dict:
        """The held-out loss now (every process takes part), logged and returned."""
        model = self.accelerator.unwrap_model(self.model)
        record = self.validation(
            model,
            self.validation_weights().to(self.accelerator.device),
            model.config.decoder.num_codebooks,
            rank=self.accelerator.process_index,
            world=self.accelerator.num_processes,
            reduce=lambda tensor: self.accelerator.reduce(tensor, "sum"),
            autocast=self.accelerator.autocast,
        )
        record = {"step": self.counter.step, **record}
        self._log(record)
        return record

    def _make_sampler(self):
        if self.config.group_by_length:
            lengths = list(self.dataset.data["num_frames"])
            size = length_group_size(self.config.batch_size, self.accelerator.num_processes)
            return LengthGroupedEpochSampler(lengths, size, self.config.seed)
        return EpochShuffleSampler(len(self.dataset), self.config.seed)

    @property
    def _schedule_steps(self) -> int:
        return self.config.schedule_steps or self.config.max_steps

    def _make_scheduler(self, optimizer):
        from transformers import get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup

        if self.config.lr_scheduler == "constant":
            return get_constant_schedule_with_warmup(optimizer, self.config.warmup_steps)
        return get_cosine_schedule_with_warmup(optimizer, self.config.warmup_steps, self._schedule_steps)

    # ---- checkpoints
    def save_final(self) -> Path:
        """``save_pretrained`` plus tokenizers and this stage's config, atomically."""
        target = self.output_dir / FINAL_MODEL_DIR
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            model = self.accelerator.unwrap_model(self.model)

            def write(folder: Path) -> None:
                with atomic_directory(folder) as staging:
                    model.save_pretrained(staging)
                    self._save_preprocessing(staging, model.config)
                    record = {**dataclasses.asdict(self.config), "final_step": self.counter.step, "rows": self.num_rows}
                    (staging / TRAINING_CONFIG_FILE).write_text(json.dumps(record, indent=1), encoding="utf-8")

            # a full or read-only output_dir: the trained model goes to a temporary folder, named in the error
            write_or_rescue(target, write, "trained model", flag="output_dir")
        self.accelerator.wait_for_everyone()
        return target

    def _save_preprocessing(self, folder: Path, model_config: SongGenConfig) -> None:
        """The processor (tokenizers, voice features) beside the weights, so the folder loads on its own."""
        from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor

        source = preprocessing_source(self.config)
        if source is not None:
            processor = SongGenProcessor.from_pretrained(str(source))
        else:
            processor = SongGenProcessor.for_config(model_config, self.description_tokenizer, self.lyrics_tokenizer)
        processor.save_pretrained(folder)

    def _micro_batches(self):
        """Endless micro-batches across epochs; the counter always says how many were consumed."""
        while True:
            for batch in self._epoch_loader():
                self.counter.batches_in_epoch += 1
                yield batch
            self.counter.epoch += 1
            self.counter.batches_in_epoch = 0

    # ---- one optimiser step
    def codebook_weights(self) -> torch.Tensor:
        if self.config.codebook_curriculum:
            weights = self.curriculum.weights_at_step(self.counter.step, self._schedule_steps)
        else:
            weights = self.curriculum.weights(0.0)
        return weights.to(self.accelerator.device)

    def accumulate_gradients(self, micro_batches: list[dict]) -> dict:
        """Backward over ``micro_batches`` with token-count normalisation; returns the global losses."""
        model_config = self.accelerator.unwrap_model(self.model).config
        num_codebooks = model_config.decoder.num_codebooks
        weights = self.codebook_weights()
        counts = self.accelerator.reduce(sum(row_token_counts(b["labels"]) for b in micro_batches), "sum")
        has_vocals = "vocal_labels" in micro_batches[0]
        vocal_counts = (
            self.accelerator.reduce(sum(row_token_counts(b["vocal_labels"]) for b in micro_batches), "sum")
            if has_vocals
            else None
        )
        world = self.accelerator.num_processes
        row_sums = torch.zeros_like(counts, dtype=torch.float32)
        vocal_sums = torch.zeros_like(vocal_counts, dtype=torch.float32) if has_vocals else None
        for number, batch in enumerate(micro_batches):
            last = number == len(micro_batches) - 1
            with contextlib.nullcontext() if last else self.accelerator.no_sync(self.model):
                output = self.model(**batch, codebook_weights=weights)
                loss = token_normalised_loss(
                    output, counts, vocal_counts, weights, num_codebooks, model_config.vocal_loss_weight
                )
                # DDP averages gradients over processes; the global loss is their sum
                self.accelerator.backward(loss * world)
            row_sums += output.codebook_loss_sums.detach().float()
            if has_vocals:
                vocal_sums += output.vocal_codebook_loss_sums.detach().float()
        row_means = self.accelerator.reduce(row_sums, "sum") / counts.clamp(min=1)
        record = {
            "loss": combine_row_losses(row_means, weights, num_codebooks).item(),
            "codebook_losses": [round(v, 6) for v in row_means.tolist()],
            "tokens": int(counts.sum()),
        }
        if has_vocals:
            vocal_means = self.accelerator.reduce(vocal_sums, "sum") / vocal_counts.clamp(min=1)
            vocal_loss = combine_row_losses(vocal_means, weights, num_codebooks).item()
            record["vocal_loss"] = vocal_loss
            record["loss"] += model_config.vocal_loss_weight * vocal_loss
        return record

    def _train_step(self, micro_batches: list[dict]) -> dict:
        record = self.accumulate_gradients(micro_batches)
        if self.config.max_grad_norm:
            norm = self.accelerator.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
            record["grad_norm"] = float(norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        from songgen_hf.training.finite import check_finite_training

        check_finite_training(self.model, record["loss"], self.counter.step + 1, fix="lower learning_rate")
        return record

    def _eval_prompts(self) -> list[dict]:
        if self.config.eval_prompts:
            return list(self.config.eval_prompts)
        rows = self.dataset.data.select(range(min(self.config.num_eval_samples, len(self.dataset.data))))
        return [{"description": row["caption"], "lyrics": row.get("lyrics") or ""} for row in rows]

    def generate_samples(self) -> list[Path]:
        """Generate the evaluation prompts with the current weights into ``samples/step_N/``.

        Runs on the main process in eval mode with a fixed seed inside a forked RNG, so sampling
        neither perturbs training nor breaks bit-exact resume."""
        from songgen_hf.data.audio import write_audio

        self.accelerator.wait_for_everyone()
        written: list[Path] = []
        if self.accelerator.is_main_process:
            model = self.accelerator.unwrap_model(self.model)
            was_training = model.training
            model.eval()
            prompts = self._eval_prompts()
            description = self.description_tokenizer(
                [p["description"] for p in prompts], padding=True, return_tensors="pt"
            )
            lyrics = self.lyrics_tokenizer([p.get("lyrics") or "" for p in prompts], padding=True, return_tensors="pt")
            inputs = {
                "input_ids": description["input_ids"],
                "attention_mask": description["attention_mask"],
                "lyrics_input_ids": lyrics["input_ids"],
                "lyrics_attention_mask": lyrics["attention_mask"],
            }
            decoder_config = model.config.decoder
            controls = musical_controls([p["description"] for p in prompts], **decoder_config.control_switches())
            inputs.update({name: torch.tensor(values) for name, values in controls.items()})
            inputs = {key: value.to(self.accelerator.device) for key, value in inputs.items()}
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.config.seed)
                output = model.generate(
                    **inputs,
                    duration_s=self.config.eval_duration_s,
                    guidance_scale=self.config.eval_guidance_scale,
                    do_sample=True,
                    return_dict_in_generate=True,
                )
            model.train(was_training)
            folder = self.output_dir / "samples" / f"step_{self.counter.step:07d}"
            for index, (audio, length) in enumerate(zip(output.audio, output.audio_lengths)):
                written.append(
                    write_audio(folder / f"{index:02d}.wav", audio[:, : int(length)], model.config.sampling_rate)
                )
            claim_run_outputs(self.output_dir, f"samples/{folder.name}")
            self._log(
                {
                    "step": self.counter.step,
                    "event": "samples",
                    "files": [str(path) for path in written],
                    "frames": output.frame_lengths.tolist(),
                    "rms": [
                        round(float(a[:, : int(n)].pow(2).mean().sqrt()), 5) if n else 0.0
                        for a, n in zip(output.audio, output.audio_lengths)
                    ],
                }
            )
        self.accelerator.wait_for_everyone()
        return written

    def _any_process_terminated(self, requested: bool) -> bool:
        """All processes must save together: one that got SIGTERM alone would wait for the others forever."""
        if self.accelerator.num_processes == 1:
            return requested
        flag = torch.tensor([int(requested)], device=self.accelerator.device)
        return bool(self.accelerator.reduce(flag, "sum").item())

    def train(self) -> Path:
        config = self.config
        self._ensure_started()
        self.model.train()
        if self.counter.step == 0:
            self._log(
                {
                    "step": 0,
                    "event": "start",
                    "stage": config.stage,
                    "rows": self.num_rows,
                    "processes": self.accelerator.num_processes,
                }
            )
            if self.validation is not None:
                self.validate()  # where the run starts from: a stage that never goes below it taught nothing held-out
        start = time.time()
        batches = self._micro_batches()
        progress = TrainingProgress(
            config.max_steps, self.counter.step, self.progress_desc, enabled=self.accelerator.is_main_process
        )
        with TerminationFlag() as termination, contextlib.closing(progress):
            while self.counter.step < config.max_steps:
                micro = [next(batches) for _ in range(config.gradient_accumulation_steps)]
                record = self._train_step(micro)
                self.counter.step += 1
                step = self.counter.step
                logged = step % config.log_steps == 0 or step == config.max_steps
                if logged:
                    record.update(
                        step=step,
                        epoch=self.counter.epoch,
                        lr=self.scheduler.get_last_lr()[0],
                        seconds=round(time.time() - start, 2),
                    )
                    self._log(record)
                progress.update(step, record, logged)
                if config.eval_steps and (step % config.eval_steps == 0 or step == config.max_steps):
                    self.generate_samples()
                every = config.validation_steps or config.save_steps
                if self.validation is not None and (step % every == 0 or step == config.max_steps):
                    self.validate()
                stop = self._any_process_terminated(termination.requested)
                if step % config.save_steps == 0 or stop:
                    self.save_checkpoint()
                if stop:
                    self._log({"step": step, "event": "terminated; checkpoint saved"})
                    raise SystemExit(143)
        # a checkpoint only every save_steps (or when stopped): the end of the run writes final/, nothing more
        return self.save_final()


def train_songgen(config: SongGenTrainingConfig, resume: bool = False, overwrite: bool = False) -> Path:
    """Train one stage; ``resume`` continues the run in ``output_dir``, ``overwrite`` deletes it
    first.  A folder holding an earlier run with neither is refused before anything is built."""
    return SongGenTrainer.run(config, resume=resume, overwrite=overwrite)


__all__ = [
    "FINAL_MODEL_DIR",
    "LOG_FILE",
    "SongGenTrainer",
    "build_songgen",
    "load_tokenizers",
    "token_normalised_loss",
    "train_songgen",
]
