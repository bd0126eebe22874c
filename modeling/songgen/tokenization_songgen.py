"""VoiceBPE lyrics tokenizer (the XTTS-style BPE used by SongGen for lyrics).

The vocabulary is a ``tokenizers`` BPE model with a ``Whitespace``
pre-tokenizer, stored as the full ``Tokenizer.to_str()`` JSON in ``vocab.json``.
Encoding is: clean the text, prefix the language tag (``[en]``), replace every
space by the ``[SPACE]`` token, then run BPE. Lyrics fed to the model are
framed as ``[START] + encode(...) + [STOP]``.

All special ids are read from the vocabulary by token string, so the real
6681-token vocabulary ([STOP]=0, [UNK]=1, [SPACE]=2, [en]=259, [START]=261) and
small vocabularies trained with :func:`train_voicebpe_vocab` behave the same.
"""

from __future__ import annotations

import json
import numbers
import os
import re
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from songgen_hf.utils.safe_files import read_text

# ----------------------------------------------------------------------------------------------------
# Lyrics text cleaning for the VoiceBPE tokenizer.
#
# The VoiceBPE vocabulary was built from cleaned, lower-case text in which
# numbers, abbreviations and most symbols are already written out as words.
# Feeding it raw digits or symbols would hit rare or unknown tokens, so every
# lyric line goes through :func:`clean_lyrics` before BPE.
#
# Everything here is pure Python and deterministic: the same input always gives
# the same output, which keeps preprocessed datasets reproducible.
#
# English (``lang="en"``) gets the full rule set. Other languages only get the
# language-neutral steps (typography, lower case, bracket/quote removal and
# whitespace collapse) because number and abbreviation reading is language
# specific.

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve "
    "thirteen fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
# Largest scale first so the greedy split in number_to_words works.
_SCALES = (
    (10**12, "trillion"),
    (10**9, "billion"),
    (10**6, "million"),
    (10**3, "thousand"),
)
# Above this we stop naming scales and read the digits one by one; numbers this
# long in lyrics are codes or phone numbers rather than quantities.
_MAX_NAMED_NUMBER = 10**15 - 1
# a vocabulary file of MAX_TOKENIZER_VOCAB_SIZE entries with merges is a few MB; this bounds any read of one
MAX_VOCAB_FILE_BYTES = 64 * 2**20

_IRREGULAR_ORDINALS = {
    "zero": "zeroth",
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def number_to_words(number: int) -> str:
    """Spell an integer in American English without "and" or hyphens.

    ``123`` -> ``"one hundred twenty three"``, ``-5`` -> ``"minus five"``.
    Magnitudes of a quadrillion and above are read digit by digit.
    """
    if number < 0:
        return "minus " + number_to_words(-number)
    if number > _MAX_NAMED_NUMBER:
        return digits_to_words(str(number))
    if number < 20:
        return _ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens] + (" " + _ONES[ones] if ones else "")
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        return _ONES[hundreds] + " hundred" + (" " + number_to_words(rest) if rest else "")
    for scale_value, scale_name in _SCALES:
        if number >= scale_value:
            head, rest = divmod(number, scale_value)
            words = number_to_words(head) + " " + scale_name
            return words + (" " + number_to_words(rest) if rest else "")
    raise AssertionError("unreachable: every number >= 1000 matches a scale")


def _ordinal_of_word(word: str) -> str:
    if word in _IRREGULAR_ORDINALS:
        return _IRREGULAR_ORDINALS[word]
    if word.endswith("y"):
        return word[:-1] + "ieth"
    return word + "th"


def ordinal_to_words(number: int) -> str:
    """``1`` -> ``"first"``, ``22`` -> ``"twenty second"``, ``100`` -> ``"one hundredth"``."""
    words = number_to_words(number).split(" ")
    words[-1] = _ordinal_of_word(words[-1])
    return " ".join(words)


def year_to_words(year: int) -> str:
    """Read a four-digit number the way years are spoken.

    ``1999`` -> ``"nineteen ninety nine"``, ``1905`` -> ``"nineteen oh five"``,
    ``1900`` -> ``"nineteen hundred"``, ``2000`` -> ``"two thousand"``,
    ``2007`` -> ``"two thousand seven"``, ``2024`` -> ``"twenty twenty four"``.
    Values outside 1000-9999 fall back to the plain cardinal.
    """
    if not 1000 <= year <= 9999 or year % 1000 == 0 or 2000 < year < 2010:
        return number_to_words(year)
    century, rest = divmod(year, 100)
    if rest == 0:
        return number_to_words(century) + " hundred"
    if rest < 10:
        return number_to_words(century) + " oh " + _ONES[rest]
    return number_to_words(century) + " " + number_to_words(rest)


def digits_to_words(digits: str) -> str:
    """Read a digit string one digit at a time: ``"007"`` -> ``"zero zero seven"``."""
    return " ".join(_ONES[int(digit)] for digit in digits)


def decimal_to_words(text: str) -> str:
    """Spell a decimal literal such as ``"3.14"``, ``"-0.5"`` or ``".75"``.

    The integer part is a cardinal, the fraction is read digit by digit, which
    is how decimals are usually spoken ("three point one four").
    """
    sign = ""
    if text.startswith("-"):
        sign, text = "minus ", text[1:]
    integer_part, _, fraction = text.partition(".")
    spoken_integer = number_to_words(int(integer_part)) + " " if integer_part else ""
    return sign + spoken_integer + "point " + digits_to_words(fraction)


def _integer_literal_to_words(literal: str) -> str:
    """Spell an unsigned digit string, choosing the most natural reading."""
    if len(literal) > 1 and literal.startswith("0"):
        # Leading zeros ("007", "0800") only make sense read digit by digit.
        return digits_to_words(literal)
    value = int(literal)
    if len(literal) == 4 and 1000 <= value <= 2999:
        # Bare four-digit numbers in lyrics are overwhelmingly years
        # ("summer of 1969"); "fifteen hundred" is also natural for 1500.
        return year_to_words(value)
    return number_to_words(value)


