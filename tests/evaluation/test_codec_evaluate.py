"""``songgen codec evaluate`` on a tiny corpus and tiny codecs: files, numbers that mean something, bad input."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from songgen_hf.commands.cli import main
from songgen_hf.evaluation import codec_evaluation, metrics
from songgen_hf.evaluation.codec_evaluation import (
    CLEAN,
    RESULT_FILE,
    TRACKS,
    CodecEvaluationSettings,
    codec_labels,
    ratio_with_ci,
    run_codec_evaluation,
)
from songgen_hf.evaluation.metrics import frame_rate_comb, welch_power
from songgen_hf.testing import save_tiny_checkpoint, tiny_xcodec_config

from .tiny_corpus import write_tiny_corpus

RATE = 16000


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    from songgen_hf.modeling import XCodecModel

    root = tmp_path_factory.mktemp("codec_evaluate")
    _, test = write_tiny_corpus(root / "corpus", num_train=1, num_test=3, seconds=1.0)
    rows = [json.loads(line) for line in test.read_text().splitlines()]
    # corpus v2's instrumental: no lyrics, no vocal stem, the record's has_vocals says so
    rows[2] = {
        **rows[2],
        "lyrics": "",
        "vocal_path": None,
        "attributes": {**rows[2]["attributes"], "has_vocals": False},
    }
    test.write_text("".join(json.dumps(row) + "\n" for row in rows))
    codec = root / "codec"
    XCodecModel(tiny_xcodec_config(teacher="mel")).save_pretrained(codec)
    songgen = save_tiny_checkpoint(root / "songgen", use_voice_encoder=False)
    return {"root": root, "test": test, "rows": rows, "codec": codec, "songgen": songgen}


def _evaluate_argv(workspace, output, *extra, manifest=None, model=None) -> list[str]:
    """``songgen codec evaluate`` of the workspace's test manifest by its codec (or the ones given) into ``output``."""
    manifest, model = manifest or workspace["test"], model or workspace["codec"]
    return ["codec", "evaluate", str(manifest), "--model", str(model), "--output", str(output), *extra]


def test_codec_evaluate_scores_every_track_against_clean_and_writes_json_report_and_figure(workspace, capsys):
    root = workspace["root"]
    report = root / "docs" / "codec.md"
    assert (
        main(_evaluate_argv(workspace, root / "run", "--num-clips", "3", "--report", str(report), "--no-progress")) == 0
    )
    summary = capsys.readouterr().out
    assert RESULT_FILE in summary and "targets pass" in summary
    result = json.loads((root / "run" / RESULT_FILE).read_text())
    labels = list(result["codecs"])
    assert labels == ["codec"] and result["codecs"]["codec"]["kind"] == "codec"
    assert result["codecs"]["codec"]["num_codebooks"] == 8 and result["codecs"]["codec"]["frame_rate"] == 50

    assert [row["id"] for row in result["rows"]] == [row["id"] for row in workspace["rows"]]  # the first N, in order
    for row in result["rows"]:
        expected_tracks = set(TRACKS) if row["has_vocals"] else {"mix", "accompaniment"}
        assert set(row["tracks"]) == expected_tracks
        for track, systems in row["tracks"].items():
            assert set(systems) == {CLEAN, *labels}
            for system, scores in systems.items():
                assert scores["tempo_acc1"] in (0.0, 1.0) and 0 <= scores["key_mirex"] <= 1
                spoken = track != "accompaniment" and row["has_vocals"]
                assert ("lyric_recall" in scores) == spoken and ("transcript" in scores) == spoken
                assert ("si_sdr_db" in scores) == (system != CLEAN)
                assert ("voicing_probability" in scores) == (track == "vocals")
                if track == "vocals":
                    assert scores["voicing_probability"] is None or 0 <= scores["voicing_probability"] <= 1
    instrumental = result["rows"][2]["tracks"]["mix"]
    assert all("lyric_recall" not in scores for scores in instrumental.values())

    aggregate = result["aggregate"]
    assert aggregate["mix"]["clips"] == 3 and aggregate["vocals"]["clips"] == 2
    for track in TRACKS:
        for label in labels:
            ratios = aggregate[track]["ratios"][label]
            clean_acc1 = aggregate[track]["systems"][CLEAN]["tempo_acc1"]["mean"]
            codec_acc1 = aggregate[track]["systems"][label]["tempo_acc1"]["mean"]
            if clean_acc1:
                assert ratios["tempo_acc1"]["mean"] == pytest.approx(codec_acc1 / clean_acc1)
            comb = aggregate[track]["comb"][label]
            assert math.isfinite(comb["comb_excess_db"]) and comb["comb_harmonics"] == 40
    assert aggregate["accompaniment"]["ratios"]["codec"]["lyric_recall"]["mean"] is None  # nothing sung there
    for label in labels:
        checks = result["targets"][label]
        assert len(checks) == 3 + 3 + 1 + 1 + 3  # tempo and key per track, recall on vocals and mix, comb per track
        for check in checks:
            assert check["passed"] in (True, False, None)
            if check["value"] is not None:
                comparison = (
                    check["value"] >= check["threshold"]
                    if check["comparison"] == ">="
                    else check["value"] <= check["threshold"]
                )
                assert check["passed"] == comparison

    text = report.read_text()
    for heading in ("## Targets", "## Scores", "## Round trip / clean", "## Spectrograms", "## Reproduce"):
        assert heading in text
    assert "| mix | 3 | clean (ceiling) |" in text and "| vocals | 2 | codec round trip |" in text
    assert "voicing (pyin)" in text
    assert "PASS" in text or "FAIL" in text
    assert "songgen codec evaluate " in text and "--num-clips 3" in text
    assert "](codec/spectrograms.png)" in text
    assert (root / "docs" / "codec" / "spectrograms.png").read_bytes().startswith(b"\x89PNG")


