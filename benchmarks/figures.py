"""The README's figures table, generated from the measurements it quotes.

Every figure the README gives lives in one file: a benchmark's JSON in ``docs/benchmarks/``, an evaluation's
JSON in ``docs/evaluation/``, or the embedded model's card and folder.  This script reads them and writes the
table between the ``<!-- figures -->`` markers of README.md, so a figure is re-measured in one place and never
re-typed.

    python benchmarks/figures.py --check    # exit 1 when the README's table differs from the sources
    python benchmarks/figures.py --write    # rewrite the README's table from the sources
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MODEL = ROOT / "songgen_hf" / "assets" / "songgen-tiny"
BEGIN, END = "<!-- figures -->", "<!-- /figures -->"
_BLOCK = re.compile(re.escape(BEGIN) + r"(.*?)" + re.escape(END), re.S)


def _json(relative: str) -> dict:
    return json.loads((ROOT / relative).read_text(encoding="utf-8"))


def _card_number(pattern: str) -> float:
    """A number from the embedded model's card (``README.md`` of its folder), found by ``pattern``."""
    match = re.search(pattern, (MODEL / "README.md").read_text(encoding="utf-8"))
    if match is None:
        raise ValueError(f"the model card {MODEL / 'README.md'} no longer states {pattern!r}; update figures.py")
    return float(match.group(1))


def _percent(value: float) -> str:
    return f"{100 * value:.0f} %"


def _rate(figure: dict) -> str:
    """A rate with its 95 % interval: ``87 % [82, 92]``."""
    low, high = figure["ci95"]
    return f"{_percent(figure['mean'])} [{100 * low:.0f}, {100 * high:.0f}]"


def whole_song_cores(song: dict) -> str:
    """Where ``docs/benchmarks/song_stages.json`` ran: ``2 cores``."""
    return f"{song['machine']['threads']} cores"


def whole_song_time(song: dict) -> str:
    """The whole song's wall time and the told singer's share of it, as the README's whole-song paragraph quotes
    them: ``2 min 27 s, 81 % of it singing``."""
    minutes, seconds = divmod(int(round(song["total_s"])), 60)
    return f"{minutes} min {seconds:02d} s, {_percent(song['singer_share'])} of it singing"


