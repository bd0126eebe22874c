"""The package's import graph, read from the source (every ``import``, at module level or inside a function).

Inference (the models, the processor, the pipelines, the ``generate`` command and the Space) never reaches the
lab (``data/``, ``training/``, ``evaluation/``), and no module reaches itself through its imports.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "songgen_hf"
# setup.py maps these top-level folders into the package
FOLDERS = {
    "songgen_hf": ROOT / "songgen_hf",
    "songgen_hf.modeling": ROOT / "modeling",
    "songgen_hf.pipelines": ROOT / "pipelines",
}
LAB = ("songgen_hf.data", "songgen_hf.training", "songgen_hf.evaluation")
INFERENCE_PACKAGES = ("songgen_hf.modeling", "songgen_hf.pipelines")
INFERENCE_MODULES = (
    "songgen_hf.commands.generate",
    "songgen_hf.commands.generate_many",
    "songgen_hf.commands.song_folder",
    "space.app",
)


@lru_cache(maxsize=1)
def module_files() -> dict[str, Path]:
    """Every module of the package (and the Space's app) -> its file."""
    files = {}
    for prefix, folder in FOLDERS.items():
        for path in sorted(folder.rglob("*.py")):
            relative = path.relative_to(folder).with_suffix("")
            if prefix == "songgen_hf" and relative.parts[0] in ("modeling", "pipelines"):
                continue  # not shipped from songgen_hf/ (setup.py maps the top-level folders)
            parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
            files[".".join((prefix, *parts))] = path
    files["space.app"] = ROOT / "space" / "app.py"
    return files


def _is_package(module: str) -> bool:
    return module_files()[module].name == "__init__.py"


def _imported(node: ast.AST, module: str) -> list[str]:
    """The package modules an import statement names (the submodule when ``from pkg import sub``)."""
    known = module_files()
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".") if _is_package(module) else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    targets = []
    for alias in node.names:
        candidate = f"{source}.{alias.name}"
        targets.append(candidate if candidate in known else source)
    return targets


@lru_cache(maxsize=1)
def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports directly (the deepest known module of each dotted name)."""
    known = module_files()
    graph = {}
    for module, path in known.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for name in _imported(node, module):
                while name and name not in known:
                    name = name.rpartition(".")[0]
                if name and name != module:
                    edges.add(name)
        graph[module] = edges
    return graph


def _with_parents(module: str) -> list[str]:
    """Importing ``a.b.c`` runs ``a`` and ``a.b`` first."""
    parts = module.split(".")
    return [".".join(parts[:n]) for n in range(1, len(parts) + 1) if ".".join(parts[:n]) in module_files()]


def reached_from(start: list[str]) -> dict[str, str]:
    """Every module that importing ``start`` runs -> the module that imported it."""
    graph = import_graph()
    parent = {module: "" for module in start}
    stack = list(start)
    while stack:
        module = stack.pop()
        for target in graph[module]:
            for name in _with_parents(target):
                if name not in parent:
                    parent[name] = module
                    stack.append(name)
    return parent


def _chain(parent: dict[str, str], module: str) -> list[str]:
    chain = [module]
    while parent.get(chain[-1]):
        chain.append(parent[chain[-1]])
    return chain[::-1]


def test_the_graph_is_read_from_the_source():
    graph = import_graph()
    assert "songgen_hf.modeling.songgen.processing_songgen" in graph["songgen_hf.pipelines.text_to_song"]
    assert "songgen_hf.modeling.songgen.modeling_songgen" in reached_from(["songgen_hf.commands.generate"])
    # a function-level import counts as an edge (the loader imports the singer's model only to load one)
    assert "songgen_hf.modeling.songgen_singer" in graph["songgen_hf.pipelines.loading"]


def test_inference_never_imports_the_lab():
    start = [
        module for module in module_files() if module.startswith(INFERENCE_PACKAGES) or module in INFERENCE_MODULES
    ]
    parent = reached_from(start)
    into_lab = sorted(module for module in parent if module.startswith(LAB))
    chains = [" -> ".join(_chain(parent, module)) for module in into_lab]
    assert not chains, "inference reaches the lab:\n" + "\n".join(chains)


def test_modeling_never_imports_upward():
    """The models and their processors import ``modeling/`` (the limits and the music theory included) and the
    package's leaf modules (atomic writes, audio resampling...): never a module that builds on the models (the
    loaders, the pipelines, the front doors)."""
    modeling = "songgen_hf.modeling"
    graph = import_graph()

    def builds_on_modeling(module: str) -> bool:  # its own imports, not the package ``__init__`` that runs first
        seen, stack = {module}, [module]
        while stack:
            for target in graph[stack.pop()] - seen - {PACKAGE}:
                if target.startswith(modeling):
                    return True
                seen.add(target)
                stack.append(target)
        return False

    upward = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module.startswith(modeling)
        for target in targets
        if target != PACKAGE and not target.startswith(modeling) and builds_on_modeling(target)
    )
    assert builds_on_modeling("songgen_hf.pipelines.loading") and not builds_on_modeling("songgen_hf.utils.atomic")
    assert not upward, "modeling imports a module above it:\n" + "\n".join(upward)


def test_no_import_cycles():
    graph = import_graph()
    index, low, on_stack, stack, cycles, counter = {}, {}, set(), [], [], [0]

    def visit(module):  # Tarjan's strongly connected components
        index[module] = low[module] = counter[0]
        counter[0] += 1
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(cycle) for cycle in cycles)