def _pluralize_number_words(words: str) -> str:
    """Turn the last number word into a plural: "nineteen ninety" -> "nineteen nineties"."""
    head, _, last = words.rpartition(" ")
    if last.endswith("y"):
        last = last[:-1] + "ies"
    elif last.endswith("x"):
        last += "es"
    else:
        last += "s"
    return f"{head} {last}" if head else last


# ---------------------------------------------------------------------------
# Rule-based expansions on lower-cased text
# ---------------------------------------------------------------------------


def _substitute_words(pattern: re.Pattern, to_words, text: str) -> str:
    """Like ``pattern.sub`` but keeps the spoken words apart from glued neighbours.

    A space is added only where the match touches a letter or digit ("b4" ->
    "b four", "rock&roll" -> "rock and roll"), never before punctuation: an
    extra space would become an extra ``[SPACE]`` token ("1999!" must give
    "nineteen ninety nine!", not "... nine !").
    """

    def replace(match: re.Match) -> str:
        words = to_words(match)
        start, end, source = match.start(), match.end(), match.string
        if start > 0 and source[start - 1].isalnum():
            words = " " + words
        if end < len(source) and source[end].isalnum():
            words += " "
        return words

    return pattern.sub(replace, text)


# (symbol, singular major unit, plural major unit, singular minor, plural minor)
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", None, None),
}
_CURRENCY_RE = re.compile(
    r"([$£€¥])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?"
    r"(?:\s?(thousand|million|billion|trillion)\b)?"
)


def _currency_to_words(match: re.Match) -> str:
    symbol, integer_text, fraction, scale = match.groups()
    major_one, major_many, minor_one, minor_many = _CURRENCIES[symbol]
    integer_value = int(integer_text.replace(",", ""))
    if scale:
        # "$1.5 million" is an amount of dollars, the decimals are not cents.
        amount = decimal_to_words(f"{integer_value}.{fraction}") if fraction else number_to_words(integer_value)
        return f"{amount} {scale} {major_many}"
    if fraction and (minor_one is None or len(fraction) > 2):
        # No minor unit (yen) or more than cent precision: read as a decimal.
        return f"{decimal_to_words(f'{integer_value}.{fraction}')} {major_many}"
    cents = int(fraction.ljust(2, "0")) if fraction else 0
    parts = []
    if integer_value or not cents:
        unit = major_one if integer_value == 1 else major_many
        parts.append(f"{number_to_words(integer_value)} {unit}")
    if cents:
        unit = minor_one if cents == 1 else minor_many
        parts.append(f"{number_to_words(cents)} {unit}")
    return " and ".join(parts)


def expand_currency(text: str) -> str:
    """``"$5.50"`` -> ``"five dollars and fifty cents"``, ``"$2 million"`` -> ``"two million dollars"``."""
    return _substitute_words(_CURRENCY_RE, _currency_to_words, text)


# "(?!\d)" instead of "\b" after the minutes so "10:00pm" (no space) matches.
_CLOCK_RE = re.compile(r"\b([01]?\d|2[0-4]):([0-5]\d)(?!\d)(?:\s?([ap])\.?m\b\.?)?")
_HOUR_MERIDIEM_RE = re.compile(r"\b(1[0-2]|0?\d)\s?([ap])\.?m\b\.?")


def _clock_to_words(match: re.Match) -> str:
    hour, minute, meridiem = int(match.group(1)), int(match.group(2)), match.group(3)
    words = number_to_words(hour)
    if minute == 0:
        # "ten pm" rather than "ten o'clock pm"; "ten o'clock" when bare.
        words += "" if meridiem else " o'clock"
    elif minute < 10:
        words += " oh " + _ONES[minute]
    else:
        words += " " + number_to_words(minute)
    if meridiem:
        words += f" {meridiem} m"
    return words


def expand_times(text: str) -> str:
    """``"3:30"`` -> ``"three thirty"``, ``"7:05 pm"`` -> ``"seven oh five p m"``, ``"10:00"`` -> ``"ten o'clock"``."""
    text = _substitute_words(_CLOCK_RE, _clock_to_words, text)
    return _substitute_words(_HOUR_MERIDIEM_RE, lambda m: f"{number_to_words(int(m.group(1)))} {m.group(2)} m", text)


# Decades: "1990s", "90s", "'90s", "90's" (the number must end in zero).
_DECADE_RE = re.compile(r"(?<![\w'])'?(\d{0,2}\d0)'?s\b")
_ORDINAL_RE = re.compile(r"\b(\d+)(st|nd|rd|th)\b")
_GROUPED_RE = re.compile(r"\b\d{1,3}(?:,\d{3})+\b")
# A minus sign only counts when it is not joining two words/numbers ("5-10").
# A bare ".5" needs a non-word char before the point: the framing turns
# newlines into periods, so "...one\n2 times" becomes "one.2 times", which must
# not be read as "point two".
_DECIMAL_RE = re.compile(r"(?:(?<![\w.-])-)?(?:\d+\.\d+|(?<![\w.])\.\d+)")
_INTEGER_RE = re.compile(r"(?:(?<![\w-])-)?\d+")
_NUMBER_SIGN_RE = re.compile(r"#\s?(?=\d)")
# Digits on both sides of a slash: "24/7" -> "24 7", "9/11" -> "9 11".
_DIGIT_SLASH_RE = re.compile(r"(?<=\d)/(?=\d)")


def _decade_to_words(match: re.Match) -> str:
    literal = match.group(1)
    value = int(literal)
    words = year_to_words(value) if len(literal) == 4 else number_to_words(value)
    return _pluralize_number_words(words)


