"""Training the told singer (``modeling/songgen_singer/``): ``songgen train-singer``.

    songgen train-singer ENCODED [ENCODED ...] --output DIR [--held-out ENCODED] [--steps 1500] [--resume]

Reads ``songgen data encode`` folders made *with* stems (each record's vocal stem codes and accompaniment codes) of
a corpus whose records say when each syllable is sung, on which note and in which voice (the synthetic corpus's
``attributes``: ``syllables``, ``note_onsets_s``, ``note_durations_s``, ``melody_midi``, ``voice``).  Each step
masks one codebook of random crops at a cosine-drawn ratio (the coarser ones given, the finer ones hidden) and
scores the masked cells; what is sung is hidden from ``unit_dropout`` of the songs, so the singer also knows a
song without its syllables (its held-out loss with them hidden says how much the syllables explain).

Checkpoints (``DIR/checkpoint``: weights, optimiser, step, random state) are written atomically every
``--save-steps``; ``--resume`` goes on from the last one exactly; ``DIR/final`` is a ``save_pretrained`` folder.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from songgen_hf.data.lyrics_alignment import syllable_timing
from songgen_hf.training.finite import check_finite_training
from songgen_hf.utils.atomic import (
    atomic_directory,
    check_writable,
    is_write_refused,
    recover_directory,
    write_or_rescue,
    write_text_atomic,
)

CROP_FRAMES = 256


def record_score(record: dict) -> SimpleNamespace | None:
    """A corpus record's vocal score (what :func:`~modeling.songgen.singer.score_units` reads), None without one."""
    attributes = record.get("attributes")
    attributes = json.loads(attributes) if isinstance(attributes, str) else attributes or {}
    timing = syllable_timing(attributes) if (record.get("lyrics") or "").strip() else None
    if timing is None:
        return None
    count = len(timing["syllables"])
    melody = [int(note) for note in (attributes.get("melody_midi") or [])][:count]
    melody += [-1] * (count - len(melody))  # no note known: told none (-1 + 1 = 0)
    return SimpleNamespace(
        syllables=timing["syllables"],
        onsets_s=timing["note_onsets_s"],
        durations_s=timing["note_durations_s"],
        midi=melody,
        voice=str(attributes.get("voice")),
    )


def singer_records(folders: list[str | Path]) -> list[dict]:
    """The sung records of encoded folders: those with a vocal stem and a score."""
    from songgen_hf.training.songgen_data import load_encoded_datasets

    records = load_encoded_datasets([str(folder) for folder in folders], (16000, 50))
    return [record for record in records if record.get("codes_vocals") is not None and record_score(record)]


def singer_song(record: dict, config, max_frames: int = 1500) -> dict:
    """One record as the singer reads it: the vocal stem's first codebooks, the accompaniment's first, the score."""
    from songgen_hf.modeling.songgen_singer.modeling_songgen_singer import score_units

    codes = torch.as_tensor(np.asarray(record["codes_vocals"]), dtype=torch.long)[: config.num_codebooks, :max_frames]
    frames = codes.shape[-1]
    context = torch.zeros(frames, dtype=torch.long)
    if record.get("codes_accompaniment") is not None:
        accompaniment = torch.as_tensor(np.asarray(record["codes_accompaniment"]), dtype=torch.long)[0, :frames]
        context[: len(accompaniment)] = accompaniment
    return {
        "codes": codes,
        "context": context,
        "units": score_units(config, record_score(record), frames),
        "lyrics": record.get("lyrics") or "",
    }


def collate(songs: list[dict], crop: int | None, generator: torch.Generator, mask_id: int):
    """Songs (random crops of ``crop`` frames, whole when None) padded into codes, context, units, padding."""
    parts = []
    for song in songs:
        frames = song["codes"].shape[-1]
        start = int(torch.randint(max(1, frames - crop + 1), (1,), generator=generator)) if crop else 0
        end = start + crop if crop else frames
        parts.append({name: song[name][..., start:end] for name in ("codes", "context", "units")})
    length = max(part["codes"].shape[-1] for part in parts)
    rows, codebooks = parts[0]["units"].shape[0], parts[0]["codes"].shape[0]
    codes = torch.full((len(parts), codebooks, length), mask_id)
    context = torch.zeros((len(parts), length), dtype=torch.long)
    units = torch.zeros((len(parts), rows, length), dtype=torch.long)
    padding = torch.ones((len(parts), length), dtype=torch.bool)
    for row, part in enumerate(parts):
        frames = part["codes"].shape[-1]
        codes[row, :, :frames] = part["codes"]
        context[row, :frames], units[row, :, :frames] = part["context"], part["units"]
        padding[row, :frames] = False
    return codes, context, units, padding


