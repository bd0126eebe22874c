"""The markdown tables of ``benchmarks/styles.py``'s reports, as docs/fine_tuning.md quotes them: the style table
(worst style first, the kept-apart styles in one of their own), the documented run's, the levers' (and a lever
carried to another style), the key and tempo splits, the kept-apart styles' levers and the voice table.

``python benchmarks/styles.py --table REPORT.json`` prints them; each builder reads only the report's JSON.
"""

from __future__ import annotations

# a lever whose name ends with this is the lever before it (its adapter, copied) with the tempo record removed
WITHOUT_RECORD = "_no_record"
# a run's adapter with its singer's learnt voice left out (--ablate-voice): the system's name ends with this
WITHOUT_VOICE = "-without_learnt_voice"


def _cell(entry: dict) -> str:
    low, high = entry["ci95"]
    return f"{entry['mean']:.2f} [{low:.2f}, {high:.2f}]"


def _lever_cells(style: dict, run: str, versus: str) -> str:
    """A lever row's cells of ``run`` on ``style``: its share of the way, ``versus`` (its paired difference, already
    a cell; "" for none), its leak and leak ratio."""
    entry = style["runs"][run]
    low, high = entry["share_ci95"]
    leak = style["leak"].get(run, {})
    ratio = leak.get("leak_ratio")
    return (
        f"{entry['share_of_the_way_to_the_style_set']:.0%} [{low:.0%}, {high:.0%}] | {versus} | "
        f"{_cell(leak['minus_base']) if leak else ''} | {'' if ratio is None else f'{ratio:.2f}'}"
    )


def markdown_tables(report: dict) -> str:
    """The per-style table (worst first), the kept-apart styles' own and the levers' table, as docs/fine_tuning.md
    quotes them."""
    apart = report.get("kept_apart") or []
    text = style_table(report, report["worst_first"]) if report["worst_first"] or not apart else ""
    if apart:
        text += ("\n" if text else "") + style_table(report, apart, "kept apart (no setting chosen on it): style")
    if report.get("documented"):
        text += "\n" + documented_table(report)
    return text + _other_tables(report)


