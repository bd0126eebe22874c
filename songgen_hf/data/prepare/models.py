"""How the pipeline finds its models: a Hub id or a local folder, loaded lazily, clear errors offline.

Nothing here imports torch-heavy or optional libraries at module level: ``songgen data prepare
--dry-run`` and the CLI's parser must work on the main install.  The optional libraries of the
``prepare`` extra (demucs, silero-vad, pyloudnorm, librosa) are imported through :func:`require`,
which turns a missing one into a one-line error naming the install command.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

PREPARE_EXTRA_HINT = 'pip install -e ".[prepare]" in the songgen-hf repository'
# What each optional library is for (named in the message when it is missing).
PREPARE_LIBRARIES = {
    "demucs": "source separation",
    "silero_vad": "voice-activity detection",
    "pyloudnorm": "loudness normalisation (ITU-R BS.1770)",
    "librosa": "tempo and key estimation",
}


class MissingPrepareExtraError(ImportError, ValueError):
    """An optional library of the ``prepare`` extra is missing; a ValueError too, so the CLI prints one line."""


def require(module: str):
    """Import ``module`` of the prepare extra, or raise a clear error naming the install command."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingPrepareExtraError(
            f"songgen data prepare needs {module.replace('_', '-')} for {PREPARE_LIBRARIES.get(module, 'this stage')}, "
            f"which is not installed ({error}). Install it with: {PREPARE_EXTRA_HINT}"
        ) from error


def is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


def is_local(reference: str) -> bool:
    return Path(reference).expanduser().exists()


def unavailable(what: str, reference: str, error: Exception | str, download: str | None = None) -> ValueError:
    """The error for a model that cannot be loaded: names it, says why, and how to get it."""
    fix = download or f"hf download {reference}"
    offline = is_offline() and not is_local(reference)  # a local folder that fails is damaged, not uncached
    where = "offline (HF_HUB_OFFLINE=1) and not in the local cache" if offline else "not loadable"
    return ValueError(
        f"The {what} model {reference!r} is {where}: {error}. Download it once while online ({fix}), "
        f"or pass a local folder that holds it."
    )


def check_hub_files(what: str, reference: str, filename: str = "config.json") -> None:
    """Fail early (before any audio is processed) when a Hub model is neither a folder nor cached offline."""
    if is_local(reference):
        if not (Path(reference).expanduser() / filename).is_file():
            raise ValueError(
                f"The {what} model folder {reference} has no {filename}; give a folder saved with save_pretrained."
            )
        from songgen_hf.modeling.weight_bounds import check_model_folder_pickles

        check_model_folder_pickles(Path(reference).expanduser())  # a pickle naming code: refused, naming the file
        return
    if not is_offline():
        return  # online: from_pretrained downloads it, and reports its own errors
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(reference, filename)
    if not isinstance(cached, str):
        raise unavailable(what, reference, f"{filename} is not in the Hugging Face cache")
    from songgen_hf.modeling.weight_bounds import check_model_folder_pickles

    check_model_folder_pickles(Path(cached).parent)


def load_asr(reference: str, device: str = "cpu"):
    """transformers' ``automatic-speech-recognition`` pipeline for a Hub id or folder."""
    check_hub_files("speech-recognition", reference)
    from transformers import pipeline

    from songgen_hf.modeling.weight_bounds import RefusedPickleError, pickles_refused

    try:
        with pickles_refused(reference):
            return pipeline("automatic-speech-recognition", model=str(reference), device=device)
    except (OSError, ValueError) as error:
        if isinstance(error, RefusedPickleError):
            raise
        raise unavailable("speech-recognition", reference, error) from error


def load_clap(reference: str, device: str = "cpu"):
    """A transformers ``ClapModel`` and its ``ClapProcessor``."""
    check_hub_files("CLAP", reference)
    from transformers import ClapModel, ClapProcessor

    from songgen_hf.modeling.weight_bounds import RefusedPickleError, pickles_refused

    try:
        with pickles_refused(reference):
            model = ClapModel.from_pretrained(str(reference)).to(device).eval()
            processor = ClapProcessor.from_pretrained(str(reference))
    except (OSError, ValueError) as error:
        if isinstance(error, RefusedPickleError):
            raise
        raise unavailable("CLAP", reference, error) from error
    return model, processor


__all__ = [
    "PREPARE_EXTRA_HINT",
    "MissingPrepareExtraError",
    "check_hub_files",
    "is_local",
    "is_offline",
    "load_asr",
    "load_clap",
    "require",
    "unavailable",
]
