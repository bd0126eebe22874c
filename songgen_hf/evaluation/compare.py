"""Paired differences between two models evaluated on the same prompts (``songgen compare``).

Two ``evaluation.json`` files from ``songgen evaluate`` with the same manifest rows hold, for every prompt, each
model's scores.  Comparing their aggregate means throws away the pairing: most of the variance between prompts
(a tempo the estimator misreads, a key the codec cannot carry) is shared by both models, and a paired
difference cancels it.  So the interval here is a percentile bootstrap over prompts of the per-prompt
difference, with the same fixed seed as every other interval in the package.

Several evaluations may be pooled on each side: disjoint prompt sets (e.g. the first 96 prompts and a second
set that no model was chosen on) and repeats of the same prompts with other sampling seeds.  A prompt evaluated
several times on one side counts once, with each score averaged over its runs (the values that are defined):
one seed of a sampled model moves tempo accuracy by several points on 96 prompts, so a comparison worth
trusting averages seeds before it pairs prompts.  Rows are matched by prompt id; a prompt must carry the same
caption and target everywhere, or the comparison is refused, naming the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from songgen_hf.evaluation.intelligibility import LYRIC_MARGINS
from songgen_hf.evaluation.statistics import BOOTSTRAP_SEED, DEFAULT_RESAMPLES, mean_with_ci
from songgen_hf.evaluation.system_names import DEFAULT_METRICS
from songgen_hf.modeling.limits import is_number
from songgen_hf.utils.safe_files import read_json

# derived per-prompt scores: name -> (minuend, subtrahend)
DERIVED = LYRIC_MARGINS
# scores only some models have (a dual-track model's vocal track): left out where neither side has one
OPTIONAL_METRICS = frozenset({"vocal_track_lyric_margin"})


@dataclass(frozen=True)
class PromptScores:
    """One prompt's scores for one system of one evaluation, with what identifies the prompt."""

    id: str
    caption: str
    target: dict
    scores: dict
    source: Path
    # how many evaluations (seeds) the scores average
    runs: int = 1


# An evaluation of every clip a corpus may hold (100 000) is a few hundred MB of JSON; a larger file is not one.
MAX_EVALUATION_BYTES = 1 << 30


