"""The structure of a song's lyrics: its sections (``[verse]``, ``[chorus]``, ...) and the lines sung in each.

Section tags are structure, never words: nothing in square brackets is sung or reaches the lyrics encoder.
The rule, whatever the tag says:

* a line that is only a bracketed tag (``[verse]``, ``[Chorus 2]``, ``[pre-chorus: both]``) starts a section;
  a known name (:data:`SECTION_KINDS`, spelling variants included) gives its ``kind``; any other tag
  (``[guitar solo]``, ``[spoken]``) starts a section of kind ``"other"`` that keeps its label;
* a tag at the start of a sung line (``[chorus] hold on``) starts a section in the same way, and the rest of
  the line is sung;
* bracketed text elsewhere in a line (``hold on [x2]``) is a performance note: dropped, the words around it
  are sung;
* lines before the first tag form a section of kind ``None`` (untagged lyrics: one such section);
* parentheses are words (backing vocals such as ``(oh oh)`` are sung), as are all other characters.

:func:`parse_song_structure` is the one parser: the lyrics tokenizer reads :meth:`SongStructure.sung_text`,
the processor's ``interpret`` reports :meth:`SongStructure.to_list`, and the singer's score sings
:attr:`SongStructure.lines`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# canonical section kinds -> the spellings read as them (lower case, spaces/hyphens/underscores folded)
SECTION_KINDS: dict[str, tuple[str, ...]] = {
    "intro": ("intro", "introduction", "opening"),
    "verse": ("verse",),
    "pre-chorus": ("pre-chorus", "prechorus", "pre chorus", "build", "lift"),
    "chorus": ("chorus", "refrain"),
    "post-chorus": ("post-chorus", "postchorus", "post chorus"),
    "hook": ("hook",),
    "bridge": ("bridge", "middle 8", "middle eight"),
    "break": ("break", "breakdown", "interlude", "instrumental", "solo", "drop"),
    "outro": ("outro", "ending", "coda", "end", "fade out"),
}
_SPELLINGS = {
    re.sub(r"[\s_-]+", " ", spelling): kind for kind, spellings in SECTION_KINDS.items() for spelling in spellings
}
_TAG = re.compile(r"\[([^\[\]]*)\]")
_LEADING_TAG = re.compile(r"^\s*\[([^\[\]]*)\]\s*")
# "Verse 2", "chorus x2", "Pre-Chorus: both", "verse (repeat)": the name before a number or a note
_TAG_NAME = re.compile(r"^\s*([a-z][a-z\s_-]*?)\s*(?:\d+|x\s*\d+|[:(,].*)?\s*$")


@dataclass(frozen=True)
class Section:
    """One section: ``kind`` (a key of :data:`SECTION_KINDS`, ``"other"`` for an unknown tag, ``None`` for lines
    before any tag), ``label`` (the tag as written, without brackets; ``""`` when untagged) and its sung lines."""

    kind: str | None
    label: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class SongStructure:
    """The sections of one song's lyrics, in order (sections without sung lines included: ``[intro]``)."""

    sections: tuple[Section, ...]
    # the lyrics as written, less their tags: untagged lyrics read exactly as before (blank lines included)
    text: str = ""

    @property
    def lines(self) -> tuple[str, ...]:
        """Every sung line, in order, without tags."""
        return tuple(line for section in self.sections for line in section.lines)

    def sung_text(self) -> str:
        """The lyrics without their tags, lines as written (blank ones kept): what the lyrics encoder reads."""
        return self.text

    def to_list(self) -> list[dict]:
        """JSON-able: ``[{"section": kind, "label": label, "lines": [...]}, ...]``."""
        return [{"section": s.kind, "label": s.label, "lines": list(s.lines)} for s in self.sections]


def section_kind(tag: str) -> str:
    """The kind of a tag's text (``"Verse 2"`` -> ``"verse"``, ``"Pre Chorus"`` -> ``"pre-chorus"``), else
    ``"other"``."""
    text = tag.strip().lower()
    match = _TAG_NAME.match(text)
    for name in (text, match.group(1) if match else text):  # "middle 8" as written, else "verse" of "verse 2"
        kind = _SPELLINGS.get(re.sub(r"[\s_-]+", " ", name).strip())
        if kind is not None:
            return kind
    return "other"


def parse_song_structure(lyrics: str) -> SongStructure:
    """The sections of ``lyrics`` by the rule in this module's docstring; ``ValueError`` for a non-string."""
    if not isinstance(lyrics, str):
        raise ValueError(f"Lyrics must be a str, got {type(lyrics).__name__}; join lines with '\\n' first.")
    sections: list[Section] = []
    kind, label, lines, kept = None, "", [], []
    for raw in lyrics.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        leading = _LEADING_TAG.match(raw)
        if leading:
            if lines or label or kind is not None:
                sections.append(Section(kind, label, tuple(lines)))
            label = leading.group(1).strip()
            kind, lines = section_kind(label), []
            raw = raw[leading.end() :]
            if not raw.strip():
                continue  # a tag line: nothing of it is sung
        if _TAG.search(raw):
            raw = " ".join(_TAG.sub(" ", raw).split())
        kept.append(raw)
        line = " ".join(raw.split())
        if line:
            lines.append(line)
    if lines or label or kind is not None:
        sections.append(Section(kind, label, tuple(lines)))
    return SongStructure(tuple(sections), "\n".join(kept).strip("\n"))


def sung_lyrics(lyrics: str) -> str:
    """``lyrics`` without their structure: the sung lines, joined by newlines."""
    return parse_song_structure(lyrics).sung_text()


__all__ = ["SECTION_KINDS", "Section", "SongStructure", "parse_song_structure", "section_kind", "sung_lyrics"]
