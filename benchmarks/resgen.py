"""ResGen's masked parallel decoding against autoregressive SongGen, side by side in one run.

Three parts, each stage in its own forked child (``machine.run_in_child``), so one stage's peak
memory and thread pool never leak into the next:

* ``tiny``: trained folders, 10 s songs with guidance 3, codec decoding included, as a user gets
  them: ResGen at ``--steps`` passes (default 4 8 16 32 64) against the autoregressive model
  (default: the embedded songgen-tiny).  Reports wall time per song and sequential passes.
* ``length``: ResGen at ``--length-steps`` passes for ``--lengths`` seconds (5 10 20 30): the
  passes stay constant, the wall time is what it is.
* ``songgen``: SongGen-size token models (24 layers x 1024, 16 heads, FFN 4096, 8 codebooks) with
  random weights and tiny conditioning encoders and codec (so only the token models are timed):
  a 30 s song as ResGen at 32 passes against autoregressive SongGen's 1 507 steps, in float32
  and bfloat16.  FLOPs per song are counted with ``torch.utils.flop_counter`` (one ResGen pass
  times the passes; one teacher-forced pass of the causal decoder over the whole song, which does
  the same matrix products as cached step-by-step decoding).  ``--songgen-passes`` /
  ``--songgen-ar-steps`` time fewer passes and steps than a whole song and scale the time per
  pass and per step to it (the JSON says which figures are measured and which are scaled).

    python benchmarks/resgen.py --resgen RESGEN_FOLDER --json results/resgen.json [--parts tiny length songgen]
    python benchmarks/resgen.py --smoke --json /tmp/resgen_smoke.json     # tiny random models, seconds
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the shared benchmarks/machine.py
import torch  # noqa: E402
from machine import cpu_model, load_average, run_in_child  # noqa: E402

DESCRIPTION = "An energetic rock song in E minor at 140 bpm with electric guitar, bass and drums; male vocals."
LYRICS = "we run across the night\nand sing until the light"
GUIDANCE = 3.0
SONGGEN_SIZE = dict(num_hidden_layers=24, hidden_size=1024, num_attention_heads=16, ffn_dim=4096)
MEMORY_LENGTH = 300  # 64 description + 236 lyrics tokens, as benchmarks/generate.py
FRAME_RATE = 50


def child_setup(threads: int) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    warnings.filterwarnings("ignore")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()


# ---------------------------------------------------------------------------- trained folders
def _pipeline(folder):
    import songgen_hf  # noqa: F401  (registers the task)
    from songgen_hf.pipelines import load_text_to_song_pipeline

    return load_text_to_song_pipeline(folder)


def song_times_child(folder, seconds: float, steps_list, repeats: int, threads: int) -> dict:
    """Wall time of whole songs (``pipeline("text-to-song")``, codec decoding included), median of ``repeats``.

    ``steps_list``: ResGen pass counts to time (``[None]`` for an autoregressive folder)."""
    child_setup(threads)
    pipe = _pipeline(folder)
    resgen = pipe.model.config.model_type == "songgen_resgen"
    song = {"description": DESCRIPTION, "lyrics": LYRICS}
    warm = {"num_inference_steps": 2} if resgen else {}
    pipe(song, duration_s=1.0, seed=0, guidance_scale=GUIDANCE, **warm)
    results = {}
    for steps in steps_list:
        options = {"num_inference_steps": steps} if resgen else {"min_duration_s": seconds}
        times = []
        for repeat in range(repeats):
            start = time.perf_counter()
            pipe(song, duration_s=seconds, seed=repeat, guidance_scale=GUIDANCE, **options)
            times.append(time.perf_counter() - start)
        passes = steps if resgen else pipe.model.pattern.sequence_length(round(seconds * FRAME_RATE)) - 1
        results[str(steps)] = {"sequential_passes": passes, "median_s": statistics.median(times), "runs_s": times}
    return {
        "model": str(folder),
        "decoder": "resgen" if resgen else "autoregressive",
        "seconds": seconds,
        "results": results,
    }


# ---------------------------------------------------------------------------- SongGen size
def _decoder_size(smoke: bool) -> dict:
    return dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, ffn_dim=256) if smoke else SONGGEN_SIZE


def _size_model(model_class, config_class, decoder, dtype: str):
    """``decoder`` behind the tiny conditioning and codec, in ``dtype`` with the codec kept in float32."""
    from songgen_hf.testing import tiny_conditioning

    config = config_class(**tiny_conditioning(use_voice_encoder=False, lyrics_positions=MEMORY_LENGTH), decoder=decoder)
    model = model_class(config).eval()
    model.to(getattr(torch, dtype)).audio_encoder.float()  # as from_pretrained(dtype=...) keeps the codec
    return model


def _inputs():
    generator = torch.Generator().manual_seed(1)
    return {
        "input_ids": torch.randint(1, 256, (1, 64), generator=generator),
        "attention_mask": torch.ones(1, 64, dtype=torch.long),
        "lyrics_input_ids": torch.randint(1, 300, (1, MEMORY_LENGTH - 64), generator=generator),
        "lyrics_attention_mask": torch.ones(1, MEMORY_LENGTH - 64, dtype=torch.long),
    }


def resgen_size_child(seconds: float, passes: int, song_passes: int, dtype: str, threads: int, smoke: bool) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    from songgen_hf.modeling.resgen import ResGenConfig, ResGenDecoderConfig, ResGenForConditionalGeneration

    child_setup(threads)
    frames = round(seconds * FRAME_RATE)
    decoder = ResGenDecoderConfig(
        num_codebooks=8, num_mixtures=8, dropout=0.0, max_position_embeddings=max(1500, frames), **_decoder_size(smoke)
    )
    model = _size_model(ResGenForConditionalGeneration, ResGenConfig, decoder, dtype)
    inputs = _inputs()
    options = dict(duration_s=seconds, guidance_scale=GUIDANCE, decode_audio=False)
    with torch.inference_mode():
        model.generate(**inputs, num_inference_steps=1, **{**options, "duration_s": min(seconds, 1.0)})  # warm-up
        start = time.perf_counter()
        model.generate(**inputs, num_inference_steps=passes, **options)
        measured = time.perf_counter() - start
        with FlopCounterMode(display=False) as counter:
            model.generate(**inputs, num_inference_steps=1, **options)
    per_pass = measured / passes
    return {
        "dtype": dtype,
        "frames": frames,
        "passes_timed": passes,
        "measured_s": measured,
        "s_per_pass": per_pass,
        "song_passes": song_passes,
        "song_s": per_pass * song_passes,
        "song_s_is_scaled": passes != song_passes,
        "flops_per_pass": counter.get_total_flops(),
        "flops_per_song": counter.get_total_flops() * song_passes,
        "decoder_parameters": sum(p.numel() for p in model.decoder.parameters()),
    }


def autoregressive_size_child(seconds: float, steps: int, dtype: str, threads: int, smoke: bool) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    from songgen_hf import SongGenConfig, SongGenDecoderConfig, SongGenForConditionalGeneration

    child_setup(threads)
    size = _decoder_size(smoke)
    decoder = SongGenDecoderConfig(
        track_pattern="mixed_pro",
        num_codebooks=8,
        dropout=0.0,
        max_position_embeddings=max(1600, round(seconds * FRAME_RATE) + 16),
        **size,
    )
    model = _size_model(SongGenForConditionalGeneration, SongGenConfig, decoder, dtype)
    song_steps = model.pattern.sequence_length(round(seconds * FRAME_RATE)) - 1
    steps = max(min(steps, song_steps), model.pattern.sequence_length(1) - 1)  # at least one whole frame
    inputs = _inputs()
    sampling = dict(do_sample=True, top_k=50, guidance_scale=GUIDANCE, decode_audio=False)
    with torch.inference_mode():
        model.generate(**inputs, max_new_tokens=8, **sampling)  # warm-up
        start = time.perf_counter()
        model.generate(**inputs, max_new_tokens=steps, **sampling)
        measured = time.perf_counter() - start
        # the matrix products of cached decoding = one teacher-forced pass over the song (guidance doubles it)
        rows = model.pattern.num_rows
        tokens = torch.zeros(2 * rows, song_steps + 1, dtype=torch.long)
        memory = torch.zeros(2, MEMORY_LENGTH, size["hidden_size"], dtype=getattr(torch, dtype))
        with FlopCounterMode(display=False) as counter:
            model.decoder(input_ids=tokens, encoder_hidden_states=memory)
    per_step = measured / steps
    return {
        "dtype": dtype,
        "song_steps": song_steps,
        "steps_timed": steps,
        "measured_s": measured,
        "s_per_step": per_step,
        "song_s": per_step * song_steps,
        "song_s_is_scaled": steps != song_steps,
        "flops_per_song": counter.get_total_flops(),
        "decoder_parameters": sum(p.numel() for p in model.decoder.parameters()),
    }


# ---------------------------------------------------------------------------- report
def _smoke_folders(root: Path) -> tuple[str, str]:
    from songgen_hf.testing import save_tiny_checkpoint, save_tiny_resgen_checkpoint

    return (
        str(save_tiny_resgen_checkpoint(root / "resgen")),
        str(save_tiny_checkpoint(root / "songgen", use_voice_encoder=False)),
    )


def run(args) -> dict:
    report = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "date": datetime.date.today().isoformat(),
        "machine": {
            "cpu": cpu_model(),
            "cpu_count": os.cpu_count(),
            "threads": args.threads,
            "platform": platform.platform(),
            "torch": torch.__version__,
            "load_average_start": load_average(),
        },
    }
    resgen, autoregressive = args.resgen, args.songgen
    scratch = None
    if args.smoke:
        scratch = tempfile.TemporaryDirectory()
        resgen, autoregressive = run_in_child(_smoke_folders, Path(scratch.name))
    if "tiny" in args.parts:
        ours = run_in_child(song_times_child, resgen, args.seconds, args.steps, args.repeats, args.threads)
        theirs = run_in_child(song_times_child, autoregressive, args.seconds, [None], args.repeats, args.threads)
        base = theirs["results"]["None"]
        rows = [
            {
                "decoder": "autoregressive",
                "passes": base["sequential_passes"],
                "median_s": base["median_s"],
                "speedup": 1.0,
            }
        ]
        for steps, result in ours["results"].items():
            rows.append(
                {
                    "decoder": f"resgen S={steps}",
                    "passes": result["sequential_passes"],
                    "median_s": result["median_s"],
                    "speedup": base["median_s"] / result["median_s"],
                    "fewer_passes": base["sequential_passes"] / result["sequential_passes"],
                }
            )
        report["tiny"] = {"seconds": args.seconds, "resgen": ours, "autoregressive": theirs, "table": rows}
    if "length" in args.parts:
        report["length"] = [
            {
                "seconds": seconds,
                **run_in_child(song_times_child, resgen, seconds, [args.length_steps], 1, args.threads)["results"][
                    str(args.length_steps)
                ],
            }
            for seconds in args.lengths
        ]
    if "songgen" in args.parts:
        song_passes = args.songgen_song_passes
        rows = []
        for dtype in args.dtypes:
            ours = run_in_child(
                resgen_size_child,
                args.songgen_seconds,
                min(args.songgen_passes, song_passes),
                song_passes,
                dtype,
                args.threads,
                args.smoke,
            )
            theirs = run_in_child(
                autoregressive_size_child, args.songgen_seconds, args.songgen_ar_steps, dtype, args.threads, args.smoke
            )
            rows.append(
                {
                    "dtype": dtype,
                    "resgen": ours,
                    "autoregressive": theirs,
                    "wall_ratio_ar_over_resgen": theirs["song_s"] / ours["song_s"],
                    "flops_ratio_resgen_over_ar": ours["flops_per_song"] / theirs["flops_per_song"],
                }
            )
        report["songgen_size"] = {"seconds": args.songgen_seconds, "rows": rows}
    report["machine"]["load_average_end"] = load_average()
    if scratch is not None:
        scratch.cleanup()
    return report


def print_report(report: dict) -> None:
    if "tiny" in report:
        print(f"tiny, {report['tiny']['seconds']:g} s songs (codec decoding included):")
        for row in report["tiny"]["table"]:
            print(f"  {row['decoder']:<18} {row['passes']:>5} passes  {row['median_s']:7.2f} s  x{row['speedup']:.2f}")
    for row in report.get("length", []):
        print(f"  length {row['seconds']:g} s: {row['sequential_passes']} passes, {row['median_s']:.2f} s")
    for row in report.get("songgen_size", {}).get("rows", []):
        ours, theirs = row["resgen"], row["autoregressive"]
        print(
            f"  SongGen size {row['dtype']}: resgen {ours['song_passes']} passes {ours['song_s']:.1f} s "
            f"({ours['flops_per_song'] / 1e12:.1f} TFLOP), autoregressive {theirs['song_steps']} steps "
            f"{theirs['song_s']:.1f} s ({theirs['flops_per_song'] / 1e12:.2f} TFLOP)"
        )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resgen", help="a trained ResGen pipeline folder (the tiny and length parts)")
    parser.add_argument("--songgen", default=None, help="the autoregressive folder (default: the embedded model)")
    parser.add_argument(
        "--parts", nargs="+", choices=("tiny", "length", "songgen"), default=["tiny", "length", "songgen"]
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lengths", type=float, nargs="+", default=[5.0, 10.0, 20.0, 30.0])
    parser.add_argument("--length-steps", type=int, default=16)
    parser.add_argument("--songgen-seconds", type=float, default=30.0)
    parser.add_argument("--songgen-song-passes", type=int, default=32)
    parser.add_argument("--songgen-passes", type=int, default=32, help="ResGen passes actually timed at SongGen size")
    parser.add_argument("--songgen-ar-steps", type=int, default=1507, help="autoregressive steps actually timed")
    parser.add_argument("--dtypes", nargs="+", choices=("float32", "bfloat16"), default=["float32", "bfloat16"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="tiny random models and short songs: checks the plumbing")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.smoke:
        args.seconds, args.steps, args.repeats, args.lengths = 0.4, [2, 4], 1, [0.2, 0.4]
        args.length_steps, args.songgen_seconds, args.songgen_passes, args.songgen_ar_steps = 2, 0.4, 2, 4
        args.songgen_song_passes = 4
    elif "tiny" in args.parts or "length" in args.parts:
        if not args.resgen:
            parser.error("--resgen FOLDER is needed for the tiny and length parts (or --parts songgen, or --smoke)")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    report = run(args)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        from songgen_hf.utils.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(report, indent=2) + "\n")
    print_report(report)
    return report


if __name__ == "__main__":
    main()
