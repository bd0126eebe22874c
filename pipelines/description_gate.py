"""The description gate: an adapter's weight on a song by how close the song's description is to its training songs'.

An adapter trained on one style moves every song towards it, the songs of unrelated prompts too.  ``finetune-lora``
therefore records, beside the adapter, the descriptions it was trained on and a reference set of descriptions unlike
them (``description_gate.json``), with two thresholds it calibrates from those texts alone; a song made with the
adapter gets it at a weight between 0 and 1 by how much more its description reads like the style's than like the
reference's:

* the **closeness** of a description is the evidence its words give for the style: the sum, over the distinct
  content words it uses, of each word's log-ratio of the share of style descriptions to the share of reference
  descriptions that use it (add-half smoothed).  Words that say a tempo or a key (numbers, "bpm", "C major") are left
  out: those are the musical controls' to read, and the adapter's tempo record handles a style's tempo; a metre such
  as "12/8" stays a word.  Function words ("a", "with", "the") and the words that say who sings ("a man sings",
  "female lead vocals": phrased differently by any two sets of descriptions) are left out too;
* the **thresholds** come from the recorded texts: ``low`` is the closeness the most style-like reference description
  reaches against the others (each left out of the counts it is scored by), and at least 0 (a description whose
  words neither set uses has no evidence for the style), ``high`` is ``low`` plus
  :data:`GATE_RAMP_NATS`; the gate is 0 at or below ``low``, 1 at or above ``high`` and linear between, so most
  songs are made exactly by the base (gate 0: no adapter at all, bit for bit) or by the adapter as it was trained
  (gate 1).

The measure and the ramp were chosen on one style of ``benchmarks/styles.py`` (gospel) and reported on the others
(``docs/benchmarks/styles_gate.json``).  Everything here is text arithmetic on the recorded descriptions: no model
runs, and inference imports nothing of the lab.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from songgen_hf.modeling.limits import is_number

GATE_FILE = "description_gate.json"  # in the adapter folder, written by finetune-lora
GATE_FORMAT = 1
GATE_RAMP_NATS = 2.0  # from "as style-like as the reference gets" to "e^2 times likelier the style's": 0 -> 1
GATE_DECIMALS = 2  # a gate is kept to this many decimals, so a call's songs share few blends
MAX_GATE_DESCRIPTIONS = 512  # per set, in the record
MAX_GATE_DESCRIPTION_CHARS = 2000
_SMOOTHING = 0.5

_METRE = re.compile(r"(?<![\d/])(\d{1,2})\s*/\s*(\d{1,2})(?![\d/])")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_CONTROL_WORDS = re.compile(r"\b(?:bpm|tempo|beats per minute|key|major|minor|maj|min)\b", re.IGNORECASE)
_KEY_NAME = re.compile(r"(?<![\w#])[A-G](?:#|b|♯|♭)?m?(?![\w#])")
_WORD = re.compile(r"[a-z]+(?:[-'][a-z]+)*")
_FUNCTION_WORDS = frozenset(
    "a an the and or of in on at to for with by from as is are be it its this that these those into over under "
    "about than then so very just out up down off all any some no not nor but if while per each every his her "
    "their our your my me we you he she they them i".split()
)
# who sings, said as every description says it ("a man sings", "female lead vocals"): the told singer and the
# arrangement read it, and its phrasing differs between any two sets of descriptions, so it is evidence of phrasing
# rather than of a style (a voice style keeps its own words: "choir", "deep", "low")
_VOICE_WORDS = frozenset(
    "male female man woman men women sings sing singing singer singers sung vocals vocal voice voices lead".split()
)
_IGNORED = _FUNCTION_WORDS | _VOICE_WORDS


class GateRecordError(ValueError):
    """An adapter's ``description_gate.json`` that cannot be used; the message names the file and the fix."""


