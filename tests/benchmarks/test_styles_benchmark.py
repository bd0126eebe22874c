"""benchmarks/styles.py without its hours of training and generating: the dry run prints each style's data, the
recipe's config per style and the levers' configs; bad arguments are refused by name; and the figures' pieces
(a judge with the base's songs among its negatives, its sharpness, the share of the way with its interval, the
leak ratio, worst style first, the tables) on tiny data."""

from __future__ import annotations

import json
import runpy

import numpy as np
import pytest

from .run_script import BENCHMARKS, run_benchmark


@pytest.fixture(scope="module")
def script():
    return runpy.run_path(str(BENCHMARKS / "styles.py"), run_name="styles")


@pytest.fixture(scope="module")
def tables():
    """benchmarks/styles_report.py: the report's tables, which styles.py prints."""
    return runpy.run_path(str(BENCHMARKS / "styles_report.py"), run_name="styles_report")


def _configs(printed: str) -> dict:
    lines = printed.splitlines()
    return {line.split()[1].rstrip(":"): json.loads(lines[i + 1]) for i, line in enumerate(lines) if "finetune" in line}


def test_the_dry_run_prints_every_styles_data_and_the_recipe_and_levers_configs(tmp_path):
    code, printed = run_benchmark(
        "styles", "--work", str(tmp_path), "--dry-run", "--levers", "trigger,dora,targets", "--lever-style", "gospel"
    )
    assert code == 0 and not any(tmp_path.iterdir())  # nothing run, nothing written
    synth = [line for line in printed.splitlines() if line.startswith("$ songgen data synth")]
    assert [line.split("--style ")[1].split()[0] for line in synth if "--style" in line] == [
        "calypso",
        "gospel",
        "bass_choir",
    ]
    configs = _configs(printed)
    assert sorted(configs) == sorted(
        ["calypso/recipe", "gospel/recipe", "bass_choir/recipe", "gospel/trigger", "gospel/dora", "gospel/targets"]
    )
    recipe = configs["bass_choir/recipe"]
    # docs/fine_tuning.md's real run, on the style's own encoded clips
    assert (recipe["batch_size"], recipe["max_frames"], recipe["max_steps"]) == (8, 500, 160)
    assert recipe["train_data"].endswith("bass_choir_enc") and not {"lora_r", "lora_targets"} & set(recipe)
    assert configs["gospel/trigger"]["trigger_phrase"] == "velvetrow style"
    assert configs["gospel/dora"]["lora_use_dora"] is True
    assert {"embeddings", "controls", "description"} <= set(configs["gospel/targets"]["lora_targets"])
    # a reduced scale: the levers and the recipe they are compared with, all as short
    _, printed = run_benchmark(
        "styles",
        "--work",
        str(tmp_path),
        "--dry-run",
        "--levers",
        "r4",
        "--lever-style",
        "calypso",
        "--lever-steps",
        "40",
    )
    configs = _configs(printed)
    assert configs["calypso/recipe_40"]["max_steps"] == configs["calypso/r4_40"]["max_steps"] == 40
    assert configs["calypso/recipe"]["max_steps"] == 160


def test_the_lane_levers_and_their_own_corpus_songs(tmp_path):
    """The lane levers weigh the regulariser; lane_corpus trains it on corpus songs of their own (a sample apart from
    the judge's, made and encoded first), which the other levers neither need nor make."""
    code, printed = run_benchmark(
        "styles",
        "--work",
        str(tmp_path),
        "--dry-run",
        "--styles",
        "gospel",
        "--levers",
        "lane_05,lane_1,lane_corpus,lane_corpus_01",
        "--lever-style",
        "gospel",
        "--lever-baseline",
        "singer_stage",
    )
    assert code == 0 and not any(tmp_path.iterdir())
    configs = _configs(printed)
    assert (configs["gospel/lane_05"]["lane_weight"], configs["gospel/lane_1"]["lane_weight"]) == (0.5, 1.0)
    assert "lane_data" not in configs["gospel/lane_05"]
    assert configs["gospel/lane_corpus"]["lane_data"] == str(tmp_path / "lane_corpus_enc")
    assert configs["gospel/lane_corpus_01"]["lane_data"] == str(tmp_path / "lane_corpus_enc")
    assert (configs["gospel/lane_corpus"]["lane_weight"], configs["gospel/lane_corpus_01"]["lane_weight"]) == (0.5, 0.1)
    synth = [
        line
        for line in printed.splitlines()
        if line.startswith(f"$ songgen data synth --output {tmp_path / 'lane_corpus'} ")
    ]
    assert len(synth) == 1 and "--seed 11" in synth[0] and "--test-fraction 0 " in synth[0]
    assert f"encode {tmp_path / 'lane_corpus' / 'manifest.jsonl'}" in printed
    _, printed = run_benchmark(
        "styles",
        "--work",
        str(tmp_path),
        "--dry-run",
        "--styles",
        "gospel",
        "--levers",
        "lane_05",
        "--lever-style",
        "gospel",
    )
    assert "lane_corpus" not in printed


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--styles", "calypso,polka"], "--styles takes any of"),
        (["--levers", "dora"], "--levers needs --lever-style"),
        (["--levers", "wings", "--lever-style", "gospel"], "--levers takes any of"),
        (["--lever-steps", "0"], "must be positive"),
        (["--unrelated", "17"], "--unrelated must be within"),
        (["--at", "gospel:80"], "--at takes STYLE=STEP"),
        (["--styles", "gospel", "--at", "calypso=80"], "--at names styles outside --styles"),
        (["--skip-shared"], "--skip-shared goes with --base-only or --songs-only"),
        (["--lever-baseline", "wings"], "--lever-baseline takes any of"),
        (["--unrelated-weights", "0.5,x"], "--unrelated-weights takes comma-separated numbers"),
        (["--unrelated-weights", "-1", "--levers", "lane_05", "--lever-style", "gospel"], "must be finite and >= 0"),
        (["--unrelated-weights", "0.5"], "--unrelated-weights weighs the lever baseline's adapter"),
        (["--styles", "gospel,harp_five", "--levers", "dora", "--lever-style", "harp_five"], "is kept apart"),
        (
            ["--styles", "gospel,harp_five", "--levers", "dora", "--lever-style", "gospel", "--carry-to", "harp_five"],
            "a kept-apart style",
        ),
    ],
)
def test_bad_arguments_are_refused_by_name(tmp_path, capsys, arguments, message):
    code, _ = run_benchmark("styles", "--work", str(tmp_path), "--dry-run", *arguments)
    assert code == 2 and message in capsys.readouterr().err


