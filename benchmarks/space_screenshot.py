"""Headless-Chromium check of the Gradio Space: a screenshot, and the rendered page's main controls.

Launches ``space/app.py`` on 127.0.0.1 in this process, then runs Debian's ``chromium`` twice
against it: once with ``--screenshot`` (the PNG to look at) and once with ``--dump-dom`` (the
DOM after the page's scripts ran).  The DOM check ignores ``<script>`` and ``<style>``: Gradio
inlines its whole config, labels included, into a script, so only rendered elements count.
Required: the "Description" and "Lyrics" text areas, the "Generate" button and, for a model
with a voice encoder, the reference-voice upload.

Model: ``--model DIR``; else ``SONGGEN_MODEL``; else the embedded default when installed; with
``--tiny`` (or when none of those exists) a tiny random dual-track checkpoint in a temporary
folder, so every control (voice upload, stems) is on the page.

    python benchmarks/space_screenshot.py --output space.png [--dom space.html] [--model DIR | --tiny]

Exit code 0 when the screenshot was written and every control was found, 1 otherwise; the
summary is printed as JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "space" / "app.py"
CHROMIUM = "/usr/bin/chromium"
WINDOW = (1280, 1600)
# The flags, plus: --hide-scrollbars (a clean picture) and a virtual-time budget, which
# lets Gradio's scripts fetch the config and render before the capture instead of racing it.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--virtual-time-budget=10000",
]


def choose_model(model: str | None, tiny: bool, workdir: str) -> tuple[str, str]:
    """(folder, how it was chosen)."""
    if model:
        return model, "--model"
    if not tiny and os.environ.get("SONGGEN_MODEL", "").strip():
        return os.environ["SONGGEN_MODEL"].strip(), "SONGGEN_MODEL"
    if not tiny:
        from songgen_hf.pipelines.loading import DEFAULT_MODEL_DIR

        if (DEFAULT_MODEL_DIR / "config.json").is_file():
            return str(DEFAULT_MODEL_DIR), "embedded default"
    from songgen_hf.testing import save_tiny_checkpoint

    folder = save_tiny_checkpoint(Path(workdir) / "tiny", track_pattern="interleaving_A_V")
    return str(folder), "tiny random dual-track checkpoint"


def import_app(model: str):
    """``space/app.py`` as a fresh module; it reads ``SONGGEN_MODEL`` when imported."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["SONGGEN_MODEL"] = model
    spec = importlib.util.spec_from_file_location("songgen_space_screenshot", APP)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # gradio looks the handler's module up while building the API
    spec.loader.exec_module(module)
    return module


def run_chromium(chromium: str, mode: list[str], url: str, timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            *mode,
            url,
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def rendered_controls(dom: str, expect_voice: bool) -> dict[str, bool]:
    """Which main controls the rendered DOM holds (scripts and styles removed first)."""
    body = re.sub(r"<(script|style)\b.*?</\1>", "", dom, flags=re.DOTALL | re.IGNORECASE)
    buttons = [
        re.sub(r"<[^>]+>", "", text).strip() for text in re.findall(r"<button\b[^>]*>(.*?)</button>", body, re.S)
    ]
    textareas = re.findall(r"<textarea\b[^>]*>", body)
    found = {
        "description": bool(re.search(r">\s*Description\s*<", body)) and any("genre, mood" in t for t in textareas),
        "lyrics": bool(re.search(r">\s*Lyrics\s*<", body)) and any("[verse]" in t for t in textareas),
        "generate button": "Generate" in buttons,
    }
    if expect_voice:
        found["reference voice upload"] = "Reference voice" in body and any("Upload" in b for b in buttons)
    return found


def png_size(path: Path) -> tuple[int, int] | None:
    """Width and height from the PNG header, or None if the file is not a PNG."""
    header = path.read_bytes()[:24] if path.is_file() else b""
    if len(header) < 24 or header[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def capture(
    output: Path,
    dom_path: Path | None = None,
    model: str | None = None,
    tiny: bool = False,
    chromium: str = CHROMIUM,
    timeout: float = 60.0,
) -> dict:
    if not shutil.which(chromium):
        raise SystemExit(f"{chromium} not found; install Debian's chromium package.")
    started = time.perf_counter()
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="space-screenshot-") as workdir:
        folder, source = choose_model(model, tiny, workdir)
        app = import_app(folder)
        try:
            _, url, _ = app.demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
            shot = run_chromium(chromium, [f"--screenshot={output}"], url, timeout)
            dump = run_chromium(chromium, ["--dump-dom"], url, timeout)
        finally:
            app.demo.close()
    if dom_path is not None:
        from songgen_hf.utils.atomic import write_text_atomic

        write_text_atomic(dom_path, dump.stdout)
    controls = rendered_controls(dump.stdout, expect_voice=app.INFO.has_voice)
    size = png_size(output)
    return {
        "url": url,
        "model": folder,
        "model_source": source,
        "model_error": app.INFO.error,
        "screenshot": str(output),
        "screenshot_size": size,
        "screenshot_ok": size == WINDOW and shot.returncode == 0,
        "dom_bytes": len(dump.stdout),
        "controls": controls,
        "ok": size == WINDOW and shot.returncode == 0 and dump.returncode == 0 and all(controls.values()),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default="space_screenshot.png", help="PNG to write")
    parser.add_argument("--dom", help="also save the dumped DOM here")
    parser.add_argument("--model", help="SongGen folder (default: SONGGEN_MODEL, the embedded model, or --tiny)")
    parser.add_argument("--tiny", action="store_true", help="use a tiny random dual-track checkpoint")
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per chromium run")
    args = parser.parse_args(argv)
    summary = capture(
        Path(args.output), Path(args.dom) if args.dom else None, args.model, args.tiny, args.chromium, args.timeout
    )
    print(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