def description_words(text: str) -> frozenset[str]:
    """The content words of a description the gate reads: lower case, without tempo and key mentions (numbers,
    "bpm", key names), function words or the words that say who sings ("a man sings", "female vocals"); a metre
    ("12/8", "6/8") is kept as one word ("metre-12-8"), a hyphenated word counts by its parts."""
    text = str(text)
    metres = {f"metre-{match.group(1)}-{match.group(2)}" for match in _METRE.finditer(text)}
    text = _KEY_NAME.sub(" ", _CONTROL_WORDS.sub(" ", _METRE.sub(" ", text)))
    text = _NUMBER.sub(" ", text.lower())
    # a hyphenated word counts by its parts ("soul-gospel" says "gospel", "live-sounding" says "live")
    parts = (part for word in _WORD.findall(text) for part in word.split("-"))
    return frozenset(part for part in parts if part and part not in _IGNORED) | metres


def word_evidence(style: Sequence[str], reference: Sequence[str]) -> dict[str, float]:
    """Each content word's evidence for the style: the log-ratio of the (add-half smoothed) share of ``style``
    descriptions that use it to the share of ``reference`` descriptions that do."""
    style_words = [description_words(text) for text in style]
    reference_words = [description_words(text) for text in reference]
    counts: dict[str, list[int]] = {}
    for index, sets in enumerate((style_words, reference_words)):
        for words in sets:
            for word in words:
                counts.setdefault(word, [0, 0])[index] += 1
    n_style, n_reference = len(style_words), len(reference_words)
    return {
        word: math.log((cs + _SMOOTHING) / (n_style + 2 * _SMOOTHING))
        - math.log((cr + _SMOOTHING) / (n_reference + 2 * _SMOOTHING))
        for word, (cs, cr) in counts.items()
    }


def closeness(text: str, evidence: Mapping[str, float]) -> float:
    """How much more ``text`` reads like the style than like the reference: its content words' evidence, summed
    (words neither set uses add nothing)."""
    return float(sum(evidence.get(word, 0.0) for word in description_words(text)))


def calibrate(style: Sequence[str], reference: Sequence[str]) -> tuple[float, float]:
    """The gate's thresholds from the texts alone: ``low`` the highest closeness a reference description reaches
    when it is left out of the counts (at least 0), ``high`` = ``low`` + :data:`GATE_RAMP_NATS`."""
    reference = list(reference)
    low = max(
        closeness(text, word_evidence(style, reference[:i] + reference[i + 1 :])) for i, text in enumerate(reference)
    )
    low = max(low, 0.0)  # a description with no evidence either way (words neither set uses) is no song of the style
    return round(low, 4), round(low + GATE_RAMP_NATS, 4)


def gate_record(style: Sequence[str], reference: Sequence[str]) -> dict:
    """What ``finetune-lora`` writes in ``description_gate.json``: the style's descriptions (distinct, at most
    :data:`MAX_GATE_DESCRIPTIONS`), the reference's, and the calibrated thresholds."""
    style = list(dict.fromkeys(str(text)[:MAX_GATE_DESCRIPTION_CHARS] for text in style if str(text).strip()))
    reference = list(dict.fromkeys(str(text)[:MAX_GATE_DESCRIPTION_CHARS] for text in reference if str(text).strip()))
    style, reference = style[:MAX_GATE_DESCRIPTIONS], reference[:MAX_GATE_DESCRIPTIONS]
    if not style or len(reference) < 2:
        raise ValueError("The description gate needs the style's descriptions and at least two reference ones.")
    low, high = calibrate(style, reference)
    return {
        "format": GATE_FORMAT,
        "low": low,
        "high": high,
        "style_descriptions": style,
        "reference_descriptions": reference,
    }


class DescriptionGate:
    """An adapter's gate, built from its record: ``gate(description)`` is its weight on that song, in [0, 1]."""

    def __init__(self, record: Mapping):
        self.low, self.high = float(record["low"]), float(record["high"])
        self.sizes = {name: len(record[name]) for name in ("style_descriptions", "reference_descriptions")}
        self.evidence = word_evidence(record["style_descriptions"], record["reference_descriptions"])

    def closeness(self, description: str) -> float:
        return closeness(description, self.evidence)

    def __call__(self, description: str) -> float:
        value = (self.closeness(description) - self.low) / (self.high - self.low)
        return round(min(1.0, max(0.0, value)), GATE_DECIMALS)