def test_the_kept_apart_style_is_measured_only_when_named_and_reported_on_its_own(script, tmp_path):
    """harp_five is none of the default styles; named, it has its data and the recipe as the others do, is never the
    worst style and has a table of its own (the benchmark styles' table stays as it was)."""
    assert script["KEPT_APART"] == ["harp_five"] and "harp_five" not in script["BENCHMARK_STYLES"]
    spec = script["STYLES"]["harp_five"]
    from songgen_hf.modeling.music import STYLES_OUTSIDE_CORPUS

    # phrased unlike its captions: none names the style as they do
    names = STYLES_OUTSIDE_CORPUS["harp_five"].caption_names
    assert len(spec["prompts"]) == 16 and not any(name in p.lower() for name in names for p in spec["prompts"])
    code, printed = run_benchmark("styles", "--work", str(tmp_path), "--dry-run", "--styles", "harp_five")
    assert code == 0 and "--style harp_five --tempo-range 100 132" in printed
    recipe = _configs(printed)["harp_five/recipe"]
    assert recipe["max_steps"] == 160 and recipe["train_data"].endswith("harp_five_enc")

    def measured(share):
        return script["share_entry"]([0.1 + share * 0.8] * 16, [0.1] * 16, target=0.9)

    sharp = {"base_songs": {"mean": 0.05}, "style_clips_codec": {"mean": 0.95}, "sharp": True}
    leak = {"recipe": script["leak_entry"]([0.15] * 8, [0.1] * 8, 0.4)}
    styles = {
        "gospel": {"axis": "metre", "judge_sharpness": sharp, "runs": {"recipe": measured(0.7)}, "leak": leak},
        "harp_five": {
            "kept_apart": True,
            "axis": "all at once",
            "judge_sharpness": sharp,
            "runs": {"recipe": measured(0.1)},
            "leak": leak,
        },
    }
    assert script["worst_first"](styles) == ["gospel"]  # the least moved, yet not the style levers are chosen on
    report = {"worst_first": ["gospel"], "kept_apart": ["harp_five"], "styles": styles}
    table = script["markdown_tables"](report)
    ours, apart = table.split("\n\n")
    assert (
        ours == script["markdown_tables"]({**report, "kept_apart": None, "styles": {"gospel": styles["gospel"]}})[:-1]
    )
    assert apart.startswith("| kept apart (no setting chosen on it): style (what is new) |")
    assert "| harp_five (all at once) | 0.05 / 0.95 |" in apart and "10% [10%, 10%]" in apart
    alone = script["markdown_tables"]({"worst_first": [], "kept_apart": ["harp_five"], "styles": styles})
    assert alone.startswith("| kept apart") and "gospel" not in alone


def test_a_style_prompt_without_its_key(script):
    """--keyless-style-prompts: each prompt with the key it names taken out, the rest as written."""
    assert script["without_key"]("plucked strings and harp in 5/4 at 126 bpm, two female singers, in G major") == (
        "plucked strings and harp in 5/4 at 126 bpm, two female singers"
    )
    choir = "bass choir at 100 bpm with strings"
    assert script["without_key"]("bass choir in C major at 100 bpm with strings") == choir
    assert script["without_key"]("a soulful tune, Bb minor, 90 bpm") == "a soulful tune, 90 bpm"
    unchanged = "two women singing together over a harp"
    assert script["without_key"](unchanged) == unchanged
    with pytest.raises(ValueError, match="still names a key"):
        script["without_key"]("a song in the key of E")


def test_the_judges_gap_to_the_clips_names_the_features_the_songs_lack(script):
    """Songs that match the style's clips in everything but their register: the judge's whole gap is the register
    group's; a judge that reads other columns only (a ColumnJudge) hears none of it."""
    from songgen_hf.evaluation.probes import LogisticProbe

    groups = script["feature_groups"](sum(size for _, size in script["JUDGE_FEATURE_GROUPS"]) + 23 + 9)
    width = int(max(group.max() for group in groups.values())) + 1
    rng = np.random.default_rng(0)
    clips = rng.normal(0, 1, (24, width))
    songs = clips + rng.normal(0, 0.01, clips.shape)
    songs[:, groups["register"]] -= 2.0
    probe = LogisticProbe(mean=np.zeros(width), scale=np.ones(width), weights=np.full(width, 0.5), bias=0.0)
    gaps = script["judge_gap_groups"](probe, clips, songs)
    assert next(iter(gaps)) == "register" and gaps["register"] == pytest.approx(0.5 * 2.0 * 9, rel=0.01)
    assert gaps["total"] == pytest.approx(gaps["register"], abs=0.1) and abs(gaps["mfcc_mean"]) < 0.1
    columns = groups["mfcc_mean"]
    narrow = script["shared"].ColumnJudge(
        LogisticProbe(mean=np.zeros(20), scale=np.ones(20), weights=np.ones(20), bias=0.0), columns
    )
    assert set(script["judge_gap_groups"](narrow, clips, songs)) == {"mfcc_mean", "total"}
    with pytest.raises(ValueError, match="not 7"):
        script["feature_groups"](7)


def test_a_judge_with_the_bases_songs_among_its_negatives_puts_them_near_zero(script, tmp_path):
    """Style clips around +1 on one feature, corpus clips around -1, the base's own songs somewhere else (+0.8 on
    that feature, and a second feature of their own): the corpus-only judge leans towards calling them the style, the
    judge that has seen some of them does not, and both still tell the style's clips from the corpus's."""
    rng = np.random.default_rng(0)

    def rows(first, second, count=48):
        return np.stack([rng.normal(first, 0.3, count), rng.normal(second, 0.3, count)], axis=1)

    arrays = {"style_real": rows(1, 0), "style_codec": rows(1, 0), "corpus_real": rows(-1, 0)}
    arrays["corpus_codec"] = rows(-1, 0)
    np.savez(tmp_path / "judge_features_x.npz", **arrays)
    shared = script["shared"]
    plain, plain_report = shared.fit_judge(tmp_path, "x", tmp_path / "judge_features_x.npz")
    judge, report = shared.fit_judge(tmp_path, "x", tmp_path / "judge_features_x.npz", negatives=rows(0.8, 3))
    base_songs = rows(0.8, 3, 16)
    before, after = plain.probability(base_songs).mean(), judge.probability(base_songs).mean()
    assert before > 0.5 and after < 0.15
    assert report["accuracy_codec"] == plain_report["accuracy_codec"] == 1.0
    sharp = script["sharpness"](report, list(judge.probability(base_songs)))
    assert sharp["base_songs"]["mean"] == pytest.approx(after) and sharp["sharp"] == (
        report["style_set_score_codec"]["mean"] >= 0.85
    )
    assert not script["sharpness"](plain_report, list(plain.probability(base_songs)))["sharp"]  # base at 0.5


def test_a_judge_that_reads_the_styles_own_columns_is_not_fooled_by_the_others(script, tmp_path):
    """The style differs from the corpus in the second column (its groove) only; the base's songs sit with the
    style in the first (how the base plays the prompts' instruments) and with the corpus in the second.  A judge on
    every column calls them half the style; one that reads the second column puts them near 0, and both tell the
    style's held-out clips from the corpus's."""
    rng = np.random.default_rng(1)

    def rows(first, second, count=48):
        return np.stack([rng.normal(first, 0.3, count), rng.normal(second, 0.3, count)], axis=1)

    arrays = {"style_real": rows(1, 1), "style_codec": rows(1, 1), "corpus_real": rows(-1, -1)}
    arrays["corpus_codec"] = rows(1, -1)  # the codec moves the corpus's timbre, not its groove
    np.savez(tmp_path / "judge_features_x.npz", **arrays)
    shared = script["shared"]
    everything, _ = shared.fit_judge(tmp_path, "x", tmp_path / "judge_features_x.npz")
    groove, report = shared.fit_judge(tmp_path, "x", tmp_path / "judge_features_x.npz", columns=slice(1, None), l2=0.1)
    base_songs = rows(1, -1, 16)
    assert everything.probability(base_songs).mean() > groove.probability(base_songs).mean()
    assert groove.probability(base_songs).mean() < 0.15 and report["accuracy_codec"] == 1.0
    assert "l2=0.1" in report["features"]
    # the groove judge of the styles benchmark reads the groove and register features, the last columns
    from songgen_hf.evaluation.groove import BEAT_FEATURE_NAMES, REGISTER_FEATURE_NAMES

    beat, register = len(BEAT_FEATURE_NAMES), len(REGISTER_FEATURE_NAMES)
    assert script["judge_reading"]("groove", 300)["columns"].tolist() == list(range(300 - beat - register, 300))
    voice = script["judge_reading"]("voice", 300)["columns"].tolist()  # every column but the beat's
    assert voice == list(range(300 - beat - register)) + list(range(300 - register, 300))
    assert script["judge_reading"]("everything", 300) == {"columns": None, "l2": 10.0}
    with pytest.raises(ValueError, match="reads 'everything', 'groove' or 'voice'"):
        script["judge_reading"]("melody", 300)
    assert {spec["judge_reads"] for spec in script["STYLES"].values()} <= {"everything", "groove", "voice"}


