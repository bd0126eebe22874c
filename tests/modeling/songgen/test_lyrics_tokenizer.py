"""VoiceBpeTokenizer tests on vocabularies built in-process (no downloads)."""

import json
import os
import random

import pytest
import torch
from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers

from songgen_hf.modeling.songgen.tokenization_songgen import VoiceBpeTokenizer, clean_lyrics, train_voicebpe_vocab

_WORDS = (
    "love heart night baby dance fire light dream forever tonight rain home road "
    "sky sun moon we you i me my your the a and in on to of with never always "
    "burning falling running shine cry hold tight free wild young gone again"
).split()
_EXTRAS = ["99", "1st", "$5.50", "1999", "Mr.", "Dr.", "&", "100%", "3:30", "'90s", "!", "?", ",", "..."]


def _synthetic_lyrics(count=300, seed=0):
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(3, 9))]
        if rng.random() < 0.4:
            words.insert(rng.randrange(len(words) + 1), rng.choice(_EXTRAS))
        line = " ".join(words)
        lines.append(line.capitalize() if rng.random() < 0.5 else line)
    return lines


@pytest.fixture(scope="module")
def vocab_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("voicebpe")
    train_voicebpe_vocab(_synthetic_lyrics(), vocab_size=300, path=folder, languages=("en", "es"), min_frequency=2)
    return folder


@pytest.fixture(scope="module")
def tokenizer(vocab_dir):
    return VoiceBpeTokenizer.from_pretrained(vocab_dir)


def _save_handmade_vocab(path, register_specials=True):
    """A tiny vocab in the exact tokenizers serialization, ids laid out like XTTS."""
    vocab = {
        "[STOP]": 0,
        "[UNK]": 1,
        "[SPACE]": 2,
        "a": 3,
        "b": 4,
        "c": 5,
        "h": 6,
        "i": 7,
        "o": 8,
        "!": 9,
        "hi": 10,
        "ab": 11,
        "abc": 12,
        "[en]": 13,
        "[START]": 14,
        "[es]": 15,
    }
    merges = [("h", "i"), ("a", "b"), ("ab", "c")]
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    if register_specials:
        specials = ["[STOP]", "[UNK]", "[SPACE]", "[en]", "[START]", "[es]"]
        tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    tokenizer.save(str(path))
    return path


# ---------------------------------------------------------------- training


def test_trained_vocab_reserves_specials_in_reference_order(tokenizer, vocab_dir):
    assert (tokenizer.stop_token_id, tokenizer.unk_token_id, tokenizer.space_token_id) == (0, 1, 2)
    assert tokenizer.start_token_id == 3
    assert tokenizer.lang_token_id("en") == 4 and tokenizer.lang_token_id("es") == 5
    assert tokenizer.pad_token_id == 0
    assert tokenizer.languages == ["en", "es"]
    data = json.loads((vocab_dir / "vocab.json").read_text())
    assert data["model"]["type"] == "BPE" and data["pre_tokenizer"]["type"] == "Whitespace"
    assert tokenizer.vocab_size == len(data["model"]["vocab"]) == len(tokenizer)
    assert len(data["model"]["merges"]) > 0
    # Training on spaced text must not learn pieces of "[SPACE]" or raw digits.
    learned = [t for t in data["model"]["vocab"] if not t.startswith("[")]
    assert not any(ch.isupper() or ch.isdigit() or ch in "[]" for t in learned for ch in t)


def test_train_accepts_json_file_path_and_rejects_bad_arguments(tmp_path):
    target = tmp_path / "custom.json"
    trained = train_voicebpe_vocab(["la la love", "la la night"] * 5, vocab_size=60, path=target)
    assert target.is_file() and trained.vocab_file == str(target)
    with pytest.raises(ValueError, match="not a single str"):
        train_voicebpe_vocab("la la", vocab_size=60, path=tmp_path)
    with pytest.raises(ValueError, match="vocab_size"):
        train_voicebpe_vocab(["la"], vocab_size=0, path=tmp_path)
    with pytest.raises(ValueError, match="lower case"):
        train_voicebpe_vocab(["la"], vocab_size=60, path=tmp_path, languages=("EN",))
    with pytest.raises(ValueError, match="item 1"):
        train_voicebpe_vocab(["la", 3], vocab_size=60, path=tmp_path / "x")


# ---------------------------------------------------------------- encoding


def test_encode_prefixes_language_and_uses_space_token(tokenizer):
    text = "Love me tonight"
    ids = tokenizer.encode(text)
    assert ids[0] == tokenizer.lang_token_id("en")
    assert ids.count(tokenizer.space_token_id) == clean_lyrics(text).count(" ") == 2
    assert tokenizer.start_token_id not in ids and tokenizer.stop_token_id not in ids
    assert tokenizer.encode(text, lang="es")[0] == tokenizer.lang_token_id("es")


