"""The Space under load: 8 clients at once through Gradio's queue, every one answered with a playable song.

The app queues with ``default_concurrency_limit=1``, so the 8 requests run one after another
while the others wait in the queue (``max_size=20``); the test checks that none is dropped or
mixed up (each client samples with its own seed, so all 8 songs must differ) and prints the timings.

The songs are sampled rather than greedy on purpose: Gradio caches output files under the hash of
their content, so 8 identical songs share one cache file, and a client can download it while the
next identical request rewrites it (an empty download was seen under load).
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
import soundfile as sf  # noqa: E402

from songgen_hf.testing import save_tiny_checkpoint  # noqa: E402

from .test_app import DESCRIPTION, LYRICS, _import_app  # noqa: E402

CLIENTS = 8
SECONDS = 1.0


def test_eight_concurrent_clients_are_all_answered(tmp_path):
    model = save_tiny_checkpoint(tmp_path / "model", track_pattern="mixed_pro")
    app = _import_app("songgen_space_load", str(model), "auto")  # live streaming when ffmpeg is there
    results: list = [None] * CLIENTS
    errors: list = []
    spans = [(0.0, 0.0)] * CLIENTS  # (submitted, answered), perf_counter seconds
    barrier = threading.Barrier(CLIENTS)

    def user(index: int, url: str) -> None:
        try:
            client = gradio_client.Client(
                url, download_files=str(tmp_path / f"client{index}"), verbose=False, analytics_enabled=False
            )
            barrier.wait(timeout=60)  # all clients connected: the requests really arrive together
            started = time.perf_counter()
            job = client.submit(DESCRIPTION, LYRICS, 1.0, 1.0, 50, index, SECONDS, api_name="/generate")
            results[index] = job.result(timeout=300)
            spans[index] = (started, time.perf_counter())
        except Exception as error:  # noqa: BLE001 - reported below with the client's number
            errors.append((index, repr(error)))

    try:
        _, url, _ = app.demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
        threads = [threading.Thread(target=user, args=(index, url), daemon=True) for index in range(CLIENTS)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=360)
        total = time.perf_counter() - started
    finally:
        app.demo.close()

    assert not errors, errors
    songs = []
    for index, result in enumerate(results):
        assert result is not None, f"client {index} got no answer"
        path, status = result[1], result[4]
        assert str(path).endswith(".wav") and "Done" in status, (index, result)
        audio, rate = sf.read(path, dtype="int16")
        assert rate == 16000 and audio.shape == (int(SECONDS * 16000),) and np.abs(audio).max() > 0
        songs.append(audio)
    # one seed per client: distinct songs show the queue kept every request's state apart
    for first in range(CLIENTS):
        for second in range(first + 1, CLIENTS):
            assert not np.array_equal(songs[first], songs[second]), (first, second)
    latencies = sorted(end - start for start, end in spans)
    burst = max(end for _, end in spans) - min(start for start, _ in spans)
    print(
        f"\n{CLIENTS} concurrent clients ({SECONDS:g} s songs, live streaming {'on' if app.LIVE else 'off'}): "
        f"all {CLIENTS} answered; {burst:.1f} s from the first request to the last answer "
        f"({total:.1f} s including client connections); per-request latency min {latencies[0]:.1f} s, "
        f"median {latencies[CLIENTS // 2]:.1f} s, max {latencies[-1]:.1f} s"
    )
