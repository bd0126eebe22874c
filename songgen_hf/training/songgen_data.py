"""The data side of SongGen training: row selection, per-epoch crops, length grouping, collation.

Everything random here depends only on ``(seed, epoch, index)``, never on a global RNG, so a
resumed run reads exactly the batches an uninterrupted one would have.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch

from songgen_hf.data.audio import EpochSeeded
from songgen_hf.data.encode import INFO_FILE, read_encoding_info
from songgen_hf.data.lyrics_alignment import frame_targets, syllable_timing
from songgen_hf.modeling.patterns import IGNORE_INDEX
from songgen_hf.modeling.songgen.description_songgen import musical_controls, parse_tempo_bpm

CODE_COLUMNS = {"mix": "codes_mix", "vocals": "codes_vocals", "accompaniment": "codes_accompaniment"}


# ---------------------------------------------------------------------------------- selection
def _attribute_matches(value: Any, predicate: Any) -> bool:
    if value is None:
        return False
    if isinstance(predicate, dict):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False
        return ("min" not in predicate or number >= predicate["min"]) and (
            "max" not in predicate or number <= predicate["max"]
        )
    if isinstance(predicate, list):
        return value in predicate
    return value == predicate


def hq_filter_indices(dataset: datasets.Dataset, spec: dict[str, Any]) -> list[int]:
    """Rows passing every predicate of an ``hq_filter`` spec (see ``songgen_config``)."""
    columns = {
        name: list(dataset[name]) for name in ("vocal_energy", "acc_energy", "duration", "augmented", "attributes")
    }
    attribute_predicates = spec.get("attributes") or {}
    bounds = [
        ("vocal_energy", spec.get("min_vocal_energy"), None),
        ("acc_energy", spec.get("min_acc_energy"), None),
        ("duration", spec.get("min_duration"), spec.get("max_duration")),
    ]
    keep = []
    for index in range(len(dataset)):
        if columns["augmented"][index] and not spec.get("include_augmented", False):
            continue
        ok = True
        for name, low, high in bounds:
            value = columns[name][index]
            if (low is not None or high is not None) and value is None:
                ok = False
            elif (low is not None and value < low) or (high is not None and value > high):
                ok = False
        if ok and attribute_predicates:
            attributes = json.loads(columns["attributes"][index] or "{}")
            ok = all(_attribute_matches(attributes.get(k), p) for k, p in attribute_predicates.items())
        if ok:
            keep.append(index)
    return keep


def rows_with_tracks(dataset: datasets.Dataset, tracks: tuple[str, ...]) -> list[int]:
    """Rows that hold codes for every named track (dual-track patterns need both stems)."""
    present = [
        dataset.select_columns([CODE_COLUMNS[t]]).with_format("arrow")[CODE_COLUMNS[t]].is_valid().to_pylist()
        for t in tracks
    ]
    return [i for i in range(len(dataset)) if all(column[i] for column in present)]


# ---------------------------------------------------------------------------------- dataset
class EncodedSongDataset(EpochSeeded, torch.utils.data.Dataset):
    """Rows of an encoded dataset as tensors, cropped to ``max_frames`` at a per-epoch position.

    Codes are returned as ``(K, T)`` long tensors for the first ``num_codebooks`` codebooks
    (coarse first, so a decoder with fewer codebooks than the codec reads a lower bandwidth).

    ``bar_frame_rate`` (the codec's frame rate; for models with a tempo control) starts crops on a
    bar line of the tempo the caption names: the decoder's metronome counts beats from the first
    frame, and a crop starting mid-bar would teach it a beat that is not where the music's is.
    """

    def __init__(
        self,
        dataset: datasets.Dataset,
        num_codebooks: int,
        max_frames: int | None = None,
        seed: int = 0,
        bar_frame_rate: float | None = None,
    ):
        available = len(dataset[0]["codes_mix"]) if len(dataset) else num_codebooks
        if available < num_codebooks:
            raise ValueError(
                f"The dataset has {available} codebooks per track but the model predicts {num_codebooks}; "
                "re-encode with a higher --bandwidth."
            )
        self.data = dataset.with_format("numpy", columns=list(CODE_COLUMNS.values()), output_all_columns=True)
        self.num_codebooks = num_codebooks
        self.max_frames = max_frames
        self.seed = seed
        self.bar_frame_rate = bar_frame_rate

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.data[index]
        frames = int(row["num_frames"])
        start = 0
        if self.max_frames and frames > self.max_frames:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            bpm = parse_tempo_bpm(row["caption"]) if self.bar_frame_rate else None
            if bpm is None:
                start = int(rng.integers(0, frames - self.max_frames + 1))
            else:  # 4 beats a bar: the corpus and most captions are in 4/4
                bar = 4 * 60.0 * self.bar_frame_rate / bpm
                start = int(round(bar * rng.integers(0, int((frames - self.max_frames) // bar) + 1)))
            frames = self.max_frames
        codes = {}
        for track, column in CODE_COLUMNS.items():
            if row[column] is not None:
                codes[track] = torch.from_numpy(
                    np.asarray(row[column])[: self.num_codebooks, start : start + frames]
                ).long()
        return {
            "codes": codes,
            "num_frames": frames,
            "caption": row["caption"],
            "lyrics": row["lyrics"],
            "language": row["language"] or "en",
            "vocal_path": row["vocal_path"],
            "voice_start": row["voice_start"] or 0.0,
            "crop_start": start,  # frames: where the crop begins, for per-frame targets such as the syllable timing
            "attributes": row.get("attributes"),
        }


class LengthGroupedEpochSampler(EpochSeeded, torch.utils.data.Sampler):
    """Shuffle per (seed, epoch), then sort each run of ``group_size`` indices by length, longest first.

    Consecutive batches then hold similar lengths (little padding) while the order of groups and
    their membership still changes every epoch - the idea of transformers' length-grouped sampler."""

    def __init__(self, lengths: list[int], group_size: int, seed: int = 0):
        self.lengths = list(lengths)
        self.group_size = max(1, group_size)
        self.seed = seed

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        grouped = []
        for start in range(0, len(order), self.group_size):
            grouped += sorted(order[start : start + self.group_size], key=lambda i: -self.lengths[i])
        return iter(grouped)


# ---------------------------------------------------------------------------------- collation
def _pad_codes(items: list[dict], track: str, num_codebooks: int, frames: int) -> torch.Tensor:
    batch = torch.zeros(len(items), num_codebooks, frames, dtype=torch.long)
    for row, item in enumerate(items):
        codes = item["codes"].get(track)
        if codes is not None:
            batch[row, :, : codes.shape[-1]] = codes
    return batch


def sung_frames(item: dict[str, Any], frame_rate: float) -> np.ndarray | None:
    """``(num_frames,)`` bool: the frames of an item's crop in which a syllable sounds, from its record's syllable
    timing (:func:`~songgen_hf.data.lyrics_alignment.syllable_timing`); None for an item without lyrics or
    timing."""
    timing = syllable_timing(item.get("attributes")) if (item.get("lyrics") or "").strip() else None
    if timing is None:
        return None
    onsets = timing["note_onsets_s"]
    return np.isfinite(
        frame_targets(
            [0.0] * len(onsets),
            onsets,
            timing["note_durations_s"],
            frame_rate,
            item["num_frames"],
            item.get("crop_start", 0),
        )
    )


def sung_track(pattern) -> str:
    """The track a pattern's voice is in: ``vocals`` for dual-track patterns, else its one track (the mix)."""
    return "vocals" if "vocals" in pattern.track_names else pattern.track_names[0]


class SongGenCollator:
    """Items -> the model's keyword arguments: tokenised texts, pattern labels, optional voice clips and,
    for models with musical controls, the tempo, key and arrangement read from each caption exactly as the
    processor reads them at inference."""

    def __init__(
        self,
        pattern,
        description_tokenizer,
        lyrics_tokenizer,
        voice_extractor=None,
        max_description_tokens: int = 256,
        max_lyrics_tokens: int | None = None,
        use_tempo_control: bool = False,
        use_key_control: bool = False,
        use_arrangement_control: bool = False,
        frame_rate: float = 50.0,
    ):
        """``frame_rate``: the codec's frames per second, which the items' sung-frame masks are counted in."""
        self.frame_rate = frame_rate
        self.pattern = pattern
        self.use_tempo_control, self.use_key_control = use_tempo_control, use_key_control
        self.use_arrangement_control = use_arrangement_control
        self.description_tokenizer = description_tokenizer
        self.lyrics_tokenizer = lyrics_tokenizer
        self.voice_extractor = voice_extractor
        self.max_description_tokens = max_description_tokens
        self.max_lyrics_tokens = max_lyrics_tokens

    @classmethod
    def for_model(cls, model, description_tokenizer, lyrics_tokenizer, **options) -> SongGenCollator:
        """The collator ``model`` trains with: its pattern and the musical controls its decoder reads.
        ``options``: ``voice_extractor``, ``max_description_tokens``, ``max_lyrics_tokens``, as for the
        constructor (its defaults are theirs)."""
        decoder = model.config.decoder
        return cls(
            model.pattern,
            description_tokenizer,
            lyrics_tokenizer,
            **options,
            use_tempo_control=decoder.use_tempo_control,
            use_key_control=decoder.use_key_control,
            use_arrangement_control=decoder.use_arrangement_control,
            frame_rate=model.config.frame_rate,
        )

    @property
    def _lyrics_limit(self) -> int:
        """How many lyric ids a row keeps under ``max_lyrics_tokens`` ([START] and [STOP] always fit)."""
        return max(2, self.max_lyrics_tokens)

    def _lyrics(self, items) -> tuple[torch.Tensor, torch.Tensor]:
        tokenizer = self.lyrics_tokenizer
        sequences = [tokenizer.frame_lyrics(item["lyrics"], lang=item["language"]) for item in items]
        if self.max_lyrics_tokens:
            limit = self._lyrics_limit
            sequences = [
                ids if len(ids) <= limit else ids[: limit - 1] + [tokenizer.stop_token_id] for ids in sequences
            ]
        width = max(len(ids) for ids in sequences)
        ids = torch.full((len(items), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros(len(items), width, dtype=torch.long)
        for row, sequence in enumerate(sequences):
            ids[row, : len(sequence)] = torch.tensor(sequence)
            mask[row, : len(sequence)] = 1
        return ids, mask

    def _labels(self, items) -> dict[str, torch.Tensor]:
        pattern = self.pattern
        k = pattern.num_codebooks
        lengths = torch.tensor([item["num_frames"] for item in items])
        frames = int(lengths.max())
        if pattern.has_auxiliary_vocal_targets:
            has_vocals = torch.tensor(["vocals" in item["codes"] for item in items])
            built = pattern.build_labels(
                _pad_codes(items, "mix", k, frames),
                _pad_codes(items, "vocals", k, frames),
                frame_lengths=lengths,
                vocal_frame_lengths=torch.where(has_vocals, lengths, 0),
            )
            vocal_labels = built.vocal_loss_labels()
            vocal_labels[~has_vocals] = IGNORE_INDEX  # no stem, no vocal supervision for that song
            extra = {"vocal_labels": vocal_labels}
        else:
            built = pattern.build_labels(
                {track: _pad_codes(items, track, k, frames) for track in pattern.track_names}, frame_lengths=lengths
            )
            extra = {}
        return {"decoder_input_ids": built.decoder_input_ids, "labels": built.loss_labels(), **extra}

    def sung_cells(self, items) -> torch.Tensor:
        """``(batch, rows, length)`` bool, shaped like the batch's ``labels``: the label cells that hold the sung
        track's codes (:func:`sung_track`) at frames where a syllable sounds (:func:`sung_frames`); all False for
        items without syllable timing.  Built by laying out 1/0 flags with the pattern itself, so the delays,
        streams and track order of any pattern put each flag where that frame's code is predicted."""
        pattern = self.pattern
        lengths = torch.tensor([item["num_frames"] for item in items])
        shape = (len(items), pattern.num_codebooks, int(lengths.max()))
        flags = torch.zeros(shape, dtype=torch.long)
        for row, item in enumerate(items):
            sung = sung_frames(item, self.frame_rate)
            if sung is not None:
                flags[row, :, : len(sung)] = torch.from_numpy(sung)
        tracks = {name: torch.zeros(shape, dtype=torch.long) for name in pattern.track_names}
        tracks[sung_track(pattern)] = flags
        if pattern.has_auxiliary_vocal_targets:
            built = pattern.build_labels(
                tracks["mix"], torch.zeros(shape, dtype=torch.long), frame_lengths=lengths, vocal_frame_lengths=lengths
            )
        else:
            built = pattern.build_labels(tracks, frame_lengths=lengths)
        return built.loss_labels() == 1

    def _voice(self, items) -> dict[str, torch.Tensor]:
        if self.voice_extractor is None or not any(item["vocal_path"] for item in items):
            return {}
        voices = [item["vocal_path"] or None for item in items]
        features = self.voice_extractor(voices, start=[item["voice_start"] for item in items], return_tensors="pt")
        return {"voice_values": features["input_values"], "voice_attention_mask": features["attention_mask"].long()}

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        description = self.description_tokenizer(
            [item["caption"] for item in items],
            padding=True,
            truncation=True,
            max_length=self.max_description_tokens,
            return_tensors="pt",
        )
        lyrics_ids, lyrics_mask = self._lyrics(items)
        controls = musical_controls(
            [item["caption"] for item in items],
            use_tempo=self.use_tempo_control,
            use_key=self.use_key_control,
            use_arrangement=self.use_arrangement_control,
        )
        if "tempo_bpm" in controls:
            controls["tempo_bpm"] = torch.tensor(controls["tempo_bpm"], dtype=torch.float32)
        for name in ("music_key_ids", "arrangement_ids"):
            if name in controls:
                controls[name] = torch.tensor(controls[name], dtype=torch.long)
        return {
            **controls,
            "input_ids": description["input_ids"],
            "attention_mask": description["attention_mask"],
            "lyrics_input_ids": lyrics_ids,
            "lyrics_attention_mask": lyrics_mask,
            **self._voice(items),
            **self._labels(items),
        }


def length_group_size(batch_size: int, num_processes: int) -> int:
    """50 batches' worth of samples per sorted group, as transformers' grouping does."""
    return 50 * batch_size * max(1, num_processes)


def load_encoded_datasets(
    folders: str | list[str], expected_rates: tuple[int, int], codec: tuple[str, str] | None = None
) -> datasets.Dataset:
    """``songgen data encode`` output folder(s) as one dataset, in the given order.

    Codes only mean something to the codec that made them: each folder's codec must match the model's
    rates, and several folders must come from one codec (the same codec parameters in ``encoding.json``).
    ``codec``: ``(digest of the model's codec parameters, the model's name)``, where the model's own codec is
    known (an adapter of a trained base): a folder encoded by another codec is refused, naming the fix."""
    folders = [folders] if isinstance(folders, str) else list(folders)
    parts, codecs = [], {}
    for folder in folders:
        if not (Path(folder) / "state.json").is_file():
            raise ValueError(f"train_data {folder} is not a saved dataset; run `songgen data encode` first.")
        if (Path(folder) / INFO_FILE).is_file():  # older datasets have none; then only the loader's checks apply
            info = read_encoding_info(folder)
            if (info["codec_sampling_rate"], info["frame_rate"]) != tuple(expected_rates):
                raise ValueError(
                    f"{folder} was encoded by a {info['codec_sampling_rate']} Hz / {info['frame_rate']} Hz-frame "
                    f"codec but the model's codec is {expected_rates[0]} Hz / {expected_rates[1]} Hz; "
                    "encode with the model's codec."
                )
            codecs[folder] = info.get("settings", {}).get("codec_parameters_sha256")
            if codec is not None and codecs[folder] and codecs[folder] != codec[0]:
                raise ValueError(
                    f"train_data {folder} was encoded by another codec than {codec[1]}'s (codec parameters "
                    f"{codecs[folder][:12]}, the model's {codec[0][:12]}): its codes would mean other sounds to the "
                    f"model. Encode the songs with the model's codec: songgen data encode MANIFEST --codec {codec[1]} "
                    "--output FOLDER."
                )
        parts.append(datasets.load_from_disk(folder))
    if len({h for h in codecs.values() if h}) > 1:
        named = ", ".join(f"{folder} ({digest[:12]})" for folder, digest in codecs.items() if digest)
        raise ValueError(
            f"train_data folders were encoded by different codecs: {named}; encode them all with the model's codec."
        )
    columns = {folder: sorted(part.column_names) for folder, part in zip(folders, parts)}
    if len({tuple(c) for c in columns.values()}) > 1:
        differ = "; ".join(
            f"{folder}: {', '.join(c for c in cols if c.startswith('codes_'))}" for folder, cols in columns.items()
        )
        raise ValueError(
            f"train_data folders hold different columns ({differ}); encode them all with the same --stems."
        )
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


__all__ = [
    "CODE_COLUMNS",
    "EncodedSongDataset",
    "LengthGroupedEpochSampler",
    "SongGenCollator",
    "hq_filter_indices",
    "length_group_size",
    "load_encoded_datasets",
    "rows_with_tracks",
    "sung_frames",
    "sung_track",
]
