"""Every third-party import of the project is declared in setup.py.

CI installs into an empty virtual environment (``.ci/run``), so an undeclared import fails there;
this test names the culprit directly, and also catches what CI cannot: a module that happens to be
installed only because another dependency pulls it in (``tokenizers`` through ``transformers``),
which would break the day that dependency stops doing so.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from pathlib import Path

import pytest

from .setup_py import canonical_name, setup_keywords

ROOT = Path(__file__).resolve().parents[1]
# Which declared requirement sets each source tree may import from.
TREES = {
    # optional features import their extra lazily (training's base_int8: torchao, the quantize extra)
    "songgen_hf": ("install", "eval", "space", "prepare", "quantize"),
    "modeling": ("install", "quantize"),  # quantization.py imports torchao lazily (--quantize int8)
    "pipelines": ("install",),
    "space": ("install", "space"),
    "tests": ("install", "dev"),
    "benchmarks": ("install", "dev"),
    "recipes": ("install", "dev"),
}


def _declared() -> dict[str, set[str]]:
    """setup.py's requirements by set, read by running it with ``setup()`` captured."""
    captured = setup_keywords()
    sets = {"install": captured["install_requires"], **captured["extras_require"]}
    return {name: {canonical_name(req) for req in reqs} for name, reqs in sets.items()}


def _local_names() -> set[str]:
    """Module names that resolve to the repository's own files (tests import some by bare name)."""
    names = {"songgen_hf"}
    for path in ROOT.rglob("*.py"):
        if ".git" not in path.parts:
            names.add(path.stem)
            names.update(part for part in path.relative_to(ROOT).parts[:-1])
    return names


def _imports(tree: str) -> dict[str, set[str]]:
    """Top-level module name -> files of ``tree`` that import it (absolute imports only)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / tree).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                found.setdefault(module.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def test_dev_extra_holds_every_other_extra():
    """``pip install -e ".[dev]"`` (the README's test command) must bring what the Space and evaluation tests use."""
    declared = _declared()
    for extra in ("space", "eval", "prepare", "quantize"):
        assert declared[extra] <= declared["dev"], f"the dev extra lacks {sorted(declared[extra] - declared['dev'])}"


@pytest.mark.parametrize("tree", sorted(TREES))
def test_every_import_is_declared(tree):
    declared = _declared()
    allowed = set().union(*(declared[name] for name in TREES[tree]))
    distributions = importlib.metadata.packages_distributions()
    local = _local_names()
    problems = []
    for module, files in sorted(_imports(tree).items()):
        if module in sys.stdlib_module_names or module in local or module == "__future__":
            continue
        providers = {canonical_name(dist) for dist in distributions.get(module, [])}
        if not providers:
            problems.append(f"{module} (imported by {sorted(files)[0]}) is installed by no distribution here")
        elif not providers & allowed:
            problems.append(
                f"{module} (imported by {sorted(files)[0]}) comes from {sorted(providers)}, which setup.py does not "
                f"declare for {tree}/ (allowed sets: {', '.join(TREES[tree])})"
            )
    assert not problems, "undeclared imports:\n" + "\n".join(problems)
