"""The description gate: an adapter applies to a song by how close its description is to the adapter's training
descriptions (``description_gate.json``): at gate 0 the base's song bit for bit, at 1 the adapter's, between the
adapter at that weight; a call's songs of different gates are each the song asked alone; ``adapter_gate=False`` and
``--no-adapter-gate`` opt out; a damaged record is refused, naming the file, before any weight loads."""

from __future__ import annotations

import json
import os

import pytest

import songgen_hf  # noqa: F401  (registers the model classes and the text-to-song task)
from songgen_hf.pipelines.adapters import AdapterError, check_adapters
from songgen_hf.pipelines.description_gate import (
    GATE_FILE,
    DescriptionGate,
    GateGroup,
    closeness,
    description_words,
    gate_groups,
    gate_record,
    gated_choice,
    word_evidence,
    write_description_gate,
)
from songgen_hf.pipelines.text_to_song import load_text_to_song_pipeline
from songgen_hf.testing import save_tiny_checkpoint
from songgen_hf.training.lane import GATE_REFERENCE_DESCRIPTIONS

from .test_adapters import _adapter

STYLE = [
    "A warm calypso in G major at 110 bpm with steel drums and marimba, a male voice",
    "Calypso tune, Bb minor, 118 BPM: tuba, kalimba and congas; female lead vocals",
    "An uplifting calypso with steel drums, tuba and island percussion at 104 bpm, a male voice",
    "Driving calypso (D major, BPM: 121): marimba and steel drums, hand percussion, female vocals",
]
IN_STYLE = {"description": "a sunny calypso with steel drums and marimba, a woman sings", "lyrics": "by the sea"}
UNRELATED = {"description": "gritty guitar rock for a road trip, a man belting it out", "lyrics": "by the sea"}
OPTIONS = dict(duration_s=0.3, min_duration_s=0.3, do_sample=True, seed=5)


def test_the_gate_reads_the_style_words_and_calibrates_from_the_texts_alone():
    # tempo and key are the controls' to read, a metre stays a word, function words and who sings count for nothing
    assert description_words("Gospel in 12/8 at 104 bpm in Bb major with organ, a man sings") == {
        "gospel",
        "metre-12-8",
        "organ",
    }
    record = gate_record(STYLE + STYLE[:1], GATE_REFERENCE_DESCRIPTIONS)
    assert record["style_descriptions"] == STYLE  # distinct
    assert record["high"] - record["low"] == pytest.approx(2.0)
    # low: the most style-like reference description, left out of the counts it is scored by
    reference = list(GATE_REFERENCE_DESCRIPTIONS)
    left_out = [
        closeness(text, word_evidence(STYLE, reference[:i] + reference[i + 1 :])) for i, text in enumerate(reference)
    ]
    assert record["low"] == pytest.approx(max(max(left_out), 0.0), abs=1e-4)  # and at least 0: no evidence, no style
    gate = DescriptionGate(record)
    assert gate(IN_STYLE["description"]) == 1.0 and gate(UNRELATED["description"]) == 0.0
    assert all(gate(text) == 0.0 for text in GATE_REFERENCE_DESCRIPTIONS[:8])
    assert gate("an angry punk-ish anthem, distorted guitars") == 0.0  # words neither set uses: no evidence


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate")
    base = save_tiny_checkpoint(root / "base")
    _adapter(base, root / "mine", seed=1)
    write_description_gate(root / "mine", gate_record(STYLE, GATE_REFERENCE_DESCRIPTIONS))
    _adapter(base, root / "plain", seed=2)  # records no gate: applies as asked
    return root