def hide_syllables(units: torch.Tensor, letters: int, rows: torch.Tensor | None = None) -> torch.Tensor:
    """``units`` with the syllables' letters blanked (in every song, or where ``rows`` is True); timing, note and
    voice stay."""
    hidden = units.clone()
    hidden[(slice(None) if rows is None else rows), :letters] = 0
    return hidden


def masked_loss(model, batch, generator: torch.Generator) -> torch.Tensor:
    """One codebook per batch: the coarser ones given, it masked at a cosine-drawn ratio, the finer ones hidden."""
    codes, context, units, padding = batch
    mask_id = model.mask_id
    level = int(torch.randint(model.config.num_codebooks, (1,), generator=generator))
    # drawn on the CPU generator (a run resumes exactly on any device), then moved to the batch's
    ratio = torch.cos(torch.rand(len(codes), 1, generator=generator) * math.pi / 2)
    masked = (torch.rand(codes[:, 0].shape, generator=generator) < ratio).to(codes.device) & ~padding
    inputs = codes.clone()
    inputs[:, level + 1 :] = mask_id
    inputs[:, level] = torch.where(masked, mask_id, codes[:, level])
    logits = model(inputs, context, units, level, padding)
    if not masked.any():
        return logits.sum() * 0
    return nn.functional.cross_entropy(logits[masked].float(), codes[:, level][masked])


@torch.no_grad()
def held_out_nll(model, songs: list[dict], told: bool = True) -> list[float]:
    """Per codebook: NLL on the held-out songs' sung frames with it and the finer ones masked (``told=False``: the
    syllables hidden)."""
    model.eval()
    totals, count = torch.zeros(model.config.num_codebooks), 0
    device = next(model.parameters()).device
    for start in range(0, len(songs), 8):
        batch = collate(songs[start : start + 8], None, torch.Generator(), model.mask_id)
        codes, context, units, padding = (part.to(device) for part in batch)
        scored = ~padding & (units[:, model.config.letters] > 0)
        units = units if told else hide_syllables(units, model.config.letters)
        for level in range(model.config.num_codebooks):
            inputs = codes.clone()
            inputs[:, level:] = model.mask_id
            logits = model(inputs, context, units, level, padding).float()
            loss = nn.functional.cross_entropy(logits[scored], codes[:, level][scored], reduction="sum")
            totals[level] += float(loss)
        count += int(scored.sum())
    model.train()
    return [round(value, 4) for value in (totals / max(count, 1)).tolist()]


def _learning_rate(step: int, steps: int, peak: float, warmup: int = 100) -> float:
    return peak * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / steps))


def _save_checkpoint(output: Path, model, optimiser, step: int, generator: torch.Generator, history: list) -> None:
    try:
        with atomic_directory(output / "checkpoint") as staging:
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimiser": optimiser.state_dict(),
                    "step": step,
                    "generator": generator.get_state(),
                    "torch": torch.get_rng_state(),
                    "history": history,
                },
                Path(staging) / "state.pt",
            )
            model.config.save_pretrained(staging)
    except Exception as error:
        if not is_write_refused(error):
            raise
        # the previous checkpoint is still whole under its name; training goes on towards the final save
        print(
            f"warning: could not write the step-{step} checkpoint in {output} ({str(error).splitlines()[0]}); "
            "the previous checkpoint is kept.",
            file=sys.stderr,
            flush=True,
        )


