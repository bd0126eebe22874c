"""Manifest loading: field aliases, validation counts, messages, skip vs raise."""

import json

import numpy as np
import pytest
import soundfile as sf

from songgen_hf.data.manifest import ManifestError, load_manifest, read_manifest_records

RATE = 16000


def _tone(path, seconds, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.1 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), rate)
    return path


@pytest.fixture
def messy_manifest(tmp_path):
    """One record per problem kind, plus two good ones (ours and SongGen's field names)."""
    audio = tmp_path / "audio"
    audio.mkdir()
    _tone(audio / "good.wav", 1.0)
    _tone(audio / "good_vocals.wav", 1.0)
    _tone(audio / "songgen.wav", 1.5)
    _tone(audio / "other_rate.wav", 1.0, rate=22050)
    _tone(audio / "short.wav", 0.2)
    _tone(audio / "long.wav", 4.0)
    _tone(audio / "short_stem.wav", 0.3)
    (audio / "broken.wav").write_text("not audio")
    lines = [
        {
            "id": "good",
            "caption": "a pop song",
            "lyrics": "la la",
            "audio_path": "audio/good.wav",
            "vocal_path": "audio/good_vocals.wav",
            "language": "english",
            "split": "train",
            "attributes": {"genre": "pop"},
        },
        {
            "fname": "songgen",
            "caption": "a rock song",
            "lyrics": "hey",
            "audio_abspath": str(audio / "songgen.wav"),
            "vocal_energy": 1066.88,
            "acc_energy": 895.92,
        },
        {"id": "missing", "caption": "x", "audio_path": "audio/nowhere.wav"},
        {"id": "broken", "caption": "x", "audio_path": "audio/broken.wav"},
        {"id": "rate", "caption": "x", "audio_path": "audio/other_rate.wav"},
        {"id": "nocaption", "caption": "  ", "audio_path": "audio/good.wav"},
        {"id": "short", "caption": "x", "audio_path": "audio/short.wav"},
        {"id": "long", "caption": "x", "audio_path": "audio/long.wav"},
        {"id": "stem", "caption": "x", "audio_path": "audio/good.wav", "vocal_path": "audio/short_stem.wav"},
        {"id": "good", "caption": "again", "audio_path": "audio/good.wav"},
        {"id": "nopath", "caption": "x"},
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines) + "{not json\n\n"
    path = tmp_path / "manifest.jsonl"
    path.write_text(text)
    return path


OPTIONS = dict(sampling_rate=RATE, wrong_rate="refuse", min_duration=0.5, max_duration=3.0)


def test_validation_counts_every_reason(messy_manifest):
    dataset, report = load_manifest(messy_manifest, **OPTIONS)
    assert (report.total, report.ok, report.skipped) == (12, 2, 10)
    assert report.reasons == {
        "missing file": 1,
        "unreadable audio": 1,
        "wrong sampling rate": 1,
        "empty caption": 1,
        "too short": 1,
        "too long": 1,
        "stem length mismatch": 1,
        "duplicate id": 1,
        "missing field": 1,
        "invalid JSON": 1,
    }
    assert dataset["id"] == ["good", "songgen"]


def test_report_messages_name_the_line_and_the_problem(messy_manifest):
    _, report = load_manifest(messy_manifest, **OPTIONS)
    summary = report.summary()
    assert "12 records, 2 ok, 10 skipped" in summary
    assert "line 3 (id missing): missing file: audio" in summary and "nowhere.wav does not exist" in summary
    assert "line 5 (id rate): wrong sampling rate:" in summary and "22050 Hz, not 16000 Hz" in summary
    assert "line 7 (id short): too short: 0.20 s is shorter than min_duration=0.5 s" in summary
    assert "line 12: invalid JSON" in summary
    assert report.to_dict()["reasons"] == report.reasons


def test_columns_paths_aliases_and_attributes(messy_manifest):
    dataset, _ = load_manifest(messy_manifest, **OPTIONS)
    good, songgen = dataset[0], dataset[1]
    columns = "id caption lyrics audio_path vocal_path accompaniment_path duration sampling_rate vocal_energy "
    assert set(dataset.column_names) >= set((columns + "acc_energy language attributes").split())
    assert good["audio_path"] == str((messy_manifest.parent / "audio/good.wav").resolve())
    assert good["vocal_path"].endswith("good_vocals.wav") and good["accompaniment_path"] is None
    assert good["language"] == "en"  # SongGen writes "english"
    assert json.loads(good["attributes"]) == {"genre": "pop", "split": "train"}  # extras folded in
    assert good["duration"] == pytest.approx(1.0) and good["vocal_energy"] is None
    assert songgen["id"] == "songgen" and songgen["caption"] == "a rock song"
    assert songgen["vocal_energy"] == pytest.approx(1066.88) and songgen["lyrics"] == "hey"


def test_wrong_rate_can_be_resampled_instead(messy_manifest):
    dataset, report = load_manifest(messy_manifest, **{**OPTIONS, "wrong_rate": "resample"})
    assert "rate" in dataset["id"] and "wrong sampling rate" not in report.reasons
    assert dataset[dataset["id"].index("rate")]["sampling_rate"] == 22050


def test_raise_stops_at_the_first_bad_record(messy_manifest):
    with pytest.raises(ManifestError, match=r"line 3 \(id missing\): missing file: .*on_error='skip'"):
        load_manifest(messy_manifest, on_error="raise", **OPTIONS)


def test_no_usable_record_is_an_error_with_the_summary(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": "a", "caption": "x", "audio_path": "gone.wav"}) + "\n")
    with pytest.raises(ValueError, match="No usable record(.|\n)*missing file: 1"):
        load_manifest(path)
    with pytest.raises(ValueError, match="does not exist"):
        read_manifest_records(tmp_path / "absent.jsonl")
