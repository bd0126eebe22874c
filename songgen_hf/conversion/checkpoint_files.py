"""Reading a checkpoint file safely, with a message that names the file when it is not one.

``torch.load`` and ``safetensors`` fail on an empty, truncated, text or foreign file with errors
that say nothing useful to a user (``EOFError``, ``KeyError: 101``, ``UnpicklingError``,
``IndexError: pop from empty list``, ``SafetensorError: incomplete metadata``).  Every converter
reads its files through :func:`read_tensor_file`, which keeps the safe unpickler
(``weights_only=True``: tensors and plain containers only, never arbitrary code) and turns any
such failure into one ``ValueError`` naming the file, what was expected and what to do.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from songgen_hf.modeling.weight_bounds import (
    PICKLE_WEIGHT_SUFFIXES,
    RefusedPickleError,
    check_model_folder_pickles,
    check_pickled_weights,
    names_code,
    pickle_detail,
    pickles_refused,
    refused_pickle,
)
from songgen_hf.utils.safe_files import read_json

# What a pickle-based checkpoint may hold besides tensors: the released X-Codec files carry
# io.BytesIO values next to the weights.  Allowed for these reads only.
_SAFE_EXTRA_GLOBALS = [io.BytesIO]
_PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")


# The unpickler's and the zip reader's own errors on foreign bytes (``KeyError: 101`` on text, ``EOFError`` on a
# truncated pickle, ``RuntimeError`` from the zip reader): ``torch.load`` was not given a torch.save file.
NOT_A_TORCH_FILE_ERRORS = (
    EOFError,
    KeyError,
    IndexError,
    ValueError,
    RuntimeError,
    zipfile.BadZipFile,
    UnicodeDecodeError,
    AttributeError,
    TypeError,
    OverflowError,
)


def _describe(path: Path) -> str:
    """A short guess at what the file is, from its first bytes."""
    with open(path, "rb") as handle:
        head = handle.read(64)
    if head.startswith(b"PK"):
        return "a zip archive that torch cannot read (truncated or not a torch.save file)"
    if all(32 <= byte < 127 or byte in b"\t\n\r" for byte in head):
        return "a text file"
    return "neither a torch.save pickle nor a safetensors file"


def _not_a_checkpoint(path: Path, expected: str, reason: str) -> ValueError:
    return ValueError(
        f"{path} is not a readable {expected}: {reason}. Check that the download or copy finished "
        "(compare its size and checksum with the source) and that you passed the right file."
    )


def read_tensor_file(path: str | os.PathLike, expected: str = "checkpoint (.pth / .pt / .bin / .safetensors)") -> Any:
    """The object stored in a ``torch.save`` pickle (``weights_only``) or a safetensors file.

    Raises ``ValueError`` naming ``path`` when it is missing, a folder, empty, or not a file of
    that kind, and when a pickle holds Python objects other than tensors (which are refused
    rather than executed).
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path} does not exist; pass the {expected}.")
    if path.is_dir():
        raise ValueError(f"{path} is a folder; pass a file: the {expected}.")
    size = path.stat().st_size
    if size == 0:
        raise _not_a_checkpoint(path, expected, "the file is empty (0 bytes)")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from songgen_hf.modeling.weight_bounds import CorruptWeightsError, read_safetensors_header

        try:
            read_safetensors_header(path)  # the header against the file's size first, before any tensor is read
            return load_file(str(path))
        except CorruptWeightsError as error:
            reason = f"its safetensors header or data is damaged ({error.reason})"
            raise _not_a_checkpoint(path, expected, reason) from None
        except (SafetensorError, OSError, ValueError, RuntimeError) as error:
            raise _not_a_checkpoint(path, expected, f"its safetensors header or data is damaged ({error})") from None
    try:
        with torch.serialization.safe_globals(_SAFE_EXTRA_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if names_code(error):  # a real pickle naming a class; "Unsupported operand" = foreign bytes
            raise refused_pickle(path, error) from None
        raise _not_a_checkpoint(path, expected, f"it is {_describe(path)}") from None
    except (*NOT_A_TORCH_FILE_ERRORS, MemoryError) as error:
        detail = type(error).__name__ + (f": {error}" if str(error) else "")
        raise _not_a_checkpoint(path, expected, f"it is {_describe(path)} ({detail[:200]})") from None


CODEC_MODEL_TYPES = ("songgen_xcodec", "xcodec")


def read_model_type(folder: str | os.PathLike, flag: str) -> str | None:
    """``model_type`` of a saved model folder's config.json; ``ValueError`` naming ``flag`` if it is not one."""

    folder = Path(folder)
    if not folder.exists():
        raise ValueError(f"{flag} {folder} does not exist; pass a saved model folder (save_pretrained output).")
    if not folder.is_dir():
        hint = (
            f" It looks like an original checkpoint: convert it first with `songgen convert xcodec {folder} CODEC_DIR`."
            if folder.suffix in _PICKLE_SUFFIXES
            else ""
        )
        raise ValueError(
            f"{flag} {folder} is a file, not a folder; pass a saved model folder (save_pretrained output).{hint}"
        )
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ValueError(f"{flag} {folder} is not a model folder (no config.json there).")
    try:
        config = read_json(config_path)
    except ValueError as error:
        raise ValueError(
            f"{config_path} is not valid JSON ({error}); the folder is damaged, save or download it again."
        ) from None
    if not isinstance(config, dict):
        raise ValueError(f"{config_path} is not a model config (a JSON object); the folder is damaged.")
    return config.get("model_type")


def read_codec_config(folder: str | os.PathLike, flag: str = "--model", songgen_codec: bool = False):
    """A codec folder's ``XCodecConfig`` without its weights (for checks that must precede loading).

    ``songgen_codec``: a SongGen folder is accepted too and gives its codec's config (for commands
    that take :func:`load_codec_of`)."""
    from songgen_hf.modeling import XCodecConfig

    if songgen_codec:
        from songgen_hf.pipelines.loading import base_model_folder

        folder = base_model_folder(folder)
    model_type = read_model_type(folder, flag)
    if songgen_codec and model_type == "songgen":
        from songgen_hf.modeling.songgen import SongGenConfig

        try:
            return SongGenConfig.from_pretrained(folder).audio_encoder
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise ValueError(f"{flag} {folder}: its config.json is not a valid SongGen config ({error}).") from None
    _check_codec_type(folder, flag, model_type)
    from huggingface_hub.errors import StrictDataclassError

    try:
        return XCodecConfig.from_pretrained(folder)
    except (OSError, ValueError, TypeError, KeyError, StrictDataclassError) as error:
        raise ValueError(f"{flag} {folder}: its config.json is not a valid X-Codec config ({error}).") from None


def _check_codec_type(folder, flag: str, model_type) -> None:
    if model_type not in CODEC_MODEL_TYPES:
        what = "a SongGen text-to-song model" if model_type == "songgen" else f"a {model_type!r} model"
        raise ValueError(
            f"{flag} {folder} holds {what}, not an X-Codec codec (model_type {' or '.join(CODEC_MODEL_TYPES)}); "
            "pass a codec folder, e.g. the output of `songgen codec train` or `songgen convert xcodec`."
        )


def load_codec_folder(folder: str | os.PathLike, flag: str = "--model", decode_only: bool = False):
    """A saved X-Codec folder as an ``XCodecModel`` in eval mode, refusing anything that is not one.

    A SongGen folder, a foreign model or a codec whose weights are missing or damaged would
    otherwise load as a randomly initialised codec and give garbage codes without an error.
    """
    from songgen_hf.modeling import XCodecModel

    _check_codec_type(folder, flag, read_model_type(folder, flag))
    from huggingface_hub.errors import StrictDataclassError
    from safetensors import SafetensorError

    try:
        # float32 whatever the folder stores: every caller (encoding, decoding, evaluation, training)
        # feeds float32 audio, and a float16 folder would otherwise fail deep inside a convolution.
        model, info = XCodecModel.from_pretrained(
            folder, decode_only=decode_only, output_loading_info=True, dtype=torch.float32
        )
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, SafetensorError, StrictDataclassError) as error:
        raise ValueError(f"{flag} {folder}: the codec does not load ({type(error).__name__}: {error}).") from None
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        raise ValueError(
            f"{flag} {folder}: the weights file lacks {len(missing)} of the codec's tensors "
            f"(e.g. {', '.join(missing[:3])}); "
            "they would be random. The folder is incomplete or damaged: save or download it again."
        )
    return model.eval()