def _check_record(record) -> None:
    keys = {"format", "low", "high", "style_descriptions", "reference_descriptions"}
    if not isinstance(record, dict) or set(record) != keys or record.get("format") != GATE_FORMAT:
        got = sorted(record) if isinstance(record, dict) else type(record).__name__
        raise ValueError(f"it must hold {sorted(keys)} with format {GATE_FORMAT}, got {got}")
    low, high = record["low"], record["high"]
    if not (is_number(low, finite=True) and is_number(high, finite=True) and low < high):
        raise ValueError(f"low and high must be finite numbers with low < high, got {low!r} and {high!r}")
    for name, least in (("style_descriptions", 1), ("reference_descriptions", 2)):
        texts = record[name]
        if not isinstance(texts, list) or not least <= len(texts) <= MAX_GATE_DESCRIPTIONS:
            raise ValueError(f"{name} must be a list of {least}-{MAX_GATE_DESCRIPTIONS} descriptions")
        if not all(isinstance(text, str) and len(text) <= MAX_GATE_DESCRIPTION_CHARS for text in texts):
            raise ValueError(f"{name} must hold strings of at most {MAX_GATE_DESCRIPTION_CHARS} characters")


_GATES: dict[str, tuple] = {}  # folder -> (the record file's signature, its DescriptionGate)


def read_description_gate(folder: str | os.PathLike) -> DescriptionGate | None:
    """The gate of the adapter in ``folder`` (its ``description_gate.json``), or None for an adapter without one
    (trained before the record: the adapter applies ungated).  Read through the adapter folder's safe reader, checked
    and built once while the file is unchanged; a damaged record is a :class:`GateRecordError` naming the file and
    the fix."""
    from songgen_hf.pipelines.adapter_folders import _file_signature, _read_json

    path = Path(folder) / GATE_FILE
    if not os.path.lexists(path):
        return None
    key, signature = os.path.abspath(path), _file_signature(path)
    kept = _GATES.get(key)
    if kept is not None and signature is not None and kept[0] == signature:
        return kept[1]
    try:
        record = _read_json(path)
        _check_record(record)
    except ValueError as error:
        raise GateRecordError(
            f"The adapter's {path} cannot be used: {str(error).rstrip('.')}. Train the adapter again with songgen "
            f"finetune-lora, or delete {GATE_FILE} to apply the adapter to every song at its full weight."
        ) from None
    gate = DescriptionGate(record)
    _GATES[key] = (signature, gate)
    while len(_GATES) > 64:
        _GATES.pop(next(iter(_GATES)))
    return gate


def write_description_gate(adapter_dir: str | os.PathLike, record: Mapping) -> None:
    """``record`` (:func:`gate_record`) into ``adapter_dir``'s ``description_gate.json``, atomically."""
    import json

    from songgen_hf.utils.atomic import write_text_atomic

    write_text_atomic(Path(adapter_dir) / GATE_FILE, json.dumps(dict(record), indent=1) + "\n")


def adapter_gates(folders: Mapping[str, str], choice, description: str) -> dict[str, float]:
    """Each adapter of ``choice`` (a name or a blend of ``folders``' adapters) that records a gate, and its gate for
    ``description``; an adapter without a record is not named (it applies ungated, as asked)."""
    if choice is None:
        return {}
    names = [choice] if isinstance(choice, str) else list(choice)
    gates = {}
    for name in names:
        gate = read_description_gate(folders[name])
        if gate is not None:
            gates[name] = gate(description or "")
    return gates


def gated_choice(folders: Mapping[str, str], choice, description: str, gate: bool = True):
    """``(the choice a song of description is made with, {adapter: gate}})``.  The one answer for every door: the
    pipeline, ``songgen generate``, the Space and ``generate-many`` ask it before the song's tempo record and told
    singer are chosen (both follow the choice).  Each adapter's weight is multiplied by its gate; all at 1: the choice
    as given (the ungated adapter, bit for bit); all at 0: None (the base, bit for bit).  ``gate=False``: the choice
    as given, and no gates."""
    if choice is None or not gate:
        return choice, {}
    gates = adapter_gates(folders, choice, description)
    if all(value == 1.0 for value in gates.values()):
        return choice, gates
    weights = {choice: 1.0} if isinstance(choice, str) else dict(choice)
    gated = {name: round(weight * gates.get(name, 1.0), 6) for name, weight in weights.items()}
    gated = {name: weight for name, weight in gated.items() if weight > 0}
    return (gated or None), gates