def test_the_share_of_the_way_the_leak_and_the_worst_style_first(script):
    base, run = [0.1] * 16, [0.1 + 0.4 + 0.01 * (i % 3 - 1) for i in range(16)]
    entry = script["share_entry"](run, base, target=0.9)
    assert entry["share_of_the_way_to_the_style_set"] == pytest.approx(0.5, abs=0.002)
    low, high = entry["share_ci95"]
    assert low <= 0.5 <= high and high - low < 0.05
    leak = script["leak_entry"]([0.2] * 8, [0.1] * 8, style_difference=0.4)
    assert leak["leak_ratio"] == pytest.approx(0.25) and leak["minus_base"]["mean"] == pytest.approx(0.1)
    assert script["leak_entry"]([0.2] * 8, [0.1] * 8, style_difference=0.0)["leak_ratio"] is None
    styles = {
        name: {"runs": {"recipe": {"share_of_the_way_to_the_style_set": share}}}
        for name, share in (("calypso", 0.7), ("gospel", 0.2), ("bass_choir", 0.05))
    }
    styles["new"] = {"runs": {}}  # not measured yet: last
    assert script["worst_first"](styles) == ["bass_choir", "gospel", "calypso", "new"]


def test_the_tables_put_the_worst_style_first_and_list_the_levers(script):
    def measured(share):
        entry = script["share_entry"]([0.1 + share * 0.8] * 16, [0.1] * 16, target=0.9)
        return entry

    sharp = {
        "base_songs": {"mean": 0.1},
        "style_clips_codec": {"mean": 0.9},
        "sharp": True,
    }
    leak = {"recipe": script["leak_entry"]([0.15] * 8, [0.1] * 8, 0.4)}
    report = {
        "worst_first": ["gospel", "calypso"],
        "styles": {
            "calypso": {
                "axis": "instruments",
                "judge_sharpness": sharp,
                "runs": {"recipe": measured(0.7)},
                "leak": leak,
            },
            "gospel": {
                "axis": "metre",
                "judge_sharpness": {**sharp, "sharp": False},
                "runs": {"recipe": measured(0.2), "dora": measured(0.3)},
                "leak": leak,
            },
        },
        "levers": {
            "style": "gospel",
            "steps": 160,
            "compared_with": "recipe",
            "runs": ["recipe", "dora"],
            "minus_recipe": {"dora": {"mean": 0.08, "ci95": [0.01, 0.15]}},
        },
        "training": {"results": {"gospel/dora": {"seconds_per_step": 9.0, "fastest_seconds_per_step": 2.5}}},
    }
    table = script["markdown_tables"](report)
    lines = table.splitlines()
    assert lines[2].startswith("| gospel (metre) | 0.10 / 0.90 (not sharp)") and "20%" in lines[2]
    assert lines[3].startswith("| calypso (instruments)") and "70%" in lines[3] and "| 0.12 |" in lines[3]
    assert "| dora | 30% " in table and "0.08 [0.01, 0.15]" in table and "| 2.5 |" in table
    assert "minus recipe, paired" in table
    assert "| 0.05 [0.05, 0.05] | 0.12 |" in table  # the recipe's unrelated prompts and its leak
    report["styles"]["gospel"]["leak_at_weight"] = {"0.25": script["leak_entry"]([0.11] * 8, [0.1] * 8, 0.16)}
    weighted = script["markdown_tables"](report).split("recipe's weight on the unrelated prompts")[1]
    assert "| 0.25 | 0.01 [0.01, 0.01] | 0.06 |" in weighted


def test_the_docs_quote_the_reports_table(script):
    """docs/fine_tuning.md's three-style table is the one the script prints from docs/benchmarks/styles.json."""
    docs = (BENCHMARKS.parent / "docs" / "fine_tuning.md").read_text(encoding="utf-8")
    report = json.loads((BENCHMARKS.parent / "docs" / "benchmarks" / "styles.json").read_text(encoding="utf-8"))
    assert report["benchmark"] == "styles" and report["commit"]
    assert report["worst_first"] == script["worst_first"](report["styles"])
    assert f"<!-- styles-table -->\n{script['markdown_tables'](report)}<!-- /styles-table -->" in docs


def test_the_voice_table_shows_each_run_with_and_without_the_told_singer_and_the_ablation(script, tables, tmp_path):
    def measured(share):
        return script["share_entry"]([0.1 + share * 0.8] * 16, [0.1] * 16, target=0.9)

    leak = script["leak_entry"]([0.15] * 8, [0.1] * 8, 0.4)
    without = f"singer_stage{script['WITHOUT_VOICE']}"
    style = {
        "axis": "voice",
        "judge_sharpness": {"base_songs": {"mean": 0.1}, "style_clips_codec": {"mean": 0.9}, "sharp": True},
        "runs": {"recipe": measured(0.05), "singer_stage": measured(0.6), without: measured(0.1)},
        "leak": {"recipe": leak, "singer_stage": leak},
    }
    none = {"styles": {"bass_choir": {"runs": {"recipe": measured(0.15)}, "leak": {}}}}
    report = {"worst_first": ["bass_choir"], "styles": {"bass_choir": style}, "singer_none": none}
    lines = tables["voice_table"](report).splitlines()
    assert lines[2].startswith("| bass_choir / recipe | 5% [5%, 5%] | 0.12 | 15% [15%, 15%] |")
    assert lines[3].startswith("| bass_choir / singer_stage | 60% [60%, 60%] | 0.12 |  | ")
    assert lines[4].startswith(f"| bass_choir / {without} | 10% ")
    assert tables["voice_table"](report) in script["markdown_tables"](report)
    # the ablation's adapter: a copy of the run's final folder without its singer's learnt voice, made once
    final = tmp_path / "final"
    (final / "singer_adapter").mkdir(parents=True)
    (final / "adapter_model.safetensors").write_bytes(b"x")
    assert script["without_learnt_voice"](final) is None  # it records none
    (final / "singer_adapter" / "learned_voice.json").write_text("{}")
    copy = script["without_learnt_voice"](final)
    assert copy.name == f"final{script['WITHOUT_VOICE']}" and (copy / "adapter_model.safetensors").is_file()
    assert not (copy / "singer_adapter" / "learned_voice.json").exists()
    assert (final / "singer_adapter" / "learned_voice.json").is_file()  # the run's own is left as it is
    assert script["without_learnt_voice"](final) == copy


