"""``songgen evaluate`` end to end on a tiny model and corpus: files, numbers, reproducibility, bad input."""

import contextlib
import io
import json
import math

import pytest

from songgen_hf.commands.cli import main
from songgen_hf.evaluation.report import HEADLINE_METRICS, render_report
from songgen_hf.evaluation.systems import SYSTEMS
from songgen_hf.pipelines import loading

from .tiny_corpus import evaluate_argv, tiny_evaluation_workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tiny_evaluation_workspace(tmp_path_factory.mktemp("evaluate"))


def _evaluate(workspace, output, *extra):
    return main(evaluate_argv(workspace, output, *extra))


@pytest.fixture(scope="module")
def first_run(workspace):
    """One full evaluation (every system, a report, the audio saved): ``(evaluation.json, what it printed)``.
    Shared by the tests that read it, so the module runs the whole evaluation once less per test."""
    root = workspace["root"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = _evaluate(workspace, root / "run1", "--report", str(root / "docs" / "evaluation.md"), "--save-audio")
    assert code == 0
    return json.loads((root / "run1" / "evaluation.json").read_text()), printed.getvalue()


def test_evaluate_writes_json_report_and_plots(workspace, first_run):
    root = workspace["root"]
    report = root / "docs" / "evaluation.md"
    result, printed = first_run
    assert "evaluation.json" in printed

    assert result["settings"]["num_prompts_evaluated"] == 2 and len(result["rows"]) == 2
    assert result["settings"]["sampling"]["seed"] == 0 and result["settings"]["sampling"]["guidance_scale"] == 3.0
    assert result["machine"]["cpu_count"] >= 1 and result["timing"]["total_s"] > 0
    per_clip = [metric for metric, *_ in HEADLINE_METRICS if metric != "syllable_onset_pearson"]
    for system in SYSTEMS:
        stats = result["aggregate"][system]
        for metric in per_clip + ["p_vocals", "p_drums", "tempo_bpm", "onset_count"]:
            assert math.isfinite(stats[metric]["mean"]), (system, metric)
            low, high = stats[metric]["ci95"]
            assert low <= stats[metric]["mean"] <= high
        assert "syllable_onset_pearson" in stats  # None when the counts do not vary over 2 prompts
        if system != "codec_resynthesis":
            for metric in ("token_entropy", "token_distinct", "token_repetition"):
                assert 0 <= stats[metric]["mean"] <= 1, (system, metric)
    for metric in ("si_sdr_db", "log_mel_distance"):
        assert math.isfinite(result["aggregate"]["codec_reconstruction"][metric]["mean"])
    ceilings = result["probes"]["ceilings"]
    assert ceilings["vocals"]["held_out_clips"] == 4 and 0 <= ceilings["drums"]["held_out_accuracy"] <= 1
    assert result["aggregate"]["ground_truth"]["tempo_acc1"]["mean"] == 1.0  # the analysis hears the corpus' tempo

    for row in result["rows"]:  # the tempo breakdown: every field where it applies, None where it does not
        slow = row["target"]["tempo_bpm"] < 90
        read_right = row["systems"]["ground_truth"]["tempo_acc1"] == 1.0
        for scores in row["systems"].values():
            assert (scores["tempo_acc1_slow"] is None) is not slow and (scores["tempo_acc1_fast"] is None) is slow
            assert (scores["tempo_acc1_readable"] is None) is not read_right
            if read_right:
                assert scores["tempo_acc1_readable"] == scores["tempo_acc1"]

    text = report.read_text()
    for heading in (
        "## Headline",
        "## Tempo, broken down",
        "## Where it fails",
        "## Attribute probes",
        "## Codec reconstruction",
        "## Token statistics",
        "## Reproduce",
    ):
        assert heading in text
    breakdown = ("tempo_acc1_slow", "tempo_acc1_fast", "tempo_acc1_readable", "tempo_doubled")
    saved_before = {
        **result,
        "aggregate": {
            system: {k: v for k, v in stats.items() if k not in breakdown}
            for system, stats in result["aggregate"].items()
        },
    }
    assert "## Tempo, broken down" not in render_report(saved_before, {})  # an older result still renders
    assert "## Headline" in render_report(saved_before, {})
    assert "](evaluation/tempo_error.png)" in text and "](evaluation/accuracy.png)" in text
    for name in ("tempo_error.png", "accuracy.png"):
        assert (root / "docs" / "evaluation" / name).read_bytes().startswith(b"\x89PNG")
    assert "songgen evaluate " in text and "--num-prompts 2" in text and "--seed 0" in text
    assert (root / "run1" / "probes.npz").is_file()
    assert len(list((root / "run1" / "audio").glob("*/*.wav"))) == 2 * len(SYSTEMS)


def test_the_same_seed_reproduces_with_the_systems_named_in_any_order_and_another_seed_differs(workspace, first_run):
    root, (result, _) = workspace["root"], first_run
    # same seed, fresh output folder (probes refit, not cached), every generated system named out of report order:
    # the systems in report order and identical numbers
    assert _evaluate(workspace, root / "run2", "--systems", "unconditioned", "guided", "no_guidance") == 0
    again = json.loads((root / "run2" / "evaluation.json").read_text())
    assert again["settings"]["systems"] == list(SYSTEMS)  # report order, whatever order was typed
    assert again["rows"] == result["rows"] and again["aggregate"] == result["aggregate"]
    assert (root / "run2" / "evaluation.md").is_file() and (root / "run2" / "evaluation" / "accuracy.png").is_file()
    # another seed samples other songs
    assert _evaluate(workspace, root / "run3", "--seed", "1") == 0
    other = json.loads((root / "run3" / "evaluation.json").read_text())
    assert other["rows"][0]["systems"]["guided"] != result["rows"][0]["systems"]["guided"]
    assert other["rows"][0]["systems"]["ground_truth"] == result["rows"][0]["systems"]["ground_truth"]


def _broken_manifests(workspace):
    root = workspace["root"] / "broken"
    root.mkdir(exist_ok=True)
    rows = [json.loads(line) for line in workspace["test"].read_text().splitlines()]
    no_attributes = {key: value for key, value in rows[0].items() if key != "attributes"}
    no_key = {**rows[0], "attributes": {"tempo_bpm": 120}}
    missing_audio = {**rows[0], "audio_path": "audio/nowhere.wav"}
    paths = {}
    for name, row in (("no_attributes", no_attributes), ("no_key", no_key), ("missing_audio", missing_audio)):
        paths[name] = workspace["test"].parent / f"{name}.jsonl"
        paths[name].write_text(json.dumps(row) + "\n")
    paths["not_json"] = workspace["test"].parent / "not_json.jsonl"
    paths["not_json"].write_text("{oops\n")
    lonely = root / "lonely.jsonl"  # no train.jsonl beside it; absolute audio paths
    corpus = workspace["test"].parent
    absolute = [
        {**row, **{field: str(corpus / row[field]) for field in ("audio_path", "vocal_path", "accompaniment_path")}}
        for row in rows
    ]
    lonely.write_text("".join(json.dumps(row) + "\n" for row in absolute))
    paths["lonely"] = lonely
    return paths


def test_evaluate_an_int8_decoder(workspace, tmp_path):
    from songgen_hf.evaluation.runner import load_model_and_processor
    from songgen_hf.modeling.songgen.quantization import Int8Linear

    model, _ = load_model_and_processor(workspace["model"], "cpu", "int8")
    assert all(isinstance(head, Int8Linear) for head in model.decoder.lm_heads)  # a CPU's int8: the packed kernel
    assert not any(isinstance(m, Int8Linear) for m in model.audio_encoder.modules())
    assert _evaluate(workspace, tmp_path / "int8", "--quantize", "int8") == 0
    result = json.loads((tmp_path / "int8" / "evaluation.json").read_text())
    assert result["settings"]["quantize"] == "int8" and "--quantize int8" in result["settings"]["command"]
    assert result["aggregate"]["guided"]  # scored like any other run


def test_systems_runs_only_the_generated_systems_named(workspace, first_run, tmp_path, capsys):
    everything, _ = first_run
    assert _evaluate(workspace, tmp_path / "guided", "--systems", "guided") == 0
    assert "guided: " in capsys.readouterr().out
    result = json.loads((tmp_path / "guided" / "evaluation.json").read_text())
    assert result["settings"]["systems"] == ["ground_truth", "codec_resynthesis", "guided"]
    assert set(result["aggregate"]) == {"ground_truth", "codec_resynthesis", "guided", "codec_reconstruction"}
    for row, full in zip(result["rows"], everything["rows"]):
        assert set(row["systems"]) == {"ground_truth", "codec_resynthesis", "guided"}
        assert row["systems"] == {name: full["systems"][name] for name in row["systems"]}  # the same songs and scores
    assert "Guided against unconditioned: not measured" in (tmp_path / "guided" / "evaluation.md").read_text()
    assert _evaluate(workspace, tmp_path / "unconditioned", "--systems", "unconditioned") == 0
    assert "unconditioned: " in capsys.readouterr().out


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing manifest", "is missing; pass a JSONL manifest"),
        ("no attributes", "has no 'attributes'; songgen evaluate needs a corpus manifest made by `songgen data synth`"),
        ("no key", "attributes lack ['key', 'mode']"),
        ("missing audio", "the audio_path file"),
        ("not json", "line 1 is not valid JSON"),
        ("no train split", "There is no train.jsonl next to"),
        ("missing model", "--model /no/such/model is not a model folder"),
        ("no default model", "The embedded default model is not in this install"),
        ("guidance 1", "--guidance-scale must be > 1"),
        ("control guidance without controls", "--control-guidance-scale pushes towards the musical controls"),
        ("silent vocals without a vocal track", "--silence-instrumental-vocals holds a dual-track model's vocal track"),
        ("codebook temperatures of a missing track", "--codebook-temperatures names track(s) ['vocals']"),
        ("report not markdown", "use a .md file name"),
        ("unknown system", "--systems takes one or more of guided, no_guidance, unconditioned (each once), got melody"),
        ("repeated system", "(each once), got guided, guided"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(workspace, tmp_path, capsys, monkeypatch, case, message):
    paths = _broken_manifests(workspace)
    manifest, extra, model = str(workspace["test"]), [], str(workspace["model"])
    if case == "missing manifest":
        manifest = str(tmp_path / "nowhere.jsonl")
    elif case in ("no attributes", "no key", "missing audio", "not json"):
        manifest = str(paths[case.replace(" ", "_")])
    elif case == "no train split":
        manifest = str(paths["lonely"])
    elif case == "missing model":
        model = "/no/such/model"
    elif case == "guidance 1":
        extra = ["--guidance-scale", "1"]
    elif case == "control guidance without controls":  # the workspace's model has no musical controls
        extra = ["--control-guidance-scale", "2"]
    elif case == "silent vocals without a vocal track":  # nor a vocal track
        extra = ["--silence-instrumental-vocals"]
    elif case == "codebook temperatures of a missing track":  # a one-track model
        extra = ["--codebook-temperatures", "vocals=0.6"]
    elif case == "report not markdown":
        extra = ["--report", str(tmp_path / "report.txt")]
    elif case == "unknown system":
        extra = ["--systems", "melody"]
    elif case == "repeated system":
        extra = ["--systems", "guided", "guided"]
    arguments = ["evaluate", manifest, "--output", str(tmp_path / "out"), *extra]
    if case == "no default model":
        monkeypatch.setattr(loading, "DEFAULT_MODEL_DIR", tmp_path / "absent")
    else:
        arguments += ["--model", model]
    assert main(arguments) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error and "Traceback" not in error
    assert not (tmp_path / "out" / "evaluation.json").exists()
