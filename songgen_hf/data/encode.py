"""Pre-encoding a song manifest into codec tokens (``songgen data encode``).

    songgen data encode MANIFEST --codec CODEC_DIR --output DATASET_DIR [--mix N] ...
    accelerate launch --num_processes 4 -m songgen_hf.cli data encode ...   # several processes
    torchrun --standalone --nproc_per_node 2 -m songgen_hf.cli data encode ...   # several CPU processes

The codec never runs in the LM training loop: this pass turns every clip's mix (and its vocal
and accompaniment stems when listed) into codes once, and saves a ``datasets`` folder that
training reloads with ``load_from_disk``.

* **Exact codes.**  Clips are encoded in batches with the codec's ``padding_mask``, which encodes
  each distinct length on its own (no padding reaches the codec), so batching never changes a code.
* **Aligned tracks.**  Mix and stems of a record can differ by a few samples; all are trimmed to
  the shortest track's frame count (``num_frames``), the difference kept in ``trimmed_frames``.
* **Resumable.**  Work happens in ``DATASET_DIR.partial/``: the validated records and a plan
  (shards, mixes, settings) are written first, then each shard is saved as soon as it is done
  (atomically: a shard folder exists only complete).  A restart with the same settings skips
  finished shards; other settings are refused.  The final dataset is assembled into a staging
  folder and renamed into place, then the work folder is removed.
* **Several processes.**  Under ``accelerate launch`` process *r* of *n* encodes shards
  ``r, r + n, ...``; the main process assembles once all are done.
* **Instrumentals.**  A record with no vocal stem and no lyrics is a declared instrumental; when the
  vocals are encoded, its vocal stem is silence (``codes_vocals`` are the codec's codes of zeros), so
  a mixed-pro model learns that an instrumental's vocal row is silent instead of seeing no vocal row
  in training and writing a sung one at generation (``--no-silent-vocals`` leaves them without).
* **Mixing augmentation** (``--mix N``): N extra records, each two songs mixed on the waveform
  (:mod:`songgen_hf.data.mixing` has the SNR/overlap math), flagged ``augmented=True``.

Dataset columns (one row per clip): ``id``, ``caption``, ``lyrics``, ``language``,
``attributes`` (JSON string), ``codes_mix`` / ``codes_vocals`` / ``codes_accompaniment``
(int16 ``(K, num_frames)``, the stems None when absent), ``num_frames``, ``trimmed_frames``,
``duration`` (= num_frames / frame rate), ``vocal_energy``, ``acc_energy``, ``audio_path``,
``vocal_path`` (absolute; the trainer crops the reference voice from it), ``voice_start``
(seconds: start of the loudest ``voice_clip_seconds`` window of the vocal stem),
``augmented`` and ``source_ids``.  ``encoding.json`` beside the data records the codec,
frame rate, validation report and failures.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from songgen_hf.data.audio import load_audio
from songgen_hf.data.manifest import ValidationOptions, manifest_features, read_manifest_records
from songgen_hf.data.mixing import MixingOptions, MixPlan, choose_lyrics, join_captions, mix_tracks, plan_mixes
from songgen_hf.utils.atomic import atomic_directory, check_replaceable
from songgen_hf.utils.digests import file_sha256, state_dict_sha256
from songgen_hf.utils.safe_files import read_json

logger = logging.getLogger(__name__)

PLAN_FILE = "plan.json"
RECORDS_DIR = "records"
SHARDS_DIR = "shards"
PROBLEMS_FILE = "problems.json"
INFO_FILE = "encoding.json"
STEM_COLUMNS = {"vocals": "vocal_path", "accompaniment": "accompaniment_path"}

if TYPE_CHECKING:
    import datasets


@functools.cache
def encoded_features() -> datasets.Features:
    """The encoded dataset's columns, built on first use (``datasets`` loads only when a command needs it)."""
    import datasets

    codes = datasets.List(datasets.List(datasets.Value("int16")))
    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "caption": datasets.Value("string"),
            "lyrics": datasets.Value("string"),
            "language": datasets.Value("string"),
            "attributes": datasets.Value("string"),
            "codes_mix": codes,
            "codes_vocals": codes,
            "codes_accompaniment": codes,
            "num_frames": datasets.Value("int32"),
            "trimmed_frames": datasets.Value("int32"),
            "duration": datasets.Value("float64"),
            "vocal_energy": datasets.Value("float64"),
            "acc_energy": datasets.Value("float64"),
            "audio_path": datasets.Value("string"),
            "vocal_path": datasets.Value("string"),
            "voice_start": datasets.Value("float64"),
            "augmented": datasets.Value("bool"),
            "source_ids": datasets.List(datasets.Value("string")),
        }
    )