def style_table(report: dict, names: list[str], heading: str = "style") -> str:
    """One row per style of ``names``: its judge's sharpness, the recipe's move, share of the way and leak."""
    headline = "documented" if report.get("documented") else "recipe"
    rows = [
        f"| {heading} (what is new) | judge: base songs / style's codec clips | {headline} minus base [95 % CI] "
        "| share of the way [95 % CI] | unrelated minus base | leak ratio |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        style = report["styles"][name]
        sharp = style["judge_sharpness"]
        recipe = style["runs"].get(headline)
        judge = f"{sharp['base_songs']['mean']:.2f} / {sharp['style_clips_codec']['mean']:.2f}"
        judge += "" if sharp["sharp"] else " (not sharp)"
        if recipe is None:
            rows.append(f"| {name} ({style['axis']}) | {judge} | | | | |")
            continue
        low, high = recipe["share_ci95"]
        leak = style["leak"].get(headline, {})
        ratio = "" if leak.get("leak_ratio") is None else f"{leak['leak_ratio']:.2f}"
        rows.append(
            f"| {name} ({style['axis']}) | {judge} | {_cell(recipe['minus_base'])} | "
            f"{recipe['share_of_the_way_to_the_style_set']:.0%} [{low:.0%}, {high:.0%}] | "
            f"{_cell(leak['minus_base']) if leak else ''} | {ratio} |"
        )
    return "\n".join(rows) + "\n"


def _other_tables(report: dict) -> str:
    """The voice table (with ``--singer none`` beside, or an ablated learnt voice) and the levers' tables."""
    text = ""
    if report.get("singer_none") is not None or any(WITHOUT_VOICE in run for run in _all_runs(report)):
        text += "\n" + voice_table(report)
    if report.get("kept_apart_levers"):
        text += "\n" + apart_levers_table(report)
    if any(style.get("key_split") for style in report["styles"].values()):
        text += "\n" + key_split_table(report)
    if any(style.get("tempo_split") for style in report["styles"].values()):
        text += "\n" + key_split_table(report, "tempo")
    if report.get("levers"):
        text += "\n" + levers_table(report)
    return text


def levers_table(report: dict) -> str:
    """The levers' table (each lever paired with the baseline; a lever carried to another style in rows of its own)
    and, where measured, the baseline's weight on the unrelated prompts; "" for a report without levers."""
    levers = report.get("levers")
    if not levers:
        return ""
    style = report["styles"][levers["style"]]
    table = [
        f"| lever on {levers['style']} ({levers['steps']} steps) | share of the way [95 % CI] "
        f"| minus {levers['compared_with']}, paired [95 % CI] | unrelated minus base [95 % CI] | leak ratio "
        "| s/step (least loaded) |",
        "|---|---|---|---|---|---|",
    ]
    trained = report.get("training", {}).get("results", {})
    for name in levers["runs"]:
        versus = levers["minus_recipe"].get(name)
        # the least loaded stretch between two logs: the runs shared the machine with other jobs unevenly
        pace = (trained.get(f"{levers['style']}/{name}") or {}).get("fastest_seconds_per_step")
        cells = _lever_cells(style, name, _cell(versus) if versus else "")
        table.append(f"| {name} | {cells} | {'' if pace is None else f'{pace:.1f}'} |")
    for other, differences in levers.get("carried", {}).items():
        for name, versus in differences.items():
            table.append(f"| {name}, on {other} | {_lever_cells(report['styles'][other], name, _cell(versus))} | |")
    text = "\n".join(table) + "\n"
    weighted = style.get("leak_at_weight")
    if weighted:
        table = [
            f"| {levers['compared_with']}'s weight on the unrelated prompts (1 on the style's) "
            "| unrelated minus base [95 % CI] | leak ratio |",
            "|---|---|---|",
        ]
        for weight, entry in weighted.items():
            ratio = entry["leak_ratio"]
            table.append(f"| {weight} | {_cell(entry['minus_base'])} | {'' if ratio is None else f'{ratio:.2f}'} |")
        text += "\n" + "\n".join(table) + "\n"
    return text


def documented_table(report: dict) -> str:
    """Per style, worst first: the documented run's share of the way and leak, and its paired difference from the
    earlier run it is compared with."""
    rows = [
        "| style | documented: share of the way [95 % CI] | leak ratio | half the way? | leak at most a quarter? "
        "| compared with | its share | documented minus it, paired [95 % CI] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in report["worst_first"]:
        entry = report["documented"].get(name)
        if entry is None:
            continue
        low, high = entry["share_ci95"]
        ratio = entry["leak_ratio"]
        earlier = entry.get("compared_with")
        versus = entry.get("minus_compared_with")
        share = entry.get("compared_share")
        # the bars: at least half the way, and unrelated prompts moved at most a quarter as far
        half = "yes" if entry["share"] >= 0.5 else "no"
        lane = "" if ratio is None else "yes" if ratio <= 0.25 else "no"
        rows.append(
            f"| {name} | {entry['share']:.0%} [{low:.0%}, {high:.0%}] | {'' if ratio is None else f'{ratio:.2f}'} | "
            f"{half} | {lane} | {earlier or ''} | {'' if share is None else f'{share:.0%}'} | "
            f"{_cell(versus) if versus else ''} |"
        )
    return "\n".join(rows) + "\n"


def key_split_table(report: dict, what: str = "key") -> str:
    """Per style and run: the share of the way on the style prompts that name a key (``what="tempo"``: a tempo) and
    on those that name none, and each part's paired difference from the run it is compared with (for the tempo, a
    run without its tempo record against its source)."""
    named, none = f"names_a_{what}", f"names_no_{what}"
    rows = [
        f"| style / run (prompts naming a {what} / none) | naming a {what}: share of the way [95 % CI] | minus the "
        "baseline, paired [95 % CI] | naming none: share of the way [95 % CI] | minus the baseline, paired "
        "[95 % CI] |",
        "|---|---|---|---|---|",
    ]
    for name in [*report["worst_first"], *(report.get("kept_apart") or [])]:
        split = report["styles"][name].get(f"{what}_split") or {}
        counts = {part: len(indices) for part, indices in (split.get("prompts") or {}).items()}
        for run, parts in _split_runs(split).items():
            if "@" in run:
                continue
            versus, compared = _split_versus(split, run, parts)
            cells = []
            for part in (named, none):
                entry = parts.get(part)
                if entry is None:
                    cells += ["", ""]
                    continue
                low, high = entry["share_ci95"]
                cells.append(f"{entry['share_of_the_way_to_the_style_set']:.0%} [{low:.0%}, {high:.0%}]")
                cells.append(f"{_cell(versus[part])} vs {compared}" if part in versus else "")
            rows.append(
                f"| {name} / {run} ({counts.get(named, 0)} / {counts.get(none, 0)}) | " + " | ".join(cells) + " |"
            )
    return "\n".join(rows) + "\n"


def _split_runs(split: dict) -> dict:
    """A split's runs: ``key_split``'s under ``runs``; ``tempo_split``'s beside its ``prompts``."""
    if "runs" in split:
        return split["runs"]
    return {run: parts for run, parts in split.items() if run != "prompts"}


def _split_versus(split: dict, run: str, parts: dict) -> tuple[dict, str | None]:
    """``(each part's paired difference, what it is paired with)`` of a run in a split: the key split's baseline,
    or for the tempo split, a run without its tempo record against its source."""
    if "runs" in split:
        return (split.get("minus_baseline") or {}).get(run) or {}, split.get("compared_with")
    source = run.removesuffix(WITHOUT_RECORD)
    return parts.get(f"minus_{source}") or {}, source


def apart_levers_table(report: dict) -> str:
    """The levers on the kept-apart styles (only reported): share, paired with their baseline, leak."""
    rows = [
        "| kept apart: style / lever (reported, never chosen on) | share of the way [95 % CI] | minus the baseline, "
        "paired [95 % CI] | unrelated minus base [95 % CI] | leak ratio |",
        "|---|---|---|---|---|",
    ]
    for name, levers in report["kept_apart_levers"].items():
        style = report["styles"][name]
        for run in levers["runs"]:
            versus = levers["minus_baseline"].get(run)
            shown = _cell(versus) + " vs " + levers["compared_with"] if versus else ""
            rows.append(f"| {name} / {run} | {_lever_cells(style, run, shown)} |")
    return "\n".join(rows) + "\n"


def _all_runs(report: dict) -> list[str]:
    return [run for style in report["styles"].values() for run in style["runs"]]


def voice_table(report: dict) -> str:
    """Per style and run: the share of the way and the leak with the told singer (this report), and with the
    decoder's own vocals (``--singer none``, the report in ``singer_none``), worst style first."""
    none = (report.get("singer_none") or {}).get("styles", {})
    rows = [
        "| style / run | told singer: share of the way [95 % CI] | leak ratio | `--singer none`: share of the way "
        "[95 % CI] | leak ratio |",
        "|---|---|---|---|---|",
    ]

    def cells(style: dict | None, run: str) -> str:
        entry = (style or {}).get("runs", {}).get(run)
        if entry is None:
            return " | "
        low, high = entry["share_ci95"]
        ratio = (style.get("leak", {}).get(run) or {}).get("leak_ratio")
        share = entry["share_of_the_way_to_the_style_set"]
        return f"{share:.0%} [{low:.0%}, {high:.0%}] | {'' if ratio is None else f'{ratio:.2f}'}"

    for name in [*report["worst_first"], *(report.get("kept_apart") or [])]:
        style = report["styles"][name]
        for run in style["runs"]:
            if "@" in run:
                continue
            rows.append(f"| {name} / {run} | {cells(style, run)} | {cells(none.get(name), run)} |")
    text = "\n".join(rows) + "\n"
    for name, effect in (report.get("learnt_voice_effect") or {}).items():
        text += f"\n{name}, its learnt voice (minus the same adapter without it, paired): {_cell(effect)}\n"
    return text