def test_encode_cleans_before_bpe(tokenizer):
    assert tokenizer.encode("Mr. Brown has 2 hearts & 1st love") == tokenizer.encode(
        "mister brown has two hearts and first love"
    )


def test_literal_special_token_text_cannot_inject_specials(tokenizer):
    ids = tokenizer.encode("[START] [SPACE]")
    assert tokenizer.start_token_id not in ids
    assert ids.count(tokenizer.space_token_id) == 1  # only the real space between words


@pytest.mark.parametrize("line", _synthetic_lyrics(count=20, seed=1) + ["Party like it's 1999!", "$5.50, 3:30 & 100%"])
def test_encode_decode_round_trip_on_cleaned_text(tokenizer, line):
    ids = tokenizer.encode(line)
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == clean_lyrics(line)


def test_decode_drops_specials_and_accepts_tensors(tokenizer):
    framed = tokenizer.frame_lyrics("love me")
    assert tokenizer.decode(framed) == "love me"
    assert tokenizer.decode(torch.tensor(framed)) == "love me"
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tokenizer.decode([tokenizer.vocab_size + 5])
    with pytest.raises(ValueError, match="integer ids"):
        tokenizer.decode(["love"])


# ---------------------------------------------------------------- framing


def test_frame_lyrics_adds_start_and_stop(tokenizer):
    ids = tokenizer.frame_lyrics("  Love me tonight \n")
    assert ids[0] == tokenizer.start_token_id and ids[-1] == tokenizer.stop_token_id
    assert ids[1:-1] == tokenizer.encode("Love me tonight")


def test_frame_lyrics_turns_newlines_into_periods(tokenizer):
    lyrics = "love me tonight\nhold me tight\r\nnever gone"
    expected = tokenizer.encode("love me tonight.hold me tight.never gone")
    assert tokenizer.frame_lyrics(lyrics)[1:-1] == expected
    assert tokenizer.decode(tokenizer.frame_lyrics(lyrics)) == "love me tonight.hold me tight.never gone"


@pytest.mark.parametrize("empty", ["", "   ", "\n\n"])
def test_empty_lyrics_frame_to_start_stop(tokenizer, empty):
    assert tokenizer.frame_lyrics(empty) == [tokenizer.start_token_id, tokenizer.stop_token_id]


# ---------------------------------------------------------------- batching


def test_batch_right_pads_with_stop_id_and_masks(tokenizer):
    lyrics = ["love me tonight\nhold me tight", "baby", ""]
    framed = [tokenizer.frame_lyrics(item) for item in lyrics]
    batch = tokenizer(lyrics)
    longest = max(len(ids) for ids in framed)
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (3, longest)
    assert batch["input_ids"].dtype == torch.long
    for row, ids in enumerate(framed):
        assert batch["input_ids"][row, : len(ids)].tolist() == ids
        assert batch["input_ids"][row, len(ids) :].tolist() == [0] * (longest - len(ids))
        assert batch["attention_mask"][row].tolist() == [1] * len(ids) + [0] * (longest - len(ids))
    assert batch["input_ids"][2, :2].tolist() == [tokenizer.start_token_id, tokenizer.stop_token_id]


def test_single_string_and_list_outputs(tokenizer):
    ids = tokenizer.frame_lyrics("love")
    assert tokenizer("love", return_tensors=None) == {"input_ids": ids, "attention_mask": [1] * len(ids)}
    assert tokenizer("love")["input_ids"].tolist() == [ids]
    ragged = tokenizer(["love", "love me"], padding=False, return_tensors=None)
    assert [len(x) for x in ragged["input_ids"]] == [len(ids), len(tokenizer.frame_lyrics("love me"))]
    with pytest.raises(ValueError, match="Ragged"):
        tokenizer(["love", "love me"], padding=False)


def test_padding_to_max_length_and_truncation(tokenizer):
    padded = tokenizer(["love"], padding="max_length", max_length=12)
    assert padded["input_ids"].shape == (1, 12)
    assert padded["attention_mask"].sum().item() == len(tokenizer.frame_lyrics("love"))

    long_lyrics = "love me tonight hold me tight never gone again"
    full = tokenizer.frame_lyrics(long_lyrics)
    with pytest.raises(ValueError, match=rf"item 0 is {len(full)} tokens long.*max_length=5.*truncation=True"):
        tokenizer([long_lyrics], max_length=5)
    cut = tokenizer([long_lyrics], max_length=5, truncation=True)["input_ids"][0].tolist()
    assert cut == full[:4] + [tokenizer.stop_token_id]


