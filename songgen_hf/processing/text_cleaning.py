"""Lyrics text cleaning for the VoiceBPE tokenizer.

The VoiceBPE vocabulary was built from cleaned, lower-case text in which
numbers, abbreviations and most symbols are already written out as words.
Feeding it raw digits or symbols would hit rare or unknown tokens, so every
lyric line goes through :func:`clean_lyrics` before BPE.

Everything here is pure Python and deterministic: the same input always gives
the same output, which keeps preprocessed datasets reproducible.

English (``lang="en"``) gets the full rule set. Other languages only get the
language-neutral steps (typography, lower case, bracket/quote removal and
whitespace collapse) because number and abbreviation reading is language
specific.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "clean_lyrics",
    "normalize_typography",
    "number_to_words",
    "ordinal_to_words",
    "year_to_words",
    "decimal_to_words",
    "digits_to_words",
    "expand_currency",
    "expand_times",
    "expand_numbers",
    "expand_abbreviations",
    "expand_symbols",
    "remove_aux_symbols",
    "collapse_whitespace",
    "latin_reading",
    "transliterate",
]

# ---------------------------------------------------------------------------
# Number words
# ---------------------------------------------------------------------------

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
