"""ResGen training on the SongGen training stack: same config file, data, checkpoints, resume and logs.

``ResGenTrainer`` is a :class:`~.songgen_trainer.SongGenTrainer` whose model is a
:class:`~songgen_hf.modeling.resgen.ResGenForConditionalGeneration`: the collator hands over the
mix codes and their frame mask instead of pattern labels, each micro-batch is masked as in the
paper (:func:`~songgen_hf.modeling.resgen.masking.training_mask`, drawn from the global RNG that
the checkpoints restore), and the loss (the mixture's NLL per latent dimension) is normalised by
the number of masked frames of every micro-batch on every process, like SongGen's token count.
The final folder is a ``ResGenPipeline`` folder, which every front door loads::

    python -m songgen_hf.training.resgen_trainer CONFIG.yaml [--resume | --overwrite] [--set key=value ...]

The config is a SongGen stage config (``model: {preset: tiny}`` or ResGen config fields,
``codec``, tokenizers, steps...); the SongGen-only options (``codebook_curriculum``,
``initial_codebook_weights``) do not apply.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import sys
from pathlib import Path

import torch

from songgen_hf.modeling.resgen import (
    ResGenConfig,
    ResGenForConditionalGeneration,
    ResGenScheduler,
    training_mask,
)
from songgen_hf.modeling.resgen.warm_start import warm_start_from_songgen
from songgen_hf.training.songgen_config import SongGenTrainingConfig
from songgen_hf.training.songgen_data import SongGenCollator, _pad_codes
from songgen_hf.training.songgen_trainer import (
    FINAL_MODEL_DIR,
    TRAINING_CONFIG_FILE,
    SongGenTrainer,
    build_model,
)
from songgen_hf.utils.atomic import atomic_directory

logger = logging.getLogger(__name__)


def build_resgen(config: SongGenTrainingConfig) -> ResGenForConditionalGeneration:
    """A fresh ResGen (``model``: ``{preset: tiny}`` or ResGen config fields, ``codec``) or ``init_from``;
    with ``warm_start_from``, the fresh model starts from that SongGen's shared weights."""
    from songgen_hf.testing import tiny_resgen_config

    if config.input_token_noise_prob is not None:
        raise ValueError(
            "input_token_noise_prob is a SongGen training option (noise in its teacher-forced input); "
            "ResGen already learns from masked inputs: drop it."
        )
    model = build_model(config, ResGenForConditionalGeneration, ResGenConfig, tiny_resgen_config)
    if config.nll_beta is not None:
        model.config.nll_beta = float(config.nll_beta)
    if config.warm_start_from:
        report = warm_start_from_songgen(model, _songgen_state(config.warm_start_from))
        logger.info(
            "warm start from %s: %d tensors copied, %d of another shape left fresh, "
            "%d without a counterpart left fresh",
            config.warm_start_from,
            len(report["copied"]),
            len(report["shape_mismatch"]),
            len(report["fresh"]) - len(report["shape_mismatch"]),
        )
    return model


def _songgen_state(name_or_path: str) -> dict[str, torch.Tensor]:
    from songgen_hf.conversion.checkpoint_files import read_model_type
    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration
    from songgen_hf.pipelines.loading import base_model_folder

    folder = base_model_folder(name_or_path)
    model_type = read_model_type(folder, "warm_start_from")
    if model_type != "songgen":
        raise ValueError(f"warm_start_from {name_or_path} holds a {model_type!r} model; pass a trained SongGen folder.")
    return SongGenForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).state_dict()


class ResGenCollator(SongGenCollator):
    """SongGen's collator with the mix codes ``(B, depth, frames)`` and their frame mask as targets."""

    def __init__(self, num_codebooks: int, *args, **kwargs):
        super().__init__(None, *args, **kwargs)
        self.num_codebooks = num_codebooks

    def _labels(self, items) -> dict[str, torch.Tensor]:
        lengths = torch.tensor([item["num_frames"] for item in items])
        frames = int(lengths.max())
        return {
            "audio_codes": _pad_codes(items, "mix", self.num_codebooks, frames),
            "frame_attention_mask": (torch.arange(frames) < lengths.unsqueeze(1)).long(),
        }