@dataclasses.dataclass(frozen=True)
class EncodeOptions:
    shard_size: int = 64
    batch_size: int = 8
    bandwidth: float | None = None
    """kbps; None keeps all codebooks."""
    chunk_seconds: float | None = None
    voice_clip_seconds: float = 3.0
    stems: tuple[str, ...] = ("vocals", "accompaniment")
    """Stems to encode besides the mix when the manifest lists them; mixed pro needs only the vocals,
    and each stem left out saves a full encoder pass per clip."""
    silent_vocals_for_instrumentals: bool = True
    """Encode a silent vocal stem for records without one and without lyrics (declared instrumentals)."""
    on_error: str = "skip"
    overwrite: bool = False
    keep_shards: bool = False
    validation: ValidationOptions = dataclasses.field(default_factory=ValidationOptions)
    mixing: MixingOptions = dataclasses.field(default_factory=MixingOptions)

    def __post_init__(self):
        if self.shard_size < 1 or self.batch_size < 1:
            raise ValueError(f"shard_size and batch_size must be >= 1, got {self.shard_size}, {self.batch_size}.")
        if self.on_error not in ("skip", "raise"):
            raise ValueError(f"on_error must be 'skip' or 'raise', got {self.on_error!r}.")
        unknown = sorted(set(self.stems) - set(STEM_COLUMNS))
        if unknown:
            raise ValueError(f"Unknown stem(s) {unknown}; choose from {sorted(STEM_COLUMNS)}.")


# ---------------------------------------------------------------------------------- helpers
@contextmanager
def _quiet_datasets():
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def _load_codec(codec):
    if isinstance(codec, (str, Path)):
        from songgen_hf.conversion.checkpoint_files import load_codec_of

        # a SongGen folder gives its own codec; a foreign folder or missing weights (which would load
        # as a random codec) are refused
        return load_codec_of(codec, flag="--codec")
    return codec.eval()


def _settings(manifest: Path, codec, options: EncodeOptions) -> dict[str, Any]:
    """What determines the output; a restart must match it exactly."""
    config_text = codec.config.to_json_string(use_diff=False)
    settings = {
        "manifest": str(manifest.resolve()),
        "manifest_sha256": file_sha256(manifest),
        "codec_config_sha256": hashlib.sha256(config_text.encode()).hexdigest(),
        "codec_parameters_sha256": _parameters_digest(codec),
        "bandwidth": options.bandwidth,
        "chunk_seconds": options.chunk_seconds,
        "voice_clip_seconds": options.voice_clip_seconds,
        "stems": sorted(options.stems),
        "silent_vocals_for_instrumentals": options.silent_vocals_for_instrumentals,
        "shard_size": options.shard_size,
        "validation": dataclasses.asdict(options.validation),
        "mixing": dataclasses.asdict(options.mixing),
    }
    return json.loads(json.dumps(settings))  # the form it takes in plan.json (tuples become lists)


def _parameters_digest(codec) -> str:
    return state_dict_sha256(codec.state_dict())


def best_voice_start(vocals: np.ndarray, sampling_rate: int, clip_seconds: float, hop: int) -> float:
    """Start (s) of the ``clip_seconds`` window with the most vocal energy, on a ``hop`` grid.

    The reference voice should be sung, not an intro's silence; the loudest window is a cheap,
    deterministic choice."""
    window = int(round(clip_seconds * sampling_rate))
    if vocals.shape[-1] <= window:
        return 0.0
    energy = np.concatenate(([0.0], np.cumsum(np.square(vocals, dtype=np.float64))))
    starts = np.arange(0, vocals.shape[-1] - window + 1, hop)
    return float(starts[int(np.argmax(energy[starts + window] - energy[starts]))] / sampling_rate)


