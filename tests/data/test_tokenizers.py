"""`songgen data tokenizers`: both tokenizers fitted to a manifest, in the layout training reads."""

import json

from transformers import AutoTokenizer

from songgen_hf.commands.cli import main as songgen_main
from songgen_hf.modeling.songgen.tokenization_songgen import VoiceBpeTokenizer

CAPTIONS = [
    "A calm folk song in {key} major at {bpm} bpm, with banjo, upright bass and female vocals.",
    "Energetic rock in {key} minor; {bpm} BPM, electric guitar and drums, male lead vocals.",
]


def _manifest(path):
    rows = []
    for index in range(60):
        caption = CAPTIONS[index % 2].format(key="CDEFGAB"[index % 7], bpm=90 + index % 5)
        rows.append({"caption": caption, "lyrics": "we sing tonight\nunder the golden light"})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_tokenizers_keep_words_and_tempos_whole(tmp_path):
    manifest = _manifest(tmp_path / "train.jsonl")
    assert (
        songgen_main(
            [
                "data",
                "tokenizers",
                str(manifest),
                "--output",
                str(tmp_path / "tok"),
                "--description-vocab-size",
                "300",
                "--lyrics-vocab-size",
                "120",
            ]
        )
        == 0
    )
    description = AutoTokenizer.from_pretrained(tmp_path / "tok" / "description_tokenizer")
    pieces = description.tokenize("Energetic rock in G minor; 93 BPM, electric guitar")
    assert "▁93" in pieces and "▁electric" in pieces and ";" in pieces and "," in pieces
    assert description("rock").input_ids[-1] == description.eos_token_id
    lyrics = VoiceBpeTokenizer.from_pretrained(tmp_path / "tok" / "lyrics_tokenizer")
    assert len(lyrics.encode("we sing tonight", lang="en")) < len("we sing tonight")


def test_tokenizers_refuse_a_missing_manifest(tmp_path, capsys):
    assert songgen_main(["data", "tokenizers", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "tok")]) == 2
    assert "does not exist" in capsys.readouterr().err