def _integer_to_words(match: re.Match) -> str:
    literal = match.group(0)
    if literal.startswith("-"):
        return "minus " + _integer_literal_to_words(literal[1:])
    return _integer_literal_to_words(literal)


def expand_numbers(text: str) -> str:
    """Spell out every digit run in lower-cased English text.

    Order matters: more specific patterns (decades, ordinals, grouped
    thousands, decimals) must run before the generic integer rule eats their
    digits. Currency and clock times are handled by their own helpers, which
    :func:`clean_lyrics` runs first.
    """
    text = _NUMBER_SIGN_RE.sub("number ", text)
    text = _DIGIT_SLASH_RE.sub(" ", text)
    text = _substitute_words(_DECADE_RE, _decade_to_words, text)
    text = _substitute_words(_ORDINAL_RE, lambda m: ordinal_to_words(int(m.group(1))), text)
    text = _substitute_words(_GROUPED_RE, lambda m: number_to_words(int(m.group(0).replace(",", ""))), text)
    text = _substitute_words(_DECIMAL_RE, lambda m: decimal_to_words(m.group(0)), text)
    return _substitute_words(_INTEGER_RE, _integer_to_words, text)


# Abbreviations that are only expanded when written with a trailing period,
# because without it they collide with real words or names ("st", "co", "col").
_DOTTED_ABBREVIATIONS = {
    "st": "saint",
    "co": "company",
    "ft": "fort",
    "mt": "mount",
    "ave": "avenue",
    "gen": "general",
    "rev": "reverend",
    "hon": "honorable",
    "col": "colonel",
    "maj": "major",
    "esq": "esquire",
    "ltd": "limited",
}
# Abbreviations that are not English words, so the period is optional.
_BARE_ABBREVIATIONS = {
    "mrs": "missus",
    "mr": "mister",
    "drs": "doctors",
    "dr": "doctor",
    "jr": "junior",
    "sr": "senior",
    "lt": "lieutenant",
    "sgt": "sergeant",
    "capt": "captain",
    "prof": "professor",
    "vs": "versus",
    "etc": "etcetera",
}
_DOTTED_ABBREVIATION_RE = re.compile(r"\b(" + "|".join(_DOTTED_ABBREVIATIONS) + r")\.")
_BARE_ABBREVIATION_RE = re.compile(r"\b(" + "|".join(_BARE_ABBREVIATIONS) + r")\b\.?")
# "no. 5" means "number five", but a sentence-final "no." must stay "no".
_NUMBER_ABBREVIATION_RE = re.compile(r"\bno\.\s?(?=\d)")


def expand_abbreviations(text: str) -> str:
    """``"mr. brown"`` -> ``"mister brown"``, ``"st. louis"`` -> ``"saint louis"``, ``"no. 5"`` -> ``"number 5"``."""
    text = _NUMBER_ABBREVIATION_RE.sub("number ", text)
    text = _DOTTED_ABBREVIATION_RE.sub(lambda m: _DOTTED_ABBREVIATIONS[m.group(1)], text)
    return _BARE_ABBREVIATION_RE.sub(lambda m: _BARE_ABBREVIATIONS[m.group(1)], text)


_SYMBOL_WORDS = {
    "&": "and",
    "@": "at",
    "%": "percent",
    "+": "plus",
    "=": "equals",
    "#": "hash",
    "°": "degrees",
    "$": "dollar",
    "£": "pound",
    "€": "euro",
    "¥": "yen",
}
_SYMBOL_RE = re.compile("|".join(re.escape(symbol) for symbol in _SYMBOL_WORDS))


def expand_symbols(text: str) -> str:
    """Spell out symbols a singer would pronounce: ``"rock & roll"`` -> ``"rock and roll"``."""
    return _substitute_words(_SYMBOL_RE, lambda m: _SYMBOL_WORDS[m.group(0)], text)


# Brackets are removed for two reasons: section tags like "[chorus]" are not
# sung, and a literal "[space]" or "[en]" in user lyrics must never be able to
# impersonate the tokenizer's special tokens.
_AUX_SYMBOL_RE = re.compile(r"[<>()\[\]{}\"]")


def remove_aux_symbols(text: str) -> str:
    """Drop brackets and double quotes, which carry no pronunciation."""
    return _AUX_SYMBOL_RE.sub("", text)


_WHITESPACE_RE = re.compile(r"\s+")


def collapse_whitespace(text: str) -> str:
    """Replace any whitespace run (newlines, tabs, nbsp) by one space and strip the ends."""
    return _WHITESPACE_RE.sub(" ", text).strip()


# Lyrics scraped from the web are full of typographic characters that the
# vocabulary may not contain; map them to their plain ASCII equivalents.
_TYPOGRAPHY = str.maketrans(
    {
        "\u2018": "'",  # left single quote
        "\u2019": "'",  # right single quote / apostrophe
        "\u02bc": "'",  # modifier letter apostrophe
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2026": "...",  # ellipsis
        "\u00a0": " ",  # no-break space
        "\u200b": "",  # zero-width space
        "\ufeff": "",  # byte-order mark
    }
)


def normalize_typography(text: str) -> str:
    """Unicode NFC plus curly quotes, dashes and ellipsis mapped to ASCII."""
    return unicodedata.normalize("NFC", text).translate(_TYPOGRAPHY)