def train_singer(
    train_folders: list[str | Path],
    output: str | Path,
    held_out: str | Path | None = None,
    steps: int = 1500,
    batch_size: int = 16,
    learning_rate: float = 5e-4,
    unit_dropout: float = 0.15,
    seed: int = 0,
    save_steps: int = 250,
    log_steps: int = 250,
    resume: bool = False,
    bf16: bool = False,
    device: str | None = None,
    context_shuffle: float = 0.0,
    **sizes,
) -> Path:
    """Trains a singer on ``train_folders`` into ``output`` (``output/final``, returned); ``sizes``: its
    config's hidden_size, num_hidden_layers, num_attention_heads.  ``bf16``: the forward pass under bfloat16
    autocast (float32 weights and optimiser; about 1.4x faster on CPUs with AVX-512 BF16, more on GPUs); ``device``:
    where it trains (default: the first GPU if any).  ``context_shuffle``: the share of songs in each batch sung
    over another song's accompaniment, so that the singer learns to follow a score that does not agree with the
    accompaniment it hears (a composed score never does)."""
    from songgen_hf.modeling.songgen_singer import SongGenSinger, SongGenSingerConfig

    output = Path(output)
    records = singer_records(train_folders)
    if not records:
        raise ValueError(
            f"No sung record with a vocal stem and a score in {', '.join(map(str, train_folders))}: "
            "encode a corpus with stems (`songgen data encode` without --stems vocals-only options) whose "
            "records carry syllable timing, notes and voices (`songgen data synth`)."
        )
    checkpoint = output / "checkpoint" / "state.pt"
    recover_directory(output / "checkpoint")  # a write killed between its renames left the checkpoint parked
    recover_directory(output / "final")
    check_writable(output / "final", "--output")  # read-only or forbidden: said now, not after the training
    if resume and not checkpoint.is_file():
        raise ValueError(f"--resume: {checkpoint} does not exist; start without --resume.")
    if not resume and (output / "checkpoint").exists():
        raise ValueError(f"{output} already holds a run; pass --resume to go on with it, or another --output.")
    voices = sorted({record_score(record).voice for record in records})
    if resume:
        config = SongGenSingerConfig.from_pretrained(output / "checkpoint")
    else:
        config = SongGenSingerConfig(voices=voices, **sizes)
    torch.manual_seed(seed)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = SongGenSinger(config).to(device)
    songs = [singer_song(record, config) for record in records]
    held = [singer_song(record, config) for record in singer_records([held_out])] if held_out else []
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.05, betas=(0.9, 0.98))
    generator = torch.Generator().manual_seed(seed + 1)
    start, history = 0, []
    if resume:
        from songgen_hf.modeling.weight_bounds import pickles_refused

        with pickles_refused(checkpoint):  # tensors and plain data only; anything else is refused naming the file
            state = torch.load(checkpoint, weights_only=True, map_location=device)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch"].cpu())
        start, history = int(state["step"]), list(state["history"])
    print(
        f"{len(songs)} sung training songs, {len(held)} held out; {sum(p.numel() for p in model.parameters()):,} "
        f"parameters; steps {start}-{steps}",
        flush=True,
    )
    model.train()
    for step in range(start, steps):
        for group in optimiser.param_groups:
            group["lr"] = _learning_rate(step, steps, learning_rate)
        chosen = torch.randint(len(songs), (batch_size,), generator=generator).tolist()
        codes, context, units, padding = collate([songs[i] for i in chosen], CROP_FRAMES, generator, model.mask_id)
        units = hide_syllables(units, config.letters, torch.rand(batch_size, generator=generator) < unit_dropout)
        if context_shuffle:
            swapped = torch.rand(batch_size, generator=generator) < context_shuffle
            others = torch.randperm(batch_size, generator=generator)
            context = torch.where(swapped[:, None], context[others], context)
        batch = tuple(part.to(device) for part in (codes, context, units, padding))
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = masked_loss(model, batch, generator)
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        check_finite_training(model, loss, step + 1, fix="lower --learning-rate")
        if (step + 1) % log_steps == 0 or step + 1 == steps:
            entry = {"step": step + 1, "loss": round(float(loss.detach()), 4)}
            if held:
                entry["held_out_nll"] = {"told": held_out_nll(model, held), "hidden": held_out_nll(model, held, False)}
            history.append(entry)
            print(json.dumps(entry), flush=True)
        if (step + 1) % save_steps == 0 and step + 1 < steps:
            _save_checkpoint(output, model, optimiser, step + 1, generator, history)
    model.eval()

    def write_final(folder: Path) -> None:
        with atomic_directory(folder) as staging:
            model.save_pretrained(staging)
        write_text_atomic(folder.with_name("train_log.json"), json.dumps(history, indent=1) + "\n")

    return write_or_rescue(output / "final", write_final, "trained singer")


__all__ = [
    "record_score",
    "singer_records",
    "singer_song",
    "train_singer",
]