class ResGenTrainer(SongGenTrainer):
    def __init__(self, config: SongGenTrainingConfig):
        if config.initial_codebook_weights is not None:
            raise ValueError("initial_codebook_weights is a SongGen option; ResGen predicts all depths at once.")
        if config.vocal_heads is not None or config.vocal_loss_weight is not None:
            raise ValueError(
                "vocal_heads / vocal_loss_weight are SongGen options (mixed pro's vocal heads); ResGen has none."
            )
        if config.dual_track or config.stem_gains_db is not None:
            raise ValueError(
                "dual_track / stem_gains_db are SongGen options (accompaniment and vocals as two token "
                "tracks, and their balance); ResGen models the mix."
            )
        super().__init__(config)

    def _build_model(self, config: SongGenTrainingConfig):
        return build_resgen(config)

    def _make_collator(self, model):
        decoder = model.config.decoder
        return ResGenCollator(
            decoder.num_codebooks,
            self.description_tokenizer,
            self.lyrics_tokenizer,
            self.voice_extractor,
            self.config.max_description_tokens,
            self.config.max_lyrics_tokens,
            use_tempo_control=decoder.use_tempo_control,
            use_key_control=decoder.use_key_control,
            use_arrangement_control=decoder.use_arrangement_control,
        )

    def _make_curriculum(self, model):
        return None  # every depth is predicted at once: no codebook curriculum

    def _load_dataset(self, model):
        model.pattern = _MixOnly()  # the dataset loader asks which tracks the model needs
        try:
            dataset = super()._load_dataset(model)
        finally:
            del model.pattern
        if model.config.decoder.depth_means and not self.config.init_from:
            # a fresh model starts at the data's mean codewords (a resume then loads its checkpoint's)
            set_depth_means_from_data(model, dataset)
        return dataset

    def accumulate_gradients(self, micro_batches: list[dict]) -> dict:
        """Backward over ``micro_batches``, each masked here, the NLL normalised by the global masked-frame count."""
        model = self.accelerator.unwrap_model(self.model)
        mask_id, schedule = model.mask_token_id, model.config.mask_schedule
        masked = []
        for batch in micro_batches:
            frame_mask = batch["frame_attention_mask"].bool()
            mask = training_mask(batch["audio_codes"], None, schedule, frame_mask)
            masked.append(batch["audio_codes"].masked_fill(mask, mask_id))
        counts = sum(
            ((m == mask_id).any(1) & b["frame_attention_mask"].bool()).sum() for m, b in zip(masked, micro_batches)
        )
        total = self.accelerator.reduce(counts.float(), "sum").clamp(min=1)
        world = self.accelerator.num_processes
        loss_sum = torch.zeros((), device=total.device)
        for number, (batch, tokens) in enumerate(zip(micro_batches, masked)):
            last = number == len(micro_batches) - 1
            with contextlib.nullcontext() if last else self.accelerator.no_sync(self.model):
                output = self.model(**batch, masked_audio_codes=tokens)
                self.accelerator.backward(output.loss_sum / total * world)  # DDP averages over processes
            loss_sum += output.loss_sum.detach()
        loss = self.accelerator.reduce(loss_sum, "sum") / total
        return {"loss": loss.item(), "masked_frames": int(total)}

    def generate_samples(self) -> list[Path]:
        """Evaluation songs are SongGen's job to write; ResGen logs none yet (``eval_steps`` is refused)."""
        return []

    def save_final(self) -> Path:
        """A ``ResGenPipeline`` folder (model, scheduler, processor) plus this run's config, atomically."""
        from songgen_hf.modeling.resgen.pipeline_resgen import ResGenPipeline
        from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor

        target = self.output_dir / FINAL_MODEL_DIR
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            model = self.accelerator.unwrap_model(self.model)
            processor = SongGenProcessor.for_config(model.config, self.description_tokenizer, self.lyrics_tokenizer)
            with atomic_directory(target) as staging:
                ResGenPipeline(transformer=model, scheduler=ResGenScheduler(), processor=processor).save_pretrained(
                    staging
                )
                record = {**dataclasses.asdict(self.config), "final_step": self.counter.step, "rows": self.num_rows}
                (staging / TRAINING_CONFIG_FILE).write_text(json.dumps(record, indent=1), encoding="utf-8")
        self.accelerator.wait_for_everyone()
        return target


DEPTH_MEAN_ROWS = 256


def set_depth_means_from_data(model: ResGenForConditionalGeneration, dataset, rows: int = DEPTH_MEAN_ROWS) -> None:
    """``model.decoder.depth_means`` from the mix codes of the first ``rows`` rows of an encoded dataset."""
    import numpy as np

    depth = model.config.decoder.num_codebooks
    table = getattr(dataset, "data", dataset)  # the training wrapper keeps the datasets.Dataset as `data`
    codes = torch.cat(
        [
            torch.as_tensor(np.asarray(table[i]["codes_mix"])[:depth], dtype=torch.long)
            for i in range(min(rows, len(table)))
        ],
        dim=1,
    )
    model.decoder.set_depth_means(codes.unsqueeze(0), model.codebooks())


class _MixOnly:
    track_names = ("mix",)
    name = "resgen"


def train_resgen(config: SongGenTrainingConfig, resume: bool = False, overwrite: bool = False) -> Path:
    """Train ResGen with ``config``; ``resume`` / ``overwrite`` as for ``train_songgen``."""
    if config.eval_steps:
        raise ValueError(
            "eval_steps is not supported for ResGen training yet; set it to 0 and sample the final folder."
        )
    if config.validation_data is not None:
        raise ValueError(
            "validation_data is a SongGen training option (held-out cross-entropy); ResGen's loss is a "
            "mixture likelihood of masked frames, not scored on held-out songs yet: remove it."
        )
    return ResGenTrainer.run(config, resume=resume, overwrite=overwrite)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from songgen_hf.commands.cli import add_run_arguments, run_command
    from songgen_hf.training.config_files import parse_overrides

    def run(args) -> int:
        config = SongGenTrainingConfig.from_file(args.config, parse_overrides(args.set))
        print(f"trained ResGen saved to {train_resgen(config, resume=args.resume, overwrite=args.overwrite)}")
        return 0

    parser = argparse.ArgumentParser(prog="resgen train", description="Train ResGen.")
    add_run_arguments(parser, "stage config (JSON/YAML): train_data, init_from or model, stage options", "max_steps=10")
    parser.add_argument("-v", "--verbose", action="store_true")
    return run_command(parser, run, argv)


__all__ = ["ResGenCollator", "ResGenTrainer", "build_resgen", "train_resgen"]


if __name__ == "__main__":
    sys.exit(main())