def description_of(song) -> str:
    """The description of a call's song: a string (the description itself), a song dict or a prepared
    :class:`~songgen_hf.pipelines.requests.SongRequest` (anything else: none)."""
    if isinstance(song, str):
        return song
    if isinstance(song, dict):
        return str(song.get("description") or "")
    from songgen_hf.pipelines.requests import SongRequest

    return song.description if isinstance(song, SongRequest) else ""


@dataclass(frozen=True)
class GateGroup:
    """The songs of one call that the gate gives one choice: made together, as a call of their own."""

    choice: Any  # what they are made with: an adapter's name, a blend {name: weight}, or None (the base)
    gates: dict[str, float]  # each gated adapter's gate, as the songs' outputs report it ({}: nothing gated)
    indices: tuple[int, ...]  # their places in the call, in order


def _choice_key(choice):
    return tuple(sorted(choice.items())) if isinstance(choice, dict) else choice


def gate_groups(folders: Mapping[str, str], choice, songs: Sequence | None, gate: bool = True) -> list[GateGroup]:
    """A call's songs (descriptions, song dicts or prepared requests) grouped by the choice the gate makes for each
    (:func:`gated_choice`), the groups in the order their first songs come: songs whose choices differ are made as
    calls of their own, each song as it would be made asked alone.  One group when every song gates alike.

    ``songs`` None (a dataset or a generator, whose songs come one by one): one group of ``choice`` as asked, unless
    an adapter of it records a gate (a ``ValueError`` asking for a list, or ``adapter_gate=False``)."""
    if songs is None:
        if gate and adapter_gates(folders, choice, ""):
            raise ValueError(
                "The adapter's description gate weighs each song by its description, which a dataset or generator "
                "input does not give before generating: pass the songs as a list, or adapter_gate=False to apply "
                "the adapter as asked to every song."
            )
        return [GateGroup(choice, {}, ())]
    groups: dict = {}
    for index, song in enumerate(songs):
        chosen, gates = gated_choice(folders, choice, description_of(song), gate)
        key = _choice_key(chosen)
        if key in groups:
            groups[key][2].append(index)
        else:
            groups[key] = (chosen, gates, [index])
    return [GateGroup(chosen, gates, tuple(indices)) for chosen, gates, indices in groups.values()]


def made_by_groups(make, songs: Sequence, groups: Sequence[GateGroup]) -> list:
    """The songs of a call whose groups (:func:`gate_groups`) differ, each group made by ``make(its songs, its
    choice)`` (a call of its own, ungated) in the groups' order, returned in the call's order, each output saying
    its gates (``"adapter_gate"``) when an adapter of it records one."""
    results: list = [None] * len(songs)
    for group in groups:
        made = make([songs[index] for index in group.indices], group.choice)
        for index, output in zip(group.indices, made):
            if group.gates:
                output["adapter_gate"] = dict(group.gates)
            results[index] = output
    return results


def describe_gates(gates: Mapping[str, float]) -> str:
    """How a song's gates read in a printout."""
    return ", ".join(f"{name} x{value:g}" for name, value in gates.items())


def check_gate_option(value) -> bool:
    """``adapter_gate``: True (the default: each adapter weighted by its gate) or False (every adapter at the weight
    asked, on every song)."""
    if not isinstance(value, bool):
        raise ValueError(
            f"adapter_gate must be True (weight each adapter by how close a song's description is to its training "
            f"songs') or False (the adapter at the weight asked on every song), got {value!r}."
        )
    return value


__all__ = [
    "GATE_FILE",
    "GATE_RAMP_NATS",
    "DescriptionGate",
    "GateGroup",
    "GateRecordError",
    "adapter_gates",
    "calibrate",
    "check_gate_option",
    "closeness",
    "describe_gates",
    "description_of",
    "description_words",
    "gate_groups",
    "gate_record",
    "gated_choice",
    "made_by_groups",
    "read_description_gate",
    "word_evidence",
    "write_description_gate",
]