@pytest.fixture(scope="module")
def pipe(models):
    pipe = load_text_to_song_pipeline(
        str(models / "base"), adapters={"mine": models / "mine", "plain": models / "plain"}
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _song(pipe, song, **options):
    return pipe(song, **{**OPTIONS, **options})


def test_gate_0_is_the_base_and_gate_1_the_adapter_bit_for_bit(pipe):
    base = _song(pipe, UNRELATED, adapter=None)["audio"]
    gated = _song(pipe, UNRELATED, adapter="mine")
    assert gated["adapter_gate"] == {"mine": 0.0} and (gated["audio"] == base).all()
    ungated = _song(pipe, UNRELATED, adapter="mine", adapter_gate=False)
    assert "adapter_gate" not in ungated and not (ungated["audio"] == base).all()  # the opt-out: the adapter as asked
    styled = _song(pipe, IN_STYLE, adapter="mine")
    assert styled["adapter_gate"] == {"mine": 1.0}
    assert (styled["audio"] == _song(pipe, IN_STYLE, adapter="mine", adapter_gate=False)["audio"]).all()
    assert not (styled["audio"] == _song(pipe, IN_STYLE, adapter=None)["audio"]).all()
    # an adapter without a record is ungated; a blend's weights are multiplied by each adapter's gate
    plain = _song(pipe, UNRELATED, adapter="plain")
    assert "adapter_gate" not in plain  # nothing to say
    assert (plain["audio"] == _song(pipe, UNRELATED, adapter="plain", adapter_gate=False)["audio"]).all()
    blend = _song(pipe, UNRELATED, adapter={"mine": 0.7, "plain": 0.5})
    assert blend["adapter_gate"] == {"mine": 0.0}  # "plain" records no gate: as asked
    assert (blend["audio"] == _song(pipe, UNRELATED, adapter={"plain": 0.5}, adapter_gate=False)["audio"]).all()
    with pytest.raises(ValueError, match="adapter_gate must be True"):
        _song(pipe, UNRELATED, adapter="mine", adapter_gate="no")


def test_a_gate_between_0_and_1_is_the_adapter_at_that_weight(models, tmp_path):
    import shutil

    folder = tmp_path / "mine"
    shutil.copytree(models / "mine", folder)
    record = gate_record(STYLE, GATE_REFERENCE_DESCRIPTIONS)
    score = DescriptionGate(record).closeness(UNRELATED["description"])
    record["low"], record["high"] = score - 1.5, score + 0.5  # this description lands at 0.75
    write_description_gate(folder, record)
    assert gated_choice({"mine": str(folder)}, "mine", UNRELATED["description"]) == ({"mine": 0.75}, {"mine": 0.75})
    pipe = load_text_to_song_pipeline(str(models / "base"), adapters={"mine": folder})
    pipe.set_progress_bar_config(disable=True)
    assert (
        _song(pipe, UNRELATED, adapter="mine")["audio"]
        == _song(pipe, UNRELATED, adapter={"mine": 0.75}, adapter_gate=False)["audio"]
    ).all()


def test_a_call_whose_songs_gate_differently_makes_each_as_it_is_asked_alone(pipe):
    songs = _song(pipe, [IN_STYLE, UNRELATED], adapter="mine")
    assert [song["adapter_gate"] for song in songs] == [{"mine": 1.0}, {"mine": 0.0}]
    for song, asked in zip(songs, [IN_STYLE, UNRELATED]):
        assert (song["audio"] == _song(pipe, [asked], adapter="mine")[0]["audio"]).all()
    # the songs of one gate are one call, in the call's order
    same = _song(pipe, [UNRELATED, IN_STYLE, UNRELATED], adapter="mine")
    pair = _song(pipe, [UNRELATED, UNRELATED], adapter="mine")
    assert (same[0]["audio"] == pair[0]["audio"]).all() and (same[2]["audio"] == pair[1]["audio"]).all()


def test_gate_groups_part_a_call_s_songs_by_the_choice_the_gate_makes(pipe):
    """The grouping the pipeline asks: each song's choice (a description, a song dict or a prepared request alike),
    the groups in the order their first songs come; a dataset or generator (no songs known) gets the choice as asked,
    unless an adapter of it records a gate."""
    from songgen_hf.pipelines.requests import prepare_song

    folders = pipe.adapters.folders
    songs = [UNRELATED, IN_STYLE["description"], prepare_song(pipe.processor, UNRELATED), IN_STYLE]
    groups = gate_groups(folders, "mine", songs)
    assert groups == [
        GateGroup(None, {"mine": 0.0}, (0, 2)),
        GateGroup("mine", {"mine": 1.0}, (1, 3)),
    ]
    blend = gate_groups(folders, {"mine": 0.7, "plain": 0.5}, songs[:2])
    assert [(group.choice, group.indices) for group in blend] == [
        ({"plain": 0.5}, (0,)),
        ({"mine": 0.7, "plain": 0.5}, (1,)),
    ]
    assert gate_groups(folders, "mine", songs, gate=False) == [GateGroup("mine", {}, (0, 1, 2, 3))]
    assert gate_groups(folders, "plain", None) == [GateGroup("plain", {}, ())]
    assert gate_groups(folders, "mine", None, gate=False) == [GateGroup("mine", {}, ())]
    with pytest.raises(ValueError, match="pass the songs as a list, or adapter_gate=False"):
        gate_groups(folders, "mine", None)


@pytest.mark.parametrize(
    "record, message",
    [
        ("not json", "cannot be used"),
        ({"format": 1}, "must hold"),
        ("LOW_HIGH", "low < high"),
        ("MANY", "a list of 1-512"),
        ("FIFO", "not a regular file"),
    ],
)
def test_a_damaged_record_is_refused_naming_the_file_before_any_weight_loads(models, tmp_path, record, message):
    import shutil

    folder = tmp_path / "mine"
    shutil.copytree(models / "mine", folder)
    good = gate_record(STYLE, GATE_REFERENCE_DESCRIPTIONS)
    if record == "LOW_HIGH":
        record = {**good, "low": 3.0, "high": 1.0}
    elif record == "MANY":
        record = {**good, "style_descriptions": ["a song"] * 600}
    os.unlink(folder / GATE_FILE)
    if record == "FIFO":  # a reader of it would wait forever
        os.mkfifo(folder / GATE_FILE)
    else:
        (folder / GATE_FILE).write_text(record if isinstance(record, str) else json.dumps(record))
    with pytest.raises(AdapterError, match=message) as caught:
        check_adapters({"mine": folder}, None)
    assert GATE_FILE in str(caught.value) and ("delete" in str(caught.value) or "damaged" in str(caught.value))


def test_the_cli_says_what_the_gate_chose_and_opts_out(models, tmp_path, capsys):
    import soundfile

    from songgen_hf.commands.cli import main

    common = ["generate", "--model", str(models / "base"), "--lyrics", "by the sea", "--duration", "0.3"]
    common += ["--min-duration", "0.3", "--seed", "5", "--no-progress", "--adapter", str(models / "mine")]

    def generate(name, description, *flags):
        capsys.readouterr()
        assert main([*common, "--description", description, "--output", str(tmp_path / name), *flags]) == 0
        return soundfile.read(tmp_path / name)[0], capsys.readouterr().out

    unrelated, out = generate("unrelated.wav", UNRELATED["description"])
    assert "style: the base alone (description gate: mine x0;" in out
    capsys.readouterr()  # the base's song for the seed, asked without the adapter
    base = [*common[: common.index("--adapter")], "--description", UNRELATED["description"]]
    assert main([*base, "--output", str(tmp_path / "base.wav")]) == 0
    assert (unrelated == soundfile.read(tmp_path / "base.wav")[0]).all()
    styled, out = generate("styled.wav", IN_STYLE["description"])
    assert "style: adapter mine (description gate: mine x1;" in out
    as_asked, _ = generate("styled_asked.wav", IN_STYLE["description"], "--no-adapter-gate")
    assert (styled == as_asked).all()  # gate 1: the adapter's song
    asked, out = generate("asked.wav", UNRELATED["description"], "--no-adapter-gate")
    assert "style: adapter mine\n" in out and "description gate" not in out and not (asked == unrelated).all()
    plain = ["generate", "--model", str(models / "base"), "--description", "x", "--lyrics", "la", "--no-adapter-gate"]
    code = main([*plain, "--output", str(tmp_path / "x.wav")])
    assert code == 2 and "--no-adapter-gate applies to --adapter" in capsys.readouterr().err


def test_a_dataset_input_with_a_gated_adapter_asks_for_a_list_or_the_opt_out(pipe):
    def songs():
        yield UNRELATED

    with pytest.raises(ValueError, match="pass the songs as a list, or adapter_gate=False"):
        list(pipe(songs(), adapter="mine", **OPTIONS))
    made = list(pipe(songs(), adapter="mine", adapter_gate=False, **OPTIONS))  # the adapter as asked
    assert not (made[0]["audio"] == list(pipe(songs(), adapter=None, **OPTIONS))[0]["audio"]).all()


def test_songgen_info_shows_the_gate(models, capsys):
    from songgen_hf.commands.cli import main

    capsys.readouterr()
    assert main(["info", str(models / "mine"), "--json"]) == 0
    gate = json.loads(capsys.readouterr().out)["adapter"]["records"]["description_gate"]
    assert gate["style_descriptions"] == len(STYLE) and gate["reference_descriptions"] == len(
        GATE_REFERENCE_DESCRIPTIONS
    )
    assert main(["info", str(models / "plain"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["adapter"]["records"]["description_gate"].startswith("none")
