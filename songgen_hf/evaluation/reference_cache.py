"""The evaluation's reference systems, scored once and reused while nothing they depend on changes.

The ground truth and its codec round trip are the same in every run of ``songgen evaluate`` that
uses the same prompts, codec, stems and probes: encoding, decoding and scoring them took over a third of
a 96-prompt run on a 2-core CPU (about 6 of 21 minutes), identical each time.  This cache keeps their
per-prompt scores, the codec's damage and the probes' ceilings under a key that covers everything they
are computed from:

* the prompts as evaluated (ids, text, targets, scored duration) and the SHA-256 of every audio file;
* the codec's weights and configuration, the model's tracks and stem gains, the codebooks used;
* the probes' fit (manifest, clip count, feature version) and the probe manifest's lyrics vocabulary
  (the recogniser's), through the manifests' SHA-256;
* the source of the evaluation and codec code and the versions of numpy, torch and the measuring libraries.

An entry is one JSON file written atomically; one that cannot be read, or whose stored key differs, is
ignored and replaced.  ``--no-reference-cache`` turns it off; ``--save-audio`` bypasses it (the audio has
to be made).  Location: ``evaluation-references/`` under the package cache (``$SONGGEN_HF_CACHE``, else
``songgen-hf`` under ``HF_HOME``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from songgen_hf.utils.atomic import write_text_atomic
from songgen_hf.utils.digests import file_sha256, state_dict_sha256
from songgen_hf.utils.safe_files import MAX_CONFIG_BYTES, read_json

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
_PACKAGE = Path(__file__).resolve().parents[1]


def default_reference_cache() -> Path:
    from songgen_hf.conversion.conversion_cache import cache_root

    return cache_root() / "evaluation-references"


def _code_digest() -> str:
    """The source that produced the entry: the scoring, audio loading and the codec."""
    from songgen_hf.modeling import xcodec

    paths = sorted(Path(__file__).resolve().parent.glob("*.py")) + [_PACKAGE / "data" / "audio.py"]
    paths += sorted(Path(xcodec.__file__).resolve().parent.glob("*.py"))
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _codec_digest(codec) -> str:
    config = hashlib.sha256(json.dumps(codec.config.to_dict(), sort_keys=True, default=str).encode())
    return state_dict_sha256(codec.state_dict(), config)


def reference_key(model, prompts, probes, manifest: Path, probe_manifest: Path) -> dict:
    """Everything the reference systems' scores are computed from (see the module docstring)."""
    import numpy as np
    import torch

    from songgen_hf.evaluation.metrics import library_versions

    files: dict[str, str] = {}

    def audio(path):
        if path is None:
            return None
        name = str(Path(path).resolve())
        if name not in files:
            files[name] = file_sha256(Path(path))
        return files[name]

    pattern = getattr(model, "pattern", None)
    track_names = list(getattr(pattern, "track_names", ("mix",)))
    return {
        "version": CACHE_VERSION,
        "prompts": [
            {
                "id": p.id,
                "caption": p.caption,
                "lyrics": p.lyrics,
                "target": p.target(),
                "eval_duration": p.eval_duration,
                "audio": audio(p.audio_path),
                "vocals": audio(p.vocal_path),
                "accompaniment": audio(p.accompaniment_path),
            }
            for p in prompts
        ],
        "manifest": file_sha256(Path(manifest)),
        "probe_manifest": file_sha256(Path(probe_manifest)),
        "probes": {
            key: value for key, value in probes.info.get("key", {}).items() if key not in ("manifest_mtime_ns",)
        },
        "codec": _codec_digest(model.audio_encoder),
        "num_codebooks": model.config.decoder.num_codebooks,
        "sampling_rate": model.config.sampling_rate,
        "tracks": track_names,
        "stem_gains": model.config.stem_gains(pattern) if len(track_names) > 1 else None,
        "code": _code_digest(),
        "versions": {"numpy": np.__version__, "torch": torch.__version__, **library_versions()},
    }


def _entry_path(folder: Path, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return Path(folder) / f"{digest[:24]}.json"


def load_reference(folder: Path | None, key: dict) -> dict | None:
    """The stored reference for ``key``, or ``None`` (no cache, no entry, or an entry that does not match)."""
    if folder is None:
        return None
    path = _entry_path(folder, key)
    try:
        entry = read_json(path, "a reference cache entry", max_bytes=MAX_CONFIG_BYTES)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        logger.warning("ignoring the unreadable reference cache entry %s (%s); it will be rebuilt", path, error)
        return None
    if not isinstance(entry, dict) or json.loads(json.dumps(key, default=str)) != entry.get("key"):
        logger.warning("ignoring the reference cache entry %s: it was stored for other inputs", path)
        return None
    logger.info("using the cached ground truth and codec round trip scores in %s", path)
    return entry.get("reference")


def store_reference(folder: Path | None, key: dict, reference: dict) -> Path | None:
    """Store ``reference`` for ``key`` (atomically); a cache that cannot be written is a warning, never a failure."""
    if folder is None:
        return None
    path = _entry_path(folder, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps({"key": key, "reference": reference}, default=str) + "\n")
    except OSError as error:
        logger.warning("could not write the reference cache entry %s (%s); the next run computes it again", path, error)
        return None
    return path


__all__ = ["CACHE_VERSION", "default_reference_cache", "load_reference", "reference_key", "store_reference"]
