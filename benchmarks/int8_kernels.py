"""Which precision a decoding step's matmuls should run in on a CPU: each path timed against its own floor.

For the decoder shapes of the embedded songgen-tiny (hidden 256, FFN 1 024, 16 heads of 1 088 tokens: the
dual-track model's two streams of 8 codebooks; and the 32 heads of a dual-track mixed-pro layout) or, with
``--size songgen``, of a SongGen-size decoder (hidden 1 024, FFN 4 096, 8 heads, and 12 FFN-sized matrices standing
for one step's 24 layers' weight bytes), and a few rows (batch x guidance branches), times ``y = x @ W.T`` as
float32, as the package's ``Int8Linear`` (weight-only int8, bfloat16 activations inside PyTorch's packed kernel),
as its ``Bf16Linear`` (bfloat16 weight, oneDNN's bfloat16 product; where the CPU computes bfloat16 natively) and,
when installed, as torch.ao's dynamic int8 (fbgemm: activations quantised per tensor on every call) and torchao's
int8 configs on an ``nn.Linear``.

Each path's **floor** is the time to read its weight's bytes once, measured on this machine at that size (half the
time of copying a buffer of those bytes, so the cache level the weight lives in counts); ``x_floor`` = median time /
floor.  Also reported: each path's error relative to float32, and whether a row's output is bit for bit the same
computed alone and among other rows (what a song alone and in a batch need).  Times are thread CPU time (steadier
than wall time on a shared machine), medians of ``--repeats``.

    python benchmarks/int8_kernels.py --threads 1 --rows 2 3 6 12 --json docs/benchmarks/int8_kernels.json
    python benchmarks/int8_kernels.py --size songgen --threads 1 --rows 2 3 6 \
        --json docs/benchmarks/int8_kernels_songgen.json
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

from songgen_hf.modeling.songgen.quantization import Bf16Linear, Int8Linear, _bf16_supported, check_int8_kernel
from songgen_hf.utils.atomic import write_text_atomic

SHAPES = {  # size: {name: (in_features, out_features)}
    "tiny": {
        "attention projection 256 -> 256": (256, 256),
        "FFN up 256 -> 1024": (256, 1024),
        "FFN down 1024 -> 256": (1024, 256),
        "16 token heads 256 -> 16 x 1088 (songgen-tiny)": (256, 16 * 1088),
        "32 token heads 256 -> 32 x 1088": (256, 32 * 1088),
    },
    "songgen": {
        "FFN up 1024 -> 4096": (1024, 4096),
        "FFN down 4096 -> 1024": (4096, 1024),
        "8 token heads 1024 -> 8 x 1088": (1024, 8 * 1088),
        "24 layers' weights 1024 -> 12 x 4096": (1024, 12 * 4096),
    },
}
BYTES_PER_WEIGHT = {
    "float32": 4,
    "float32, W @ x.T": 4,
    "packed int8 (Int8Linear)": 1,
    "bfloat16 (Bf16Linear)": 2,
    "torch.ao dynamic int8 (fbgemm)": 1,
    "torchao int8 weight-only": 1,
    "torchao int8 dynamic": 1,
}


def _median_us(call, repeats: int) -> float:
    for _ in range(5):
        call()
    times = []
    for _ in range(repeats):
        start = time.thread_time()
        call()
        times.append(time.thread_time() - start)
    return 1e6 * statistics.median(times)


def _read_floor_us(nbytes: int, repeats: int) -> float:
    """Reading ``nbytes`` once, at this size: half the time of copying a buffer that large (copy bandwidth, the
    STREAM convention ``generate.py`` uses: the bytes read plus the bytes written, over the time)."""
    source = torch.ones(max(nbytes // 4, 1))
    target = torch.empty_like(source)
    return _median_us(lambda: target.copy_(source), max(repeats, 20)) / 2


def _rows_independent(layer, x: torch.Tensor) -> bool:
    """Whether each row's output is the same bit for bit computed alone and among the other rows."""
    together = layer(x)
    return all(torch.equal(layer(x[i : i + 1]), together[i : i + 1]) for i in range(x.shape[0]))


def _torch_ao_dynamic(linear: nn.Linear) -> dict:
    import copy
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice
        try:
            layer = torch.ao.quantization.quantize_dynamic(
                nn.Sequential(copy.deepcopy(linear)), {nn.Linear}, dtype=torch.qint8
            )
        except (AttributeError, RuntimeError):
            return {}
    return {"torch.ao dynamic int8 (fbgemm)": layer}


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
    native_bf16 = _bf16_supported("cpu")
    results = []
    with torch.inference_mode():
        for shape_name, (width, outputs) in SHAPES[args.size].items():
            linear = nn.Linear(width, outputs, bias=False)
            weight = linear.weight
            layers = {
                "float32": linear,
                # the order the fused heads use for float weights (row_fusion.py)
                "float32, W @ x.T": lambda x, weight=weight: (weight @ x.t()).t(),
                "packed int8 (Int8Linear)": Int8Linear.from_linear(linear),
                **({"bfloat16 (Bf16Linear)": Bf16Linear.from_linear(linear)} if native_bf16 else {}),
                **_torch_ao_dynamic(linear),
                **(_torchao_layers(linear) if args.torchao else {}),
            }
            floors = {b: _read_floor_us(width * outputs * b, args.repeats) for b in set(BYTES_PER_WEIGHT.values())}
            for rows in args.rows:
                x = torch.randn(rows, width)
                expected = linear(x)
                for name, layer in layers.items():
                    got = layer(x)
                    median = _median_us(lambda layer=layer: layer(x), args.repeats)
                    floor = floors[BYTES_PER_WEIGHT[name]]
                    results.append(
                        {
                            "shape": shape_name,
                            "rows": rows,
                            "path": name,
                            "median_us": median,
                            "weight_bytes": width * outputs * BYTES_PER_WEIGHT[name],
                            "floor_us": floor,
                            "x_floor": median / floor,
                            "relative_error": float((got - expected).norm() / expected.norm()),
                            "top1_agreement": float((got.argmax(-1) == expected.argmax(-1)).float().mean()),
                            "rows_independent": _rows_independent(layer, x),
                        }
                    )
    return {
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bfloat16": native_bf16,
            "cpu_count": os.cpu_count(),
            "threads": args.threads,
            "torch": torch.__version__,
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        },
        "timing": "thread CPU time, median of --repeats after 5 warm-up calls",
        "floor": "time to read the weight's bytes once: half the time of copying a buffer of those bytes",
        "results": results,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SHAPES), default="tiny", help="the decoder's shapes (default: tiny)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, nargs="+", default=[2, 3, 6, 12])
    parser.add_argument("--torchao", action="store_true", help="also torchao's int8 configs (slow on a CPU)")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    report = run(args)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.json, json.dumps(report, indent=2) + "\n")
    for row in report["results"]:
        print(
            f"{row['shape']:48s} rows {row['rows']:3d}  {row['path']:30s} {row['median_us']:9.0f} us  "
            f"x floor {row['x_floor']:5.2f}  rel. error {row['relative_error']:.4f}  "
            f"rows independent {row['rows_independent']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
