"""``songgen data excerpts``: one seeded window per record, every stem at the same window, to a size budget."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from songgen_hf.commands.cli import main
from songgen_hf.data.excerpts import MANIFEST_NAME, window_start

RATE = 16_000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Twelve 3 s songs with a mix that is exactly the sum of its stems; record 4 is an instrumental."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "audio").mkdir()
    rng = np.random.default_rng(0)
    t = np.arange(3 * RATE) / RATE
    lines = []
    for index in range(12):
        accompaniment = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 400) * t) + 0.05 * rng.standard_normal(t.size)
        sung = index != 4
        vocals = 0.2 * np.sin(2 * np.pi * rng.uniform(200, 800) * t) * (t % 0.5 < 0.3) if sung else 0 * t
        record = {
            "id": f"song-{index}",
            "lyrics": "la la" if sung else "",
            "audio_path": f"audio/{index}_mix.wav",
            "accompaniment_path": f"audio/{index}_acc.wav",
        }
        sf.write(root / record["audio_path"], (vocals + accompaniment).astype(np.float32), RATE, subtype="FLOAT")
        sf.write(root / record["accompaniment_path"], accompaniment.astype(np.float32), RATE, subtype="FLOAT")
        if sung:
            record["vocal_path"] = f"audio/{index}_voc.wav"
            sf.write(root / record["vocal_path"], vocals.astype(np.float32), RATE, subtype="FLOAT")
        lines.append(json.dumps(record))
    (root / "train.jsonl").write_text("\n".join(lines) + "\n")
    return root


def _excerpts(manifest, output, *extra):
    return main(["data", "excerpts", str(manifest), "--output", str(output), *extra])


def _run(corpus, output, *extra):
    return _excerpts(corpus / "train.jsonl", output, *extra)


def _records(output):
    return [json.loads(line) for line in (output / MANIFEST_NAME).read_text().splitlines()]


def test_every_stem_is_cut_at_the_same_seeded_window_and_the_mix_stays_their_sum(corpus, tmp_path):
    assert _run(corpus, tmp_path / "set", "--seconds", "0.8") == 0
    records = _records(tmp_path / "set")
    assert [r["source_id"] for r in records] == [f"song-{i}" for i in range(12)]
    starts = set()
    for number, record in enumerate(records):
        window = round(0.8 * RATE)
        start = window_start(0, number, 3 * RATE - window)
        assert (
            record["start_sample"] == start
            and record["start_s"] == start / RATE
            and record["duration"] == pytest.approx(0.8)
        )
        starts.add(start)
        cut = {field: sf.read(tmp_path / "set" / record[field])[0] for field in ("audio_path", "accompaniment_path")}
        source, _ = sf.read(corpus / f"audio/{number}_acc.wav")
        # the window is the source's samples at start_s, to 16-bit FLAC precision
        np.testing.assert_allclose(cut["accompaniment_path"], source[start : start + window], atol=1e-4)
        if number == 4:
            assert "vocal_path" not in record  # the instrumental has no vocal stem to cut
            continue
        vocals = sf.read(tmp_path / "set" / record["vocal_path"])[0]
        np.testing.assert_allclose(cut["audio_path"], vocals + cut["accompaniment_path"], atol=2e-4)
    assert len(starts) > 6  # the windows move from record to record
    assert "lyrics" not in records[0] and "caption" not in records[0]  # a window is not the song they describe


def test_the_same_command_writes_the_same_files_and_another_seed_other_windows(corpus, tmp_path):
    for name in ("a", "b"):
        _run(corpus, tmp_path / name, "--seconds", "0.5", "--seed", "3")
    _run(corpus, tmp_path / "c", "--seconds", "0.5", "--seed", "4")
    first, second = _records(tmp_path / "a"), _records(tmp_path / "b")
    assert first == second
    for record in first:
        assert (tmp_path / "a" / record["audio_path"]).read_bytes() == (
            tmp_path / "b" / record["audio_path"]
        ).read_bytes()
    assert [r["start_s"] for r in _records(tmp_path / "c")] != [r["start_s"] for r in first]


def test_the_budget_stops_it_and_skip_gives_a_disjoint_second_set(corpus, tmp_path, capsys):
    _run(corpus, tmp_path / "all", "--seconds", "1.0")
    sizes = [
        sum(
            (tmp_path / "all" / r[f]).stat().st_size
            for f in ("audio_path", "vocal_path", "accompaniment_path")
            if f in r
        )
        for r in _records(tmp_path / "all")
    ]
    budget = (sum(sizes[:5]) + sizes[5] // 2) / 1e6  # five records fit, the sixth does not
    capsys.readouterr()
    assert _run(corpus, tmp_path / "first", "--seconds", "1.0", "--max-mb", str(budget)) == 0
    said = capsys.readouterr().out
    first = _records(tmp_path / "first")
    assert len(first) == 5 and "--skip 5" in said
    on_disk = sum(path.stat().st_size for path in (tmp_path / "first").rglob("*") if path.is_file())
    assert (
        on_disk <= budget * 1e6 and len(list((tmp_path / "first" / "audio").iterdir())) == 14
    )  # 5 x 3 less the instrumental's
    assert _run(corpus, tmp_path / "second", "--seconds", "1.0", "--skip", "5") == 0
    second = _records(tmp_path / "second")
    assert {r["source_id"] for r in first}.isdisjoint(r["source_id"] for r in second)
    assert len(second) == 7 and "every record was taken" in capsys.readouterr().out


def test_a_codec_trains_on_the_excerpts(corpus, tmp_path):
    from songgen_hf.training.codec_trainer import train_codec

    from ..training.tiny_stage import tiny_codec_config

    _run(corpus, tmp_path / "set", "--seconds", "0.6")
    fields = ["audio_path", "vocal_path", "accompaniment_path"]
    config = tiny_codec_config(tmp_path / "set" / MANIFEST_NAME, tmp_path / "run", audio_fields=fields, max_steps=2)
    final = train_codec(config)
    assert (final / "model.safetensors").is_file()


@pytest.mark.parametrize(
    "extra, named",
    [
        (("--seconds", "0"), "--seconds"),
        (("--seconds", "nan"), "--seconds"),
        (("--seconds", "100"), "--seconds"),
        (("--max-mb", "-1"), "--max-mb"),
        (("--max-mb", "inf"), "--max-mb"),
        (("--skip", "-1"), "--skip"),
        (("--skip", "12"), "--skip 12"),
        (("--sampling-rate", "100"), "--sampling-rate"),
        (("--fields", "lyrics_path"), "--fields"),
        (("--max-mb", "0.001"), "--max-mb"),
    ],
)
def test_bad_options_are_refused_naming_the_option_and_write_nothing(corpus, tmp_path, capsys, extra, named):
    assert _run(corpus, tmp_path / "out", *extra) == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_earlier_set_is_replaced_only_with_overwrite_and_a_user_folder_never(corpus, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    assert _run(corpus, tmp_path / "out") == 2 and "--overwrite" in capsys.readouterr().err
    assert _run(corpus, tmp_path / "out", "--overwrite") == 2 and "not written by songgen" in capsys.readouterr().err
    assert (tmp_path / "out" / "mine.txt").read_text() == "keep"
    assert _run(corpus, tmp_path / "set") == 0
    assert _run(corpus, tmp_path / "set", "--seconds", "0.2") == 2 and "--overwrite" in capsys.readouterr().err
    assert _run(corpus, tmp_path / "set", "--overwrite", "--seconds", "0.2") == 0  # its own earlier set
    assert len(_records(tmp_path / "set")) == 12


def test_a_long_stereo_song_at_another_rate_is_read_only_at_its_window(tmp_path):
    """A 44.1 kHz stereo file is cut at the window, mixed to mono and resampled, decoding only the window."""
    import tracemalloc

    from songgen_hf.data.audio import load_audio

    rate, seconds = 44_100, 120
    t = np.arange(seconds * rate) / rate
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sin(2 * np.pi * 330 * t)], axis=1)
    sf.write(tmp_path / "song.flac", stereo.astype(np.float32), rate)
    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "long", "audio_path": "song.flac"}) + "\n")
    tracemalloc.start()
    assert _excerpts(tmp_path / "m.jsonl", tmp_path / "set", "--seconds", "1.0", "--fields", "audio_path") == 0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20e6  # the whole song would be 42 MB decoded at 44.1 kHz stereo float32
    record = _records(tmp_path / "set")[0]
    cut = sf.read(tmp_path / "set" / record["audio_path"])[0]
    whole = load_audio(tmp_path / "song.flac", RATE)
    start = record["start_sample"]
    assert cut.shape == (RATE,) and record["duration"] == 1.0
    # away from the window's edges (the resampler's filter reaches ~1 ms) it is the whole song's resampling
    np.testing.assert_allclose(cut[200:-200], whole[start + 200 : start + RATE - 200], atol=2e-3)


def test_an_output_that_holds_the_corpus_is_refused_even_with_overwrite(corpus, tmp_path, capsys):
    before = sorted(p.name for p in corpus.rglob("*"))
    assert _run(corpus, corpus, "--overwrite") == 2
    assert "holds MANIFEST" in capsys.readouterr().err
    assert _run(corpus, corpus.parent, "--overwrite") == 2  # a folder above the corpus holds it too
    assert sorted(p.name for p in corpus.rglob("*")) == before
    # audio listed by absolute path inside --output is refused before anything is replaced
    outside = tmp_path / "elsewhere"
    (outside / "audio").mkdir(parents=True)
    sf.write(outside / "audio" / "a.wav", np.zeros(RATE, dtype=np.float32), RATE)
    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "x", "audio_path": str(outside / "audio" / "a.wav")}) + "\n")
    assert _excerpts(tmp_path / "m.jsonl", outside, "--overwrite", "--fields", "audio_path") == 2
    err = capsys.readouterr().err  # a folder songgen did not write is refused as such, before the audio check
    assert "not written by songgen" in err and (outside / "audio" / "a.wav").is_file()