def test_the_docs_quote_the_voice_reports_table(tables):
    """docs/fine_tuning.md's table of the worst style's voice is the one the script prints from styles_voice.json."""
    docs = (BENCHMARKS.parent / "docs" / "fine_tuning.md").read_text(encoding="utf-8")
    report = json.loads((BENCHMARKS.parent / "docs" / "benchmarks" / "styles_voice.json").read_text(encoding="utf-8"))
    assert report["benchmark"] == "styles" and report["commit"] and report["singer_none"]["songs"]["singer"] == "none"
    assert f"<!-- styles-voice-table -->\n{tables['voice_table'](report)}<!-- /styles-voice-table -->" in docs


def test_the_reach_levers_configs_and_the_unrelated_prompts_without_their_tempo(script, tmp_path):
    """steps_x2 trains twice the recipe's steps, lr6e-3 twice its learning rate, style_tempo the recipe itself
    (its adapter records its songs' tempo); the untimed leak's prompts name no tempo and keep the rest."""
    _, printed = run_benchmark(
        "styles",
        *["--work", str(tmp_path), "--dry-run", "--styles", "gospel,calypso", "--lever-style", "gospel"],
        *["--levers", "steps_x2,lr6e-3,style_tempo", "--carry-to", "calypso"],
    )
    configs = _configs(printed)
    assert configs["gospel/steps_x2"]["max_steps"] == 320 and "steps_factor" not in configs["gospel/steps_x2"]
    assert configs["gospel/lr6e-3"]["learning_rate"] == 6e-3 and configs["gospel/lr6e-3"]["max_steps"] == 160
    recipe = {key: value for key, value in configs["gospel/recipe"].items() if key != "output_dir"}
    assert {key: value for key, value in configs["gospel/style_tempo"].items() if key != "output_dir"} == recipe
    assert configs["calypso/style_tempo"]["train_data"].endswith("calypso_enc")  # carried to calypso
    from songgen_hf.modeling.songgen.description_songgen import parse_tempo_bpm

    untimed = [script["without_tempo"](text) for text, *_ in script["shared"].UNRELATED_PROMPTS]
    assert all(parse_tempo_bpm(text) is None for text in untimed)
    assert untimed[1] == "a slow piano ballad for a rainy night in A minor, soft female singer"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--weights", "1.5,x"], "--weights takes comma-separated numbers"),
        (["--weights", "0"], "--weights must be finite and above 0"),
        (["--carry-to", "calypso"], "--carry-to takes styles of --styles"),
    ],
)
def test_bad_reach_arguments_are_refused_by_name(tmp_path, capsys, arguments, message):
    code, _ = run_benchmark("styles", "--work", str(tmp_path), "--dry-run", *arguments)
    assert code == 2 and message in capsys.readouterr().err


def test_the_levers_table_lists_a_lever_carried_to_another_style(script):
    entry = script["share_entry"]([0.1 + 0.6 * 0.8] * 16, [0.1] * 16, target=0.9)
    leak = {"style_tempo": script["leak_entry"]([0.15] * 8, [0.1] * 8, 0.48)}
    report = {
        "worst_first": ["gospel", "calypso"],
        "styles": {
            name: {
                "axis": name,
                "judge_sharpness": {"base_songs": {"mean": 0.1}, "style_clips_codec": {"mean": 0.9}, "sharp": True},
                "runs": {"recipe": entry, "style_tempo": entry},
                "leak": leak,
            }
            for name in ("gospel", "calypso")
        },
        "levers": {
            "style": "gospel",
            "steps": 160,
            "compared_with": "recipe",
            "runs": ["recipe", "style_tempo"],
            "minus_recipe": {"style_tempo": {"mean": 0.3, "ci95": [0.1, 0.5]}},
            "carried": {"calypso": {"style_tempo": {"mean": 0.2, "ci95": [0.05, 0.35]}}},
        },
    }
    table = script["markdown_tables"](report)
    assert "| style_tempo, on calypso | 60% [60%, 60%] | 0.20 [0.05, 0.35] | 0.05 [0.05, 0.05] | 0.10 | |" in table


def test_the_docs_quote_the_reach_reports_table(script):
    """docs/fine_tuning.md's table of the levers that reach for half the way is the one the script prints from
    docs/benchmarks/styles_reach.json, and the tempo record's row is there, on gospel and carried to calypso."""
    docs = (BENCHMARKS.parent / "docs" / "fine_tuning.md").read_text(encoding="utf-8")
    report = json.loads((BENCHMARKS.parent / "docs" / "benchmarks" / "styles_reach.json").read_text(encoding="utf-8"))
    table = script["markdown_tables"](report)
    assert f"<!-- styles-reach-table -->\n{table}<!-- /styles-reach-table -->" in docs
    assert report["levers"]["style"] == "gospel" and "style_tempo" in report["levers"]["carried"]["calypso"]


def test_the_docs_quote_the_lane_reports_tables(script):
    """docs/fine_tuning.md's lane tables are the ones the script prints from docs/benchmarks/styles_lane.json."""
    docs = (BENCHMARKS.parent / "docs" / "fine_tuning.md").read_text(encoding="utf-8")
    report = json.loads((BENCHMARKS.parent / "docs" / "benchmarks" / "styles_lane.json").read_text(encoding="utf-8"))
    assert report["benchmark"] == "styles" and report["commit"] and report["levers"]["compared_with"] == "singer_stage"
    assert f"<!-- styles-lane-table -->\n{script['markdown_tables'](report)}<!-- /styles-lane-table -->" in docs
    calypso = json.loads(
        (BENCHMARKS.parent / "docs" / "benchmarks" / "styles_lane_calypso.json").read_text(encoding="utf-8")
    )
    table = script["markdown_tables"](calypso)
    assert f"<!-- styles-lane-calypso-table -->\n{table}<!-- /styles-lane-calypso-table -->" in docs


def test_the_documented_run_is_planned_on_every_style_with_the_runs_it_is_paired_with(tmp_path):
    """--documented plans finetune-lora's documented settings (the singer stage, the default) on every style, no
    recipe, and the --compared-with runs the work folder holds (never trained here)."""
    (tmp_path / "runs" / "gospel" / "style_tempo" / "final").mkdir(parents=True)
    (tmp_path / "runs" / "gospel" / "style_tempo" / "final" / "adapter_model.safetensors").write_bytes(b"x")
    code, printed = run_benchmark(
        "styles",
        *["--work", str(tmp_path), "--dry-run", "--styles", "bass_choir,gospel", "--documented"],
        *["--compared-with", "gospel=style_tempo"],
    )
    configs = _configs(printed)
    assert code == 0 and sorted(configs) == ["bass_choir/documented", "gospel/documented"]
    assert "# gospel/style_tempo: kept, its adapter exists" in printed  # paired with, never trained here
    documented = configs["gospel/documented"]
    assert documented["output_dir"].endswith("runs/gospel/documented") and documented["max_steps"] == 160
    assert "singer_adapter" in documented and documented["singer_adapter"] is None  # the stage as the default runs it


