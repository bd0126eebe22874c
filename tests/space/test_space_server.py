"""The Space's server is bounded: uploads limited in size, total and lifetime, a refused voice clip deleted,
and an API call with the wrong number of values told what /generate takes (a launched app, tiny model)."""

from __future__ import annotations

import io
import json
import os
import socket

import httpx
import numpy as np
import pytest

gr = pytest.importorskip("gradio")
import soundfile as sf  # noqa: E402

from songgen_hf.testing import save_tiny_checkpoint  # noqa: E402

from .test_app import DESCRIPTION, LYRICS, _import_app  # noqa: E402

MB = 10**6


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """Gradio's folder for this module's app: uploads and the components' files, as in one ``python app.py``."""
    return tmp_path_factory.mktemp("gradio")


@pytest.fixture(scope="module")
def voice_app(tmp_path_factory, cache):
    model = save_tiny_checkpoint(tmp_path_factory.mktemp("server") / "model", track_pattern="mixed_pro")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(cache))  # read by the components when the app builds them
        app = _import_app("songgen_space_server", str(model), "0")
    assert app.INFO.has_voice
    return app


@pytest.fixture
def served(voice_app, cache, monkeypatch):
    """The app launched as ``python app.py`` launches it, with Gradio's files under ``cache``."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))

    def start():
        _, url, _ = voice_app.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
        return url

    yield start
    voice_app.demo.close()


def _upload(url: str, size: int, name: str = "voice.wav", content: bytes | None = None) -> httpx.Response:
    return httpx.post(f"{url}gradio_api/upload", files={"files": (name, content or b"\0" * size)}, timeout=60)


def _files(folder) -> list[str]:
    return sorted(str(path) for path in folder.rglob("*") if path.is_file())


def _call(url: str, values: list) -> tuple[str, dict]:
    posted = httpx.post(f"{url}gradio_api/call/generate", json={"data": values}, timeout=30)
    posted.raise_for_status()
    stream = httpx.get(f"{url}gradio_api/call/generate/{posted.json()['event_id']}", timeout=120).text
    event, data = stream.strip().split("\n\n")[-1].split("\n")[:2]
    return event.removeprefix("event: "), json.loads(data.removeprefix("data: "))


def test_uploads_are_bounded_in_size_and_a_refused_one_is_not_kept(served, voice_app, cache):
    url = served()
    assert voice_app.demo.delete_cache == (voice_app.CACHE_SWEEP_S, voice_app.CACHE_MAX_AGE_S)  # the files' lifetime
    small = _upload(url, 1000)
    assert small.status_code == 200 and os.path.getsize(small.json()[0]) == 1000
    before = _files(cache)
    big = _upload(url, voice_app.MAX_UPLOAD_MB * MB + 2 * voice_app.MULTIPART_OVERHEAD_BYTES)
    assert big.status_code == 413 and f"the limit is {voice_app.MAX_UPLOAD_MB} MB" in big.text  # refused unread
    just_over = _upload(url, voice_app.MAX_UPLOAD_MB * MB + 1)  # within a form's overhead: Gradio cuts it as it comes
    assert just_over.status_code == 413 and "maximum allowed size" in just_over.text
    assert _files(cache) == before  # nothing of either stored

    # a clip over the duration limit: refused with its reason, and deleted at once
    clip = io.BytesIO()
    sf.write(clip, np.zeros(int((voice_app.MAX_REFERENCE_VOICE_SECONDS + 1) * 1000), np.int16), 1000, format="WAV")
    uploaded = _upload(url, 0, "long.wav", clip.getvalue()).json()[0]
    assert os.path.isfile(uploaded)
    voice = {"path": uploaded, "meta": {"_type": "gradio.FileData"}}
    event, data = _call(url, [DESCRIPTION, LYRICS, 1.0, 0.0, 50, 0, 1.0, True, voice])
    assert event == "error" and "The reference voice is 601 s long" in data["error"], data
    assert not os.path.exists(uploaded) and not [path for path in _files(cache) if path.endswith("long.wav")]


@pytest.mark.parametrize("trusted", [None, "127.0.0.1"], ids=["no proxy trusted", "told to trust a local proxy"])
def test_a_client_cannot_name_its_own_budget_with_x_forwarded_for(served, voice_app, monkeypatch, trusted):
    """Each upload claims another client in X-Forwarded-For: unless the Space is told to trust the proxy that
    connects (uvicorn's FORWARDED_ALLOW_IPS), the budget is the connecting address's, and the third is refused."""
    if trusted is None:
        monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    else:
        monkeypatch.setenv("FORWARDED_ALLOW_IPS", trusted)
    monkeypatch.setattr(voice_app, "CLIENT_UPLOAD_BUDGET_MB", 2.5)
    url = served()
    codes = []
    for number in range(3):
        response = httpx.post(
            f"{url}gradio_api/upload",
            files={"files": ("voice.wav", b"\0" * MB)},
            headers={"X-Forwarded-For": f"203.0.113.{number + 1}"},
            timeout=60,
        )
        codes.append(response.status_code)
    assert codes == ([200, 200, 429] if trusted is None else [200, 200, 200]), codes


def test_uploads_are_bounded_in_total(served, voice_app, monkeypatch):
    monkeypatch.setattr(voice_app, "UPLOAD_BUDGET_MB", 3.5)
    url = served()
    codes = [_upload(url, MB).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429], codes
    refused = _upload(url, MB)
    assert refused.status_code == 429 and "try again in a few minutes" in refused.text


def test_a_model_without_a_voice_encoder_takes_no_uploads(served, voice_app, monkeypatch):
    monkeypatch.setattr(voice_app.INFO, "has_voice", False)
    refused = _upload(served(), 10)
    assert refused.status_code == 403 and "takes no uploads" in refused.text


def test_an_upload_must_declare_its_size_and_old_uploads_leave_the_budget(voice_app, monkeypatch):
    guard = voice_app.UploadGuard(
        None, max_bytes=10 * MB, budget_bytes=25 * MB, window_s=600, client_budget_bytes=15 * MB
    )
    assert guard.refusal(None)[0] == 411 and guard.refusal(b"ten")[0] == 411 and guard.refusal(b"-1")[0] == 413
    now = [1000.0]
    monkeypatch.setattr(voice_app.time, "monotonic", lambda: now[0])
    for _ in range(50):  # declared sizes cost nothing: only bytes that arrive are charged
        assert guard.refusal(str(10 * MB).encode()) is None
    assert guard.charge("a", 10 * MB) is None and guard.charge("b", 10 * MB) is None
    assert guard.charge("a", 6 * MB)[0] == 429  # client a would pass its own 15 MB
    assert "for one client" in guard.charge("a", 6 * MB)[1]
    assert guard.charge("c", 6 * MB)[0] == 429  # 26 MB for the Space within the window
    assert guard.charge("c", 5 * MB) is None and guard.charge("d", 0)[0] == 429  # full: refused before a byte
    now[0] += 601  # swept from the cache by now
    assert guard.charge("a", 10 * MB) is None


def test_declared_sizes_spend_no_budget_and_bytes_that_arrive_do(served, voice_app, monkeypatch):
    """Header-only requests that declare the per-file limit and send nothing cost nothing; real bytes count."""
    monkeypatch.setattr(voice_app, "UPLOAD_BUDGET_MB", 2.5)
    url = served()
    host, port = httpx.URL(url).host, httpx.URL(url).port
    for _ in range(10):  # a header declaring a megabyte, then the connection closes with no body
        with socket.create_connection((host, port), timeout=10) as raw:
            raw.sendall(
                f"POST /gradio_api/upload HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; "
                f"boundary=x\r\nContent-Length: {MB}\r\n\r\n".encode()
            )
    assert _upload(url, MB).status_code == 200 and _upload(url, MB).status_code == 200
    refused = _upload(url, MB)  # the third real megabyte runs over 2.5 MB as it arrives
    assert refused.status_code == 429 and "try again in a few minutes" in refused.text


@pytest.mark.parametrize("count", [0, 3, 10])
def test_a_call_with_the_wrong_number_of_values_is_told_what_generate_takes(served, count):
    values = [DESCRIPTION, LYRICS, 1.0, 0.0, 50, 0, 1.0, True, None, 5][:count]
    event, data = _call(served(), values)
    assert event == "error" and data["error"] == (
        "/generate takes 9 values in this order: description, lyrics, guidance_scale, temperature, top_k, seed, "
        f"duration_s, repeat_whole_sections, reference_voice; got {count}."
    )