def load_codec_of(folder: str | os.PathLike, flag: str = "--codec"):
    """The codec of a codec folder, or of a SongGen folder (its ``audio_encoder``), in eval mode.

    Encoding data for a model, or training its codec on, needs exactly the codec inside it; this
    saves saving it apart first.  ``"songgen-tiny"`` names the embedded default model.  A SongGen
    folder whose codec was stored decode-only cannot encode and is refused.
    """
    from songgen_hf.pipelines.loading import base_model_folder

    folder = base_model_folder(folder)
    model_type = read_model_type(folder, flag)
    if model_type in CODEC_MODEL_TYPES:
        return load_codec_folder(folder, flag)
    if model_type != "songgen":
        raise ValueError(
            f"{flag} {folder} holds a {model_type!r} model; "
            "pass an X-Codec folder or a SongGen folder (its codec is used)."
        )
    import torch

    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration

    try:
        songgen, info = SongGenForConditionalGeneration.from_pretrained(
            folder, dtype=torch.float32, output_loading_info=True
        )
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as error:
        raise ValueError(
            f"{flag} {folder}: the SongGen model does not load ({type(error).__name__}: {error})."
        ) from None
    codec = songgen.audio_encoder
    if codec.config.decode_only:
        raise ValueError(
            f"{flag} {folder}: this SongGen folder holds only its codec's decoder (decode_only), which cannot "
            "encode; pass the full codec folder it was trained with."
        )
    missing = [key for key in info.get("missing_keys") or [] if key.startswith("audio_encoder.")]
    if missing:  # they would be random: garbage codes without an error
        raise ValueError(
            f"{flag} {folder}: the weights lack {len(missing)} of its codec's tensors (e.g. {', '.join(missing[:3])}); "
            "the folder is incomplete or damaged: save or download it again."
        )
    return codec.eval()


__all__ = [
    "CODEC_MODEL_TYPES",
    "PICKLE_WEIGHT_SUFFIXES",
    "RefusedPickleError",
    "check_model_folder_pickles",
    "check_pickled_weights",
    "load_codec_folder",
    "load_codec_of",
    "pickle_detail",
    "pickles_refused",
    "read_codec_config",
    "read_model_type",
    "read_tensor_file",
    "refused_pickle",
]