def test_a_lossless_codec_keeps_everything_and_shows_no_comb(workspace, monkeypatch, tmp_path):
    """With a round trip that returns its input, every ratio is 1 and the comb is 0 dB: the scores compare like with
    like.  The baseline is a SongGen folder, whose own codec is the one used."""
    from songgen_hf.evaluation import systems

    used = []

    def lossless(codec, audio, codebooks):
        used.append((type(codec).__name__, codebooks))
        return None, audio.copy()

    monkeypatch.setattr(systems, "codec_round_trip", lossless)
    report = tmp_path / "out" / "report.md"
    settings = CodecEvaluationSettings(
        manifest=workspace["test"],
        output_dir=tmp_path / "out",
        model=workspace["codec"],
        baselines=[workspace["songgen"]],
        report=report,
        num_clips=2,
        bootstrap_resamples=50,
    )
    result = run_codec_evaluation(settings)
    assert set(used) == {("XCodecModel", 8)} and len(used) == 2 * (2 * 3)  # 2 codecs x 2 clips x 3 tracks
    assert result["codecs"]["songgen"] == {
        "path": str(workspace["songgen"]),
        "role": "baseline",
        "kind": "songgen",
        "num_codebooks": 8,
        "frame_rate": 50.0,
        "sampling_rate": RATE,
    }
    for label in ("codec", "songgen"):
        for track in TRACKS:
            ratios, comb = result["aggregate"][track]["ratios"][label], result["aggregate"][track]["comb"][label]
            for metric, stats in ratios.items():
                if stats["mean"] is not None:
                    assert stats["mean"] == pytest.approx(1.0) and stats["ci95"] == [pytest.approx(1.0)] * 2, metric
            assert comb["comb_max_abs_db"] == 0 and comb["comb_excess_db"] == 0
            assert result["aggregate"][track]["systems"][label]["log_mel_distance"]["mean"] == 0
        assert all(check["passed"] is not False for check in result["targets"][label])
    text = report.read_text()
    assert "**songgen** (baseline)" in text and "| mix | songgen |" in text


