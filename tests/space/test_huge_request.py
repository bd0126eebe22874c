"""A 100 000-character description sent to a running Space: a clear error in under a second, the
server's peak memory for that request below 1 GB, and the next normal request still served.

The Space runs in its own process (as on a real host) with the embedded default model, so its
peak resident memory can be read from the kernel (``VmHWM`` in ``/proc/<pid>/status``): the high-water
mark is reset just before the request (``clear_refs``) and read after it.  The figure is printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from songgen_hf.pipelines.loading import DEFAULT_MODEL_DIR  # noqa: E402

from .test_app import DESCRIPTION, LYRICS  # noqa: E402

APP = Path(__file__).resolve().parents[2] / "space" / "app.py"
GB = 1e9
SERVER = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("songgen_space", sys.argv[1])
app = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = app
spec.loader.exec_module(app)
_, url, _ = app.demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
print("URL", url, flush=True)
while True:
    time.sleep(3600)
"""


def _memory(pid: int) -> dict[str, float]:
    """Resident (VmRSS) and peak resident (VmHWM) memory of a process, in bytes."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = float(value.split()[0]) * 1024  # reported in kB
    return fields


def _reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # 5: reset the peak RSS to the current RSS
        return True
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc to read a process's memory")
def test_huge_description_is_refused_fast_and_small_and_the_space_keeps_serving(tmp_path):
    if not (DEFAULT_MODEL_DIR / "config.json").is_file():
        pytest.skip("this install has no embedded default model")
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "SONGGEN_MODEL": "",
        "SONGGEN_SPACE_STREAMING": "0",
        "HF_HUB_OFFLINE": "1",
    }
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(APP)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        line, deadline = "", time.monotonic() + 180
        while not line.startswith("URL") and time.monotonic() < deadline and server.poll() is None:
            line = server.stdout.readline()
        assert line.startswith("URL"), f"the Space did not start (exit code {server.poll()})"
        client = gradio_client.Client(
            line.split()[1], download_files=str(tmp_path), verbose=False, analytics_enabled=False
        )
        startup = _memory(server.pid)
        reset = _reset_peak(server.pid)

        started = time.perf_counter()
        with pytest.raises(gradio_client.exceptions.AppError, match="100,000 characters long; the limit is 2,000"):
            client.predict("x" * 100_000, LYRICS, 1.0, 0.0, 50, 0, 1.0, api_name="/generate")
        seconds = time.perf_counter() - started
        during = _memory(server.pid)
        assert server.poll() is None, "the server died"
        assert seconds < 1.0, f"the refusal took {seconds:.2f} s"
        assert during["VmHWM"] < 1 * GB, during

        result = client.predict(DESCRIPTION, LYRICS, 1.0, 0.0, 50, 0, 1.0, api_name="/generate")
        assert "Done" in result[4] and str(result[1]).endswith(".wav") and os.path.isfile(result[1])
        after = _memory(server.pid)
    finally:
        server.kill()
        server.wait(timeout=30)
    print(
        f"\n100 000-character description: refused in {seconds * 1000:.0f} ms; server peak RSS during the request "
        f"{during['VmHWM'] / 1e6:.0f} MB ({'reset before it' if reset else 'since start'}; RSS at start "
        f"{startup['VmRSS'] / 1e6:.0f} MB, peak at start {startup['VmHWM'] / 1e6:.0f} MB); "
        f"after a normal 1 s song: RSS {after['VmRSS'] / 1e6:.0f} MB, peak {after['VmHWM'] / 1e6:.0f} MB"
    )