def test_call_rejects_bad_arguments(tokenizer):
    with pytest.raises(ValueError, match="item 1 is a NoneType"):
        tokenizer(["love", None])
    with pytest.raises(ValueError, match="str or a list of str"):
        tokenizer(42)
    with pytest.raises(ValueError, match="return_tensors"):
        tokenizer("love", return_tensors="np")
    with pytest.raises(ValueError, match="needs max_length"):
        tokenizer("love", padding="max_length")
    with pytest.raises(ValueError, match="max_length must be an int >= 2"):
        tokenizer("love", max_length=1)
    with pytest.raises(ValueError, match="padding must be"):
        tokenizer("love", padding="left")


def test_non_string_lyrics_and_unknown_language_raise(tokenizer):
    with pytest.raises(ValueError, match="must be a str, got list"):
        tokenizer.encode(["love"])
    with pytest.raises(ValueError, match="must be a str, got NoneType"):
        tokenizer.frame_lyrics(None)
    with pytest.raises(ValueError, match=r"Unknown language 'fr'.*\['en', 'es'\]"):
        tokenizer.encode("love", lang="fr")


# ---------------------------------------------------------------- save/load


def test_save_then_load_gives_identical_ids(tokenizer, vocab_dir, tmp_path):
    out_dir = tmp_path / "saved"
    written = tokenizer.save_pretrained(out_dir)
    assert written == str(out_dir / "vocab.json")
    assert os.listdir(out_dir) == ["vocab.json"]  # no temp file left behind
    assert (out_dir / "vocab.json").read_bytes() == (vocab_dir / "vocab.json").read_bytes()
    reloaded = VoiceBpeTokenizer(written)
    lyrics = ["Party like it's 1999!\nDance all night", "", "love"]
    assert reloaded(lyrics, return_tensors=None) == tokenizer(lyrics, return_tensors=None)
    # Overwriting an existing file also works (os.replace).
    tokenizer.save_pretrained(out_dir)
    assert os.listdir(out_dir) == ["vocab.json"]


@pytest.mark.parametrize("register_specials", [True, False])
def test_handmade_tokenizers_json_loads_with_expected_ids(tmp_path, register_specials):
    path = _save_handmade_vocab(tmp_path / "vocab.json", register_specials=register_specials)
    tok = VoiceBpeTokenizer.from_pretrained(tmp_path)
    assert (tok.stop_token_id, tok.unk_token_id, tok.space_token_id, tok.start_token_id) == (0, 1, 2, 14)
    assert tok.lang_token_id("en") == 13 and tok.vocab_size == 16
    # "Hi abc!" -> "[en]hi[SPACE]abc!" -> [en] hi [SPACE] abc !
    assert tok.encode("Hi abc!") == [13, 10, 2, 12, 9]
    assert tok.encode("hi", lang="es") == [15, 10]
    assert tok.frame_lyrics("Hi abc!") == [14, 13, 10, 2, 12, 9, 0]
    assert tok.frame_lyrics("") == [14, 0]
    # Characters outside the alphabet become [UNK], which decode drops.
    assert tok.encode("hole") == [13, 6, 8, 1, 1]
    assert tok.decode([14, 13, 10, 2, 12, 9, 0]) == "hi abc!"
    assert json.loads(path.read_text())["model"]["merges"]


# ---------------------------------------------------------------- bad vocab files


def test_missing_vocab_file(tmp_path):
    with pytest.raises(ValueError, match="vocab file not found.*train_voicebpe_vocab"):
        VoiceBpeTokenizer(tmp_path / "nope.json")
    with pytest.raises(ValueError, match="not found"):
        VoiceBpeTokenizer.from_pretrained(tmp_path)  # folder without vocab.json


def test_vocab_not_in_tokenizers_format(tmp_path):
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"[STOP]": 0, "[UNK]": 1, "a": 2}))
    with pytest.raises(ValueError, match="not in the tokenizers JSON format"):
        VoiceBpeTokenizer(plain)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        VoiceBpeTokenizer(broken)
    wordpiece = tmp_path / "wordpiece.json"
    wordpiece.write_text(json.dumps({"model": {"type": "WordPiece", "vocab": {"a": 0}, "merges": []}}))
    with pytest.raises(ValueError, match="'WordPiece' model, not BPE"):
        VoiceBpeTokenizer(wordpiece)


def test_vocab_missing_required_specials(tmp_path):
    tokenizer = Tokenizer(models.BPE(vocab={"[STOP]": 0, "[UNK]": 1, "a": 2, "[en]": 3}, merges=[], unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(tmp_path / "vocab.json"))
    with pytest.raises(ValueError, match=r"lacks required special tokens \['\[SPACE\]', '\[START\]'\]"):
        VoiceBpeTokenizer.from_pretrained(tmp_path)


def test_non_whitespace_pre_tokenizer_warns(tmp_path):
    path = _save_handmade_vocab(tmp_path / "vocab.json")
    data = json.loads(path.read_text())
    data["pre_tokenizer"] = None
    path.write_text(json.dumps(data))
    with pytest.warns(UserWarning, match="Whitespace pre-tokenizer"):
        VoiceBpeTokenizer(path)
