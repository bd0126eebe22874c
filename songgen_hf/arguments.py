"""What the ``songgen`` commands share: checks for their numbers and paths, and a few option sets.

argparse turns ``nan``, ``inf`` and ``1e30`` into valid floats and any digit string into an
int, so each command checks its numbers here before doing any work: NaN and infinity are
refused outright (they otherwise surface as "cannot convert float NaN to integer" deep inside
torch, or as silent garbage), and every bound names the option and the accepted range.
No heavy imports: this runs before anything loads.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from pathlib import Path

# --quantize's choices, here so that parsers list them without importing torch; the same tuple as
# songgen_hf.modeling.songgen.quantization.QUANTIZE_CHOICES, which loading checks against (a test compares them)
QUANTIZE_CHOICES = ("int8", "int8-heads", "bf16", "fp32")


def add_run_arguments(parser, config_help: str, set_example: str):
    """The arguments every training command shares: the config file, ``--resume``, ``--overwrite``
    and ``--set KEY=VALUE`` overrides (parsed by ``songgen_hf.training.config_files.parse_overrides``)."""
    parser.add_argument("config", help=config_help)
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in output_dir")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete an earlier run in output_dir (checkpoints, train log, final, samples) and start at step 0",
    )
    parser.add_argument("--set", nargs="*", metavar="KEY=VALUE", help=f"override config options, e.g. {set_example}")
    return parser


def check_number(flag: str, value, *, minimum=None, maximum=None, above=None, below=None, example=None):
    """``value`` if it is a finite number within the bounds, else ``ValueError`` naming ``flag``.

    ``minimum``/``maximum`` are inclusive, ``above``/``below`` exclusive; ``None`` passes through."""
    if value is None:
        return None
    hint = f" Try {flag} {example}." if example is not None else ""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{flag} must be a finite number, got {value!r}.{hint}")
    bounds = [
        (minimum, ">=", value < minimum if minimum is not None else False),
        (above, ">", value <= above if above is not None else False),
        (maximum, "<=", value > maximum if maximum is not None else False),
        (below, "<", value >= below if below is not None else False),
    ]
    if any(failed for _, _, failed in bounds):
        ranges = " and ".join(f"{sign} {bound:g}" for bound, sign, _ in bounds if bound is not None)
        raise ValueError(f"{flag} must be {ranges}, got {value:g}.{hint}")
    return value


def check_count(flag: str, value, *, minimum: int = 1, maximum: int | None = None, why: str = ""):
    """A whole number in ``[minimum, maximum]``; ``ValueError`` naming ``flag`` and the range otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{flag} must be a whole number, got {value!r}.")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum:,}" if maximum is not None else ""
        raise ValueError(f"{flag} must be at least {minimum:,}{upper}, got {value:,}.{' ' + why if why else ''}")
    return value


def check_path_given(flag: str, value) -> None:
    """An empty path (``--output ""``) would mean the current folder, which a command may then fill or
    replace; it is refused instead."""
    if value is not None and not str(value).strip():
        raise ValueError(f"{flag} is empty; give a path.")


def check_bandwidth(flag: str, value, bandwidths) -> None:
    """``value`` kbps must be one of the codec's ``bandwidths`` (``None``: all codebooks)."""
    if value is None:
        return
    check_number(flag, value, above=0, example=bandwidths[-1])
    if not any(math.isclose(value, bandwidth) for bandwidth in bandwidths):
        raise ValueError(
            f"{flag} {value:g} kbps is not offered by this codec; pick one of "
            f"{', '.join(f'{bandwidth:g}' for bandwidth in bandwidths)}, or omit {flag} for all codebooks."
        )


def holds(folder, path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (links resolved; neither needs to exist yet)."""
    folder, path = Path(folder).resolve(), Path(path).resolve()
    return path == folder or folder in path.parents


def check_output_spares_inputs(output_flag: str, output, inputs: dict) -> None:
    """A command that replaces its output folder whole must not be handed a folder that holds what it reads:
    the corpus, the checkpoint, the codec would be deleted once the new folder is complete (``--overwrite``
    means "replace my earlier result", never "delete my data").  ``inputs`` maps each input's flag to its path
    (``None`` for an input not given)."""
    for flag, value in inputs.items():
        # only what exists can be lost (a Hub id such as org/name is not a local path)
        if value is not None and str(value).strip() and Path(value).exists() and holds(output, value):
            raise ValueError(
                f"{output_flag} {output} holds {flag} {value}, which writing {output_flag} would "
                f"replace; write to a new folder instead."
            )


__all__ = ["check_bandwidth", "check_count", "check_number", "check_output_spares_inputs", "check_path_given", "holds"]


def output_and_report(output: str, report: str | None, result_file: str, default_report: str):
    """``(output folder, Markdown report path)`` of an evaluation command, refused before any work when
    ``--output`` is a file or ``--report`` is not a ``.md`` file name."""
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file; give a folder for {result_file}.")
    report = Path(report) if report is not None else output / default_report
    if report.suffix.lower() != ".md":
        raise ValueError(f"--report {report}: the report is Markdown; use a .md file name.")
    if report.is_dir():
        raise ValueError(f"--report {report} is a directory; give a file name such as {report / default_report}.")
    return output, report


CODEBOOK_TEMPERATURES_HELP = (
    "TRACK=T1,T2,... (repeatable): sample the first codebooks of a track at their own temperatures, e.g. "
    "vocals=0.6,0.6,0.6 (tracks: mix, or accompaniment and vocals); 'none' turns off the model's saved ones"
)


def parse_codebook_temperatures(flag: str, values: list[str] | None) -> dict[str, list[float]] | None:
    """``["vocals=0.6,0.6"]`` -> ``{"vocals": [0.6, 0.6]}``; ``["none"]`` -> ``{}`` (none: generate() then samples
    every row at ``temperature``, a folder's saved ones included); not given -> ``None``.

    Only the syntax is checked here; the ranges, tracks and codebook counts are generate()'s checks
    (``check_generation_arguments``), which the commands run on the model's config before its weights load.
    """
    if values is None:
        return None
    if [value.strip().lower() for value in values] == ["none"]:
        return {}
    parsed: dict[str, list[float]] = {}
    for value in values:
        track, equals, listed = value.partition("=")
        track = track.strip()
        if not equals or not track or not listed.strip():
            raise ValueError(
                f"{flag} {value!r} must look like TRACK=T1,T2,... (e.g. vocals=0.6,0.6,0.6), or be 'none' alone."
            )
        if track in parsed:
            raise ValueError(f"{flag} names {track!r} twice; give each track once.")
        try:
            parsed[track] = [float(item) for item in listed.split(",")]
        except ValueError:
            raise ValueError(
                f"{flag} {value!r}: the temperatures must be numbers separated by commas, e.g. {track}=0.6,0.6,0.6."
            ) from None
    return parsed