def rows() -> list[tuple[str, str, str]]:
    """``(figure, value, source)`` for every row of the table."""
    main = _json("docs/benchmarks/main_job.json")
    plain = _json("docs/benchmarks/main_job_without_singer.json")
    cli = _json("docs/benchmarks/cli_start.json")
    quality = _json("docs/evaluation/told_singer_c_generated.json")
    sung = quality["with_singer"]
    released = _json("docs/benchmarks/released_size_cpu.json")["stages"]
    gpu = _json("docs/benchmarks/gpu_generate_h200.json")["summary"]["ours-bfloat16-static-compile"]
    resgen = _json("docs/benchmarks/resgen_tiny.json")["tiny"]
    free = _json("docs/benchmarks/free_prompts.json")
    apart = free["summary"]
    song = _json("docs/benchmarks/song_stages.json")
    from songgen_hf.model_figures import format_mb, weights_bytes

    weights = weights_bytes(MODEL)  # one definition of a model's weights and of a MB on every surface

    def source(relative: str, data: dict) -> str:
        return f"`{relative}` (commit `{data['commit']}`)"

    cpu = f"{main['machine']['cpu_count']} cores, {main['machine']['cpu']} {main['machine']['cpu_capability']}"
    ar = resgen["autoregressive"]["results"]["None"]["median_s"]
    s8 = resgen["resgen"]["results"]["8"]["median_s"]
    return [
        (
            f"main job: a 10 s song with songgen-tiny, median of {len(main['runs'])} ({cpu})",
            f"{main['median_total_s']:.2f} s",
            source("docs/benchmarks/main_job.json", main),
        ),
        (
            "the same without the told singer (`--singer none`)",
            f"{plain['median_total_s']:.2f} s",
            source("docs/benchmarks/main_job_without_singer.json", plain),
        ),
        (
            "`songgen --help`, new process",
            f"{cli['stages']['songgen --help']['median_s']:.2f} s",
            source("docs/benchmarks/cli_start.json", cli),
        ),
        (
            "songgen-tiny: parameters (without the singer)",
            f"{_card_number(r'Parameters: ([0-9.]+) M'):.1f} M",
            "model card",
        ),
        (
            "songgen-tiny: weights on disk (float16, with codec and singer)",
            format_mb(weights),
            "`songgen_hf/assets/songgen-tiny/`",
        ),
        (
            "songgen-tiny: windows a longer song is made in (by default; `--window` up to one decoding pass)",
            f"{_card_number(r'by default in windows of ([0-9.]+) s'):g} s (one pass: "
            f"{_card_number(r'a window of ([0-9.]+) s'):.2f} s)",
            "model card",
        ),
        (
            "songgen-tiny: longest song (window after window, in sections)",
            f"{_card_number(r'songs up to ([0-9.]+) s') / 60:g} min",
            "model card",
        ),
        (
            "tempo within 4 % of the asked one, 95 % interval (150 held-out prompts phrased like the corpus's "
            "captions, 10 s songs)",
            _rate(sung["tempo_acc1"]),
            source("docs/evaluation/told_singer_c_generated.json", quality),
        ),
        ("key exactly as asked (the same prompts)", _rate(sung["key_exact"]), "same"),
        ("vocals as asked (silero-vad)", _rate(sung["voice_agree"]), "same"),
        ("drums as asked", _rate(sung["drums_agree"]), "same"),
        (
            "lyric words recognised on the vocal track (chance: mismatched lyrics)",
            f"{sung['lyric_recall_vocal_track']['mean']:.2f} ({sung['lyric_recall_vocal_track_chance']['mean']:.2f})",
            "same",
        ),
        (
            f"tempo within 4 % of the asked one ({apart['tempo_acc1']['n']} prompts written apart from the corpus: "
            'slang, "slow groove ~84 BPM", "in the key of F sharp minor", "Bb major"; 10 s songs as shipped)',
            _rate(apart["tempo_acc1"]),
            source("docs/benchmarks/free_prompts.json", free),
        ),
        ("key exactly as asked (the same prompts)", _rate(apart["key_exact"]), "same"),
        ("vocals as asked (silero-vad; the same prompts)", _rate(apart["voice_agree"]), "same"),
        ("drums as asked (the same prompts)", "not measured: its judge is a probe fit on corpus audio", "same"),
        (
            "lyric words recognised on the vocal track (chance: mismatched lyrics; the same prompts)",
            f"{apart['lyric_recall']['mean']:.2f} ({apart['lyric_recall_chance']['mean']:.2f})",
            "same",
        ),
        (
            "tempo / key read as asked from the description (the processor's reading; the same prompts)",
            f"{_percent(apart['tempo_read_as_asked']['mean'])} / {_percent(apart['key_read_as_asked']['mean'])}",
            "same",
        ),
        (
            "a 2-minute song in sections, wall time (the README's whole song, " + whole_song_cores(song) + ")",
            whole_song_time(song),
            source("docs/benchmarks/song_stages.json", song),
        ),
        (
            "released size (1.34 B), CPU bf16, per decoding step",
            f"{released['generate_cpu_bfloat16']['median_step_ms'] / 1000:.2f} s",
            source("docs/benchmarks/released_size_cpu.json", _json("docs/benchmarks/released_size_cpu.json")),
        ),
        (
            "SongGen-size decoder on one H200, bf16 + CUDA graphs, per step",
            f"{gpu['first_median_ms']:.1f} ms",
            source("docs/benchmarks/gpu_generate_h200.json", _json("docs/benchmarks/gpu_generate_h200.json")),
        ),
        (
            "tiny ResGen, 8 passes, wall time against autoregressive",
            f"{s8 / ar:.2f}x",
            source("docs/benchmarks/resgen_tiny.json", _json("docs/benchmarks/resgen_tiny.json")),
        ),
    ]


def table() -> str:
    lines = ["| figure | value | source |", "|---|---|---|"]
    lines += [f"| {figure} | {value} | {where} |" for figure, value, where in rows()]
    return "\n".join(lines)


def readme_table(text: str) -> str:
    """The table between the markers of ``text`` (README.md's contents)."""
    match = _BLOCK.search(text)
    if match is None:
        raise ValueError(f"README.md has no {BEGIN} ... {END} block; add one where the figures table goes")
    return match.group(1).strip("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 when README.md's table differs from the sources")
    mode.add_argument("--write", action="store_true", help="rewrite README.md's table from the sources")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    current, wanted = readme_table(text), table()
    if args.check:
        if current != wanted:
            print(
                "README.md's figures table differs from the sources; run python benchmarks/figures.py --write",
                file=sys.stderr,
            )
            return 1
        return 0
    from songgen_hf.utils.atomic import write_text_atomic

    write_text_atomic(README, _BLOCK.sub(lambda _: f"{BEGIN}\n{wanted}\n{END}", text, count=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