# Letters that Unicode does not decompose into a base letter plus accents, and punctuation with a
# plain equivalent.  Double quotes and inverted marks go to "" (cleaning drops quotes anyway).
_LATIN_READINGS = {
    "ß": "ss",
    "ẞ": "ss",
    "ø": "o",
    "Ø": "o",
    "æ": "ae",
    "Æ": "ae",
    "œ": "oe",
    "Œ": "oe",
    "ł": "l",
    "Ł": "l",
    "đ": "d",
    "Đ": "d",
    "ð": "d",
    "Ð": "d",
    "þ": "th",
    "Þ": "th",
    "ı": "i",
    "ħ": "h",
    "Ħ": "h",
    "ŧ": "t",
    "ŋ": "ng",
    "ĸ": "k",
    "ſ": "s",
    "ƒ": "f",
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u02bc": "'",
    "`": "'",
    "´": "'",
    "\u2039": "",
    "\u203a": "",
    "«": "",
    "»": "",
    "\u201c": "",
    "\u201d": "",
    "\u201e": "",
    "\u2033": "",
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    "¡": "",
    "¿": "",
    "·": "",
    "\u2026": "...",
}


def latin_reading(char: str) -> str | None:
    """The plain-Latin spelling of one character, or ``None`` if it has none.

    ``"é"`` -> ``"e"``, ``"ñ"`` -> ``"n"``, ``"ß"`` -> ``"ss"``, ``"ø"`` -> ``"o"``, ``"æ"`` ->
    ``"ae"``, ``"’"`` -> ``"'"``; CJK, emoji and the like give ``None``.
    """
    if char in _LATIN_READINGS:
        return _LATIN_READINGS[char]
    # Compatibility decomposition splits "é" into "e" + a combining accent (and "ﬁ" into "fi");
    # dropping the combining marks leaves the base letters.
    base = "".join(part for part in unicodedata.normalize("NFKD", char) if not unicodedata.combining(part))
    return base if base and base.isascii() and base.isalpha() else None


def transliterate(text: str, keep=None) -> str:
    """Replace the characters of ``text`` that have a plain-Latin reading (see :func:`latin_reading`).

    ``keep(char) -> bool`` spares characters (e.g. those a vocabulary already has); a reading is
    used only if every one of its characters passes ``keep`` too, so it never trades a character
    for another unusable one.  Characters without a reading are left for the caller to report.
    """
    changed = {}
    for char in set(text):
        if char.isascii() or (keep is not None and keep(char)):
            continue
        reading = latin_reading(char)
        if reading is not None and (keep is None or all(keep(part) for part in reading)):
            changed[char] = reading
    if not changed:
        return text
    return collapse_whitespace("".join(changed.get(char, char) for char in text))


def clean_lyrics(text: str, lang: str = "en") -> str:
    """Normalize lyrics into the form the VoiceBPE vocabulary expects.

    Steps, in order: typography normalization, lower case, then for English
    currency, clock times, numbers, abbreviations and symbols are spelled out;
    finally brackets/double quotes are removed and whitespace is collapsed.

    >>> clean_lyrics("Mr. Brown paid $5.50 on the 1st of May, 1999!")
    'mister brown paid five dollars and fifty cents on the first of may, nineteen ninety nine!'
    """
    if not isinstance(text, str):
        raise ValueError(f"clean_lyrics expects a str, got {type(text).__name__}; convert the lyrics to text first.")
    text = normalize_typography(text).lower()
    if lang == "en":
        text = expand_currency(text)
        text = expand_times(text)
        text = expand_abbreviations(text)
        text = expand_numbers(text)
        text = expand_symbols(text)
    text = remove_aux_symbols(text)
    return collapse_whitespace(text)


# ----------------------------------------------------------------------------------------------------
# The structure of a song's lyrics: its sections (``[verse]``, ``[chorus]``, ...) and the lines sung in each.
#
# Section tags are structure, never words: nothing in square brackets is sung or reaches the lyrics encoder.
# The rule, whatever the tag says:
#
# * a line that is only a bracketed tag (``[verse]``, ``[Chorus 2]``, ``[pre-chorus: both]``) starts a section;
#   a known name (:data:`SECTION_KINDS`, spelling variants included) gives its ``kind``; any other tag
#   (``[guitar solo]``, ``[spoken]``) starts a section of kind ``"other"`` that keeps its label;
# * a tag at the start of a sung line (``[chorus] hold on``) starts a section in the same way, and the rest of
#   the line is sung;
# * bracketed text elsewhere in a line (``hold on [x2]``) is a performance note: dropped, the words around it
#   are sung;
# * lines before the first tag form a section of kind ``None`` (untagged lyrics: one such section);
# * what follows a colon in a tag (``[chorus: anthemic, at 140 bpm]``) is the section's *note*: how it is played,
#   which a song longer than one window reads as that section's description (``Section.note``);
# * parentheses are words (backing vocals such as ``(oh oh)`` are sung), as are all other characters.
#
# :func:`parse_song_structure` is the one parser: the lyrics tokenizer reads :meth:`SongStructure.sung_text`,
# the processor's ``interpret`` reports :meth:`SongStructure.to_list`, and the singer's score sings
# :attr:`SongStructure.lines`.

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

    @property
    def note(self) -> str:
        """What follows the first colon of the tag (``"anthemic, at 140 bpm"`` of ``[chorus: anthemic, at 140 bpm]``),
        ``""`` without one."""
        return section_note(self.label)


def section_note(label: str) -> str:
    """The note of a section tag's text: what follows its first colon, stripped (``""`` without one)."""
    return label.split(":", 1)[1].strip() if ":" in label else ""


@dataclass(frozen=True)
class SongStructure:
    """The sections of one song's lyrics, in order (sections without sung lines included: ``[intro]``)."""

    sections: tuple[Section, ...]
    # the lyrics as written, less their tags: untagged lyrics are kept exactly (blank lines included)
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


VOCAB_FILE_NAME = "vocab.json"
STOP_TOKEN = "[STOP]"
UNK_TOKEN = "[UNK]"
SPACE_TOKEN = "[SPACE]"
START_TOKEN = "[START]"
REQUIRED_SPECIAL_TOKENS = (STOP_TOKEN, UNK_TOKEN, SPACE_TOKEN, START_TOKEN)

