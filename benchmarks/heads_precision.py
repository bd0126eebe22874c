"""How near each precision of the token heads comes to float32's tokens on the embedded songgen-tiny.

Samples a song per prompt from the float32 model (its saved settings, ``--seconds`` long, seed = the prompt's
index), then feeds each song back through the model teacher-forced, as float32 and with the token heads in each
precision (the transformer layers float32), and compares the logits of every row and position: top-1 agreement
(the share of positions whose most likely code is float32's) and the relative error of the logits.  Not a timing.

    python benchmarks/heads_precision.py --json docs/benchmarks/heads_precision.json
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import shlex
import sys
from pathlib import Path

import torch

PROMPTS = (
    (
        "An energetic rock song in E minor at 140 bpm with electric guitar, bass and drums; male vocals.",
        "we run across the night\nand sing until the light",
    ),
    ("a calm piano ballad in c major at 80 bpm, female voice", "hold me close tonight\nthe stars are shining bright"),
    ("an instrumental funk groove in a minor at 110 bpm with bass and drums", None),
)


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    import songgen_hf  # noqa: F401  (registers the task)
    from songgen_hf.modeling.songgen.quantization import check_quantize, quantize_decoder
    from songgen_hf.pipelines import load_text_to_song_pipeline

    pipe = load_text_to_song_pipeline(args.model, singer=None, quantize="fp32")
    model = pipe.model.eval()
    precisions = {}
    for name in args.precisions:
        try:
            check_quantize(name, "cpu")
        except ValueError as error:
            print(f"skipped {name}: {error}")
            continue
        precisions[name] = quantize_decoder(copy.deepcopy(model), name).eval()
    results = {name: [] for name in precisions}
    with torch.inference_mode():
        for index, (description, lyrics) in enumerate(PROMPTS[: args.prompts]):
            inputs = dict(pipe.processor(description=description, lyrics=lyrics))
            torch.manual_seed(index)
            song = model.generate(
                **inputs,
                duration_s=args.seconds,
                min_duration_s=args.seconds,
                return_dict_in_generate=True,
                decode_audio=False,
            ).sequences
            ids = song.reshape(-1, song.shape[-1])
            codes = model.config.decoder.codebook_size
            expected = model(**inputs, decoder_input_ids=ids, use_cache=False).logits[..., :codes].float()
            for name, other in precisions.items():
                got = other(**inputs, decoder_input_ids=ids, use_cache=False).logits[..., :codes].float()
                results[name].append(
                    {
                        "prompt": index,
                        "positions": int(expected.shape[-2]),
                        "rows": int(expected.shape[-3]),
                        "top1_agreement": float((got.argmax(-1) == expected.argmax(-1)).float().mean()),
                        "relative_error": float((got - expected).norm() / expected.norm()),
                    }
                )
    return {
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "machine": {
            "platform": platform.platform(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": args.threads,
            "torch": torch.__version__,
        },
        "model": str(model.name_or_path),
        "seconds": args.seconds,
        "method": "float32 samples a song per prompt (seed = index); each precision's logits teacher-forced on it",
        "results": results,
        "summary": {
            name: {
                "top1_agreement_min": min(r["top1_agreement"] for r in runs),
                "top1_agreement_max": max(r["top1_agreement"] for r in runs),
                "relative_error_max": max(r["relative_error"] for r in runs),
            }
            for name, runs in results.items()
            if runs
        },
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a SongGen folder or an embedded model's name")
    parser.add_argument("--precisions", nargs="+", default=["int8-heads", "bf16-heads"])
    parser.add_argument("--prompts", type=int, default=len(PROMPTS), help=f"how many of the {len(PROMPTS)} prompts")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    report = run(args)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        from songgen_hf.utils.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(report, indent=2) + "\n")
    for name, summary in report["summary"].items():
        print(
            f"{name}: top-1 agreement with float32 {summary['top1_agreement_min']:.4f}-"
            f"{summary['top1_agreement_max']:.4f}, relative logit error <= {summary['relative_error_max']:.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
