"""Official SongGen checkpoint -> songgen-hf folder, by Hub id or folder, converted once and cached.

:func:`converted_songgen_folder` is what every front door calls (``from_pretrained``, the
processor, ``pipeline("text-to-song")``, ``songgen generate``, the Space): for an official
checkpoint it returns a converted folder under the package cache, converting on the first call
only.  The cache entry is keyed by the repo id and its resolved commit (a folder: its path and
the size and modification time of its files) plus the conversion options, and it is written
atomically (a staging folder renamed into place) with a manifest holding each file's size and
SHA-256.  Before a process first loads an entry, every file is hashed and compared with its manifest: an
entry whose manifest is missing or disagrees with the files (an interrupted copy, a flipped bit that kept
the file's size and time, a file deleted by hand) is never loaded: it is converted again.

Cache location: ``$SONGGEN_HF_CACHE`` if set, else ``songgen-hf/`` under huggingface_hub's
``HF_HOME`` (``~/.cache/huggingface``); converted folders live in its ``converted/``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from songgen_hf.conversion.hub import (
    HubOptions,
    HubSourceError,
    SongGenSource,
    check_official,
    checkpoint_keys,
    download_songgen,
    load_text_tokenizer,
    locate_config,
    looks_like_repo_id,
    lyrics_vocab_path,
    resolve_codec,
    resolve_mert,
)
from songgen_hf.utils.digests import file_sha256
from songgen_hf.utils.safe_files import read_json

logger = logging.getLogger(__name__)

CACHE_ENV = "SONGGEN_HF_CACHE"
MANIFEST_NAME = "songgen_conversion.json"
# Bumped when a converter change alters what a cached folder should hold: older entries are rebuilt.
CONVERTER_VERSION = 3
_HUB_KWARGS = ("revision", "cache_dir", "token", "local_files_only")
_VERIFIED: dict[str, tuple] = {}  # folder -> file signature checked against its manifest in this process
_ANNOUNCED: set[str] = set()  # cache hits already logged in this process (one line, not one per component)


# ------------------------------------------------------------------------------ parts and conversion
@dataclass
class OfficialParts:
    """Everything one conversion reads, on local disk."""

    songgen: SongGenSource
    codec: Any  # None (embedded), an XCodecModel
    mert_folder: str | None
    text_tokenizer: Any
    lyrics_vocab: Path


def _load_codec_model(codec: Any, codec_config: Any = None):
    """A codec folder or original ``.pth`` loaded now, so a broken codec is named before the SongGen weights load."""
    from songgen_hf.conversion.checkpoint_files import load_codec_folder
    from songgen_hf.conversion.xcodec_original import load_original_xcodec
    from songgen_hf.modeling import XCodecModel

    if codec is None or isinstance(codec, XCodecModel):
        return codec
    path = Path(codec)
    if path.is_dir():
        return load_codec_folder(path, flag="--codec")
    try:
        return load_original_xcodec(path, codec_config)
    except ValueError as error:
        raise ValueError(
            f"--codec {path}: {error}\n(Convert it first with `songgen convert xcodec {path} CODEC_DIR "
            "[--config ...] [--num-quantizers N]` and pass --codec CODEC_DIR.)"
        ) from None


def resolve_official_parts(
    source,
    options: HubOptions,
    *,
    codec=None,
    codec_config=None,
    mert=None,
    voice=True,
    text_tokenizer=None,
    lyrics_vocab=None,
) -> OfficialParts:
    """Download (or find) the checkpoint and each part, in the order the converter would fail on them."""
    songgen = download_songgen(source, options)
    keys = checkpoint_keys(songgen.folder)  # a damaged weight file is named here, before anything is fetched
    embedded_codec = any(k.startswith("audio_encoder.") for k in keys)
    codec_model = _load_codec_model(resolve_codec(codec, embedded_codec, options), codec_config)
    mert_folder = resolve_mert(mert, voice, any(k.startswith("mert_model.") for k in keys), options)
    tokenizer = load_text_tokenizer(text_tokenizer, songgen, options)
    vocab = lyrics_vocab_path(lyrics_vocab, songgen, options, cache_root())
    return OfficialParts(songgen, codec_model, mert_folder, tokenizer, vocab)


def load_official_songgen_from_hub(
    source: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    codec: Any = None,
    codec_config: Any = None,
    mert: str | os.PathLike | None = None,
    voice: Any = True,
    text_tokenizer: Any = None,
    lyrics_vocab: str | os.PathLike | None = None,
    **converter_options: Any,
):
    """``(model, processor)`` from an official SongGen repo id or folder, converted in memory.

    Args:
        source: ``LiuZH-19/SongGen_mixed_pro`` / ``LiuZH-19/SongGen_interleaving_A_V`` or a folder.
        revision, cache_dir, token, local_files_only: as for ``huggingface_hub.snapshot_download``.
        codec: ``None`` (the embedded codec, else ``hf-audio/xcodec-hubert-general-balanced``), a
            folder, a Hub id, an original ``.pth`` (path or ``repo_id:filename``) or an ``XCodecModel``.
        codec_config: for an original ``.pth``: its YAML or an ``XCodecConfig`` (default: a
            ``config.yaml`` beside it, else read off the weights).
        mert: folder or Hub id of MERT (default: embedded, else ``m-a-p/MERT-v1-330M``).
        voice: ``False`` builds the model without the reference-voice encoder.
        text_tokenizer: description tokenizer (default: the checkpoint's T5 files).
        lyrics_vocab: VoiceBPE ``vocab.json`` (default: the checkpoint's, else the reference code's).
        converter_options: passed to [`load_official_songgen`] (``allow_unknown_keys``...).
    """
    from songgen_hf.conversion.songgen_official import load_official_songgen
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
    from songgen_hf.modeling.songgen.tokenization_songgen import VoiceBpeTokenizer

    options = HubOptions(revision, cache_dir, token, local_files_only)
    parts = resolve_official_parts(
        source,
        options,
        codec=codec,
        codec_config=codec_config,
        mert=mert,
        voice=voice,
        text_tokenizer=text_tokenizer,
        lyrics_vocab=lyrics_vocab,
    )
    model = load_official_songgen(
        parts.songgen.folder, codec=parts.codec, voice=voice, mert_folder=parts.mert_folder, **converter_options
    )
    processor = SongGenProcessor.for_config(model.config, parts.text_tokenizer, VoiceBpeTokenizer(parts.lyrics_vocab))
    return model, processor


def _save(model, processor, folder: Path) -> None:
    from songgen_hf.conversion.songgen_official import save_converted_songgen

    save_converted_songgen(model, folder, overwrite=True)
    processor.save_pretrained(folder)


def convert_official_songgen(
    source: str | os.PathLike, output_dir: str | os.PathLike, overwrite: bool = False, **options: Any
) -> Path:
    """Convert an official SongGen repo id or folder into ``output_dir`` (model + processor), atomically.

    ``options``: those of [`load_official_songgen_from_hub`].  ``output_dir`` then loads with
    ``SongGenForConditionalGeneration.from_pretrained`` and ``SongGenProcessor.from_pretrained``.
    """
    from songgen_hf.utils.atomic import atomic_directory, check_replaceable

    target = Path(output_dir)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True to replace it.")
    check_replaceable(target, overwrite, "output_dir")  # only an earlier conversion of this package is replaced
    model, processor = load_official_songgen_from_hub(source, **options)
    with atomic_directory(target, mark="convert songgen") as staging:
        _save(model, processor, staging)
    return target


# ------------------------------------------------------------------------------ the cache
def cache_root() -> Path:
    """``$SONGGEN_HF_CACHE``, else ``songgen-hf`` under huggingface_hub's ``HF_HOME`` (read at call time)."""
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "songgen-hf"


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _option_spec(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, os.PathLike):
        return os.path.abspath(os.fspath(value))
    return f"{type(value).__name__}:{id(value)}"  # an object: its identity (the cache is then per process)


def cache_folder(source: SongGenSource, options: dict) -> Path:
    """``converted/<repo or folder>/<commit or fingerprint>-<options digest>``."""
    spec = {name: _option_spec(value) for name, value in sorted(options.items())}
    spec["converter_version"] = CONVERTER_VERSION
    if source.repo_id is not None:
        owner, name = source.repo_id.split("/")
        slug, revision = f"models--{owner}--{name}", source.revision
    else:
        folder = source.folder.resolve()
        files = sorted(p for p in folder.iterdir() if p.is_file())
        slug = f"folders--{folder.name}-{_digest(str(folder))}"
        revision = _digest([(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files])
    return cache_root() / "converted" / slug / f"{revision}-{_digest(spec)}"


def _file_hash(path: Path) -> str:
    return file_sha256(path)


def _signature(folder: Path, names) -> tuple:
    stats = [(folder / name).stat() for name in names]
    return tuple((name, stat.st_size, stat.st_mtime_ns) for name, stat in zip(names, stats))


def cache_problem(folder: Path) -> str | None:
    """Why ``folder`` is not a complete, intact converted entry; ``None`` when it is (checked once per process)."""
    manifest_path = folder / MANIFEST_NAME
    if not folder.is_dir():
        return "not converted yet"
    try:
        manifest = read_json(manifest_path)
        files = manifest["files"]
        version = manifest["converter_version"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"its manifest {MANIFEST_NAME} is missing or damaged"
    if version != CONVERTER_VERSION:
        return f"it was written by converter version {version} (now {CONVERTER_VERSION})"
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        return f"{', '.join(sorted(missing))} missing"
    signature = _signature(folder, sorted(files))
    if _VERIFIED.get(str(folder)) == signature:
        return None
    if any((folder / name).stat().st_size != expected["size"] for name, expected in files.items()):
        return "a file differs from its recorded size"
    # Every file is read through SHA-256 once per process before anything loads it: bit rot keeps a file's
    # size and modification time, so neither proves the bytes are the ones written (one full read per
    # process; later loads in the same process compare sizes and times only).
    for name, expected in files.items():
        if _file_hash(folder / name) != expected["sha256"]:
            return f"{name} differs from its recorded SHA-256"
    _VERIFIED[str(folder)] = signature
    return None


def _write_entry(target: Path, model, processor, source: SongGenSource, options: dict) -> None:
    from songgen_hf.utils.atomic import atomic_directory

    with atomic_directory(target) as staging:
        _save(model, processor, staging)
        names = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
        manifest = {
            "converter_version": CONVERTER_VERSION,
            "source": {
                "repo_id": source.repo_id,
                "revision": source.revision,
                "folder": None if source.repo_id else str(source.folder.resolve()),
            },
            "options": {name: _option_spec(value) for name, value in options.items()},
            "files": {
                name: {
                    "size": (staging / name).stat().st_size,
                    "mtime_ns": (staging / name).stat().st_mtime_ns,
                    "sha256": _file_hash(staging / name),
                }
                for name in names
            },
        }
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def converted_songgen_folder(
    source: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    force: bool = False,
    located: SongGenSource | None = None,
    **conversion_options: Any,
) -> Path:
    """The songgen-hf folder of an official SongGen repo id or folder: cached, else converted and cached.

    ``conversion_options``: ``codec``, ``mert``, ``voice``, ``text_tokenizer``, ``lyrics_vocab``
    (see [`load_official_songgen_from_hub`]); they are part of the cache key.  ``force`` converts
    again even when a valid entry exists.  Logs one line: the conversion, or the first cache hit.
    """
    options = HubOptions(revision, cache_dir, token, local_files_only)
    if located is None:
        located = locate_config(source, options)
        if located is None:
            raise HubSourceError(
                f"{os.fspath(source)} is neither a folder nor a Hub repo id (owner/name); pass a "
                "SongGen repo id such as LiuZH-19/SongGen_mixed_pro or a model folder."
            )
    check_official(located)
    target = cache_folder(located, conversion_options)
    problem = "conversion forced" if force else cache_problem(target)
    if problem is None:
        if str(target) not in _ANNOUNCED:
            _ANNOUNCED.add(str(target))
            logger.info("Loading %s (official SongGen layout) from its converted copy %s.", located.name, target)
        return target
    if target.exists():
        logger.warning("The converted copy %s is not usable (%s); converting %s again.", target, problem, located.name)
    started = time.perf_counter()
    model, processor = load_official_songgen_from_hub(
        located.repo_id or located.folder,
        revision=located.revision or revision,
        cache_dir=cache_dir,
        token=token,
        local_files_only=local_files_only,
        **conversion_options,
    )
    _write_entry(target, model, processor, located, conversion_options)
    _VERIFIED.pop(str(target), None)
    _ANNOUNCED.add(str(target))
    logger.warning(
        "Converted %s from the official SongGen layout in %.1f s; cached at %s, later loads read it "
        "without converting.",
        located.name,
        time.perf_counter() - started,
        target,
    )
    return target


def local_model_folder(source: str | os.PathLike, **hub_kwargs: Any) -> Path:
    """A model folder on disk for ``source``, for commands that read a folder's files (``songgen info``,
    ``songgen export``): a local path as it is; a Hub id of an official SongGen checkpoint: its converted,
    cached folder (converted once); any other Hub id: its snapshot (huggingface_hub's cache, ``HF_HUB_OFFLINE``
    honoured).  ``hub_kwargs``: ``revision``, ``cache_dir``, ``token``, ``local_files_only``."""
    text = os.fspath(source)
    if not looks_like_repo_id(text):
        return Path(text)
    options = HubOptions(**{key: value for key, value in hub_kwargs.items() if key in _HUB_KWARGS})
    located = locate_config(text, options)  # config.json alone: a missing repo or file is named here
    if (
        located is not None
        and located.layout in ("official", "other")
        and located.config.get("model_type") in ("songgen", None)
    ):
        return converted_songgen_folder(text, located=located, **hub_kwargs)
    from songgen_hf.conversion.hub import snapshot

    return snapshot(text, options, "The model repo", ["*"], revision=options.revision)


# ------------------------------------------------------------------------------ the loading hook
def resolve_name(name_or_path: Any, kwargs: dict) -> tuple[str, dict] | None:
    """What ``from_pretrained(name_or_path, **kwargs)`` should read instead, for an official checkpoint.

    Returns ``(converted folder, kwargs without the Hub arguments that named the original)``, or
    ``None`` to load ``name_or_path`` as it is (a songgen-hf folder or repo, a LoRA adapter, a path
    that does not exist: the caller's loader reports those).  A Hub id that cannot be read or is
    not a SongGen checkpoint raises :class:`HubSourceError` naming the fix.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        return None
    options = HubOptions(
        kwargs.get("revision"), kwargs.get("cache_dir"), kwargs.get("token"), bool(kwargs.get("local_files_only"))
    )
    subfolder = kwargs.get("subfolder") or ""
    located = locate_config(name_or_path, options, subfolder, strict=False)
    if located is None:
        return None
    if located.repo_id is None and located.layout != "official":
        return None  # a local folder in any other layout: its loader's own checks and messages
    if located.layout == "songgen-hf":
        return None
    if subfolder:
        raise HubSourceError(
            f"{located.name}: official checkpoints in a subfolder are not supported; download it "
            "and pass the subfolder's path."
        )
    if located.layout != "official":
        check_official(located)  # raises: an X-Codec or another model, named
    folder = converted_songgen_folder(
        name_or_path,
        located=located,
        **{k: kwargs.get(k) for k in _HUB_KWARGS if k != "local_files_only"},
        local_files_only=bool(kwargs.get("local_files_only")),
    )
    remaining = {key: value for key, value in kwargs.items() if key not in ("revision", "subfolder")}
    config = remaining.get("config")
    if config is not None and getattr(config, "name_or_path", None) == os.fspath(name_or_path):
        # an Auto class read the official config.json as a SongGenConfig (sizes it does not describe):
        # the converted folder's own config replaces it
        del remaining["config"]
    return str(folder), remaining


__all__ = [
    "CACHE_ENV",
    "CONVERTER_VERSION",
    "MANIFEST_NAME",
    "OfficialParts",
    "cache_folder",
    "cache_problem",
    "cache_root",
    "convert_official_songgen",
    "local_model_folder",
    "converted_songgen_folder",
    "load_official_songgen_from_hub",
    "looks_like_repo_id",
    "resolve_official_parts",
    "resolve_name",
]