def test_the_decoders_levers_on_the_documented_run_change_only_the_lever(tmp_path):
    """--documented with --levers documented_targets,documented_lr6e-3 --lever-baseline documented plans the
    documented run and each lever on it: the same config (its singer stage among it) with only the lever changed."""
    code, printed = run_benchmark(
        "styles",
        *["--work", str(tmp_path), "--dry-run", "--styles", "bass_choir", "--documented"],
        *["--levers", "documented_targets,documented_lr6e-3", "--lever-style", "bass_choir"],
        *["--lever-baseline", "documented"],
    )
    configs = _configs(printed)
    assert code == 0 and sorted(configs) == [
        "bass_choir/documented",
        "bass_choir/documented_lr6e-3",
        "bass_choir/documented_targets",
    ]
    documented = configs.pop("bass_choir/documented")
    assert documented["singer_adapter"] is None and "lora_targets" not in documented
    changed = {}
    for name, config in configs.items():
        assert config["output_dir"].endswith(f"runs/{name}")
        changed[name] = {
            key: value for key, value in config.items() if key != "output_dir" and documented.get(key, "-") != value
        }
    assert changed["bass_choir/documented_lr6e-3"] == {"learning_rate": 6e-3}
    targets = changed["bass_choir/documented_targets"]["lora_targets"]
    assert changed["bass_choir/documented_targets"].keys() == {"lora_targets"}
    assert {"embeddings", "controls", "description", "heads"} <= set(targets)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--documented-from", "gospel=/x"], "go with --documented"),
        (["--documented", "--compared-with", "gospel=style_tempo"], "does not hold"),
        (["--documented", "--styles", "gospel", "--documented-from", "calypso=/x"], "name styles outside --styles"),
        (["--documented", "--compared-with", "gospel"], "STYLE=VALUE pairs"),
        (["--documented", "--levers", "dora", "--lever-style", "gospel"], "measure --levers apart"),
        (["--diagnose", "polka"], "--diagnose takes a style of --styles"),
        (["--diagnose-runs", "steps_x2"], "--diagnose-runs goes with --diagnose"),
    ],
)
def test_bad_documented_arguments_are_refused_by_name(tmp_path, capsys, arguments, message):
    code, _ = run_benchmark("styles", "--work", str(tmp_path), "--dry-run", *arguments)
    assert code == 2 and message in capsys.readouterr().err


def test_every_judge_feature_has_a_name_and_the_gaps_sum_to_the_judges_logit_gap(script):
    from songgen_hf.evaluation.probes import LogisticProbe

    rate = script["shared"].RATE
    audio = np.random.default_rng(0).normal(0, 0.1, 2 * rate).astype(np.float32)
    names = script["style_judge_feature_names"]()
    assert len(names) == len(script["style_judge_features"](audio)) and len(set(names)) == len(names)
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(80, len(names)))
    rows[:40, -9] += 2.0  # band_40_80: what the style has more of
    reading = script["judge_reading"]("voice", len(names))
    columns = reading["columns"]
    probe = LogisticProbe.fit(rows[:, columns], np.array([1] * 40 + [0] * 40), l2=reading["l2"])
    judge = script["shared"].ColumnJudge(probe, columns)
    style, songs = rows[:40], rows[40:]
    gaps = script["judge_gaps"](judge, songs, style, top=5)

    def logit(features):
        return ((features[columns] - probe.mean) / probe.scale) @ probe.weights

    assert gaps["logit_gap"] == pytest.approx(logit(style.mean(axis=0)) - logit(songs.mean(axis=0)))
    assert gaps["top"][0]["feature"] == "band_40_80" and len(gaps["top"]) == 5
    contributions = [entry["contribution"] for entry in gaps["top"]]
    assert contributions == sorted(contributions, reverse=True)
    assert sum(gaps["contribution_by_family"].values()) == pytest.approx(gaps["logit_gap"], abs=0.01)
    assert "beat" not in gaps["contribution_by_family"]  # the voice judge reads no beat features


def test_the_diagnosis_gives_the_gaps_on_the_prompts_that_name_a_tempo_apart(script, tmp_path):
    """A run whose songs lack a feature only where the prompt names a tempo: the gaps on those prompts alone put it
    first, at a larger logit gap than over every prompt."""
    import argparse

    from songgen_hf.evaluation.probes import LogisticProbe
    from songgen_hf.modeling.songgen.description_songgen import parse_tempo_bpm

    names = script["style_judge_feature_names"]()
    rise = names.index("mel_92Hz_rise")
    rng = np.random.default_rng(2)
    style_rows = rng.normal(size=(48, len(names)))
    style_rows[:, rise] += 2.0  # the style's clips: more of the feature
    np.savez(tmp_path / "judge_features_bass_choir_v2.npz", style_codec=style_rows)
    reading = script["judge_reading"]("voice", len(names))
    columns = reading["columns"]
    corpus = rng.normal(size=(48, len(names)))
    probe = LogisticProbe.fit(np.r_[style_rows, corpus][:, columns], np.array([1] * 48 + [0] * 48), l2=reading["l2"])
    judge = script["shared"].ColumnJudge(probe, columns)
    prompts = script["STYLES"]["bass_choir"]["prompts"]
    timed = np.array([parse_tempo_bpm(text) is not None for text in prompts])
    seeds = len(script["shared"].SEEDS)
    songs = rng.normal(size=(seeds * len(prompts), len(names)))
    songs[:, rise] += np.where(np.tile(timed, seeds), -2.0, 2.0)  # seed by seed; lacking it where a tempo is told
    (tmp_path / "songs" / "bass_choir" / "documented").mkdir(parents=True)
    np.save(tmp_path / "songs" / "bass_choir" / "documented" / "style_features_v2.npy", songs)
    args = argparse.Namespace(
        work=tmp_path, diagnose="bass_choir", documented=True, diagnose_runs=[], singer="auto", decoder_untimed=False
    )
    run = script["diagnosis"](args, judge, "style")["runs"]["documented"]
    on_timed = run["gaps_on_prompts_naming_a_tempo"]
    assert on_timed["top"][0]["feature"] == "mel_92Hz_rise"
    assert on_timed["logit_gap"] > run["gaps"]["logit_gap"]
    assert run["style_score_prompts_naming_a_tempo"] < run["style_score_prompts_naming_none"]


def test_a_copys_folder_is_compared_with_a_fresh_runs_on_its_files_and_keys(script, tmp_path):
    copy, fresh = tmp_path / "copy", tmp_path / "fresh"
    for folder, record in ((copy, {"a": 1, "style_tempo_bpm": 106.0}), (fresh, {"a": 2, "style_tempo_bpm": 120.0})):
        (folder / "singer_adapter").mkdir(parents=True)
        (folder / "songgen_adapter.json").write_text(json.dumps(record))
        (folder / "singer_adapter" / "learned_voice.json").write_text(json.dumps({"registers": {"male": {}}}))
    assert script["layout_differences"](copy, fresh) == {
        "files_only_in_copy": [],
        "files_only_in_fresh": [],
        "keys_differ": {},
    }  # values and the style's own registers aside
    (fresh / "training_config.json").write_text(json.dumps({"lane_rows_per_pass": 2}))
    (copy / "songgen_adapter.json").write_text(json.dumps({"a": 1}))
    differences = script["layout_differences"](copy, fresh)
    assert differences["files_only_in_fresh"] == ["training_config.json"]
    only = {"only_in_copy": [], "only_in_fresh": ["style_tempo_bpm"]}
    assert differences["keys_differ"] == {"songgen_adapter.json": only}


