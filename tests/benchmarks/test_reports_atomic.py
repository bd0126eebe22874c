"""Every file a benchmark writes (its ``--json`` report, the README's figures, a run's configs) goes through the
package's atomic writer, so a benchmark killed mid-write leaves the previous report whole, never half a file that
the docs then quote; writes into a staging folder that is itself renamed into place are the one exception."""

from __future__ import annotations

import ast
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
PLAIN_WRITES = {"write_text", "write_bytes"}


def _plain_writes(path: Path) -> list[str]:
    """``Path.write_text``/``write_bytes`` calls (but into a staging folder) and ``json.dump`` into an ``open()``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name, target = node.func.attr, ast.unparse(node.func.value)
        into_open = name == "dump" and target == "json" and len(node.args) > 1 and "open(" in ast.unparse(node.args[1])
        if (name in PLAIN_WRITES and "staging" not in target) or into_open:
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_benchmarks_write_through_the_atomic_writer():
    scripts = sorted(BENCHMARKS.glob("*.py"))
    assert len(scripts) > 20
    plain = [write for script in scripts for write in _plain_writes(script)]
    assert not plain, "write these through songgen_hf.utils.atomic (write_text_atomic / atomic_file):\n" + "\n".join(
        plain
    )


def test_the_scan_sees_a_plain_write(tmp_path):
    script = tmp_path / "bench.py"
    script.write_text(
        "import json\nfrom pathlib import Path\n"
        "Path('r.json').write_text('{}')\n"
        "json.dump({}, open('r.json', 'w'))\n"
        "(staging / 'a.json').write_text('{}')\n",
        encoding="utf-8",
    )
    assert [line.split(":")[1] for line in _plain_writes(script)] == ["3", "4"]
