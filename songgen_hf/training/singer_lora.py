"""The told singer learns the style: a LoRA of the base's singer, trained by ``songgen finetune-lora`` on the same
songs as the decoder's adapter and saved beside it (``final/singer_adapter``, see
:mod:`songgen_hf.pipelines.singer_adapters`).

The singer re-sings every song's vocal track from a score, so a decoder adapter alone leaves the vocals the base's.
Its training reads what ``songgen train-singer`` reads (:mod:`songgen_hf.training.singer`): each song's vocal stem
codes (the decoder's vocal track, as the codec wrote it), the accompaniment's first codebook (the context the singer
hears) and the song's score (which syllable is sung when, on which note, in which voice).  ``songgen data synth``
records carry all of it; ``songgen data prepare`` records carry the words' timing (the notes and the voice are then
told as unknown, as for any request the singer does not know the voice of).  Each step is the singer's own masked
objective (one codebook, masked at a cosine-drawn ratio, the coarser ones given) on random crops of the songs.

The stage also records what the songs' scores sang (:func:`learned_voice_of`: per gender the notes' median and range
and the voices), saved beside the singer's LoRA, so that a song sung with the adapter is planned in that register
and voice (``modeling/songgen/vocal_score_songgen.py``,
:func:`~songgen_hf.pipelines.singer_adapters.read_learned_voice`).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import torch
from torch import nn

from songgen_hf.pipelines.singer_adapters import SINGER_TARGETS

logger = logging.getLogger(__name__)


class SingerDataError(ValueError):
    """Songs the singer cannot learn from; the message names them and the fix."""


def singer_training_songs(folders, config) -> list[dict]:
    """The encoded songs of ``folders`` as the singer trains on them (:func:`~.singer.singer_song`).  A song without
    a vocal stem is refused, naming it; songs with no sung score (instrumentals, songs without timed lyrics) have
    nothing for the singer to learn and are left out; none left is refused."""
    from songgen_hf.training.singer import record_score, singer_song
    from songgen_hf.training.songgen_data import load_encoded_datasets

    folders = [str(folder) for folder in ([folders] if isinstance(folders, (str, Path)) else folders)]
    records = load_encoded_datasets(folders, (16000, 50))
    if "codes_vocals" not in records.column_names:
        missing = [str(identifier) for identifier in records["id"]] if "id" in records.column_names else []
        missing = missing or ["every song"]
    else:
        missing = [
            str(record.get("id") or index) for index, record in enumerate(records) if record["codes_vocals"] is None
        ]
    if missing:
        named = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise SingerDataError(
            f"The told singer learns from each song's vocal stem, and {named} in {', '.join(folders)} has none. "
            "Prepare the songs with their stems (songgen data prepare separates them; songgen data encode keeps "
            "a manifest's vocal_path and accompaniment_path), or train without the singer: singer_adapter: false "
            "in the config."
        )
    songs = [
        {**singer_song(record, config), "sung": _sung(record)} for record in records if record_score(record) is not None
    ]
    if not songs:
        raise SingerDataError(
            f"No song in {', '.join(folders)} says when its words are sung (the attributes' syllables, "
            "note_onsets_s and note_durations_s), so the told singer has nothing to learn from: prepare the songs "
            "with their lyrics (songgen data prepare --lyrics ...), or train without the singer: "
            "singer_adapter: false."
        )
    return songs


def _sung(record: dict) -> tuple[str | None, list[int], str | None]:
    """What a training song's score sang: its gender (the record's ``vocal_gender``, else its corpus voice's, else
    what its caption says), its notes (< 0: unknown) and its voice (None: none told)."""
    import json

    from songgen_hf.modeling.music import FEMALE_VOICES, MALE_VOICES
    from songgen_hf.modeling.songgen.vocal_score_songgen import described_gender
    from songgen_hf.training.singer import record_score

    attributes = record.get("attributes")
    attributes = json.loads(attributes) if isinstance(attributes, str) else attributes or {}
    score = record_score(record)
    voice = attributes.get("voice") if isinstance(attributes.get("voice"), str) else None
    gender = attributes.get("vocal_gender")
    if gender not in ("male", "female"):
        gender = "male" if voice in MALE_VOICES else "female" if voice in FEMALE_VOICES else None
    gender = gender or described_gender(str(record.get("caption") or record.get("description") or ""))
    return gender, [int(note) for note in score.midi], voice


def learned_voice_of(songs: list[dict]):
    """What the songs' scores sang (:class:`~songgen_hf.modeling.songgen.vocal_score_songgen.LearnedVoice`: per
    gender the notes' median and range, the voices), or None when no song's notes are known."""
    from songgen_hf.modeling.songgen.vocal_score_songgen import LearnedVoice

    return LearnedVoice.from_scores(song["sung"] for song in songs if "sung" in song)


def singer_lora_config(r: int = 16, alpha: float = 32, dropout: float = 0.0, note_tables_of=None):
    """The singer's LoRA: its feed-forward layers and heads, and with ``note_tables_of`` (a singer's config) also its
    score's note and voice tables (``units`` rows ``letters + 1`` and ``letters + 2``)."""
    from peft import LoraConfig

    targets = SINGER_TARGETS
    if note_tables_of is not None:
        targets += rf"|units\.({note_tables_of.letters + 1}|{note_tables_of.letters + 2})"
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none")


