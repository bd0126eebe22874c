"""The Space installs from its own files: requirements.txt names what app.py imports and what the
songgen_hf package needs, and space/build_space.py writes a folder that carries the package."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..setup_py import canonical_name, setup_keywords

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "space"


def _requirements() -> dict[str, str]:
    """requirements.txt's lines by canonical distribution name."""
    lines = [line.split("#")[0].strip() for line in (SPACE / "requirements.txt").read_text().splitlines()]
    return {canonical_name(line): line for line in lines if line}


def _third_party_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name not in ("__future__", "songgen_hf")}


def test_requirements_cover_every_third_party_import_of_the_app():
    required = _requirements()
    distributions = importlib.metadata.packages_distributions()
    imports = _third_party_imports(SPACE / "app.py")
    assert {"gradio", "numpy", "starlette"} <= imports  # the parse sees the app's imports
    missing = {
        module: distributions.get(module)
        for module in imports
        if not {canonical_name(dist) for dist in distributions.get(module, [])} & set(required)
    }
    assert not missing, f"imported by space/app.py but not in space/requirements.txt: {missing}"


def test_requirements_carry_the_packages_dependencies_and_not_the_package():
    required = _requirements()
    setup = setup_keywords()
    for requirement in setup["install_requires"] + setup["extras_require"]["space"]:
        name = canonical_name(requirement)
        assert name in required, f"{requirement} (setup.py) is missing from space/requirements.txt"
    assert "songgen-hf" not in required  # on no package index: build_space.py carries it instead


def test_requirements_pin_the_gradio_of_the_spaces_sdk():
    version = re.search(r"^sdk_version:\s*(\S+)", (SPACE / "README.md").read_text(), re.MULTILINE).group(1)
    assert _requirements()["gradio"] == f"gradio=={version}"


def test_the_built_space_imports_the_package_it_carries(tmp_path):
    sys.path.insert(0, str(SPACE))
    try:
        import build_space
    finally:
        sys.path.remove(str(SPACE))
    folder = build_space.build(tmp_path / "space")
    for name in build_space.SPACE_FILES:
        assert (folder / name).read_bytes() == (SPACE / name).read_bytes()
    # every package setup.py installs is there, where an install puts it
    for package in setup_keywords()["packages"]:
        assert (folder / package.replace(".", "/") / "__init__.py").is_file(), package
    assert not list(folder.rglob("__pycache__"))
    assert (folder / "songgen_hf/assets/songgen-tiny/config.json").is_file()  # the default model comes along
    # run from the folder as a Space runs app.py: the carried package wins over any installed one
    code = (
        "import songgen_hf, songgen_hf.pipelines.streaming as s, songgen_hf.modeling.songgen as m; "
        "print(songgen_hf.__file__); print(s.__file__); print(m.__file__)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for line in done.stdout.split():
        assert Path(line).resolve().is_relative_to(folder.resolve()), line
    with pytest.raises(ValueError, match="not an empty folder"):  # never writes over a folder
        build_space.build(folder)
    assert build_space.main([str(folder)]) == 2


def _app_constants() -> dict:
    """The module-level numbers of space/app.py, read without importing it (which loads a model)."""
    values = {}
    for node in ast.parse((SPACE / "app.py").read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign):
            targets = node.targets[0].elts if isinstance(node.targets[0], ast.Tuple) else node.targets
            values_ = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
            for target, value in zip(targets, values_):
                if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
                    values[target.id] = value.value
        elif isinstance(node, ast.Expr) and "queue" in ast.unparse(node):
            values.update({k.arg: k.value.value for k in node.value.keywords if isinstance(k.value, ast.Constant)})
    return values


def test_the_readmes_limits_are_the_apps():
    limits, readme = _app_constants(), " ".join((SPACE / "README.md").read_text().split())
    minutes = {60: "every minute", 600: "older than ten minutes"}
    for shown in (
        f"over {limits['MAX_UPLOAD_MB']} MB is refused",
        f"at most {limits['UPLOAD_BUDGET_MB']} MB",
        minutes[limits["CACHE_SWEEP_S"]],
        minutes[limits["CACHE_MAX_AGE_S"]],
        f"up to {limits['max_size']} requests wait",
        '`pip install -e ".[space]" && python space/app.py`'.strip("`"),
    ):
        assert shown in readme, shown


def test_python_space_app_py_starts_the_space_with_its_limits(tmp_path):
    """The README's command, as a person runs it (a tiny model by SONGGEN_MODEL, a free port)."""
    import socket
    import time

    import httpx

    from songgen_hf.testing import save_tiny_checkpoint

    model = save_tiny_checkpoint(tmp_path / "model", track_pattern="mixed_pro", use_voice_encoder=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **__import__("os").environ,
        "SONGGEN_MODEL": str(model),
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
    }
    server = subprocess.Popen(
        [sys.executable, "space/app.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline, page = time.monotonic() + 240, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                page = httpx.get(url, timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        assert page is not None and page.status_code == 200, server.stderr.read()[-3000:] if server.poll() else page
        assert "SongGen: text to song" in page.text
        upload = httpx.post(f"{url}gradio_api/upload", files={"files": ("x.wav", b"\0" * 100)}, timeout=30)
        assert upload.status_code == 403  # no voice encoder: the page takes no file, and neither does the server
    finally:
        server.kill()
        server.wait(timeout=30)