def test_a_documented_copy_refuses_a_source_of_other_settings(script, tmp_path):
    source = tmp_path / "source" / "final"
    config = {"train_data": str(tmp_path / "enc"), "init_from": "songgen-tiny", "max_steps": 160}
    config["singer_adapter"] = None
    source.mkdir(parents=True)
    with pytest.raises(SystemExit, match="no singer adapter"):
        script["documented_copy"](tmp_path / "work", "gospel", source, config)
    (source / "singer_adapter").mkdir()
    (source / "singer_adapter" / "adapter_model.safetensors").write_bytes(b"x")
    record = {**config, "max_steps": 320, "output_dir": "elsewhere", "init_from": "/a/checkout/assets/songgen-tiny"}
    (source / "training_config.json").write_text(json.dumps(record))
    with pytest.raises(SystemExit, match="max_steps"):
        script["documented_copy"](tmp_path / "work", "gospel", source, config)
    assert not (tmp_path / "work").exists()  # nothing copied


def test_the_documented_table_pairs_each_style_with_its_earlier_run(tables):
    entry = {
        "share": 0.23,
        "share_ci95": [0.1, 0.35],
        "leak_ratio": 0.5,
        "compared_with": "singer_stage",
        "compared_share": 0.34,
        "minus_compared_with": {"mean": -0.1, "ci95": [-0.2, -0.01]},
    }
    report = {"worst_first": ["bass_choir", "gospel"], "documented": {"bass_choir": entry}}
    lines = tables["documented_table"](report).splitlines()
    assert lines[2] == "| bass_choir | 23% [10%, 35%] | 0.50 | no | no | singer_stage | 34% | -0.10 [-0.20, -0.01] |"
    assert len(lines) == 3  # a style without a documented run has no row


def test_the_docs_quote_the_documented_reports_tables(script):
    """docs/fine_tuning.md's tables of the documented run on every style are the ones the script prints from
    styles_documented.json, whose copies match a fresh run's folder."""
    docs = (BENCHMARKS.parent / "docs" / "fine_tuning.md").read_text(encoding="utf-8")
    path = BENCHMARKS.parent / "docs" / "benchmarks" / "styles_documented.json"
    report = json.loads(path.read_text(encoding="utf-8"))
    assert report["benchmark"] == "styles" and report["commit"] and report["worst_first"][0] == "bass_choir"
    for entry in report["documented"].values():
        layout = entry["made"].get("layout_against_a_fresh_run")
        assert entry["made"].get("trained") or not any(layout[key] for key in layout if key != "fresh")
    tables = script["markdown_tables"](report)
    assert f"<!-- styles-documented-table -->\n{tables}<!-- /styles-documented-table -->" in docs


def test_the_docs_quote_the_kept_apart_reports_table(script):
    """docs/fine_tuning.md's table of the style kept apart is the one the script prints from styles_apart.json, made
    with the told singer and --singer none beside it; its keyless report asks the same prompts without their key."""
    docs = (BENCHMARKS.parent / "docs" / "fine_tuning.md").read_text(encoding="utf-8")
    report = json.loads((BENCHMARKS.parent / "docs" / "benchmarks" / "styles_apart.json").read_text(encoding="utf-8"))
    assert report["kept_apart"] == ["harp_five"] and report["worst_first"] == [] and "levers" not in report
    assert report["songs"]["singer"] == "auto" and report["singer_none"]["songs"]["singer"] == "none"
    assert f"<!-- styles-apart-table -->\n{script['markdown_tables'](report)}<!-- /styles-apart-table -->" in docs
    keyless = json.loads(
        (BENCHMARKS.parent / "docs" / "benchmarks" / "styles_apart_keyless.json").read_text(encoding="utf-8")
    )
    assert keyless["songs"]["style_prompts_keyless"] and keyless["kept_apart"] == ["harp_five"]


def test_the_docs_quote_the_decoders_levers_on_the_documented_run(tables):
    """docs/fine_tuning.md's table of the decoder's levers on bass_choir at the documented settings is the one the
    script prints from styles_levers_bass_choir.json: each lever a documented run with only the lever changed, paired
    with the documented run."""
    docs = (BENCHMARKS.parent / "docs" / "fine_tuning.md").read_text(encoding="utf-8")
    path = BENCHMARKS.parent / "docs" / "benchmarks" / "styles_levers_bass_choir.json"
    report = json.loads(path.read_text(encoding="utf-8"))
    levers = report["levers"]
    assert levers["style"] == "bass_choir" and levers["compared_with"] == "documented" and report["commit"]
    assert "--documented" in report["command"] and not levers["reduced_scale"]
    for name in levers["runs"][1:]:
        assert report["training"]["runs"][f"bass_choir/{name}"]["singer_adapter"] is None  # the singer stage on
    table = tables["levers_table"](report)
    assert f"<!-- styles-levers-bass-choir-table -->\n{table}<!-- /styles-levers-bass-choir-table -->" in docs


def test_the_controls_each_lever_on_the_worst_style_and_reported_on_the_kept_apart_one(tmp_path):
    """controls_each: the documented run with each musical control unknown on its own in half the rows; measured
    as a lever on bass_choir and (--apart-levers) on harp_five, paired there with the same baseline, reported only."""
    code, printed = run_benchmark(
        "styles",
        *["--work", str(tmp_path), "--dry-run", "--styles", "bass_choir,harp_five"],
        *["--levers", "controls_each", "--lever-style", "bass_choir", "--lever-baseline", "documented"],
        *["--apart-levers", "controls_each"],
    )
    configs = _configs(printed)
    assert code == 0
    for style in ("bass_choir", "harp_five"):
        lever = configs[f"{style}/controls_each"]
        assert lever["control_each_dropout_prob"] == 0.5 and lever["singer_adapter"] is None
        assert lever["max_steps"] == 160 and lever["train_data"].endswith(f"{style}_enc")
    assert configs["bass_choir/documented"] == {
        key: value for key, value in configs["bass_choir/controls_each"].items() if key != "control_each_dropout_prob"
    } | {"output_dir": configs["bass_choir/documented"]["output_dir"]}
    # the kept-apart style's lever is paired with --lever-baseline's run on it (without: its recipe)
    assert "control_each_dropout_prob" not in configs["harp_five/documented"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--apart-levers", "wings", "--styles", "harp_five"], "--apart-levers takes any of"),
        (["--apart-levers", "controls_each"], "--apart-levers measures the kept-apart styles"),
    ],
)
def test_bad_apart_lever_arguments_are_refused_by_name(tmp_path, capsys, arguments, message):
    code, _ = run_benchmark("styles", "--work", str(tmp_path), "--dry-run", *arguments)
    assert code == 2 and message in capsys.readouterr().err


