"""Streaming latency: time to the first audio chunk and total time for one song.

Runs ``songgen_hf.pipelines.streaming.stream_song`` on a song of ``--seconds`` (default 10)
and, for comparison, the plain ``generate()`` call that returns the whole song at once.  Both
decode greedily with ``min_duration_s`` = ``duration_s`` so every run produces the full length
(and the same tokens, which doubles as a parity check of the streamed audio), unless
``--sample`` is given.  Both run in a background thread: ``stream_song`` has to, and on a busy
2-core machine torch's thread pool behaves differently in the main thread, which would make
the comparison unfair.  One warm-up song (1 s) runs first.

Model: ``--model DIR``, else the embedded default model folder when this install ships it,
else (with ``--tiny``) a tiny random checkpoint built in a temporary folder (checks the
plumbing; its speed says nothing about the real model).

    python benchmarks/streaming.py --json results/streaming.json [--model DIR] [--tiny] [--seconds 10]

The report also measures the codec decoder's receptive field (frames of audio that change
when one frame's codes change), which is what the streamer's context / lookahead defaults
must cover for the streamed audio to be exact.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

DESCRIPTION = "an upbeat pop song in c major at 120 bpm with drums, bass and a female voice"
LYRICS = "hold me close tonight\nthe stars are shining bright"
PARITY_TOLERANCE = 1e-5  # max |streamed - generate()| in float32 samples


def resolve_model(model: str | None, tiny: bool, seconds: float, workdir: str) -> tuple[str, str]:
    """(folder, how it was chosen)."""
    if model:
        return model, "--model"
    from songgen_hf.pipelines.loading import DEFAULT_MODEL_DIR

    if (DEFAULT_MODEL_DIR / "config.json").is_file():
        return str(DEFAULT_MODEL_DIR), "embedded default"
    if not tiny:
        raise SystemExit(
            f"No model: the embedded default ({DEFAULT_MODEL_DIR}) is not in this install. "
            "Pass --model DIR, or --tiny for a random tiny checkpoint."
        )
    from songgen_hf.testing import save_tiny_checkpoint

    # room for the requested song: 50 frames/s plus the pattern's delay, with margin
    positions = max(256, int(seconds * 50 * 1.1) + 64)
    folder = os.path.join(workdir, "tiny-mixed_pro")
    save_tiny_checkpoint(folder, track_pattern="mixed_pro", decoder={"max_position_embeddings": positions})
    return folder, "tiny random checkpoint"


def in_thread(fn):
    """Run ``fn`` in a background thread; return its result or raise its exception."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as error:  # noqa: BLE001 - re-raised below
            box["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def time_stream(model, processor, kwargs: dict, chunk_frames: int) -> dict:
    from songgen_hf.pipelines.streaming import stream_song

    start = time.perf_counter()
    first = None
    chunks = []
    for _, chunk in stream_song(model, processor, DESCRIPTION, LYRICS, chunk_frames=chunk_frames, **kwargs):
        if first is None:
            first = time.perf_counter() - start
        chunks.append(chunk)
    total = time.perf_counter() - start
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return {"first_chunk_s": first, "total_s": total, "chunks": len(chunks), "audio": audio}


def time_generate(model, processor, kwargs: dict) -> dict:
    inputs = processor(description=DESCRIPTION, lyrics=LYRICS).to(model.device)
    start = time.perf_counter()
    output = in_thread(lambda: model.generate(**inputs, **kwargs, return_dict_in_generate=True))
    total = time.perf_counter() - start
    audio = output.audio[0, 0, : int(output.audio_lengths[0])].float().cpu().numpy()
    return {"total_s": total, "audio": audio}


def machine_info(threads: int) -> dict:
    import transformers

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "cuda": torch.cuda.is_available(),
    }


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
    from songgen_hf.pipelines.streaming import SongGenStreamer, codec_receptive_field_frames

    with tempfile.TemporaryDirectory(prefix="songgen-stream-bench-") as workdir:
        folder, source = resolve_model(args.model, args.tiny, args.seconds, workdir)
        device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
        model = SongGenForConditionalGeneration.from_pretrained(folder).to(device).eval()
        processor = SongGenProcessor.from_pretrained(folder)

    kwargs = {"duration_s": args.seconds, "min_duration_s": args.seconds}
    kwargs.update({"do_sample": True} if args.sample else {"do_sample": False})
    load_before = os.getloadavg()
    torch.manual_seed(args.seed)
    time_stream(model, processor, {**kwargs, "duration_s": 1.0, "min_duration_s": 1.0}, args.chunk_frames)
    streams, generates = [], []
    for _ in range(args.repeats):
        torch.manual_seed(args.seed)
        streams.append(time_stream(model, processor, kwargs, args.chunk_frames))
        torch.manual_seed(args.seed)
        generates.append(time_generate(model, processor, kwargs))
    load_after = os.getloadavg()

    streamed, whole = streams[-1]["audio"], generates[-1]["audio"]
    same_length = streamed.shape == whole.shape
    max_diff = float(np.abs(streamed - whole).max()) if same_length and whole.size else None
    field = codec_receptive_field_frames(model.audio_encoder)
    defaults = SongGenStreamer(model)
    crossfade_frames = defaults.crossfade_samples / defaults.hop_length
    first = statistics.median(s["first_chunk_s"] for s in streams)
    total = statistics.median(s["total_s"] for s in streams)
    generate_total = statistics.median(g["total_s"] for g in generates)
    audio_seconds = streamed.shape[0] / model.config.sampling_rate
    return {
        "model": folder if source != "tiny random checkpoint" else None,
        "model_source": source,
        "tiny": source == "tiny random checkpoint",
        "track_pattern": model.config.decoder.track_pattern,
        "device": device,
        "decoding": "sample" if args.sample else "greedy",
        "song_seconds": args.seconds,
        "audio_seconds": audio_seconds,
        "chunk_frames": args.chunk_frames,
        "repeats": args.repeats,
        "streaming": {
            "time_to_first_chunk_s": first,
            "total_s": total,
            "chunks": streams[-1]["chunks"],
            "real_time_factor": total / audio_seconds if audio_seconds else None,
        },
        "generate": {"total_s": generate_total},
        "streaming_overhead": total / generate_total if generate_total else None,
        "parity": {
            "same_length": same_length,
            "max_abs_diff": max_diff,
            "tolerance": PARITY_TOLERANCE,
            "within_tolerance": (max_diff is not None and max_diff <= PARITY_TOLERANCE) if not args.sample else None,
        },
        "codec": {
            "receptive_field_frames": field,
            "default_context_frames": defaults.context_frames,
            "default_lookahead_frames": defaults.lookahead_frames,
            "defaults_cover_receptive_field": defaults.lookahead_frames >= field
            and defaults.context_frames >= field + crossfade_frames,
        },
        "machine": machine_info(args.threads),
        "load_average": {"before": load_before, "after": load_after},
        "command": " ".join(shlex.quote(part) for part in [sys.executable, __file__, *args.argv]),
    }


