"""Why ``quantize="int8"`` on a CPU is PyTorch's packed kernel: one decoding step's matmuls, timed.

For the decoder shapes of the embedded songgen-tiny (hidden 256, FFN 1 024, 32 heads of 1 088 tokens)
and a few rows (batch x guidance branches), times ``y = x @ W.T`` as float32, as the package's
``Int8Linear`` (weight-only int8, bfloat16 activations inside the packed kernel) and, when torchao is
installed, as torchao's int8 weight-only and dynamic int8 configs on an ``nn.Linear``.  Reports the
median microseconds per call and each int8 path's error relative to float32.

    python benchmarks/int8_kernels.py --json docs/benchmarks/int8_kernels.json [--threads 2] [--rows 1 3 24]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

from songgen_hf.modeling.songgen.quantization import Int8Linear, check_int8_kernel

SHAPES = {  # name: (in_features, out_features)
    "attention projection 256 -> 256": (256, 256),
    "FFN up 256 -> 1024": (256, 1024),
    "FFN down 1024 -> 256": (1024, 256),
    "32 token heads 256 -> 32 x 1088": (256, 32 * 1088),
}


def _median_us(call, repeats: int) -> float:
    for _ in range(5):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e6 * statistics.median(times)


def _torchao_layers(linear: nn.Linear) -> dict:
    try:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig, quantize_
    except ImportError:
        return {}
    import copy

    layers = {}
    for name, config in (
        ("torchao int8 weight-only", Int8WeightOnlyConfig()),
        ("torchao int8 dynamic", Int8DynamicActivationInt8WeightConfig()),
    ):
        layer = copy.deepcopy(linear)
        quantize_(layer, config)
        layers[name] = layer
    return layers


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    reason = check_int8_kernel("cpu")
    if reason is not None:
        raise SystemExit(f"int8_kernels: {reason}")
    results = []
    with torch.inference_mode():
        for shape_name, (width, outputs) in SHAPES.items():
            linear = nn.Linear(width, outputs, bias=False)
            weight = linear.weight
            layers = {
                "float32": linear,
                # the order the fused heads use for float weights (row_fusion.py)
                "float32, W @ x.T": lambda x, weight=weight: (weight @ x.t()).t(),
                "packed int8 (Int8Linear)": Int8Linear.from_linear(linear),
                **_torchao_layers(linear),
            }
            for rows in args.rows:
                x = torch.randn(rows, width)
                expected = linear(x)
                for name, layer in layers.items():
                    got = layer(x)
                    results.append(
                        {
                            "shape": shape_name,
                            "rows": rows,
                            "path": name,
                            "median_us": _median_us(lambda layer=layer: layer(x), args.repeats),
                            "relative_error": float((got - expected).norm() / expected.norm()),
                        }
                    )
    return {
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "threads": args.threads,
            "torch": torch.__version__,
        },
        "results": results,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 3, 24])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    report = run(args)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for row in report["results"]:
        print(
            f"{row['shape']:34s} rows {row['rows']:3d}  {row['path']:26s} {row['median_us']:9.0f} us  "
            f"rel. error {row['relative_error']:.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