def _noise(seconds: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(round(seconds * RATE)) * 0.1


def test_frame_rate_comb_sees_lines_at_the_frame_rate_and_not_a_level_change():
    clean = _noise(4.0)
    frequencies, clean_power = welch_power(clean, RATE)
    same = frame_rate_comb(frequencies, clean_power, clean_power)
    assert same["comb_max_abs_db"] == 0 and same["comb_excess_db"] == 0

    louder = frame_rate_comb(frequencies, clean_power, welch_power(2.0 * clean, RATE)[1])
    assert louder["comb_max_abs_db"] == pytest.approx(6.02, abs=0.01)  # a broadband +6 dB...
    assert abs(louder["comb_excess_db"]) < 0.01  # ...is no comb

    clicks = np.zeros_like(clean)
    clicks[:: RATE // 50] = 1.0  # one click per 20 ms frame: lines at every harmonic of 50 Hz
    combed = frame_rate_comb(frequencies, clean_power, welch_power(clean + clicks, RATE)[1])
    assert combed["comb_excess_db"] > 3 and combed["comb_excess_max_abs_db"] > 3
    other_rate = frame_rate_comb(frequencies, clean_power, welch_power(clean + clicks, RATE)[1], frame_rate=35.0)
    assert abs(other_rate["comb_excess_db"]) < 1  # the lines of a 50 Hz comb are not at 35 Hz's harmonics

    with pytest.raises(ValueError, match="too coarse"):
        frame_rate_comb(frequencies[::4], clean_power[::4], clean_power[::4])


def test_ratio_with_ci_is_a_paired_ratio_of_means():
    same = ratio_with_ci([1, 0, 1, 1], [1, 0, 1, 1], 100, 0)
    assert same["mean"] == 1.0 and same["ci95"] == [1.0, 1.0] and same["n"] == 4
    half = ratio_with_ci([0.5, None, 0.5], [1.0, 1.0, 1.0], 100, 0)
    assert half["mean"] == 0.5 and half["n"] == 2  # unpaired clips are left out
    assert ratio_with_ci([1, 1], [0, 0], 100, 0)["mean"] is None  # no clean score to compare with


@pytest.mark.parametrize(
    "paths, labels",
    [
        (["a/codec", "b/other"], ["codec", "other"]),
        (["v4/final", "v5/final"], ["v4/final", "v5/final"]),
        (["x/final", "x/final"], ["x/final #1", "x/final #2"]),
    ],
)
def test_codec_labels_are_short_and_distinct(paths, labels):
    from pathlib import Path

    assert codec_labels([Path(path) for path in paths]) == labels


def _bad_manifest(workspace, tmp_path, change) -> str:
    rows = [dict(row) for row in workspace["rows"]]
    change(rows[0])
    path = tmp_path / "bad.jsonl"
    # keep the tiny corpus' relative audio paths valid
    absolute = workspace["test"].parent
    for row in rows:
        for field in ("audio_path", "vocal_path", "accompaniment_path"):
            if row.get(field):
                row[field] = str(absolute / row[field])
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_an_embedded_models_name_stands_for_its_folder(workspace, tmp_path):
    """``--baseline songgen-tiny`` compares with the default model's codec, as other commands take the name."""
    from songgen_hf.commands.cli import build_parser
    from songgen_hf.pipelines import loading

    args = build_parser().parse_args(_evaluate_argv(workspace, tmp_path / "out", "--baseline", "songgen-tiny"))
    settings = codec_evaluation.settings_from_args(args)
    assert settings.baselines == [Path(loading.embedded_model_path("songgen-tiny"))]
    assert settings.baselines[0].is_dir() and settings.model == Path(workspace["codec"])
    codec_evaluation.check_codec_folder(settings.baselines[0], "--baseline")  # a SongGen folder: its codec


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing manifest", "is missing; pass a JSONL manifest"),
        ("no lyrics field", "has no 'lyrics' field"),
        ("no accompaniment stem", "lacks ['accompaniment_path']"),
        ("sung clip without vocal stem", "lacks ['vocal_path'] (the record has vocals)"),
        ("not a codec", "holds a 'bert' model, neither an X-Codec codec"),
        ("baseline missing", "--baseline /no/such/codec does not exist"),
        ("zero clips", "--num-clips must be at least 1"),
        ("more clips than records", "has 3 records; pass --num-clips between 1 and 3"),
        ("report not markdown", "use a .md file name"),
        ("recogniser missing", "pip install pocketsphinx"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2_before_any_weights_load(
    workspace, tmp_path, capsys, monkeypatch, case, message
):
    def refuse_loading(*args, **kwargs):
        raise AssertionError("a codec was loaded before the input was checked")

    monkeypatch.setattr(codec_evaluation, "load_codec", refuse_loading)
    manifest, model, extra = str(workspace["test"]), str(workspace["codec"]), []
    if case == "missing manifest":
        manifest = str(tmp_path / "nowhere.jsonl")
    elif case == "no lyrics field":
        manifest = _bad_manifest(workspace, tmp_path, lambda row: row.pop("lyrics"))
    elif case == "no accompaniment stem":
        manifest = _bad_manifest(workspace, tmp_path, lambda row: row.update(accompaniment_path=None))
    elif case == "sung clip without vocal stem":
        manifest = _bad_manifest(workspace, tmp_path, lambda row: row.pop("vocal_path"))
    elif case == "not a codec":
        model = tmp_path / "bert"
        model.mkdir()
        (model / "config.json").write_text(json.dumps({"model_type": "bert"}))
        model = str(model)
    elif case == "baseline missing":
        extra = ["--baseline", "/no/such/codec"]
    elif case == "zero clips":
        extra = ["--num-clips", "0"]
    elif case == "more clips than records":
        extra = ["--num-clips", "4"]
    elif case == "report not markdown":
        extra = ["--report", str(tmp_path / "report.txt")]
    elif case == "recogniser missing":
        real_import = metrics.importlib.import_module

        def without_pocketsphinx(name, *args):
            if name.split(".")[0] == "pocketsphinx":
                raise ModuleNotFoundError("No module named 'pocketsphinx'")
            return real_import(name, *args)

        monkeypatch.setattr(metrics.importlib, "import_module", without_pocketsphinx)
    if "--num-clips" not in extra:
        extra += ["--num-clips", "3"]
    assert main(_evaluate_argv(workspace, tmp_path / "out", *extra, manifest=manifest, model=model)) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error and "Traceback" not in error
    assert not (tmp_path / "out" / RESULT_FILE).exists()
