"""``songgen compare``: paired differences between two evaluations of the same prompts, pooled over prompt sets and
seeds, refused when the prompts differ."""

import json

import numpy as np
import pytest

from songgen_hf.commands.cli import main
from songgen_hf.evaluation.compare import compare, markdown_table, paired_difference


def _row(index: int, guided: dict, caption: str = "a song at 120 bpm", tempo: float = 120.0) -> dict:
    target = {"tempo_bpm": tempo, "key": "C major", "drums": True, "vocals": True}
    return {
        "id": f"s1-test-{index:06d}",
        "caption": f"{caption} #{index}",
        "lyrics": "la la",
        "target": target,
        "systems": {"guided": guided, "ground_truth": {"tempo_acc1": 1.0}},
    }


def _write(path, rows) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"settings": {}, "rows": rows}))
    return str(path)


def _scores(rng, n, first=0, tempo_acc1=None):
    rows = []
    for index in range(first, first + n):
        guided = {
            "tempo_acc1": float(rng.random() < 0.7) if tempo_acc1 is None else tempo_acc1[index - first],
            "key": "C major",
            "key_exact": float(rng.random() < 0.5),
            "lyric_recall": 0.2,
            "lyric_recall_chance": 0.05,
            "tempo_acc1_slow": None,
        }
        rows.append(_row(index, guided))
    return rows


def test_the_paired_difference_is_the_mean_of_per_prompt_differences_over_defined_pairs():
    stats = paired_difference([1.0, 1.0, 0.0, None, 1.0], [0.0, 1.0, 0.0, 1.0, None])
    assert stats["n"] == 3 and stats["candidate"] == pytest.approx(2 / 3) and stats["baseline"] == pytest.approx(1 / 3)
    assert stats["difference"] == pytest.approx(1 / 3)
    low, high = stats["ci95"]
    assert 0.0 <= low <= stats["difference"] <= high <= 1.0
    assert paired_difference([None], [1.0])["n"] == 0
    same = paired_difference([0.0, 1.0, 1.0], [0.0, 1.0, 1.0])
    assert same["difference"] == 0 and same["ci95"] == [0.0, 0.0]


def test_pairing_cancels_what_both_models_share():
    # both models fail the same hard prompts; the candidate also gets 10 more right: unpaired, the
    # intervals of the two means overlap; paired, the difference is clear of zero
    rng = np.random.default_rng(0)
    hard = rng.random(100) < 0.4
    baseline = np.where(hard, 0.0, 1.0)
    candidate = baseline.copy()
    candidate[np.flatnonzero(hard)[:10]] = 1.0
    stats = paired_difference(candidate.tolist(), baseline.tolist())
    assert stats["difference"] == pytest.approx(0.10) and stats["ci95"][0] > 0


def test_compare_pools_prompt_sets_and_matches_them_by_id(tmp_path):
    rng = np.random.default_rng(1)
    first, second = _scores(rng, 6), _scores(rng, 4, first=6)
    baseline = [_write(tmp_path / "base_a" / "evaluation.json", first), _write(tmp_path / "base_b.json", second)]
    better = [
        {**row, "systems": {**row["systems"], "guided": {**row["systems"]["guided"], "tempo_acc1": 1.0}}}
        for row in first + second
    ]
    # the candidate's files are the same prompts in another order and split; a folder is read as its evaluation.json
    candidate = [
        _write(tmp_path / "cand_a" / "evaluation.json", better[7:] + better[:3]),
        _write(tmp_path / "cand_b.json", better[3:7]),
    ]
    result = compare([tmp_path / "cand_a", candidate[1]], baseline)
    assert result["num_prompts"] == 10
    tempo = result["metrics"]["tempo_acc1"]
    wrong = sum(row["systems"]["guided"]["tempo_acc1"] == 0.0 for row in first + second)
    assert tempo["candidate"] == 1.0 and tempo["difference"] == pytest.approx(wrong / 10)
    assert result["metrics"]["key_exact"]["difference"] == 0.0
    margin = result["metrics"]["lyric_margin"]
    assert margin["candidate"] == pytest.approx(0.15) and margin["difference"] == pytest.approx(0.0)
    assert result["metrics"]["tempo_acc1_slow"]["n"] == 0  # undefined on every prompt: not a zero
    table = markdown_table(result)
    assert "Paired over 10 prompts (guided)" in table and "| tempo Acc1 | 1.000 |" in table and "| n/a |" in table
    assert "vocal_track_lyric_margin" not in result["metrics"]  # no dual-track scores on either side: left out


def test_a_dual_track_vocal_track_margin_is_compared_where_the_scores_have_one(tmp_path):
    rng = np.random.default_rng(2)
    base = _scores(rng, 5)
    for row in base:
        row["systems"]["guided"].update(lyric_recall_vocal_track=0.1, lyric_recall_vocal_track_chance=0.1)
    cand = json.loads(json.dumps(base))
    for row in cand:
        row["systems"]["guided"]["lyric_recall_vocal_track"] = 0.3
    result = compare([_write(tmp_path / "cand.json", cand)], [_write(tmp_path / "base.json", base)])
    margin = result["metrics"]["vocal_track_lyric_margin"]
    assert margin["candidate"] == pytest.approx(0.2) and margin["baseline"] == pytest.approx(0.0)
    assert margin["difference"] == pytest.approx(0.2) and margin["n"] == 5
    assert "lyric recall above chance, vocal track" in markdown_table(result)