# Language tags look like "[en]", "[zh-cn]": lower case, unlike the upper-case
# control tokens above.
_LANGUAGE_TAG_RE = re.compile(r"^\[([a-z]{2,3}(?:-[a-z]+)?)\]$")

# Characters that survive English cleaning. Seeding the BPE alphabet with them
# keeps a small training corpus from leaving common punctuation as [UNK].
_DEFAULT_ALPHABET = list("abcdefghijklmnopqrstuvwxyz") + list(".,!?'-:;")


def _language_tag(lang: str) -> str:
    return f"[{lang}]"


def _write_text_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so readers never see a half-written file."""
    from songgen_hf.utils.atomic import write_text_atomic  # staged, fsynced, renamed; plain umask permissions

    write_text_atomic(path, text)


def _resolve_vocab_path(folder_or_file: str | os.PathLike) -> str:
    path = os.fspath(folder_or_file)
    if os.path.isdir(path):
        path = os.path.join(path, VOCAB_FILE_NAME)
    if not os.path.isfile(path):
        raise ValueError(
            f"VoiceBPE vocab file not found at {path!r}. Pass the path of a tokenizers "
            f"'{VOCAB_FILE_NAME}' or a folder that contains one (train one with train_voicebpe_vocab)."
        )
    return path


def _parse_vocab_json(raw_json: str, source: str) -> Tokenizer:
    """Validate the serialized ``tokenizers`` JSON and build the Tokenizer."""
    hint = (
        "Expected the full tokenizers serialization (Tokenizer.to_str()/Tokenizer.save()) with a "
        "BPE model holding 'vocab' and 'merges'."
    )
    try:
        data = json.loads(raw_json)
    except json.JSONDecodeError as error:
        raise ValueError(f"VoiceBPE vocab {source!r} is not valid JSON ({error}). {hint}") from None
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or "vocab" not in model or "merges" not in model:
        raise ValueError(
            f"VoiceBPE vocab {source!r} is not in the tokenizers JSON format: no 'model' with "
            f"'vocab' and 'merges'. A plain token->id mapping is not enough. {hint}"
        )
    if model.get("type", "BPE") != "BPE":
        raise ValueError(f"VoiceBPE vocab {source!r} holds a {model['type']!r} model, not BPE. {hint}")
    pre_tokenizer = data.get("pre_tokenizer")
    if not (isinstance(pre_tokenizer, dict) and pre_tokenizer.get("type") == "Whitespace"):
        # Still usable, but ids will not match the reference VoiceBPE pipeline.
        warnings.warn(
            f"VoiceBPE vocab {source!r} does not use a Whitespace pre-tokenizer "
            f"(found {pre_tokenizer!r}); token ids may differ from SongGen's.",
            stacklevel=3,
        )
    try:
        return Tokenizer.from_str(raw_json)
    except Exception as error:  # tokenizers raises its own Exception subclass
        raise ValueError(f"tokenizers could not load VoiceBPE vocab {source!r}: {error}. {hint}") from None


class VoiceBpeTokenizer:
    """Lyrics tokenizer: cleaning + ``[lang]`` prefix + ``[SPACE]`` convention + BPE.

    Padding: batches are right-padded with the ``[STOP]`` id (0 in the real
    vocabulary), matching SongGen, which pads lyrics with id 0; the
    ``attention_mask`` marks real tokens (including ``[START]``/``[STOP]``) with 1.
    """

    vocab_file_name = VOCAB_FILE_NAME
    padding_side = "right"

    def __init__(self, vocab_file: str | os.PathLike):
        self.vocab_file = _resolve_vocab_path(vocab_file)
        # kept verbatim so save_pretrained reproduces the original file byte for byte
        self._raw_json = read_text(self.vocab_file, "the tokenizer vocabulary", max_bytes=MAX_VOCAB_FILE_BYTES)
        self._tokenizer = _parse_vocab_json(self._raw_json, self.vocab_file)

        vocab = self._tokenizer.get_vocab(with_added_tokens=True)
        missing = [token for token in REQUIRED_SPECIAL_TOKENS if token not in vocab]
        if missing:
            raise ValueError(
                f"VoiceBPE vocab {self.vocab_file!r} lacks required special tokens {missing}. "
                f"The vocabulary must contain {list(REQUIRED_SPECIAL_TOKENS)} plus language tags such "
                "as '[en]'; retrain it with train_voicebpe_vocab, which reserves them."
            )
        self._language_ids = {
            match.group(1): token_id for token, token_id in vocab.items() if (match := _LANGUAGE_TAG_RE.match(token))
        }
        self._register_special_tokens(vocab)
        self._special_ids = (
            frozenset(
                token_id for token_id, token in self._tokenizer.get_added_tokens_decoder().items() if token.special
            )
            | {vocab[token] for token in REQUIRED_SPECIAL_TOKENS}
            | set(self._language_ids.values())
        )

    def _register_special_tokens(self, vocab: dict[str, int]) -> None:
        """Make sure control tokens and language tags are matched whole.

        If they only lived in the BPE vocab, the Whitespace pre-tokenizer would
        split "[SPACE]" into "[", "SPACE", "]". Registering a token that already
        has an id reuses that id, so the vocabulary size does not change.
        """
        registered = {token.content for token in self._tokenizer.get_added_tokens_decoder().values()}
        wanted = list(REQUIRED_SPECIAL_TOKENS) + [_language_tag(lang) for lang in sorted(self._language_ids)]
        to_add = [token for token in wanted if token not in registered]
        if to_add:
            self._tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in to_add])

    # ------------------------------------------------------------------ I/O

    @classmethod
    def from_pretrained(cls, folder_or_file: str | os.PathLike) -> VoiceBpeTokenizer:
        """Load from a ``vocab.json`` file or a folder containing one (local only)."""
        return cls(folder_or_file)

    def save_pretrained(self, save_directory: str | os.PathLike) -> str:
        """Write ``vocab.json`` into ``save_directory`` atomically; returns its path."""
        save_directory = os.fspath(save_directory)
        if os.path.isfile(save_directory):
            raise ValueError(f"save_pretrained expects a folder, but {save_directory!r} is a file.")
        path = os.path.join(save_directory, VOCAB_FILE_NAME)
        _write_text_atomically(path, self._raw_json)
        return path

    # ------------------------------------------------------- special tokens

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def __len__(self) -> int:
        return self.vocab_size

    def _required_id(self, token: str) -> int:
        return self._tokenizer.token_to_id(token)

    @property
    def start_token_id(self) -> int:
        return self._required_id(START_TOKEN)

    @property
    def stop_token_id(self) -> int:
        return self._required_id(STOP_TOKEN)

    @property
    def space_token_id(self) -> int:
        return self._required_id(SPACE_TOKEN)

    @property
    def unk_token_id(self) -> int:
        return self._required_id(UNK_TOKEN)

    @property
    def pad_token_id(self) -> int:
        """SongGen pads lyrics with 0, which is ``[STOP]`` in the real vocabulary."""
        return self.stop_token_id

    @property
    def languages(self) -> list[str]:
        """Language codes that have a ``[lang]`` tag in the vocabulary."""
        return sorted(self._language_ids)

    def lang_token_id(self, lang: str) -> int:
        """Id of the ``[lang]`` tag; ``ValueError`` if the vocabulary has no such tag."""
        if not isinstance(lang, str) or lang not in self._language_ids:
            raise ValueError(
                f"Unknown language {lang!r}: the vocab has no '[{lang}]' tag. Use one of {self.languages}."
            )
        return self._language_ids[lang]

    # ------------------------------------------------------- encode/decode

    def encode(self, text: str, lang: str = "en") -> list[int]:
        """Clean ``text``, prefix ``[lang]``, map spaces to ``[SPACE]`` and run BPE.

        No ``[START]``/``[STOP]`` framing; see :meth:`frame_lyrics` for that.
        """
        if not isinstance(text, str):
            raise ValueError(f"Lyrics must be a str, got {type(text).__name__}; join lines with '\\n' first.")
        self.lang_token_id(lang)  # validate before doing any work
        prepared = (_language_tag(lang) + self._clean(text, lang)).replace(" ", SPACE_TOKEN)
        return self._tokenizer.encode(prepared, add_special_tokens=False).ids

    def _has_token(self, char: str) -> bool:
        return self._tokenizer.token_to_id(char) is not None

    def _clean(self, text: str, lang: str) -> str:
        """:func:`clean_lyrics`, then letters the vocabulary lacks spelled in plain Latin ("é" -> "e").

        Only missing characters are replaced, so a vocabulary that has "é" (the multilingual
        XTTS one) reads it as it is; one without it reads "e" instead of [UNK].
        """
        return transliterate(clean_lyrics(text, lang=lang), keep=self._has_token)

    def clean(self, lyrics: str, lang: str = "en") -> str:
        """The lyrics as the model reads them: section tags left out (:func:`parse_song_structure`), cleaned,
        transliterated, lines joined by ".".

        ``"Corazón, 2 times\\nOlé"`` -> ``"corazon, two times.ole"``; ``""`` for no lyrics.
        """
        if not isinstance(lyrics, str):
            raise ValueError(f"Lyrics must be a str, got {type(lyrics).__name__}; join lines with '\\n' first.")
        lyrics = sung_lyrics(lyrics).strip()  # section tags are structure, never words
        return self._clean(lyrics.replace("\n", "."), lang) if lyrics else ""

    def char_token_indices(self, lyrics: str, lang: str = "en") -> tuple[str, list[int]]:
        """The lyrics as the model reads them (:meth:`clean`) and, for each of their characters, the index of the
        token of :meth:`frame_lyrics` that holds it (``[START]`` is index 0): where a sung syllable sits among the
        lyric tokens."""
        cleaned = self.clean(lyrics, lang)
        if not cleaned:
            return "", []
        tag = _language_tag(lang)
        prepared = (tag + cleaned).replace(" ", SPACE_TOKEN)
        owner = [0] * len(prepared)
        for index, (start, end) in enumerate(self._tokenizer.encode(prepared, add_special_tokens=False).offsets):
            owner[start:end] = [index + 1] * (end - start)  # + 1: [START] comes first
        indices, at = [], len(tag)
        for char in cleaned:
            indices.append(owner[at])
            at += len(SPACE_TOKEN) if char == " " else 1
        return cleaned, indices

    def decode(self, ids: Iterable[int]) -> str:
        """Turn ids back into text: ``[SPACE]`` becomes " ", other special tokens are dropped.

        Accepts a list of ints or a 1-D tensor/array. Since BPE pieces carry no
        word-boundary markers, pieces are concatenated directly.
        """
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        pieces = []
        for token_id in ids:
            if isinstance(token_id, bool) or not isinstance(token_id, numbers.Integral):
                raise ValueError(f"decode expects integer ids, got {token_id!r}.")
            token_id = int(token_id)
            token = self._tokenizer.id_to_token(token_id)
            if token is None:
                raise ValueError(f"Token id {token_id} is outside the vocabulary (size {self.vocab_size}).")
            if token_id == self.space_token_id:
                pieces.append(" ")
            elif token_id not in self._special_ids:
                pieces.append(token)
        return "".join(pieces)

    def frame_lyrics(self, lyrics: str, lang: str = "en") -> list[int]:
        """SongGen's lyric ids: ``[START] + encode(lyrics with "\\n" -> ".") + [STOP]``, section tags left out.

        Empty (or whitespace-only) lyrics give ``[START, STOP]`` without a
        language tag, as in the reference preprocessing. Windows line endings
        are treated as plain newlines.
        """
        if not isinstance(lyrics, str):
            raise ValueError(f"Lyrics must be a str, got {type(lyrics).__name__}; join lines with '\\n' first.")
        lyrics = sung_lyrics(lyrics).strip()  # section tags are structure, never words
        if not lyrics:
            return [self.start_token_id, self.stop_token_id]
        body = self.encode(lyrics.replace("\n", "."), lang=lang)
        return [self.start_token_id, *body, self.stop_token_id]

    def unknown_characters(self, lyrics: str, lang: str = "en") -> list[str]:
        """Characters of ``lyrics`` that still become ``[UNK]`` after cleaning, each once, in order.

        Prepared exactly as :meth:`frame_lyrics` does, so an empty list means every character of
        the cleaned lyrics has a token.  (Cleaning already spells out digits and common symbols.)
        """
        if not isinstance(lyrics, str):
            raise ValueError(f"Lyrics must be a str, got {type(lyrics).__name__}; join lines with '\\n' first.")
        lyrics = sung_lyrics(lyrics).strip()  # section tags are structure, never words
        if not lyrics:
            return []
        self.lang_token_id(lang)
        prepared = (_language_tag(lang) + self._clean(lyrics.replace("\n", "."), lang)).replace(" ", SPACE_TOKEN)
        encoding = self._tokenizer.encode(prepared, add_special_tokens=False)
        unknown = self.unk_token_id
        spans = [
            prepared[start:end] for token_id, (start, end) in zip(encoding.ids, encoding.offsets) if token_id == unknown
        ]
        return list(dict.fromkeys(char for span in spans for char in span))  # a fused [UNK] may span several

    def __call__(
        self,
        lyrics: str | Sequence[str],
        padding: bool | str = True,
        max_length: int | None = None,
        truncation: bool = False,
        return_tensors: str | None = "pt",
        lang: str = "en",
    ) -> dict:
        """Frame and pad a lyric string or a batch of them.

        Returns ``{"input_ids", "attention_mask"}``. ``padding``: ``True`` /
        ``"longest"`` pads to the longest item, ``"max_length"`` pads to
        ``max_length``, ``False`` / ``"do_not_pad"`` leaves lengths ragged
        (only allowed with ``return_tensors=None``). Padding is on the right
        with :attr:`pad_token_id`. Items longer than ``max_length`` raise
        unless ``truncation=True``, which cuts them but keeps the final
        ``[STOP]``. A single string gives a batch of one when returning
        tensors, and flat lists otherwise (the Hugging Face convention).
        """
        is_single = isinstance(lyrics, str)
        batch = [lyrics] if is_single else lyrics
        if not isinstance(batch, (list, tuple)):
            raise ValueError(f"Lyrics must be a str or a list of str, got {type(lyrics).__name__}.")
        for index, item in enumerate(batch):
            if not isinstance(item, str):
                raise ValueError(
                    f"Lyrics item {index} is a {type(item).__name__}, not a str; "
                    "pass one string per song (use '' for songs without lyrics)."
                )
        if return_tensors not in (None, "pt"):
            raise ValueError(f"return_tensors must be 'pt' or None, got {return_tensors!r}.")
        if padding in (True, "longest"):
            pad_to = "longest"
        elif padding == "max_length":
            pad_to = "max_length"
        elif padding in (False, "do_not_pad"):
            pad_to = None
        else:
            raise ValueError(f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad', got {padding!r}.")
        valid_max_length = isinstance(max_length, int) and not isinstance(max_length, bool) and max_length >= 2
        if max_length is not None and not valid_max_length:
            raise ValueError(f"max_length must be an int >= 2 (room for [START] and [STOP]), got {max_length!r}.")
        if pad_to == "max_length" and max_length is None:
            raise ValueError("padding='max_length' needs max_length; pass max_length=<int> or use padding=True.")

        sequences = [
            self._fit_length(self.frame_lyrics(item, lang=lang), index, max_length, truncation)
            for index, item in enumerate(batch)
        ]

        if pad_to is None:
            if return_tensors == "pt" and len({len(ids) for ids in sequences}) > 1:
                raise ValueError("Ragged lyrics cannot become one tensor; use padding=True or return_tensors=None.")
            masks = [[1] * len(ids) for ids in sequences]
        else:
            target = max_length if pad_to == "max_length" else max(len(ids) for ids in sequences)
            masks = [[1] * len(ids) + [0] * (target - len(ids)) for ids in sequences]
            sequences = [ids + [self.pad_token_id] * (target - len(ids)) for ids in sequences]

        if return_tensors == "pt":
            import torch  # optional dependency, only needed for tensors

            return {
                "input_ids": torch.tensor(sequences, dtype=torch.long),
                "attention_mask": torch.tensor(masks, dtype=torch.long),
            }
        if is_single:
            return {"input_ids": sequences[0], "attention_mask": masks[0]}
        return {"input_ids": sequences, "attention_mask": masks}

    def _fit_length(self, ids: list[int], index: int, max_length: int | None, truncation: bool) -> list[int]:
        if max_length is None or len(ids) <= max_length:
            return ids
        if not truncation:
            raise ValueError(
                f"Lyrics item {index} is {len(ids)} tokens long (with [START]/[STOP]), more than "
                f"max_length={max_length}. Shorten the lyrics, raise max_length, or pass truncation=True."
            )
        return ids[: max_length - 1] + [self.stop_token_id]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(vocab_file={self.vocab_file!r}, vocab_size={self.vocab_size}, "
            f"languages={self.languages})"
        )


def train_voicebpe_vocab(
    texts: Iterable[str],
    vocab_size: int,
    path: str | os.PathLike,
    *,
    languages: Sequence[str] = ("en",),
    min_frequency: int = 2,
    clean_lang: str = "en",
) -> VoiceBpeTokenizer:
    """Train a VoiceBPE vocabulary on lyric lines and save it as ``vocab.json``.

    Texts are cleaned with :func:`clean_lyrics` exactly as :meth:`VoiceBpeTokenizer.encode`
    does. The specials are reserved first, in the real vocabulary's order
    (``[STOP]``=0, ``[UNK]``=1, ``[SPACE]``=2), then ``[START]`` and one
    ``[lang]`` tag per entry of ``languages``.

    About ``[SPACE]``: ``tokenizers`` training does not split on added tokens,
    so text with literal "[SPACE]" would teach merges like "SPAC". Training on
    the cleaned text with ordinary spaces is equivalent: the Whitespace
    pre-tokenizer cuts words at spaces during training exactly where
    ``[SPACE]`` cuts them at encode time, so no merge can cross a space.

    ``path`` is a folder (``vocab.json`` is written inside) or a ``.json``
    file path. The file is written atomically. Returns the loaded tokenizer.
    """
    if isinstance(texts, str):
        raise ValueError("texts must be an iterable of lyric strings, not a single str; wrap it in a list.")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}.")
    language_tags = []
    for lang in languages:
        if not isinstance(lang, str) or not _LANGUAGE_TAG_RE.match(_language_tag(lang)):
            raise ValueError(f"Language code {lang!r} must be lower case like 'en' or 'zh-cn'.")
        language_tags.append(_language_tag(lang))
    if not language_tags:
        raise ValueError("languages must contain at least one code, e.g. ('en',).")
    special_tokens = [STOP_TOKEN, UNK_TOKEN, SPACE_TOKEN, START_TOKEN, *language_tags]

    def cleaned_lines():
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(f"texts item {index} is a {type(text).__name__}, not a str.")
            yield clean_lyrics(text, lang=clean_lang)

    tokenizer = Tokenizer(models.BPE(unk_token=UNK_TOKEN))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[AddedToken(token, special=True, normalized=False) for token in special_tokens],
        initial_alphabet=_DEFAULT_ALPHABET,
        show_progress=False,
    )
    tokenizer.train_from_iterator(cleaned_lines(), trainer=trainer)

    target = os.fspath(path)
    if not target.endswith(".json") or os.path.isdir(target):
        target = os.path.join(target, VOCAB_FILE_NAME)
    _write_text_atomically(target, tokenizer.to_str())
    return VoiceBpeTokenizer(target)


# ----------------------------------------------------------------------------------------------------
# Training a T5-style description tokenizer from scratch.
#
# Released SongGen checkpoints use FLAN-T5's SentencePiece tokenizer, which ships with them.
# Where no pretrained text encoder exists (our embedded default model, offline tests), a small
# text encoder is trained from scratch and needs a tokenizer with T5's conventions:
# ``<pad>`` = 0, ``</s>`` = 1, ``<unk>`` = 2, ``</s>`` appended to every text, right padding.
# This builds one with the ``tokenizers`` Unigram trainer (the algorithm behind T5's
# SentencePiece model) or its BPE trainer, and wraps it as a ``PreTrainedTokenizerFast`` so it
# saves, loads and pads like any transformers tokenizer.
#
# Why BPE is offered: on a small closed-vocabulary corpus (the synthetic one has ~260 distinct
# words) the Unigram trainer stops far below the requested size and keeps pieces such as
# "thi" + "s" or "11" + "3", so a tempo is spread over two tokens.  BPE keeps merging until the
# vocabulary is full, which turns every frequent word and number into one token while unseen
# words still fall back to sub-words.

SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>")


def train_description_tokenizer(
    texts: Iterable[str], vocab_size: int = 2000, save_directory: str | Path | None = None, algorithm: str = "unigram"
) -> PreTrainedTokenizerFast:
    """Train a Unigram (default) or BPE tokenizer on ``texts`` with T5's special tokens and post-processing."""
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise ValueError("train_description_tokenizer needs at least one non-empty text.")
    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {vocab_size}.")
    if algorithm not in ("unigram", "bpe"):
        raise ValueError(f"algorithm must be 'unigram' or 'bpe', got {algorithm!r}.")
    tokenizer = Tokenizer(models.Unigram() if algorithm == "unigram" else models.BPE(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    if algorithm == "bpe":  # "piano," and "piano" should be one word plus a comma, not two words
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()])
    tokenizer.decoder = decoders.Metaspace()
    if algorithm == "unigram":
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), unk_token="<unk>", shrinking_factor=0.75
        )
    else:
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    eos = tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", eos)]
    )
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        padding_side="right",
        model_max_length=512,
    )
    if save_directory is not None:
        wrapped.save_pretrained(save_directory)
    return wrapped


__all__ = [
    "clean_lyrics",
    "collapse_whitespace",
    "decimal_to_words",
    "digits_to_words",
    "expand_abbreviations",
    "expand_currency",
    "expand_numbers",
    "expand_symbols",
    "expand_times",
    "latin_reading",
    "normalize_typography",
    "number_to_words",
    "ordinal_to_words",
    "parse_song_structure",
    "section_note",
    "remove_aux_symbols",
    "Section",
    "section_kind",
    "SECTION_KINDS",
    "SongStructure",
    "SPACE_TOKEN",
    "SPECIAL_TOKENS",
    "START_TOKEN",
    "STOP_TOKEN",
    "sung_lyrics",
    "train_description_tokenizer",
    "train_voicebpe_vocab",
    "transliterate",
    "UNK_TOKEN",
    "VOCAB_FILE_NAME",
    "VoiceBpeTokenizer",
    "year_to_words",
]