@torch.no_grad()
def encode_waveforms(
    codec, waves: list[np.ndarray], batch_size: int, bandwidth=None, chunk_seconds=None
) -> list[np.ndarray]:
    """Codes ``(n_q, frames)`` per waveform; batches are exact thanks to ``padding_mask``."""
    device = next(codec.parameters()).device
    codes: list[np.ndarray | None] = [None] * len(waves)
    order = sorted(range(len(waves)), key=lambda i: -waves[i].shape[-1])  # equal lengths share a forward
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        longest = max(waves[i].shape[-1] for i in chosen)
        audio = torch.zeros(len(chosen), 1, longest)
        mask = torch.zeros(len(chosen), longest, dtype=torch.long)
        for row, i in enumerate(chosen):
            audio[row, 0, : waves[i].shape[-1]] = torch.from_numpy(waves[i])
            mask[row, : waves[i].shape[-1]] = 1
        out = codec.encode(
            audio.to(device), bandwidth=bandwidth, padding_mask=mask.to(device), chunk_seconds=chunk_seconds
        )
        for row, i in enumerate(chosen):
            codes[i] = out.audio_codes[row, :, : int(out.audio_codes_lengths[row])].cpu().numpy()
    return codes


# ---------------------------------------------------------------------------------- the encoder
class ManifestEncoder:
    def __init__(self, manifest, codec, output_dir, options: EncodeOptions | None = None, state=None):
        from accelerate import PartialState

        from songgen_hf.utils.launch import use_cpu_processes

        self.manifest = Path(manifest)
        self.output = Path(output_dir)
        self.work = self.output.with_name(self.output.name + ".partial")
        self.options = options or EncodeOptions()
        self.state = state or PartialState(cpu=use_cpu_processes())
        self.codec = _load_codec(codec).to(self.state.device)
        config = self.codec.config
        self.sampling_rate, self.frame_rate, self.hop = config.sample_rate, config.frame_rate, config.hop_length
        if config.codebook_size > np.iinfo(np.int16).max + 1:
            raise ValueError(f"codebook_size {config.codebook_size} does not fit the int16 code columns.")
        self.validation = dataclasses.replace(self.options.validation, sampling_rate=self.sampling_rate)

    # ---- plan
    def prepare(self) -> dict[str, Any]:
        """Validate the manifest and write the plan (main process), or check an existing one."""
        check_replaceable(self.output, self.options.overwrite, "--output")  # an earlier result, never the user's folder
        settings = _settings(self.manifest, self.codec, dataclasses.replace(self.options, validation=self.validation))
        if self.state.is_main_process:
            if self.options.overwrite and self.work.exists():
                if not (self.work / PLAN_FILE).is_file():
                    raise ValueError(
                        f"{self.work} is not an unfinished encode (no {PLAN_FILE}); --overwrite "
                        "deletes only the encoder's own work folder. Move it away, or choose another "
                        "--output."
                    )
                shutil.rmtree(self.work)
            if not (self.work / PLAN_FILE).is_file():
                self._write_plan(settings)
        self.state.wait_for_everyone()
        plan = read_json(self.work / PLAN_FILE)
        if plan["settings"] != settings:
            changed = sorted(k for k in settings if plan["settings"].get(k) != settings[k])
            raise ValueError(
                f"{self.work} holds an unfinished encode with other settings (changed: {changed}). "
                "Run again with the same settings to resume, or pass --overwrite to start over."
            )
        return plan

    def _write_plan(self, settings: dict[str, Any]) -> None:
        import datasets

        self.work.mkdir(parents=True, exist_ok=True)
        rows, report = read_manifest_records(self.manifest, self.validation, self.options.on_error)
        logger.info("%s", report.summary())
        if not rows:
            raise ValueError(f"No usable record in {self.manifest}.\n{report.summary()}")
        with _quiet_datasets(), atomic_directory(self.work / RECORDS_DIR) as staging:
            datasets.Dataset.from_list(rows, features=manifest_features()).save_to_disk(str(staging))
        size = self.options.shard_size
        shards = [
            {"name": f"records_{i // size:05d}", "kind": "records", "start": i, "stop": min(i + size, len(rows))}
            for i in range(0, len(rows), size)
        ]
        mixes = plan_mixes(len(rows), self.options.mixing)
        shards += [
            {"name": f"mixes_{i // size:05d}", "kind": "mixes", "start": i, "stop": min(i + size, len(mixes))}
            for i in range(0, len(mixes), size)
        ]
        plan = {
            "settings": settings,
            "report": report.to_dict(),
            "mixes": [dataclasses.asdict(m) for m in mixes],
            "shards": shards,
        }
        temporary = self.work / (PLAN_FILE + ".tmp")
        temporary.write_text(json.dumps(plan, indent=1), encoding="utf-8")
        temporary.replace(self.work / PLAN_FILE)

    # ---- shards
    def run(self) -> Path | None:
        """Encode this process's shards; the main process then assembles and returns the dataset folder."""
        import datasets

        plan = self.prepare()
        records = datasets.load_from_disk(str(self.work / RECORDS_DIR))
        rank, world = self.state.process_index, self.state.num_processes
        for number, shard in enumerate(plan["shards"]):
            target = self.work / SHARDS_DIR / shard["name"]
            if number % world != rank or target.is_dir():
                continue
            logger.info("encoding %s (%d items)", shard["name"], shard["stop"] - shard["start"])
            self._encode_shard(shard, records, plan, target)
        self.state.wait_for_everyone()
        if not self.state.is_main_process:
            return None
        return self._assemble(plan)

    def _encode_shard(self, shard, records, plan, target: Path) -> None:
        import datasets

        items, problems = [], []
        for index in range(shard["start"], shard["stop"]):
            try:
                if shard["kind"] == "records":
                    row = records[index]
                    items.append(self._record_item(row))
                else:
                    items.append(self._mix_item(MixPlan(**plan["mixes"][index]), records))
            except ValueError as error:
                if self.options.on_error == "raise":
                    raise
                problems.append({"shard": shard["name"], "index": index, "error": str(error)})
                logger.warning("skipping item %d of %s: %s", index, shard["name"], error)
        rows = self._encode_items(items)
        with _quiet_datasets(), atomic_directory(target) as staging:
            datasets.Dataset.from_list(rows, features=encoded_features()).save_to_disk(str(staging))
            (staging / PROBLEMS_FILE).write_text(json.dumps(problems), encoding="utf-8")

    def _load_tracks(self, row) -> dict[str, np.ndarray]:
        tracks = {"mix": load_audio(row["audio_path"], self.sampling_rate)}
        for name, column in STEM_COLUMNS.items():
            if row[column] and name in self.options.stems:
                tracks[name] = load_audio(row[column], self.sampling_rate)
        if (
            self.options.silent_vocals_for_instrumentals
            and "vocals" in self.options.stems
            and "vocals" not in tracks
            and not (row["lyrics"] or "").strip()
        ):
            tracks["vocals"] = np.zeros_like(tracks["mix"])  # an instrumental's vocal stem is silence
        for name, audio in tracks.items():
            if audio.shape[-1] < self.hop:  # caught per item, so one bad clip does not sink its shard
                raise ValueError(f"{row['id']}: the {name} track is shorter than one codec frame ({self.hop} samples).")
        return tracks

    def _voice_start(self, tracks) -> float | None:
        if "vocals" not in tracks:
            return None
        return best_voice_start(tracks["vocals"], self.sampling_rate, self.options.voice_clip_seconds, self.hop)

    def _record_item(self, row) -> dict[str, Any]:
        tracks = self._load_tracks(row)
        return {
            "tracks": tracks,
            "id": row["id"],
            "caption": row["caption"],
            "lyrics": row["lyrics"],
            "language": row["language"],
            "attributes": row["attributes"],
            "vocal_energy": row["vocal_energy"],
            "acc_energy": row["acc_energy"],
            "audio_path": row["audio_path"],
            "vocal_path": row["vocal_path"],
            "voice_start": self._voice_start(tracks) if row["vocal_path"] else None,  # no voice in silence
            "augmented": False,
            "source_ids": [row["id"]],
        }

    def _mix_item(self, plan: MixPlan, records) -> dict[str, Any]:
        options = self.options.mixing
        primary_row, secondary_row = records[plan.primary], records[plan.secondary]
        primary, secondary = self._load_tracks(primary_row), self._load_tracks(secondary_row)
        result = mix_tracks(
            primary,
            secondary,
            plan.snr_db,
            plan.offset_fraction,
            plan.output_rms_db,
            min_overlap=options.min_overlap,
            reference_rms_db=options.reference_rms_db,
            peak_limit=options.peak_limit,
        )
        louder_row, louder_tracks = (primary_row, primary) if result.louder == "primary" else (secondary_row, secondary)
        details = {
            "primary": primary_row["id"],
            "secondary": secondary_row["id"],
            "snr_db": round(result.snr_db, 4),
            "offset_seconds": round(result.offset / self.sampling_rate, 4),
            "overlap_fraction": round(result.overlap_fraction, 4),
            "louder": result.louder,
        }
        return {
            "tracks": result.tracks,
            "id": f"mix-{options.seed}-{plan.index:06d}",
            "caption": join_captions(primary_row["caption"], secondary_row["caption"], options.caption_separator),
            "lyrics": choose_lyrics(primary_row["lyrics"], secondary_row["lyrics"], result.louder, options.lyrics),
            "language": primary_row["language"],
            "attributes": json.dumps({"mix": details}, sort_keys=True),
            # energies are corpus-specific measurements of real stems; a mix has none
            "vocal_energy": None,
            "acc_energy": None,
            "audio_path": None,
            "vocal_path": louder_row["vocal_path"] if "vocals" in result.tracks else None,
            "voice_start": (
                self._voice_start(louder_tracks) if "vocals" in result.tracks and louder_row["vocal_path"] else None
            ),
            "augmented": True,
            "source_ids": [primary_row["id"], secondary_row["id"]],
        }

    def _encode_items(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        codes: dict[str, list] = {}
        for name in ("mix", *STEM_COLUMNS):
            owners = [i for i, item in enumerate(items) if name in item["tracks"]]
            encoded = encode_waveforms(
                self.codec,
                [items[i]["tracks"][name] for i in owners],
                self.options.batch_size,
                self.options.bandwidth,
                self.options.chunk_seconds,
            )
            codes[name] = dict(zip(owners, encoded))
        rows = []
        for i, item in enumerate(items):
            per_track = {name: codes[name][i] for name in codes if i in codes[name]}
            frames = [c.shape[-1] for c in per_track.values()]
            num_frames = min(frames)
            row = {key: value for key, value in item.items() if key != "tracks"}
            row.update(
                codes_mix=per_track["mix"][:, :num_frames].astype(np.int16),
                codes_vocals=per_track["vocals"][:, :num_frames].astype(np.int16) if "vocals" in per_track else None,
                codes_accompaniment=(
                    per_track["accompaniment"][:, :num_frames].astype(np.int16)
                    if "accompaniment" in per_track
                    else None
                ),
                num_frames=num_frames,
                trimmed_frames=max(frames) - num_frames,
                duration=num_frames / self.frame_rate,
            )
            rows.append(row)
        return rows

    # ---- assembly
    def _assemble(self, plan) -> Path:
        import datasets

        shards, problems = [], []
        for shard in plan["shards"]:
            folder = self.work / SHARDS_DIR / shard["name"]
            shards.append(datasets.load_from_disk(str(folder)))
            problems += read_json(folder / PROBLEMS_FILE)
        dataset = datasets.concatenate_datasets(shards)
        if len(dataset) == 0:
            raise ValueError(f"Every item failed to encode; see {self.work / SHARDS_DIR}/*/{PROBLEMS_FILE}.")
        info = {
            "codec_sampling_rate": self.sampling_rate,
            "frame_rate": self.frame_rate,
            "num_codebooks": int(np.asarray(dataset[0]["codes_mix"]).shape[0]),
            "bandwidth": self.options.bandwidth,
            "num_rows": len(dataset),
            "num_augmented": int(sum(dataset["augmented"])),
            "validation": {k: v for k, v in plan["report"].items() if k != "problems"},
            "validation_problems": plan["report"]["problems"][:1000],
            "encode_failures": problems,
            "settings": plan["settings"],
        }
        with _quiet_datasets(), atomic_directory(self.output, mark="data encode") as staging:
            dataset.save_to_disk(str(staging))
            (staging / INFO_FILE).write_text(json.dumps(info, indent=1), encoding="utf-8")
        if not self.options.keep_shards:
            shutil.rmtree(self.work, ignore_errors=True)
        logger.info("wrote %d rows (%d augmented) to %s", info["num_rows"], info["num_augmented"], self.output)
        return self.output


def encode_manifest(manifest, codec, output_dir, options: EncodeOptions | None = None, state=None) -> Path | None:
    """Encode ``manifest`` with ``codec`` (folder or model) into a ``datasets`` folder; see the module docstring.

    Returns the folder on the main process, None on the others."""
    return ManifestEncoder(manifest, codec, output_dir, options, state).run()


def read_encoding_info(dataset_dir: str | Path) -> dict[str, Any]:
    path = Path(dataset_dir) / INFO_FILE
    if not path.is_file():
        raise ValueError(
            f"{dataset_dir} is not an encoded SongGen dataset (no {INFO_FILE}); run `songgen data encode`."
        )
    return read_json(path)


# ---------------------------------------------------------------------------------- CLI glue
__all__ = [
    "EncodeOptions",
    "ManifestEncoder",
    "best_voice_start",
    "encode_manifest",
    "encode_waveforms",
    "encoded_features",
    "read_encoding_info",
]
