"""The released SongGen checkpoints and every part their conversion needs, by Hub id or folder.

A Hub id goes through ``huggingface_hub`` (``snapshot_download`` / ``hf_hub_download``: its
cache, resumable downloads, progress bars, ``HF_HUB_OFFLINE``); a local folder is used as it is,
so the two behave the same.  What an official ``LiuZH-19/SongGen_*`` folder lacks is fetched from
where the reference code takes it:

* the X-Codec: embedded ``audio_encoder.model.*`` when the checkpoint carries it, else
  transformers' ``hf-audio/xcodec-hubert-general-balanced`` (the same codec at 4 kbps, read as it
  is), or what the user names: a folder, a Hub id, an original ``.pth`` by path or
  ``repo_id:filename``, or an ``XCodecModel``;
* MERT: embedded ``mert_model.*``, else ``m-a-p/MERT-v1-330M`` (the id the reference hard-codes);
* the description tokenizer: the T5 files saved in the checkpoint, else the repo its
  ``text_encoder._name_or_path`` names (``google/flan-t5-large``);
* the VoiceBPE lyrics vocabulary: a ``vocab.json`` in the checkpoint, else the file the reference
  code ships (its GitHub repository, pinned to a commit and checked by SHA-256), cached once.

Every failure is a :class:`HubSourceError` (a ``ValueError``) that names what is missing and
the command that fixes it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from songgen_hf.utils.digests import file_sha256
from songgen_hf.utils.safe_files import read_json

logger = logging.getLogger(__name__)

SONGGEN_CODEC_REPO = "hf-audio/xcodec-hubert-general-balanced"
MERT_REPO = "m-a-p/MERT-v1-330M"
DEFAULT_TEXT_TOKENIZER_REPO = "google/flan-t5-large"
# The reference's lyrics vocabulary is not in the Hub checkpoints (its processor reads the copy
# inside the code package); pinned to a commit so the bytes cannot change under the checksum.
REFERENCE_LYRICS_VOCAB_URL = (
    "https://raw.githubusercontent.com/LiuZH-19/SongGen/94d2d20ca882aa55c8e0abc6154a6ac52840c781/"
    "songgen/lyrics_utils/vocab.json"
)
REFERENCE_LYRICS_VOCAB_SHA256 = "928260878a59da8a72a2a5b7687fea29d5106137669d90945430fe17e415304a"

_SONGGEN_FILES = ["*.json", "*.safetensors", "*.model", "*.txt"]  # config, weights (+ index), tokenizers
_WEIGHT_NAMES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_TOKENIZER_NAMES = ("tokenizer.json", "tokenizer_config.json", "spiece.model")
# Keys only a songgen-hf (converted) config has; the official config has none of them.
_PACKAGE_CONFIG_KEYS = ("lyrics_encoder", "voice_encoder", "use_voice_encoder")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class HubSourceError(ValueError, OSError):
    """A SongGen source or one of its parts cannot be resolved; the message says how to fix it.

    A ``ValueError`` (bad input: the CLI's exit code 2) and an ``OSError``, which is what
    ``from_pretrained`` and ``pipeline()`` raise for a repo they cannot read, so callers that catch
    transformers' error catch this one too."""


@dataclass(frozen=True)
class HubOptions:
    """The ``huggingface_hub`` arguments every download of one resolution shares.

    ``revision`` applies to the SongGen repo only; the parts come from their repo's default branch
    unless named as ``repo_id@revision``.
    """

    revision: str | None = None
    cache_dir: str | os.PathLike | None = None
    token: str | bool | None = None
    local_files_only: bool = False

    def hub_kwargs(self) -> dict[str, Any]:
        from huggingface_hub import constants

        # HF_HUB_OFFLINE=1 is passed on as local_files_only: huggingface_hub 1.x (transformers accepts >= 1.31)
        # otherwise lists the repo tree for allow_patterns before it looks in the cache, and that call fails offline.
        offline = self.local_files_only or constants.HF_HUB_OFFLINE
        return {"cache_dir": self.cache_dir, "token": self.token, "local_files_only": offline}


@dataclass
class SongGenSource:
    """A checkpoint's local files and where they came from."""

    folder: Path
    repo_id: str | None  # None for a local folder
    revision: str | None  # the resolved commit hash of a Hub snapshot
    config: dict = field(repr=False)

    @property
    def layout(self) -> str:
        return config_layout(self.config)

    @property
    def name(self) -> str:
        return f"{self.repo_id}@{self.revision[:10]}" if self.repo_id else str(self.folder)


# ------------------------------------------------------------------------------ layouts
def config_layout(config: dict) -> str:
    """``"official"`` (a released SongGen config.json), ``"songgen-hf"`` (this package's), ``"xcodec"`` or
    ``"other"``."""
    model_type = config.get("model_type")
    if model_type in ("xcodec", "songgen_xcodec"):
        return "xcodec"
    if model_type not in ("songgen", None):
        return "other"
    if any(key in config for key in _PACKAGE_CONFIG_KEYS):
        return "songgen-hf"
    decoder = config.get("decoder")
    if isinstance(config.get("text_encoder"), dict) and isinstance(decoder, dict) and "track_pattern" in decoder:
        return "official"
    return "other"


def looks_like_repo_id(text: str) -> bool:
    """``owner/name`` that is not an existing path (what huggingface_hub would look up)."""
    return bool(_REPO_ID.match(text)) and not os.path.exists(text) and ".." not in text


def _read_config(path: Path, what: str = "the official SongGen config") -> dict:
    try:
        config = read_json(path)
    except (OSError, ValueError) as error:
        raise HubSourceError(f"{path} is not valid JSON ({error}); expected {what}. Download the file again.") from None
    if not isinstance(config, dict):
        raise HubSourceError(f"{path} holds a JSON {type(config).__name__}, expected {what} (a JSON object).")
    return config


# ------------------------------------------------------------------------------ errors
def _download_command(repo_id: str, options: HubOptions, *files: str, revision: str | None = None) -> str:
    parts = ["hf download", repo_id, *files]
    if revision:
        parts += ["--revision", revision]
    if options.cache_dir is not None:
        parts += ["--cache-dir", os.fspath(options.cache_dir)]
    return " ".join(parts)


def _cached_revisions(repo_id: str, options: HubOptions) -> list[str]:
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    root = Path(options.cache_dir if options.cache_dir is not None else constants.HF_HUB_CACHE)
    storage = root / repo_folder_name(repo_id=repo_id, repo_type="model")
    found = sorted(path.name for path in (storage / "refs").glob("*") if path.is_file())
    return found + sorted(path.name[:10] for path in (storage / "snapshots").glob("*") if path.is_dir())


def hub_error(
    error: Exception, repo_id: str, options: HubOptions, what: str, revision: str | None = None
) -> HubSourceError:
    """A ``huggingface_hub`` failure as a message naming the repo, the cause and the fix."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    command = _download_command(repo_id, options, revision=revision)
    if isinstance(error, GatedRepoError):
        return HubSourceError(
            f"{what} {repo_id} is gated: accept its terms on https://huggingface.co/{repo_id} "
            "and log in (`hf auth login`) or pass token=...."
        )
    if isinstance(error, RevisionNotFoundError):
        return HubSourceError(
            f"{what} {repo_id} has no revision {revision!r}; pass an existing branch, tag or "
            "commit (revision=... / --revision), or leave it out for main."
        )
    if isinstance(error, RepositoryNotFoundError):
        return HubSourceError(
            f"{what} {repo_id} does not exist on the Hub (or is private: log in with "
            "`hf auth login` or pass token=...). Check the id, or pass a local folder."
        )
    if isinstance(error, EntryNotFoundError) and not isinstance(error, LocalEntryNotFoundError):
        return HubSourceError(f"{what} {repo_id} has no such file ({error}).")
    if isinstance(error, LocalEntryNotFoundError):
        cached = _cached_revisions(repo_id, options)
        where = f"only revisions {', '.join(cached)} are cached" if cached else "nothing of it is cached"
        if revision is not None and cached:
            return HubSourceError(
                f"{what} {repo_id}: revision {revision!r} is not in the local Hub cache ({where}) "
                f"and downloads are off (HF_HUB_OFFLINE=1 or local_files_only). Download it with "
                f"`{command}`, or pass one of the cached revisions."
            )
        return HubSourceError(
            f"{what} {repo_id} is not (completely) in the local Hub cache ({where}) and downloads "
            f"are off (HF_HUB_OFFLINE=1 or local_files_only=True / --local-files-only). Download "
            f"it first with `{command}`, or allow downloads (unset HF_HUB_OFFLINE, drop "
            "local_files_only)."
        )
    return HubSourceError(
        f"{what} {repo_id} could not be downloaded ({type(error).__name__}: {error}). "
        f"Check the connection and retry, or download it with `{command}`."
    )


def _hub_call(function, repo_id: str, options: HubOptions, what: str, revision: str | None = None, **kwargs):
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return function(repo_id=repo_id, revision=revision, **options.hub_kwargs(), **kwargs)
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as error:
        if isinstance(error, HubSourceError):
            raise
        raise hub_error(error, repo_id, options, what, revision) from None


def _split_revision(spec: str) -> tuple[str, str | None]:
    repo, _, revision = spec.partition("@")
    return repo, revision or None


def snapshot(repo_id: str, options: HubOptions, what: str, patterns: list[str], revision: str | None = None) -> Path:
    """``snapshot_download`` of ``patterns``; the commit is the snapshot folder's name."""
    from huggingface_hub import snapshot_download

    return Path(_hub_call(snapshot_download, repo_id, options, what, revision, allow_patterns=patterns))


def hub_file(spec: str, options: HubOptions, what: str) -> Path:
    """``repo_id[@revision]:filename`` through ``hf_hub_download``."""
    from huggingface_hub import hf_hub_download

    repo, _, filename = spec.partition(":")
    repo, revision = _split_revision(repo)
    return Path(_hub_call(hf_hub_download, repo, options, what, revision, filename=filename))


# ------------------------------------------------------------------------------ the SongGen checkpoint
def locate_config(
    source: str | os.PathLike, options: HubOptions, subfolder: str = "", strict: bool = True
) -> SongGenSource | None:
    """The config of a folder or repo id, fetching ``config.json`` alone; ``None`` when there is none to read.

    Cheap enough for every ``from_pretrained``: a folder is read from disk, a Hub id costs one
    (cached) ``hf_hub_download``.  ``None`` for paths that do not exist, folders without a
    config.json (LoRA adapters) and strings that are not repo ids: the caller's own loader reports those;
    with ``strict=False`` also for a local config.json that is not JSON.
    """
    from huggingface_hub import hf_hub_download

    text = os.fspath(source)
    folder = Path(text) / subfolder if subfolder else Path(text)
    if folder.is_dir():
        config_path = folder / "config.json"
        if not config_path.is_file():
            return None
        try:
            return SongGenSource(folder, None, None, _read_config(config_path))
        except HubSourceError:
            if strict:
                raise
            return None
    if not looks_like_repo_id(text):
        return None
    kwargs = {"subfolder": subfolder} if subfolder else {}
    path = Path(
        _hub_call(hf_hub_download, text, options, "The model repo", options.revision, filename="config.json", **kwargs)
    )
    snapshot_folder = path.parent.parent if subfolder else path.parent
    return SongGenSource(path.parent, text, snapshot_folder.name, _read_config(path))


def download_songgen(source: str | os.PathLike, options: HubOptions) -> SongGenSource:
    """An official SongGen checkpoint (folder or Hub id) with its weights and tokenizer files on disk.

    Raises ``HubSourceError`` when it is not an official SongGen checkpoint (a converted one, an
    X-Codec, another model), or when the snapshot is partial (weights or shards missing).
    """
    located = locate_config(source, options)
    text = os.fspath(source)
    if located is None:
        raise HubSourceError(
            f"{text} is neither a folder nor a Hub repo id (owner/name); pass the SongGen repo id "
            "(e.g. LiuZH-19/SongGen_mixed_pro) or the folder that holds its config.json."
        )
    check_official(located)
    if located.repo_id is not None:
        folder = snapshot(located.repo_id, options, "The SongGen repo", _SONGGEN_FILES, revision=located.revision)
        if not any((folder / name).is_file() for name in _WEIGHT_NAMES):  # a .bin-only checkpoint
            folder = snapshot(
                located.repo_id, options, "The SongGen repo", ["*.bin", "*.json"], revision=located.revision
            )
        located.folder = folder
    check_complete(located, options)
    return located


def check_official(source: SongGenSource) -> None:
    layout = source.layout
    # model_type "songgen" without the expected dicts goes on to the converter, whose messages
    # name the missing field (a damaged or hand-written config is not "another model").
    if layout == "official" or (layout == "other" and source.config.get("model_type") in ("songgen", None)):
        return
    if layout == "songgen-hf":
        raise HubSourceError(
            f"{source.name} is already in songgen-hf layout: load it with "
            "SongGenForConditionalGeneration.from_pretrained instead of converting it."
        )
    model_type = source.config.get("model_type")
    what = "an X-Codec codec (pass it as codec=... / --codec)" if layout == "xcodec" else f"model_type {model_type!r}"
    raise HubSourceError(
        f"{source.name} is not a SongGen checkpoint: its config.json holds {what}, not the official "
        "SongGen layout (model_type 'songgen' with text_encoder and decoder.track_pattern). "
        "Pass LiuZH-19/SongGen_mixed_pro, LiuZH-19/SongGen_interleaving_A_V or their folder."
    )


def check_complete(source: SongGenSource, options: HubOptions) -> None:
    """Weights (and every shard an index lists) are present: a partial snapshot is named, not half-read."""
    folder = source.folder
    missing = []
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (folder / index_name).is_file():
            weight_map = _read_config(folder / index_name, "a shard index").get("weight_map", {})
            missing = sorted({name for name in weight_map.values() if not (folder / name).is_file()})
            break
    else:
        if not any((folder / name).is_file() for name in _WEIGHT_NAMES):
            missing = ["model.safetensors (or pytorch_model.bin)"]
    if missing:
        fix = (
            f"complete it with `{_download_command(source.repo_id, options, revision=source.revision)}`"
            if source.repo_id
            else "copy or download the folder again"
        )
        raise HubSourceError(
            f"{source.name} is incomplete: {', '.join(missing)} missing (an interrupted download?); {fix}."
        )


def checkpoint_keys(folder: Path) -> set[str]:
    """Tensor names of a checkpoint folder, from safetensors headers (no data read) or the shard index."""
    from safetensors import safe_open

    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (folder / index_name).is_file():
            return set(_read_config(folder / index_name, "a shard index").get("weight_map", {}))
    path = folder / "model.safetensors"
    try:
        if path.is_file():
            with safe_open(str(path), framework="pt") as handle:
                return set(handle.keys())
        import torch

        path = folder / "pytorch_model.bin"
        return set(torch.load(path, map_location="meta", weights_only=True, mmap=True))
    except Exception:  # noqa: BLE001 - any failure: the full reader names the file and the reason
        from songgen_hf.conversion.checkpoint_files import read_tensor_file

        return set(read_tensor_file(path, expected="SongGen weight file (.safetensors / .bin)"))


# ------------------------------------------------------------------------------ the parts
def resolve_codec(codec: Any, embedded: bool, options: HubOptions):
    """What ``load_official_songgen(codec=...)`` takes: ``None`` (use the embedded codec), a folder, a ``.pth`` or a
    model."""
    if codec is None:
        if embedded:
            return None
        codec = SONGGEN_CODEC_REPO
    if not isinstance(codec, (str, os.PathLike)):
        return codec  # an XCodecModel
    text = os.fspath(codec)
    if os.path.exists(text):
        return text
    if ":" in text and looks_like_repo_id(_split_revision(text.partition(":")[0])[0]):
        return str(hub_file(text, options, "The X-Codec checkpoint"))
    if not looks_like_repo_id(_split_revision(text)[0]):
        raise HubSourceError(f"codec {text!r} is neither a folder, a file, a Hub repo id nor repo_id:filename.pth.")
    repo, revision = _split_revision(text)
    folder = snapshot(repo, options, "The X-Codec repo", ["*.json", "*.safetensors"], revision=revision)
    config_path = folder / "config.json"
    layout = config_layout(_read_config(config_path, "an X-Codec config")) if config_path.is_file() else "missing"
    if layout != "xcodec":
        raise HubSourceError(
            f"codec {repo} is not an X-Codec repo in transformers' layout (config.json "
            f"{'missing' if layout == 'missing' else 'of another model'}). For an original checkpoint "
            f"name the file: codec='{repo}:FILE.pth' (e.g. ZhenYe234/xcodec:xcodec_hubert_general_audio_v2.pth)."
        )
    if not any((folder / name).is_file() for name in _WEIGHT_NAMES[:2]):
        raise HubSourceError(
            f"codec {repo}: the snapshot has no model.safetensors; complete it with "
            f"`{_download_command(repo, options, revision=revision)}`."
        )
    return str(folder)


def resolve_mert(mert: Any, voice: Any, embedded: bool, options: HubOptions) -> str | None:
    """A local MERT folder for ``load_official_songgen(mert_folder=...)``, or ``None`` when not needed."""
    if voice is False or voice is None or (mert is None and embedded):
        return None
    text = os.fspath(mert if mert is not None else MERT_REPO)
    if os.path.isdir(text):
        return text
    if not looks_like_repo_id(_split_revision(text)[0]):
        raise HubSourceError(f"mert {text!r} is neither a folder nor a Hub repo id (default {MERT_REPO}).")
    repo, revision = _split_revision(text)
    folder = snapshot(repo, options, "The MERT repo", ["*.json", "*.safetensors"], revision=revision)
    if not any((folder / name).is_file() for name in _WEIGHT_NAMES):
        folder = snapshot(repo, options, "The MERT repo", ["*.json", "*.bin"], revision=revision)
    if not any((folder / name).is_file() for name in _WEIGHT_NAMES):
        raise HubSourceError(
            f"The MERT snapshot {folder} has no weights; complete it with "
            f"`{_download_command(repo, options, revision=revision)}`, or pass voice=False / --no-voice."
        )
    return str(folder)


def load_text_tokenizer(text_tokenizer: Any, source: SongGenSource, options: HubOptions):
    """The description (T5) tokenizer: given, saved in the checkpoint, or the repo its text encoder names."""
    from transformers import AutoTokenizer, PreTrainedTokenizerBase

    if isinstance(text_tokenizer, PreTrainedTokenizerBase):
        return text_tokenizer
    name = text_tokenizer
    if name is None and any((source.folder / file).is_file() for file in _TOKENIZER_NAMES):
        name = str(source.folder)
    if name is None:
        named = str(source.config.get("text_encoder", {}).get("_name_or_path") or "")
        name = named if looks_like_repo_id(named) else DEFAULT_TEXT_TOKENIZER_REPO
    try:
        return AutoTokenizer.from_pretrained(name, **options.hub_kwargs())
    except (OSError, ValueError) as error:
        fix = (
            f"download it with `{_download_command(name, options)}`"
            if looks_like_repo_id(name)
            else "pass text_tokenizer= a tokenizer folder"
        )
        raise HubSourceError(f"The description tokenizer ({name}) does not load ({error}); {fix}.") from None


def lyrics_vocab_path(lyrics_vocab: Any, source: SongGenSource, options: HubOptions, cache_root: Path) -> Path:
    """The VoiceBPE ``vocab.json``: given (path or repo_id:file), in the checkpoint, or the reference's, cached."""
    if lyrics_vocab is not None:
        text = os.fspath(lyrics_vocab)
        if os.path.exists(text):
            return Path(text)
        if ":" in text and looks_like_repo_id(text.partition(":")[0].partition("@")[0]):
            return hub_file(text, options, "The lyrics vocabulary")
        raise HubSourceError(
            f"lyrics_vocab {text!r} does not exist; pass the VoiceBPE vocab.json (path or repo_id:file)."
        )
    if (source.folder / "vocab.json").is_file():
        return source.folder / "vocab.json"
    target = cache_root / "downloads" / f"voicebpe-vocab-{REFERENCE_LYRICS_VOCAB_SHA256[:16]}.json"
    if target.is_file() and file_sha256(target) == REFERENCE_LYRICS_VOCAB_SHA256:
        return target
    from huggingface_hub import constants

    # the cached copy is where every front door (from_pretrained, pipeline, songgen generate/info/export, the Space)
    # looks, so the fix works for a Hub id wherever it was given, with no option to forward
    manual = (
        f"download it to where every loader looks for it: `curl -L {REFERENCE_LYRICS_VOCAB_URL} --create-dirs "
        f"-o {target}` (or convert with your own copy: `songgen convert songgen "
        f"{source.repo_id or source.folder} OUT --lyrics-vocab vocab.json`, then use OUT)"
    )
    if options.local_files_only or constants.HF_HUB_OFFLINE:
        raise HubSourceError(
            f"The SongGen lyrics vocabulary (VoiceBPE vocab.json, not part of {source.name}) is not "
            f"cached and downloads are off; {manual}."
        )
    _download_reference_vocab(target, manual)
    return target


def _download_reference_vocab(target: Path, manual: str) -> None:
    import urllib.request

    from songgen_hf.utils.atomic import atomic_file

    logger.info("Downloading the SongGen lyrics vocabulary from %s", REFERENCE_LYRICS_VOCAB_URL)
    try:
        with urllib.request.urlopen(REFERENCE_LYRICS_VOCAB_URL, timeout=60) as response:  # noqa: S310 - fixed https URL
            data = response.read()
    except OSError as error:
        raise HubSourceError(f"The SongGen lyrics vocabulary could not be downloaded ({error}); {manual}.") from None
    if hashlib.sha256(data).hexdigest() != REFERENCE_LYRICS_VOCAB_SHA256:
        raise HubSourceError(f"The downloaded lyrics vocabulary does not match its pinned checksum; {manual}.")
    with atomic_file(target) as temporary:
        temporary.write_bytes(data)


__all__ = [
    "DEFAULT_TEXT_TOKENIZER_REPO",
    "MERT_REPO",
    "SONGGEN_CODEC_REPO",
    "HubOptions",
    "HubSourceError",
    "SongGenSource",
    "check_official",
    "checkpoint_keys",
    "config_layout",
    "download_songgen",
    "hub_error",
    "load_text_tokenizer",
    "locate_config",
    "looks_like_repo_id",
    "lyrics_vocab_path",
    "resolve_codec",
    "resolve_mert",
    "snapshot",
]
