"""A 60 s round trip: chunking bounds peak memory and leaves the result unchanged."""

import json
import subprocess
import sys
import textwrap

import pytest

# One interpreter imports torch and the package once; each round trip runs in a child forked from it, so each
# peak is measured in a process of its own, from that process's resident set just before the round trip.
SCRIPT = textwrap.dedent(
    """
    import json, os, sys, threading, time, traceback
    import torch
    torch.set_num_threads(1)
    from songgen_hf import XCodecModel
    from songgen_hf.testing import tiny_xcodec_config

    PAGE = os.sysconf("SC_PAGE_SIZE")

    def rss():
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * PAGE

    def round_trip(chunk, out_path):
        torch.manual_seed(0)
        model = XCodecModel(tiny_xcodec_config(teacher="mel")).eval()
        audio = torch.randn(1, 1, 16000 * 60, generator=torch.Generator().manual_seed(1)) * 0.3
        with torch.inference_mode():  # warm up kernels on a short clip so they are not counted
            model.decode(model.encode(audio[..., :16000]).audio_codes)
        # sample the resident set while the round trip runs; ru_maxrss would also count
        # whatever peak happened before the call
        baseline, peak, running = rss(), [0], [True]

        def watch():
            while running[0]:
                peak[0] = max(peak[0], rss())
                time.sleep(0.001)

        watcher = threading.Thread(target=watch)
        watcher.start()
        with torch.inference_mode():
            codes = model.encode(audio, chunk_seconds=chunk).audio_codes
            decoded = model.decode(codes, chunk_seconds=chunk).audio_values
        running[0] = False
        watcher.join()
        torch.save({"codes": codes, "audio": decoded}, out_path)
        return (max(peak[0], rss()) - baseline) // 1024

    peaks = {}
    for name, out_path in zip(sys.argv[1::2], sys.argv[2::2]):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            status = 1
            try:
                kb = round_trip(None if name == "none" else float(name), out_path)
                os.write(write, str(kb).encode())
                status = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(status)
        os.close(write)
        with os.fdopen(read) as pipe:
            reported = pipe.read()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, f"the round trip with chunk {name} failed"
        peaks[name] = int(reported)
    print(json.dumps(peaks))
    """
)


def _run(*chunks_and_paths) -> dict[str, int]:
    result = subprocess.run([sys.executable, "-c", SCRIPT, *map(str, chunks_and_paths)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_sixty_seconds_round_trip_in_bounded_memory(tmp_path):
    import torch

    peaks = _run("none", tmp_path / "whole.pt", "3", tmp_path / "chunked.pt")
    whole_kb, chunked_kb = peaks["none"], peaks["3"]
    whole, chunked = torch.load(tmp_path / "whole.pt"), torch.load(tmp_path / "chunked.pt")
    assert whole["codes"].shape == (1, 8, 3000)
    assert torch.equal(chunked["codes"], whole["codes"])
    # A random decoder has a gain of ~1e3, so float32 accumulation noise is ~1e-4 relative.
    scale = whole["audio"].abs().max()
    assert ((chunked["audio"] - whole["audio"]).abs().max() / scale) < 1e-3
    # whole-file activations grow with the input; chunked ones are capped by the chunk
    print(f"peak increase: whole {whole_kb / 1024:.0f} MB, chunked {chunked_kb / 1024:.0f} MB")
    assert chunked_kb < 0.5 * whole_kb, (chunked_kb, whole_kb)