def test_repeats_of_a_prompt_on_one_side_are_averaged_before_pairing(tmp_path):
    rng = np.random.default_rng(4)
    rows = _scores(rng, 6)

    def with_guided(source, **changes):
        return [
            {**row, "systems": {**row["systems"], "guided": {**row["systems"]["guided"], **changes}}} for row in source
        ]

    seed0 = _write(tmp_path / "seed0.json", with_guided(rows, tempo_acc1=1.0, key="A minor"))
    seed1 = _write(tmp_path / "seed1.json", with_guided(rows, tempo_acc1=0.0, key="C major"))
    seed2 = _write(tmp_path / "seed2.json", with_guided(rows[:3], tempo_acc1=1.0, key_exact=None))  # half the prompts
    baseline = _write(tmp_path / "base.json", with_guided(rows, tempo_acc1=0.5))
    result = compare([seed0, seed1, seed2], [baseline])
    assert result["num_prompts"] == 6 and result["runs_per_prompt"] == {"candidate": 3, "baseline": 1}
    tempo = result["metrics"]["tempo_acc1"]
    assert tempo["candidate"] == pytest.approx((3 * (2 / 3) + 3 * 0.5) / 6) and tempo["baseline"] == 0.5
    key = result["metrics"]["key_exact"]  # a run where a score is undefined does not count for it
    expected = np.mean([row["systems"]["guided"]["key_exact"] for row in rows])
    assert key["candidate"] == pytest.approx(expected) and key["difference"] == pytest.approx(0.0)
    assert "averaged over up to 3 candidate and 1 baseline runs" in markdown_table(result)
    from songgen_hf.evaluation.compare import load_scores

    assert load_scores([seed0, seed1])[rows[0]["id"]].scores["key"] is None  # labels that disagree: none kept


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", r"1 prompt\(s\) only the baseline was evaluated on \(first: s1-test-000004\)"),
        ("other_caption", r"prompt s1-test-000002 has a different caption or target"),
        ("twice_in_one_file", r"prompt s1-test-000000 appears twice in"),
        ("other_caption_in_a_repeat", r"prompt s1-test-000001 has a different caption or target"),
        ("not_evaluation", r"is not an evaluation.json from songgen evaluate"),
        ("absent", r"does not exist"),
        ("rows_without_ids", r"its rows lack ids or systems"),
        ("empty", r"hold no prompts"),
    ],
)
def test_compare_refuses_evaluations_of_different_prompts(tmp_path, case, message):
    rng = np.random.default_rng(2)
    rows = _scores(rng, 5)
    baseline = [_write(tmp_path / "base.json", rows)]
    candidate = {
        "missing": lambda: [_write(tmp_path / "cand.json", rows[:4])],
        "other_caption": lambda: [
            _write(tmp_path / "cand.json", rows[:2] + [_row(2, rows[2]["systems"]["guided"], "other")] + rows[3:])
        ],
        "twice_in_one_file": lambda: [_write(tmp_path / "cand.json", rows + rows[:1])],
        "other_caption_in_a_repeat": lambda: [
            _write(tmp_path / "cand.json", rows),
            _write(tmp_path / "seed1.json", [_row(1, rows[1]["systems"]["guided"], "x")]),
        ],
        "not_evaluation": lambda: [str(tmp_path / "broken.json")],
        "absent": lambda: [str(tmp_path / "nowhere" / "evaluation.json")],
        "rows_without_ids": lambda: [_write(tmp_path / "cand.json", [{"systems": {}}])],
        "empty": lambda: [_write(tmp_path / "cand.json", [])],
    }[case]()
    if case == "empty":
        baseline = [_write(tmp_path / "base.json", [])]
    (tmp_path / "broken.json").write_text("{oops")
    with pytest.raises(ValueError, match=message):
        compare(candidate, baseline)


def test_songgen_compare_prints_the_table_writes_json_and_refuses_bad_input(tmp_path, capsys):
    rng = np.random.default_rng(3)
    rows = _scores(rng, 8)
    base = _write(tmp_path / "base.json", rows)
    cand = _write(tmp_path / "cand.json", _scores(rng, 8))
    out = tmp_path / "comparison.json"
    assert main(["compare", "--candidate", cand, "--baseline", base, "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved["num_prompts"] == 8 and "| key exact |" in printed
    assert saved["metrics"]["key_exact"]["difference"] == pytest.approx(
        np.mean(
            [
                c["systems"]["guided"]["key_exact"] - b["systems"]["guided"]["key_exact"]
                for c, b in zip(json.loads(open(cand).read())["rows"], rows)
            ]
        )
    )
    assert main(["compare", "--candidate", cand, "--baseline", base, "--metric", "key_exact"]) == 0
    assert "tempo Acc1" not in capsys.readouterr().out
    before = (tmp_path / "base.json").read_bytes()
    assert main(["compare", "--candidate", cand, "--baseline", base, "--output", base]) == 2
    assert (tmp_path / "base.json").read_bytes() == before  # an input is never overwritten
    assert main(["compare", "--candidate", cand, "--baseline", base, "--metric", "no_such_score"]) == 2
    assert main(["compare", "--candidate", cand, "--baseline", base, "--system", "judged"]) == 2
    assert main(["compare", "--candidate", cand, "--baseline", base, "--metric", "key"]) == 2  # a key name, not a score
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 4
    assert "is one of the evaluations being compared" in errors[0] and "no_such_score" in errors[1]
    assert "--system 'judged' is not scored in" in errors[2] and "guided, ground_truth" in errors[2]
    assert "'key' is not a number ('C major')" in errors[3]