def _read_rows(path: Path) -> list[dict]:
    """The per-prompt rows of one ``evaluation.json`` (or of the folder holding it), checked."""
    path = Path(path)
    if path.is_dir():
        path = path / "evaluation.json"
    if not path.is_file():
        raise ValueError(
            f"{path} does not exist; pass the evaluation.json (or the folder) that songgen evaluate wrote."
        )
    if path.stat().st_size > MAX_EVALUATION_BYTES:
        raise ValueError(
            f"{path} is {path.stat().st_size / 1e9:.1f} GB, larger than any evaluation.json "
            "songgen evaluate writes; pass the evaluation.json of a run."
        )
    try:
        rows = read_json(path)["rows"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not an evaluation.json from songgen evaluate ({type(error).__name__}).") from None
    if not isinstance(rows, list) or not all(
        isinstance(row, dict) and isinstance(row.get("id"), str) and isinstance(row.get("systems"), dict)
        for row in rows
    ):
        raise ValueError(f"{path} is not an evaluation.json from songgen evaluate (its rows lack ids or systems).")
    return rows


def load_scores(paths: list[Path], system: str = "guided") -> dict[str, PromptScores]:
    """Every prompt's ``system`` scores from one or more ``evaluation.json`` files, keyed by prompt id; a prompt in
    several files (other seeds) gets the mean of each score over them."""
    runs: dict[str, list[PromptScores]] = {}
    for path in paths:
        for row in _read_rows(path):
            if system not in row["systems"]:
                raise ValueError(
                    f"--system {system!r} is not scored in {path} (prompt {row['id']} has "
                    f"{', '.join(row['systems']) or 'none'})."
                )
            scores = dict(row["systems"][system])
            for name, (left, right) in DERIVED.items():
                if is_number(scores.get(left)) and is_number(scores.get(right)):
                    scores[name] = scores[left] - scores[right]
            entry = PromptScores(row["id"], row.get("caption", ""), row.get("target", {}), scores, Path(path))
            earlier = runs.setdefault(row["id"], [])
            if earlier and earlier[-1].source == entry.source:
                raise ValueError(f"prompt {row['id']} appears twice in {path}; an evaluation scores each prompt once.")
            if earlier and (earlier[0].caption != entry.caption or earlier[0].target != entry.target):
                raise ValueError(
                    f"prompt {row['id']} has a different caption or target in {earlier[0].source} and "
                    f"{path}: they were evaluated on different corpora."
                )
            earlier.append(entry)
    return {prompt_id: _averaged(entries) for prompt_id, entries in runs.items()}


def _averaged(entries: list[PromptScores]) -> PromptScores:
    """One prompt's runs as one: each numeric score's mean over the runs where it is defined; a label kept only
    where every run agrees."""
    if len(entries) == 1:
        return entries[0]
    names = list(dict.fromkeys(name for entry in entries for name in entry.scores))
    scores = {}
    for name in names:
        values = [entry.scores.get(name) for entry in entries]
        numbers = [value for value in values if is_number(value) and np.isfinite(value)]
        if all(value is None or is_number(value) for value in values):
            scores[name] = float(np.mean(numbers)) if numbers else None
        else:
            scores[name] = values[0] if all(value == values[0] for value in values) else None
    first = entries[0]
    return PromptScores(first.id, first.caption, first.target, scores, first.source, runs=len(entries))


def match_prompts(candidate: dict[str, PromptScores], baseline: dict[str, PromptScores]) -> list[str]:
    """The prompt ids both sides hold, in order; refused when the sides were not evaluated on the same prompts."""
    only_candidate = sorted(set(candidate) - set(baseline))
    only_baseline = sorted(set(baseline) - set(candidate))
    if only_candidate or only_baseline:
        side, ids = ("the candidate", only_candidate) if only_candidate else ("the baseline", only_baseline)
        raise ValueError(
            f"{len(ids)} prompt(s) only {side} was evaluated on (first: {ids[0]}); evaluate both models "
            "on the same manifest with the same --num-prompts."
        )
    for prompt_id in candidate:
        ours, theirs = candidate[prompt_id], baseline[prompt_id]
        if ours.caption != theirs.caption or ours.target != theirs.target:
            raise ValueError(
                f"prompt {prompt_id} has a different caption or target in {ours.source} and "
                f"{theirs.source}: they were evaluated on different corpora."
            )
    return sorted(candidate)


def paired_difference(candidate, baseline, num_resamples: int = DEFAULT_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict:
    """Means of both sides and of their per-prompt difference with a bootstrap 95 % interval, over the prompts
    where both are defined (a slow-tempo score is undefined on a fast prompt, a lyric score on an instrumental)."""
    pairs = np.asarray(
        [
            (a, b)
            for a, b in zip(candidate, baseline)
            if is_number(a) and is_number(b) and np.isfinite(a) and np.isfinite(b)
        ],
        dtype=np.float64,
    )
    if len(pairs) == 0:
        return {"candidate": None, "baseline": None, "difference": None, "ci95": [None, None], "n": 0}
    # the interval of the mean difference is the package's one bootstrap, run on the per-prompt differences
    difference = mean_with_ci(pairs[:, 0] - pairs[:, 1], num_resamples, seed)
    return {
        "candidate": float(pairs[:, 0].mean()),
        "baseline": float(pairs[:, 1].mean()),
        "difference": difference["mean"],
        "ci95": difference["ci95"],
        "n": difference["n"],
    }


def compare(
    candidate_paths: list[Path],
    baseline_paths: list[Path],
    system: str = "guided",
    metrics=DEFAULT_METRICS,
    num_resamples: int = DEFAULT_RESAMPLES,
) -> dict:
    """Paired differences, candidate minus baseline, of every metric over the prompts both were evaluated on."""
    candidate = load_scores(candidate_paths, system)
    baseline = load_scores(baseline_paths, system)
    ids = match_prompts(candidate, baseline)
    if not ids:
        raise ValueError("the evaluations hold no prompts; run songgen evaluate with --num-prompts 1 or more.")
    table = {}
    for name, label in metrics:
        values = [(candidate[i].scores.get(name), baseline[i].scores.get(name)) for i in ids]
        if name in OPTIONAL_METRICS and all(value is None for pair in values for value in pair):
            continue
        text = next((value for pair in values for value in pair if value is not None and not is_number(value)), None)
        if text is not None:
            raise ValueError(f"{name!r} is not a number ({text!r}); compare a numeric score such as tempo_acc1.")
        table[name] = {"label": label, **paired_difference(*zip(*values), num_resamples=num_resamples)}
    return {
        "system": system,
        "num_prompts": len(ids),
        "runs_per_prompt": {
            "candidate": max(candidate[i].runs for i in ids),
            "baseline": max(baseline[i].runs for i in ids),
        },
        "candidate": [str(path) for path in candidate_paths],
        "baseline": [str(path) for path in baseline_paths],
        "bootstrap": {"resamples": num_resamples, "seed": BOOTSTRAP_SEED},
        "metrics": table,
    }


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _signed(value) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def markdown_table(result: dict) -> str:
    """The comparison as a Markdown table, one metric a row."""
    runs = result.get("runs_per_prompt", {})
    repeats = (
        (
            f", each prompt's scores averaged over up to {runs.get('candidate')} candidate and "
            f"{runs.get('baseline')} baseline runs"
        )
        if max(runs.values(), default=1) > 1
        else ""
    )
    lines = [
        f"Paired over {result['num_prompts']} prompts ({result['system']}){repeats}, candidate minus baseline, "
        f"bootstrap 95 % interval ({result['bootstrap']['resamples']} resamples):",
        "",
        "| metric | candidate | baseline | difference [95 % interval] | n |",
        "|---|---|---|---|---|",
    ]
    for stats in result["metrics"].values():
        low, high = stats["ci95"]
        interval = "" if low is None else f" [{_signed(low)}, {_signed(high)}]"
        lines.append(
            f"| {stats['label']} | {_number(stats['candidate'])} | {_number(stats['baseline'])} | "
            f"{_signed(stats['difference'])}{interval} | {stats['n']} |"
        )
    return "\n".join(lines) + "\n"


__all__ = [
    "DEFAULT_METRICS",
    "MAX_EVALUATION_BYTES",
    "compare",
    "load_scores",
    "markdown_table",
    "match_prompts",
    "paired_difference",
]