def print_report(report: dict) -> None:
    streaming, parity = report["streaming"], report["parity"]
    print(f"model: {report['model_source']} ({report['track_pattern']}, {report['device']}, {report['decoding']})")
    print(f"song: {report['audio_seconds']:.2f} s in chunks of {report['chunk_frames']} frames")
    print(f"time to first chunk: {streaming['time_to_first_chunk_s']:.3f} s")
    print(
        f"streaming total:     {streaming['total_s']:.3f} s "
        f"({streaming['chunks']} chunks, RTF {streaming['real_time_factor']:.3f})"
    )
    print(
        f"generate() total:    {report['generate']['total_s']:.3f} s "
        f"(streaming overhead x{report['streaming_overhead']:.3f})"
    )
    print(f"parity: same length {parity['same_length']}, max |diff| {parity['max_abs_diff']}")
    codec = report["codec"]
    print(
        f"codec receptive field: {codec['receptive_field_frames']} frames "
        f"(defaults cover it: {codec['defaults_cover_receptive_field']})"
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", required=True, help="where to write the report")
    parser.add_argument("--model", help="model folder (default: the embedded model, if shipped)")
    parser.add_argument("--tiny", action="store_true", help="fall back to a tiny random checkpoint")
    parser.add_argument("--seconds", type=float, default=10.0, help="song length")
    parser.add_argument("--chunk-frames", type=int, default=50, help="streamer chunk size (50 = 1 s)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs after the warm-up; medians")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", action="store_true", help="sample instead of greedy decoding (no parity check)")
    parser.add_argument("--cpu", action="store_true", help="stay on the CPU even if CUDA is available")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    report = run(args)
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    from songgen_hf.utils.atomic import write_text_atomic

    write_text_atomic(path, json.dumps(report, indent=2) + "\n")
    print_report(report)
    print(f"report: {path}")
    return report


if __name__ == "__main__":
    main()
