"""Hand-written expectations for the English lyrics cleaning rules."""

import pytest

from songgen_hf.modeling.songgen.tokenization_songgen import (
    clean_lyrics,
    decimal_to_words,
    number_to_words,
    ordinal_to_words,
    year_to_words,
)

# each reader of numbers, and what it must say for them
NUMBER_WORDS = {
    number_to_words: [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (40, "forty"),
        (99, "ninety nine"),
        (100, "one hundred"),
        (105, "one hundred five"),
        (999, "nine hundred ninety nine"),
        (1000, "one thousand"),
        (10_001, "ten thousand one"),
        (1_000_000, "one million"),
        (2_500_000_017, "two billion five hundred million seventeen"),
        (7_000_000_000_000, "seven trillion"),
        (-42, "minus forty two"),
        (10**15, "one zero zero zero zero zero zero zero zero zero zero zero zero zero zero zero"),
    ],
    ordinal_to_words: [
        (1, "first"),
        (2, "second"),
        (3, "third"),
        (5, "fifth"),
        (8, "eighth"),
        (9, "ninth"),
        (11, "eleventh"),
        (12, "twelfth"),
        (20, "twentieth"),
        (21, "twenty first"),
        (100, "one hundredth"),
        (1_000_000, "one millionth"),
    ],
    year_to_words: [
        (1999, "nineteen ninety nine"),
        (1969, "nineteen sixty nine"),
        (1905, "nineteen oh five"),
        (1900, "nineteen hundred"),
        (2000, "two thousand"),
        (2007, "two thousand seven"),
        (2010, "twenty ten"),
        (2024, "twenty twenty four"),
        (1066, "ten sixty six"),
    ],
}


@pytest.mark.parametrize(
    "to_words, number, words",
    [
        pytest.param(to_words, number, words, id=f"{to_words.__name__}-{number}")
        for to_words, cases in NUMBER_WORDS.items()
        for number, words in cases
    ],
)
def test_numbers_read_as_words(to_words, number, words):
    assert to_words(number) == words


def test_decimal_to_words():
    assert decimal_to_words("3.14") == "three point one four"
    assert decimal_to_words("-0.5") == "minus zero point five"
    assert decimal_to_words(".75") == "point seven five"


@pytest.mark.parametrize(
    "raw, cleaned",
    [
        # Lower case, whitespace collapse, newlines become spaces.
        ("  Hello   WORLD \n\t again ", "hello world again"),
        # Cardinals, years, grouped thousands, leading zeros, glued digits.
        ("99 problems", "ninety nine problems"),
        ("Summer of 1969", "summer of nineteen sixty nine"),
        ("back in 2007", "back in two thousand seven"),
        ("1500 miles", "fifteen hundred miles"),
        ("1,000,000 reasons", "one million reasons"),
        ("1,999 days", "one thousand nine hundred ninety nine days"),
        ("agent 007", "agent zero zero seven"),
        ("b4 you go", "b four you go"),
        # Punctuation right after a number gets no extra space.
        ("Party like it's 1999!", "party like it's nineteen ninety nine!"),
        # Ordinals.
        ("the 1st, 2nd and 3rd time", "the first, second and third time"),
        ("my 21st birthday", "my twenty first birthday"),
        # Decimals and negatives; a hyphen between numbers is not a minus.
        ("3.14 times", "three point one four times"),
        ("it's -5 outside", "it's minus five outside"),
        ("from 5-10", "from five-ten"),
        # Framing turns newlines into "." -> must not become a decimal.
        ("line one.2 times", "line one.two times"),
        # Currency.
        ("$5.50", "five dollars and fifty cents"),
        ("only $1", "only one dollar"),
        ("$0.99 each", "ninety nine cents each"),
        ("$100 bills", "one hundred dollars bills"),
        ("$2 million", "two million dollars"),
        ("$1.5 billion", "one point five billion dollars"),
        ("£3.20", "three pounds and twenty pence"),
        ("€2", "two euros"),
        # Times.
        ("at 3:30", "at three thirty"),
        ("12:05 in the morning", "twelve oh five in the morning"),
        ("10:00 sharp", "ten o'clock sharp"),
        ("10:00pm", "ten p m"),
        ("7 a.m. again", "seven a m again"),
        # Decades.
        ("the '90s", "the nineties"),
        ("1980s kids", "nineteen eighties kids"),
        ("in my 30s", "in my thirties"),
        # Abbreviations.
        ("Mr. Brightside", "mister brightside"),
        ("Mr Jones and Mrs. Robinson", "mister jones and missus robinson"),
        ("Dr. Dre", "doctor dre"),
        ("St. Louis blues", "saint louis blues"),
        ("Sammy Davis Jr.", "sammy davis junior"),
        ("us vs. them", "us versus them"),
        ("no. 5", "number five"),
        ("I said no.", "i said no."),
        # Symbols.
        ("rock & roll", "rock and roll"),
        ("rock&roll", "rock and roll"),
        ("100% pure", "one hundred percent pure"),
        ("meet me @ the bar", "meet me at the bar"),
        ("#1 hit", "number one hit"),
        ("#blessed", "hash blessed"),
        ("1 + 1", "one plus one"),
        ("24/7", "twenty four seven"),
        ("90°", "ninety degrees"),
        # Brackets/quotes vanish, so lyrics can never spell a special token.
        ('[Chorus] "Hey" (hey)', "chorus hey hey"),
        ("[SPACE] [en]", "space en"),
        # Typography.
        ("Don\u2019t stop\u2026", "don't stop..."),
    ],
)
def test_clean_lyrics_english(raw, cleaned):
    assert clean_lyrics(raw) == cleaned


def test_clean_lyrics_is_idempotent_on_cleaned_text():
    once = clean_lyrics("Mr. Brown paid $5.50 on the 1st of May, 1999 & left @ 7pm!")
    assert once == (
        "mister brown paid five dollars and fifty cents on the first of may, "
        "nineteen ninety nine and left at seven p m!"
    )
    assert clean_lyrics(once) == once


def test_non_english_only_gets_language_neutral_rules():
    assert clean_lyrics("Tengo 5 AÑOS  [coro]", lang="es") == "tengo 5 años coro"


def test_clean_lyrics_rejects_non_string():
    with pytest.raises(ValueError, match="expects a str"):
        clean_lyrics(None)
