"""One line saying what the processor understood from a song (``SongGenProcessor.interpret``).

The CLI prints it before generating; the Space can show the same text.
"""

from __future__ import annotations

import re
from typing import Any

# words of the cleaned lyrics, whose lines the processor joins with "." and no space
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


_SOURCES = {"description": "from the description", "argument": "as given"}


def _source(source: Any) -> str:
    return f" ({_SOURCES.get(source, source)})" if source else ""


def format_understood(understood: dict) -> str:
    """``understood: tempo 140 BPM (from the description), key E minor (from the description), lyrics 11 words``
    (``... lyrics 11 words in 2 sections (verse, chorus)`` when section tags give the song's structure)."""
    parts = []
    for name, value, unit in (("tempo", understood.get("tempo_bpm"), " BPM"), ("key", understood.get("key"), "")):
        if value is None:
            parts.append(f"{name} not stated")
        else:
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            parts.append(f"{name} {shown}{unit}{_source(understood.get(f'{name}_source'))}")
    if understood.get("musical_controls") is False:
        parts[-1] += " (this model has no tempo/key controls, so they do not steer it)"
    stated = [
        f"{'with' if understood[part] else 'without'} {part}"
        for part in ("vocals", "drums")
        if understood.get(part) is not None
    ]
    if stated:
        if understood.get("arrangement_control") is False:
            stated[-1] += " (read from the words only: this model has no vocals/drums control)"
        parts.extend(stated)
    lyrics = understood.get("lyrics") or ""
    if not isinstance(lyrics, str):
        lyrics = "\n".join(str(line) for line in lyrics)
    words = len(_WORD.findall(lyrics))
    sung = f"lyrics {words} words"
    tagged = [
        section.get("label") or section.get("section")
        for section in understood.get("sections") or []
        if section.get("section") is not None
    ]
    if tagged:  # the song's structure, as the tags named it (never sung)
        sung += f" in {len(tagged)} section{'s' if len(tagged) > 1 else ''} ({', '.join(tagged)})"
    parts.append("instrumental (no lyrics)" if understood.get("instrumental") or not words else sung)
    return "understood: " + ", ".join(parts)


__all__ = ["format_understood"]