def train_singer_adapter(
    singer,
    songs: list[dict],
    steps: int,
    learning_rate: float = 2e-3,
    batch_size: int = 16,
    r: int = 16,
    alpha: float = 32,
    unit_dropout: float = 0.15,
    seed: int = 0,
    log_steps: int = 10,
    log=None,
    note_tables: bool = False,
):
    """A LoRA of ``singer`` (which stays as it is: the LoRA wraps a copy) trained for ``steps`` steps on ``songs``
    (:func:`singer_training_songs`) with the singer's own masked objective; returns ``(peft model, history)``,
    history a list of ``{"step", "singer_loss"}`` every ``log_steps`` (each the mean over those steps).  ``log``:
    called with each entry.  ``note_tables``: also adapt the score's note and voice tables."""
    import copy
    import warnings

    from peft import get_peft_model

    from songgen_hf.training.finite import check_finite_training
    from songgen_hf.training.singer import CROP_FRAMES, collate, hide_syllables, masked_loss

    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        tables = singer.config if note_tables else None
        adapted = get_peft_model(copy.deepcopy(singer).float(), singer_lora_config(r, alpha, note_tables_of=tables))
    device = next(singer.parameters()).device
    adapted.to(device).train()
    parameters = [p for p in adapted.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=0.0, betas=(0.9, 0.98))
    warmup = max(1, steps // 10)
    history, window = [], []
    for step in range(steps):
        scale = min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / steps))
        for group in optimiser.param_groups:
            group["lr"] = learning_rate * scale
        chosen = torch.randint(len(songs), (batch_size,), generator=generator).tolist()
        codes, context, units, padding = collate([songs[i] for i in chosen], CROP_FRAMES, generator, singer.mask_id)
        letters = singer.config.letters
        units = hide_syllables(units, letters, torch.rand(batch_size, generator=generator) < unit_dropout)
        batch = tuple(part.to(device) for part in (codes, context, units, padding))
        loss = masked_loss(adapted, batch, generator)
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(parameters, 1.0)
        optimiser.step()
        check_finite_training(adapted, loss, step + 1, fix="lower singer_learning_rate")
        window.append(float(loss.detach()))
        if (step + 1) % log_steps == 0 or step + 1 == steps:
            entry = {"step": step + 1, "singer_loss": round(sum(window) / len(window), 4)}
            window = []
            history.append(entry)
            if log is not None:
                log(entry)
    adapted.eval()
    return adapted, history


@torch.no_grad()
def singer_loss(singer, songs: list[dict], seed: int = 0, batches: int = 8, batch_size: int = 16) -> float:
    """The singer's masked loss on ``batches`` fixed random batches of ``songs`` (the same draws for every singer
    given one seed): how well a singer, adapted or not, knows these songs' vocals."""
    from songgen_hf.training.singer import CROP_FRAMES, collate, masked_loss

    was_training = singer.training
    singer.eval()
    generator = torch.Generator().manual_seed(seed)
    device = next(singer.parameters()).device
    total = 0.0
    for _ in range(batches):
        chosen = torch.randint(len(songs), (batch_size,), generator=generator).tolist()
        batch = collate([songs[i] for i in chosen], CROP_FRAMES, generator, singer.config.codebook_size)
        total += float(masked_loss(singer, tuple(part.to(device) for part in batch), generator))
    singer.train(was_training)
    return total / batches


__all__ = [
    "SingerDataError",
    "learned_voice_of",
    "singer_lora_config",
    "singer_loss",
    "singer_training_songs",
    "train_singer_adapter",
]
