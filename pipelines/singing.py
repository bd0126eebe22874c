"""The told singer in the text-to-song pipeline: which singer a pipeline uses, and each song's score.

A model folder may hold a singer beside the model (``FOLDER/singer``: a ``SongGenSinger`` trained with
``songgen train-singer`` on the codes of the model's codec); the embedded songgen-tiny does when it ships one.  The
pipeline then composes a vocal score for each sung request (its tempo, key, lyrics and voice, as the processor
understood them: ``processing/vocal_score.py``) and ``generate`` re-sings the vocal track from it.  ``singer=None``
keeps the decoder's own vocal track; ``singer="auto"`` (the default) uses the folder's singer where there is one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

SINGER_FOLDER = "singer"
AUTO = "auto"


def model_singer_folder(model: Any) -> Path | None:
    """The singer folder saved beside ``model`` (a loaded model's ``name_or_path`` or a folder; a LoRA adapter
    folder: its base's), if any: the ``singer`` sub-model of
    :func:`~songgen_hf.pipelines.model_folders.sub_model_folders`."""
    from songgen_hf.pipelines.model_folders import sub_model_folders

    return sub_model_folders(getattr(model, "name_or_path", model)).get(SINGER_FOLDER)


def auto_singer_folder(folder: str | os.PathLike) -> Path | None:
    """The singer ``singer="auto"`` picks for the model saved in ``folder``, read from its files without loading it:
    the folder's ``singer/`` where its token pattern has a vocal track to re-sing, else None."""
    import json

    from songgen_hf.modeling.patterns import TOKEN_PATTERNS

    singer = model_singer_folder(folder)
    if singer is None:
        return None
    config = json.loads((singer.parent / "config.json").read_text(encoding="utf-8"))  # an adapter's: its base's
    pattern = TOKEN_PATTERNS.get(str(config.get("decoder", {}).get("track_pattern")))
    return singer if pattern is not None and "vocals" in pattern.track_names else None


def resolve_singer(model: Any, singer: Any = AUTO):
    """The ``SongGenSinger`` a pipeline over ``model`` uses: ``"auto"`` the model folder's (None without one),
    None none, a folder or a loaded singer that one; refused where the model cannot take it."""
    from songgen_hf.modeling.songgen.singer import SongGenSinger

    if singer is None:
        return None
    if isinstance(singer, str) and singer == AUTO:
        folder = model_singer_folder(model)
        if folder is None or "vocals" not in model.pattern.track_names:
            return None
        singer = folder
    if isinstance(singer, (str, os.PathLike)):
        if not (Path(singer) / "config.json").is_file():
            raise ValueError(
                f"singer={os.fspath(singer)!r} is not a singer folder (no config.json): give the `final` "
                "folder of `songgen train-singer`, a loaded SongGenSinger, 'auto' or None."
            )
        singer = SongGenSinger.from_pretrained(singer)
    if not isinstance(singer, SongGenSinger):
        raise ValueError(
            f"singer must be 'auto', None, a singer folder or a SongGenSinger; got {type(singer).__name__}."
        )
    if "vocals" not in model.pattern.track_names:
        raise ValueError(
            f"A singer re-sings a dual-track model's vocal track; this model's tracks are "
            f"{list(model.pattern.track_names)} (pass singer=None)."
        )
    return singer.to(model.device).eval()


def song_score(processor, song: dict, duration_s: float, seed: int):
    """The vocal score of one parsed pipeline song (None when nothing is to be sung)."""
    from songgen_hf.processing.vocal_score import request_score

    return request_score(
        processor, song["description"], song["lyrics"], duration_s, seed, song["tempo_bpm"], song["key"]
    )


__all__ = ["AUTO", "SINGER_FOLDER", "auto_singer_folder", "model_singer_folder", "resolve_singer", "song_score"]