def test_the_key_split_and_the_kept_apart_levers_table(script, tmp_path):
    """Each run's share on the prompts that name a key and on those that name none, apart; a kept-apart style's
    report from its own work folder is put beside this one's, its levers in a table of their own."""
    prompts = ["a song in C major", "a song at 90 bpm", "a hymn, A minor", "a slow hymn"]
    assert [script["names_a_key"](text) for text in prompts] == [True, False, True, False]
    base, target = [0.1, 0.1, 0.1, 0.1], 0.9
    runs = {"documented": [0.5, 0.1, 0.5, 0.1], "run": [0.9, 0.1, 0.9, 0.5]}
    split = script["key_split"](prompts, runs, base, target, "documented")
    assert split["prompts"] == {"names_a_key": [0, 2], "names_no_key": [1, 3]}
    assert split["runs"]["run"]["names_a_key"]["share_of_the_way_to_the_style_set"] == pytest.approx(1.0)
    assert split["runs"]["run"]["names_no_key"]["share_of_the_way_to_the_style_set"] == pytest.approx(0.25)
    # paired per part with the baseline: +0.4 where a key is named, +0.2 where none is
    assert split["minus_baseline"]["run"]["names_a_key"]["mean"] == pytest.approx(0.4)
    assert split["minus_baseline"]["run"]["names_no_key"]["mean"] == pytest.approx(0.2)
    assert "documented" not in split["minus_baseline"]
    sharp = {"base_songs": {"mean": 0.1}, "style_clips_codec": {"mean": 0.9}, "sharp": True}

    def style(values: list[float]) -> dict:
        runs = {name: script["share_entry"](v, base, target) for name, v in values.items()}
        return {"axis": "a", "judge_sharpness": sharp, "runs": runs, "leak": {}, "values_per_prompt": values}

    apart = style({"recipe": [0.5, 0.1, 0.5, 0.1], "controls_each": [0.7, 0.5, 0.7, 0.5]})
    apart["key_split"] = script["key_split"](prompts, apart["values_per_prompt"], base, target, "recipe")
    other = {
        "commit": "abc",
        "kept_apart": ["harp_five"],
        "styles": {"harp_five": apart},
        "kept_apart_levers": {
            "harp_five": {
                "compared_with": "recipe",
                "runs": ["recipe", "controls_each"],
                "minus_baseline": {"controls_each": {"mean": 0.3, "ci95": [0.2, 0.4], "n": 4}},
            }
        },
    }
    path = tmp_path / "apart.json"
    path.write_text(json.dumps(other), encoding="utf-8")
    report = {"worst_first": ["bass_choir"], "styles": {"bass_choir": style(runs)}}
    report["styles"]["bass_choir"]["key_split"] = split
    script["include_apart_report"](report, path)
    assert report["kept_apart"] == ["harp_five"] and report["apart_report"]["commit"] == "abc"
    table = script["markdown_tables"](report)
    assert "| harp_five / controls_each | 62% [50%, 75%] | 0.30 [0.20, 0.40] vs recipe |" in table
    assert "| bass_choir / documented (2 / 2) | 50% [50%, 50%] |  | 0% [0%, 0%] |  |" in table
    assert (
        "| bass_choir / run (2 / 2) | 100% [100%, 100%] | 0.40 [0.40, 0.40] vs documented | 25% [0%, 50%] | "
        "0.20 [0.00, 0.40] vs documented |"
    ) in table
    assert (
        "| harp_five / controls_each (2 / 2) | 75% [75%, 75%] | 0.20 [0.20, 0.20] vs recipe | 50% [50%, 50%] |" in table
    )
    (tmp_path / "none.json").write_text(json.dumps({"styles": {}}), encoding="utf-8")
    with pytest.raises(SystemExit, match="reports no kept-apart style"):
        script["include_apart_report"](report, tmp_path / "none.json")


def test_the_lever_without_its_tempo_record_is_a_copy_never_trained(script, tmp_path):
    """controls_each_no_record: controls_each's adapter copied with its tempo record removed; the dry run says it is
    a copy (no finetune-lora), keeps what is trained, and a run left without an adapter by --no-train is left out."""
    arguments = [*["--work", str(tmp_path), "--dry-run", "--styles", "bass_choir,calypso,harp_five"]]
    arguments += [*["--levers", "controls_each_no_record", "--lever-style", "bass_choir"]]
    arguments += [*["--lever-baseline", "controls_each", "--carry-to", "calypso"]]
    arguments += [*["--apart-levers", "controls_each_no_record", "--unrelated", "8"]]
    source = tmp_path / "runs" / "calypso" / "controls_each" / "final"
    source.mkdir(parents=True)
    (source / "adapter_model.safetensors").write_bytes(b"weights")
    (source / "songgen_adapter.json").write_text(json.dumps({"singer_adapter": "x", "style_tempo_bpm": 115.0}))
    (source.parent / "train_log.jsonl").write_text('{"step": 160, "loss": 3.4, "seconds": 60.0}\n')
    code, printed = run_benchmark("styles", *arguments)
    assert code == 0
    configs = _configs(printed)
    assert not any(name.endswith("_no_record") for name in configs)  # copies, never trained
    for style in ("bass_choir", "calypso", "harp_five"):
        assert f"# {style}/controls_each_no_record: {style}/controls_each's adapter copied" in printed
    assert f"# calypso/controls_each: kept, its adapter exists ({source})" in printed
    assert "bass_choir/controls_each" in configs and "calypso/controls_each" not in configs
    assert "32 style and 16 unrelated" in printed
    _, printed = run_benchmark("styles", *arguments, "--no-train")
    assert not _configs(printed) and "# calypso/controls_each_no_record: calypso/controls_each's adapter" in printed
    assert "# bass_choir/controls_each: left out (--no-train" in printed
    # the copy: the same adapter and log, its record removed; the source left as it is; made once
    copy = script["record_removed_copy"](tmp_path, "calypso", "controls_each", "controls_each_no_record")
    assert copy == tmp_path / "runs" / "calypso" / "controls_each_no_record" / "final"
    assert json.loads((copy / "songgen_adapter.json").read_text()) == {"singer_adapter": "x"}
    assert (copy / "adapter_model.safetensors").read_bytes() == b"weights"
    assert (copy.parent / "train_log.jsonl").read_text() == (source.parent / "train_log.jsonl").read_text()
    assert json.loads((source / "songgen_adapter.json").read_text())["style_tempo_bpm"] == 115.0
    (source / "songgen_adapter.json").write_text(json.dumps({"style_tempo_bpm": 99.0}))
    assert script["record_removed_copy"](tmp_path, "calypso", "controls_each", "controls_each_no_record") == copy
    assert json.loads((copy / "songgen_adapter.json").read_text()) == {"singer_adapter": "x"}  # not made again
    assert script["record_removed_copy"](tmp_path, "gospel", "controls_each", "controls_each_no_record") is None


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            ["--levers", "controls_each_no_record", "--lever-style", "gospel"],
            "--levers controls_each_no_record is controls_each's adapter without its tempo record",
        ),
        (
            ["--styles", "harp_five", "--apart-levers", "controls_each_no_record"],
            "name controls_each in --apart-levers or --lever-baseline too",
        ),
    ],
)
def test_a_lever_without_its_tempo_record_needs_its_source(tmp_path, capsys, arguments, message):
    code, _ = run_benchmark("styles", "--work", str(tmp_path), "--dry-run", *arguments)
    assert code == 2 and message in capsys.readouterr().err


def test_the_tempo_split_pairs_a_run_without_its_record_with_its_source(script, tables):
    """--tempo-split: each run's share on the prompts that name a tempo and on those that name none; the run without
    its tempo record is paired with its source on each part, and the table shows the part the record acts on."""
    prompts = ["a song at 90 bpm", "a hymn", "a hymn, 100 bpm", "a slow hymn"]
    assert [script["names_a_tempo"](text) for text in prompts] == [True, False, True, False]
    base, target = [0.1] * 4, 0.9
    values = {"controls_each": [0.9, 0.5, 0.9, 0.7], "controls_each_no_record": [0.9, 0.1, 0.9, 0.3]}
    split = script["tempo_split"](prompts, values, base, target)
    assert split["prompts"] == {"names_a_tempo": [0, 2], "names_no_tempo": [1, 3]}
    assert split["controls_each"]["names_no_tempo"]["share_of_the_way_to_the_style_set"] == pytest.approx(0.625)
    paired = split["controls_each_no_record"]["minus_controls_each"]
    assert paired["names_a_tempo"]["mean"] == pytest.approx(0.0)
    assert paired["names_no_tempo"]["mean"] == pytest.approx(-0.4)
    assert "minus_controls_each" not in split["controls_each"]
    report = {"worst_first": ["gospel"], "styles": {"gospel": {"tempo_split": split}}}
    lines = tables["key_split_table"](report, "tempo").splitlines()
    assert lines[0].startswith("| style / run (prompts naming a tempo / none) | naming a tempo: share of the way")
    assert lines[2] == "| gospel / controls_each (2 / 2) | 100% [100%, 100%] |  | 62% [50%, 75%] |  |"
    assert lines[3].startswith("| gospel / controls_each_no_record (2 / 2) | 100% [100%, 100%] | 0.00 ")
    assert lines[3].endswith("| -0.40 [-0.40, -0.40] vs controls_each |")


def test_the_docs_quote_the_controls_each_carry_and_record_tables(script):
    """docs/fine_tuning.md's tables of controls_each carried to calypso and gospel and of its tempo record are the
    ones the script prints from styles_controls_each_carry.json and styles_controls_each_record.json."""
    docs = (BENCHMARKS.parent / "docs" / "fine_tuning.md").read_text(encoding="utf-8")
    folder = BENCHMARKS.parent / "docs" / "benchmarks"
    carry = json.loads((folder / "styles_controls_each_carry.json").read_text(encoding="utf-8"))
    assert carry["levers"]["compared_with"] == "documented" and set(carry["levers"]["carried"]) == {"calypso", "gospel"}
    table = script["markdown_tables"](carry)
    assert f"<!-- styles-controls-each-carry-table -->\n{table}<!-- /styles-controls-each-carry-table -->" in docs
    record = json.loads((folder / "styles_controls_each_record.json").read_text(encoding="utf-8"))
    assert record["levers"]["compared_with"] == "controls_each" and record["songs"]["unrelated_untimed"]
    assert record["kept_apart"] == ["harp_five"] and record["songs"]["singer"] == "auto"
    table = script["markdown_tables"](record)
    assert f"<!-- styles-controls-each-record-table -->\n{table}<!-- /styles-controls-each-record-table -->" in docs


def test_the_docs_quote_the_controls_each_reports_table(script):
    """docs/fine_tuning.md's table of the controls_each lever is the one the script prints from
    styles_controls_each.json: the lever on bass_choir paired with the documented run, and on the kept-apart
    harp_five (its own report, included) paired with its documented run, each split by prompts naming a key."""
    docs = (BENCHMARKS.parent / "docs" / "fine_tuning.md").read_text(encoding="utf-8")
    path = BENCHMARKS.parent / "docs" / "benchmarks" / "styles_controls_each.json"
    report = json.loads(path.read_text(encoding="utf-8"))
    assert report["levers"]["style"] == "bass_choir" and report["levers"]["compared_with"] == "documented"
    assert report["kept_apart"] == ["harp_five"] and report["kept_apart_levers"]["harp_five"]["runs"][-1] == (
        "controls_each"
    )
    assert report["training"]["runs"]["bass_choir/controls_each"]["control_each_dropout_prob"] == 0.5
    assert all("key_split" in style for style in report["styles"].values())
    table = script["markdown_tables"](report)
    assert f"<!-- styles-controls-each-table -->\n{table}<!-- /styles-controls-each-table -->" in docs


def test_the_docs_quote_the_per_control_table_and_finetune_lora_defaults_to_its_choice(script):
    """docs/fine_tuning.md's table of the per-control levers is the one the script prints from
    styles_controls_per_control.json; each lever trained on every style with its own share per control (harp_five kept
    apart, reported only), and finetune-lora's default is the lever the table chose, with the tempo record kept."""
    from songgen_hf.training.lora_trainer import DEFAULT_CONTROL_EACH_DROPOUT, LoraTrainingConfig

    docs = (BENCHMARKS.parent / "docs" / "fine_tuning.md").read_text(encoding="utf-8")
    path = BENCHMARKS.parent / "docs" / "benchmarks" / "styles_controls_per_control.json"
    report = json.loads(path.read_text(encoding="utf-8"))
    assert report["levers"]["compared_with"] == "documented" and report["kept_apart"] == ["harp_five"]
    assert set(report["levers"]["carried"]) == {"calypso", "gospel"}
    runs = report["training"]["runs"]
    for style in ("bass_choir", "calypso", "gospel"):
        assert runs[f"{style}/controls_each_key_only"]["control_each_dropout_prob"] == {"key": 0.5}
        assert runs[f"{style}/controls_each_tempo_kept"]["control_each_dropout_prob"]["tempo"] == 0.0
    assert "controls_each_key_only" in report["kept_apart_levers"]["harp_five"]["runs"]
    table = script["markdown_tables"](report)
    assert f"<!-- styles-controls-per-control-table -->\n{table}<!-- /styles-controls-per-control-table -->" in docs
    assert script["LEVERS"]["controls_each_key_only"]["control_each_dropout_prob"] == DEFAULT_CONTROL_EACH_DROPOUT
    assert LoraTrainingConfig.__dataclass_fields__["control_each_dropout_prob"].default_factory() == {"key": 0.5}


def test_the_docs_quote_the_dora_table(script):
    """docs/fine_tuning.md's DoRA table is the one the script prints from styles_dora.json: DoRA at finetune-lora's
    defaults, only lora_use_dora changed, paired with those defaults on bass_choir and carried to gospel."""
    docs = (BENCHMARKS.parent / "docs" / "fine_tuning.md").read_text(encoding="utf-8")
    report = json.loads((BENCHMARKS.parent / "docs" / "benchmarks" / "styles_dora.json").read_text(encoding="utf-8"))
    assert report["levers"]["compared_with"] == "controls_each_key_only" and set(report["levers"]["carried"]) == {
        "gospel"
    }
    runs = report["training"]["runs"]
    for style in ("bass_choir", "gospel"):
        dora, plain = runs[f"{style}/controls_each_key_only_dora"], runs[f"{style}/controls_each_key_only"]
        assert dora.pop("lora_use_dora") is True and "lora_use_dora" not in plain
        assert {k: v for k, v in dora.items() if k != "output_dir"} == {
            k: v for k, v in plain.items() if k != "output_dir"
        }
    table = script["markdown_tables"](report)
    assert f"<!-- styles-dora-table -->\n{table}<!-- /styles-dora-table -->" in docs
