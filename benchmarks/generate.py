"""Generation speed of SongGen against transformers' MusicGen at equal decoder size (issue 4).

Both models get a SongGen-size decoder (24 layers, width 1024, 16 heads, FFN 4096, 8 codebooks,
vocab 1088; MusicGen adds its own +1 embedding row) with random weights, while everything that
runs once per call is tiny (T5, lyrics encoder, codec).  The cross-attention memory still has a
realistic length (``--memory-length``, default 300 = 64 description + 236 lyrics tokens for
SongGen, 300 T5 tokens for MusicGen).  Batch 1, ``guidance_scale=3`` (forward batch 2), top-k 50
sampling, N decoding steps each (sequence length N + 1).

Every timed run happens in its own forked child of a parent that has only imported the libraries,
so one run yields both the timing and the peak RSS of that model alone; runs of the different
modes are interleaved (the order rotates between repeats) and each child warms up first.  Step
times come from a ``StoppingCriteria`` that timestamps every step and never stops.

    python benchmarks/generate.py --steps 1500 --json results/generate.json [--threads 2]
    python benchmarks/generate.py --tiny --steps 20 --json /tmp/smoke.json     # smoke + tiny RTF

Caches are the package's (``generate(cache_implementation=...)``: SongGen's default
``preallocated``, transformers' ``static`` and ``dynamic``).  A mode may end in ``:compile``:
the decoding step then runs compiled, through transformers' own ``compile_config`` for the
static cache (the GPU recipe, ``--recipe gpu``: bf16 + static cache + compile) and through
``torch.compile(dynamic=True)`` of the forward for the preallocated cache, whose shapes grow.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the shared benchmarks/machine.py
import torch
from machine import cuda_visible, load_average, rss_mb, run_in_child, schema_report_head  # noqa: E402
from torch import nn
from transformers import CompileConfig, StoppingCriteriaList

from songgen_hf.modeling.songgen.quantization import Int8Linear
from songgen_hf.utils.atomic import write_text_atomic

SAMPLE_FRAME_RATE = 50  # X-Codec and the tiny EnCodec both run at 50 frames/s
DECODER_SIZES = {
    "songgen": dict(num_hidden_layers=24, hidden_size=1024, num_attention_heads=16, ffn_dim=4096),
    "tiny": dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, ffn_dim=256),
}
DESCRIPTION_TOKENS = 64
VOCAB, CODEBOOKS, GUIDANCE, TOP_K = 1088, 8, 3.0, 50
# int8: torch.ao's dynamic quantization (fbgemm kernels; deprecated by PyTorch in favour of torchao);
# int8-torchao: torchao's int8 config (`--quantize int8` on a GPU, modeling/songgen/quantization.py);
# int8-packed: `--quantize int8` on a CPU (weight-only int8, PyTorch's packed kernel, int8_weights.py)
DTYPES = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "int8": torch.float32,
    "int8-torchao": torch.float32,
    "int8-packed": torch.float32,
}
CACHES = ("dynamic", "static", "preallocated")  # generate(cache_implementation=...) of the package
GPU_RECIPE = "ours:bfloat16:static:compile,ours:float32:static,musicgen:float32:dynamic"
# Reduced precision vs fp32 on the same weights (see correctness_child).  bf16 keeps 8 mantissa
# bits, so logits move by a few % of their spread; dynamic int8 also quantises activations per
# tensor and is held to a looser bound - its effect on a trained model needs a listening/FAD check.
TOLERANCE = {
    "bfloat16": {"max_abs_diff_over_logit_std": 0.1, "top1_agreement": 0.9},
    "int8": {"max_abs_diff_over_logit_std": 0.3, "top1_agreement": 0.8},
    "int8-torchao": {"max_abs_diff_over_logit_std": 0.3, "top1_agreement": 0.8},
    "int8-packed": {"max_abs_diff_over_logit_std": 0.3, "top1_agreement": 0.8},
}


# ---------------------------------------------------------------------------- machine
# ---------------------------------------------------------------------------- children
def child_setup(threads: int, seed: int = 0) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    warnings.filterwarnings("ignore")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()


# ---------------------------------------------------------------------------- models
def build_songgen(size: str, steps: int, memory_length: int):
    from songgen_hf import SongGenConfig, SongGenDecoderConfig, SongGenForConditionalGeneration
    from songgen_hf.testing import tiny_conditioning

    decoder = SongGenDecoderConfig(
        track_pattern="mixed_pro",
        vocab_size=VOCAB,
        num_codebooks=CODEBOOKS,
        dropout=0.0,
        max_position_embeddings=max(6547, steps + 1),
        **DECODER_SIZES[size],
    )
    parts = tiny_conditioning(use_voice_encoder=False, lyrics_positions=memory_length)
    config = SongGenConfig(**parts, decoder=decoder)
    return SongGenForConditionalGeneration(config).eval()


def build_musicgen(size: str, steps: int):
    from transformers import (
        EncodecConfig,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
    )

    from songgen_hf.testing import tiny_text_encoder_config

    # EnCodec needs a power-of-two codebook; 2048 codes cover every id the 1088-way heads can emit
    codec = EncodecConfig(
        target_bandwidths=[6.0],
        sampling_rate=16000,
        audio_channels=1,
        normalize=False,
        chunk_length_s=None,
        overlap=None,
        hidden_size=16,
        num_filters=4,
        num_residual_layers=1,
        upsampling_ratios=[8, 5, 4, 2],
        codebook_size=2048,
        codebook_dim=16,
        num_lstm_layers=1,
    )
    decoder = MusicgenDecoderConfig(
        vocab_size=VOCAB,
        num_codebooks=CODEBOOKS,
        pad_token_id=VOCAB,
        bos_token_id=VOCAB,
        dropout=0.0,
        max_position_embeddings=max(2048, steps + 1),
        **DECODER_SIZES[size],
    )
    # the same tiny T5 as ours, but with T5Config's encoder-decoder default, as MusicGen's configs carry it
    text = tiny_text_encoder_config(is_encoder_decoder=True)
    return MusicgenForConditionalGeneration(
        MusicgenConfig(text_encoder=text, audio_encoder=codec, decoder=decoder)
    ).eval()


def songgen_inputs(memory_length: int, description_vocab: int = 256, lyrics_vocab: int = 300) -> dict:
    generator = torch.Generator().manual_seed(1)
    description = min(DESCRIPTION_TOKENS, memory_length // 2)
    lyrics = memory_length - description
    return {
        "input_ids": torch.randint(1, description_vocab, (1, description), generator=generator),
        "attention_mask": torch.ones(1, description, dtype=torch.long),
        "lyrics_input_ids": torch.randint(1, lyrics_vocab, (1, lyrics), generator=generator),
        "lyrics_attention_mask": torch.ones(1, lyrics, dtype=torch.long),
    }


def apply_dtype(model, dtype: str):
    if dtype == "bfloat16":
        return model.to(torch.bfloat16)
    if dtype == "int8":
        # dynamic int8 (weights int8 per tensor, activations quantised on the fly), decoder only
        from torch.ao.quantization import quantize_dynamic

        quantize_dynamic(model.decoder, {nn.Linear}, dtype=torch.qint8, inplace=True)
    if dtype == "int8-torchao":
        from torchao.quantization import quantize_

        from songgen_hf.modeling.songgen.quantization import int8_quantization_config

        quantize_(model.decoder, int8_quantization_config().quant_type)
    if dtype == "int8-packed":
        from songgen_hf.modeling.songgen.quantization import pack_decoder_int8

        pack_decoder_int8(model.decoder)
    return model


def decoder_read_bytes(model) -> int:
    """Bytes of the decoder weights one step reads: every layer and head, not the embedding tables
    (one row per codebook is gathered) nor SongGen's training-only vocal heads."""
    total = 0
    for name, module in model.decoder.named_modules():
        if "embed_" in name or "vocal_lm_heads" in name:
            continue
        if isinstance(module, torch.ao.nn.quantized.Linear):  # dynamically quantised: int8 weight
            weight = module.weight()
            total += weight.numel() * weight.element_size()
            continue
        if isinstance(module, Int8Linear):  # packed int8: the weight and its per-channel scales are buffers
            total += sum(b.numel() * b.element_size() for b in module.buffers(recurse=False))
        for param in module.parameters(recurse=False):
            # a torchao tensor subclass reports its logical dtype; its stored weight is int8
            stored = param.element_size() if type(param.data) is torch.Tensor else 1
            total += param.numel() * stored
    return total


class StepClock:
    """Timestamps every generation step; as a stopping criterion that never stops it sees every
    step of both models without touching their loops."""

    def __init__(self):
        self.stamps: list[float] = []

    def __call__(self, input_ids, scores, **kwargs):
        if input_ids.is_cuda:  # time the step, not the kernel launches
            torch.cuda.synchronize()
        self.stamps.append(time.perf_counter())
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


def compile_options(model, mode: dict, capacity: int) -> dict:
    """generate() arguments that run the decoding step compiled (``mode["compile"]``)."""
    if not mode.get("compile"):
        # transformers compiles the step of a static cache on a GPU by default, and again for each new cache
        # size: a mode named without `:compile` must run eager (on an H200 the timed run's first step spent
        # 24.7 s recompiling for the longer cache, after the warm-up had compiled for the shorter one)
        return {"disable_compile": True}
    if mode["cache"] == "static":
        # transformers compiles the decoding step itself for a compileable cache; CUDA graphs on GPU
        config = CompileConfig(fullgraph=True, mode="reduce-overhead" if model.device.type == "cuda" else "default")
        config._compile_all_devices = model.device.type != "cuda"  # the library compiles on GPUs only by default
        # one cache size for the warm-up and the timed run: a new size would recompile inside the timing
        return {"compile_config": config, "max_cache_len": capacity}
    if not getattr(model, "_benchmark_compiled", False):
        # the preallocated cache grows by one position per step: dynamic shapes, no CUDA graphs
        model.forward = torch.compile(model.forward, dynamic=True, fullgraph=True)
        model._benchmark_compiled = True
    return {}


def generate_once(model, mode: dict, steps: int, memory_length: int, clock=None, capacity: int | None = None):
    family, cache = mode["family"], mode["cache"]
    criteria = StoppingCriteriaList([clock] if clock is not None else [])
    sampling = dict(
        do_sample=True,
        top_k=TOP_K,
        guidance_scale=GUIDANCE,
        stopping_criteria=criteria,
        cache_implementation=cache if family == "ours" else ("static" if cache == "static" else None),
    )
    sampling.update(compile_options(model, mode, capacity or steps + 1))
    device = model.device
    if family == "ours":
        duration = (steps + 1 - CODEBOOKS) / SAMPLE_FRAME_RATE  # mixed_pro: length = frames + K
        inputs = {key: value.to(device) for key, value in songgen_inputs(memory_length).items()}
        out = model.generate(
            **inputs,
            duration_s=duration,
            min_duration_s=duration,
            decode_audio=False,
            return_dict_in_generate=True,
            **sampling,
        )
        return list(out.sequences.shape)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 256, (1, memory_length), generator=generator).to(device)
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=steps, **sampling)
    return list(out.shape)


def timing_child(mode: dict, args) -> dict:
    child_setup(args.threads)
    rss_start = rss_mb("VmRSS")
    started = time.perf_counter()
    model = (build_songgen if mode["family"] == "ours" else build_musicgen)(
        args.decoder_size, args.steps, *([args.memory_length] if mode["family"] == "ours" else [])
    )
    model = apply_dtype(model, mode["dtype"]).to(args.device)
    build_s = time.perf_counter() - started
    with torch.inference_mode():
        warm_start = time.perf_counter()
        generate_once(model, mode, args.warmup_steps, args.memory_length, capacity=args.steps + 1)
        warmup_s = time.perf_counter() - warm_start  # includes compiling in :compile modes
        clock = StepClock()
        load_before = load_average()
        cpu0, t0 = time.process_time(), time.perf_counter()
        shape = generate_once(model, mode, args.steps, args.memory_length, clock, capacity=args.steps + 1)
        t1, cpu1 = time.perf_counter(), time.process_time()
    stamps = clock.stamps
    steps_ms = [(b - a) * 1e3 for a, b in zip(stamps, stamps[1:])]
    config = model.config.decoder
    return {
        **mode,
        "build_s": build_s,
        "warmup_s": warmup_s,
        "device": str(model.device),
        "peak_device_mb": torch.cuda.max_memory_allocated() / 2**20 if model.device.type == "cuda" else None,
        "total_s": t1 - t0,
        "setup_s": stamps[0] - t0,  # encoders, cache set-up and the first decoder step
        "loop_s": stamps[-1] - stamps[0],
        "tail_s": t1 - stamps[-1],  # pattern revert; MusicGen also decodes with its tiny EnCodec
        "steps_done": len(stamps),
        "output_shape": shape,
        "cores_used": (cpu1 - cpu0) / (t1 - t0),
        "threads": torch.get_num_threads(),
        "load_before": load_before,
        "load_after": load_average(),
        "rss_start_mb": rss_start,
        "peak_rss_mb": rss_mb("VmHWM"),
        "decoder_read_bytes": decoder_read_bytes(model),
        "cache_element_bytes": torch.finfo(DTYPES[mode["dtype"]]).bits // 8,
        "num_layers": config.num_hidden_layers,
        "hidden_size": config.hidden_size,
        "step_ms": [round(x, 3) for x in steps_ms],
    }


def bandwidth_child(megabytes: int, threads: int, device: str = "cpu") -> dict:
    """Copy bandwidth of the memory the decoder reads from: host RAM, or the GPU's own on ``cuda``."""
    child_setup(threads)
    src = torch.ones(megabytes * 2**20 // 4, device=device)
    dst = torch.zeros_like(src)
    sync = torch.cuda.synchronize if src.is_cuda else (lambda: None)
    dst.copy_(src)  # first touch (page faults, CUDA context) stays out of the timing
    sync()
    times = []
    for _ in range(7):
        start = time.perf_counter()
        dst.copy_(src)
        sync()
        times.append(time.perf_counter() - start)
    moved = 2 * src.numel() * 4  # STREAM "copy" convention: bytes read + bytes written
    return {
        "tensor_mb": megabytes,
        "device": device,
        "copy_gb_s_median": moved / statistics.median(times) / 1e9,
        "copy_gb_s_best": moved / min(times) / 1e9,
        "load": load_average(),
    }


def correctness_child(dtype: str, args) -> dict:
    """Reduced precision vs fp32 on identical weights.

    Teacher-forced: the fp32 model's greedy sequence (guided, ``check_steps`` steps) is fed to both
    models in one uncached pass, and their conditional logits are compared at every position.
    Free-running: both generate greedily and the share of identical sampled cells is reported
    (with random weights the logits are nearly tied, so this is the pessimistic view)."""
    child_setup(args.threads)
    reference = build_songgen(args.decoder_size, args.steps, args.memory_length)
    reduced = apply_dtype(copy.deepcopy(reference), dtype)
    steps, inputs = args.check_steps, songgen_inputs(args.memory_length)
    duration = (steps + 1 - CODEBOOKS) / SAMPLE_FRAME_RATE
    greedy = dict(
        do_sample=False,
        guidance_scale=GUIDANCE,
        duration_s=duration,
        min_duration_s=duration,
        decode_audio=False,
        return_dict_in_generate=True,
    )
    with torch.inference_mode():
        sequence = reference.generate(**inputs, **greedy).sequences
        other = reduced.generate(**inputs, **greedy).sequences
        logits = {}
        for name, model in (("fp32", reference), ("reduced", reduced)):
            memory, mask = model.encode_conditions(
                inputs["input_ids"],
                inputs["attention_mask"],
                inputs["lyrics_input_ids"],
                inputs["lyrics_attention_mask"],
            )
            logits[name] = model.decoder(
                input_ids=sequence[..., :-1], encoder_hidden_states=memory, encoder_attention_mask=mask, use_cache=False
            ).logits.float()
    a, b = logits["fp32"], logits["reduced"]
    free = reference.pattern.generation_mask(1, sequence.shape[-1]) < 0
    first_a, first_b = a[:, 0], b[:, 0]
    result = {
        "dtype": dtype,
        "steps": steps,
        "first_step_max_abs_diff": float((first_a - first_b).abs().max()),
        "first_step_logit_std": float(first_a.std()),
        "max_abs_diff_over_logit_std": float((a - b).abs().max() / a.std()),
        "cosine_min": float(nn.functional.cosine_similarity(a, b, dim=-1).min()),
        "top1_agreement": float((a.argmax(-1) == b.argmax(-1)).float().mean()),
        "first_step_top1_agreement": float((first_a.argmax(-1) == first_b.argmax(-1)).float().mean()),
        "greedy_free_cells_identical": float((sequence == other)[free].float().mean()) if free.any() else 1.0,
        "tolerance": TOLERANCE[dtype],
    }
    result["within_tolerance"] = (
        result["max_abs_diff_over_logit_std"] <= TOLERANCE[dtype]["max_abs_diff_over_logit_std"]
        and result["top1_agreement"] >= TOLERANCE[dtype]["top1_agreement"]
    )
    return result


def tiny_rtf_child(args) -> dict:
    """Real-time factor of ``tiny_songgen_config("mixed_pro")``: guided generation plus codec decode."""
    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.testing import tiny_songgen_config

    child_setup(args.threads)
    frames = int(round(args.rtf_seconds * SAMPLE_FRAME_RATE))
    config = tiny_songgen_config("mixed_pro", decoder={"max_position_embeddings": frames + 64})
    model = SongGenForConditionalGeneration(config).eval()
    inputs = songgen_inputs(args.memory_length, config.text_encoder.vocab_size, config.lyrics_encoder.vocab_size)
    kwargs = dict(do_sample=True, top_k=TOP_K, guidance_scale=GUIDANCE, return_dict_in_generate=True)
    with torch.inference_mode():
        model.generate(**inputs, duration_s=0.5, min_duration_s=0.5, **kwargs)  # warm-up
        clock, start = StepClock(), time.perf_counter()
        out = model.generate(
            **inputs,
            duration_s=args.rtf_seconds,
            min_duration_s=args.rtf_seconds,
            stopping_criteria=StoppingCriteriaList([clock]),
            **kwargs,
        )
        total = time.perf_counter() - start
    audio_s = float(out.audio_lengths[0]) / config.sampling_rate
    return {
        "audio_seconds": audio_s,
        "total_s": total,
        "rtf": audio_s / total,
        "steps": len(clock.stamps),
        "decode_and_tail_s": total - (clock.stamps[-1] - start),
        "threads": torch.get_num_threads(),
        "decoder_parameters": sum(p.numel() for p in model.decoder.parameters()),
        "load": load_average(),
    }


# ---------------------------------------------------------------------------- analysis
def median(values):
    return statistics.median(values) if values else float("nan")


def window(run) -> int:
    return max(1, min(100, len(run["step_ms"]) // 2))


def floor_step_ms(run, position: int, bandwidth: float) -> float:
    """Memory-bandwidth floor of one step: weights + the K/V the step reads, at copy bandwidth."""
    kv_per_position = 2 * run["num_layers"] * 2 * run["hidden_size"] * run["cache_element_bytes"]  # K+V, CFG batch 2
    read = run["decoder_read_bytes"] + kv_per_position * (position + run["memory_length"])
    return read / bandwidth * 1e3


def analyse(run, bandwidth: float) -> dict:
    steps, n = run["step_ms"], window(run)
    # stamp i closes step i; interval i spans step i+1, which attends to i+2 self positions
    first, last = median(steps[:n]), median(steps[-n:])
    floor_first = floor_step_ms(run, n // 2 + 2, bandwidth)
    floor_last = floor_step_ms(run, len(steps) - n // 2 + 1, bandwidth)
    floor_loop = sum(floor_step_ms(run, i + 2, bandwidth) for i in range(len(steps))) / 1e3
    result = {
        "first_median_ms": first,
        "last_median_ms": last,
        "growth_last_over_first": last / first,
        "window": n,
        "floor_first_ms": floor_first,
        "floor_last_ms": floor_last,
        "floor_loop_s": floor_loop,
        "loop_over_floor": run["loop_s"] / floor_loop,
    }
    result.update(extrapolate(run))
    return result


def extrapolate(run, target: int = 1500) -> dict:
    """Least-squares line through step time vs step index, summed to ``target`` steps (labelled)."""
    steps = run["step_ms"]
    if len(steps) + 1 >= target or len(steps) < 10:
        return {}
    xs = list(range(len(steps)))
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(steps)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, steps)) / sum((x - mean_x) ** 2 for x in xs)
    intercept = mean_y - slope * mean_x
    loop = sum(intercept + slope * i for i in range(target - 1)) / 1e3
    return {
        "extrapolated_to_steps": target,
        "extrapolated_total_s": run["setup_s"] + loop + run["tail_s"],
        "extrapolated_slope_ms_per_step": slope,
    }


def mode_name(mode: dict) -> str:
    return f"{mode['family']}-{mode['dtype']}-{mode['cache']}" + ("-compile" if mode.get("compile") else "")


def default_modes(dtype: str) -> list[dict]:
    names = [f"ours:{dtype}:dynamic", f"ours:{dtype}:static", f"ours:{dtype}:preallocated", f"musicgen:{dtype}:dynamic"]
    if dtype == "float32":
        names[3:3] = [
            "ours:bfloat16:dynamic",
            "ours:int8:dynamic",
            "ours:int8:preallocated",
            "ours:int8-packed:preallocated",
        ]
    return parse_modes(",".join(names))


def parse_modes(text: str) -> list[dict]:
    modes = []
    for item in text.split(","):
        parts = item.strip().split(":")
        compiled = len(parts) == 4 and parts[3] == "compile"
        family, dtype, cache = parts[:3] if len(parts) in (3, 4) else ("?", "?", "?")
        bad = (len(parts) == 4 and not compiled) or family not in ("ours", "musicgen") or dtype not in DTYPES
        bad = bad or cache not in CACHES or (family == "musicgen" and cache == "preallocated")
        bad = bad or (compiled and (family != "ours" or cache == "dynamic" or dtype.startswith("int8")))
        bad = bad or (family == "musicgen" and dtype in ("int8-torchao", "int8-packed"))
        if bad:
            raise SystemExit(
                f"bad mode {item!r}: use family:dtype:cache[:compile], e.g. ours:bfloat16:static:compile "
                f"(caches {', '.join(CACHES)}; preallocated and :compile for ours only, with the static or "
                "preallocated cache, float32 or bfloat16)"
            )
        modes.append({"family": family, "dtype": dtype, "cache": cache, "compile": compiled})
    return modes


def summarise(runs: list[dict], modes: list[dict]) -> dict:
    summary = {}
    for mode in modes:
        mine = [r for r in runs if mode_name(r) == mode_name(mode)]
        keys = (
            "total_s",
            "loop_s",
            "setup_s",
            "tail_s",
            "peak_rss_mb",
            "cores_used",
            "first_median_ms",
            "last_median_ms",
            "growth_last_over_first",
            "floor_first_ms",
            "floor_last_ms",
            "floor_loop_s",
            "loop_over_floor",
            "extrapolated_total_s",
        )
        summary[mode_name(mode)] = {
            k: median([r[k] for r in mine if k in r]) for k in keys if any(k in r for r in mine)
        }
    return summary


# the speed targets at SongGen size over 1 500 steps, same run as MusicGen's generate
SPEED_GOAL, GROWTH_GOAL, REDUCED_PRECISION_GOAL = 1.3, 1.2, 3.0


def targets(summary: dict, dtype: str, steps: int) -> list[dict]:
    base = summary.get(f"musicgen-{dtype}-dynamic")
    if base is None:
        return []
    full = steps + 1 >= 1500
    out = []

    def add(name, goal, value, met, note=""):
        out.append({"target": name, "goal": goal, "value": value, "met": bool(met), "note": note})

    for cache in CACHES:
        ours = summary.get(f"ours-{dtype}-{cache}")
        if ours:
            ratio = base["total_s"] / ours["total_s"]
            note = "" if full else f"measured over {steps} steps, not 1500"
            add(
                f"speed vs MusicGen, equal dtype ({dtype}, {cache} cache)",
                f">= {SPEED_GOAL}",
                ratio,
                ratio >= SPEED_GOAL,
                note,
            )
            add(
                f"last-100 / first-100 step time (ours {dtype}, {cache})",
                f"<= {GROWTH_GOAL}",
                ours["growth_last_over_first"],
                ours["growth_last_over_first"] <= GROWTH_GOAL,
            )
            add(
                f"peak RSS <= MusicGen's (ours {dtype}, {cache})",
                f"<= {base['peak_rss_mb']:.0f} MB",
                ours["peak_rss_mb"],
                ours["peak_rss_mb"] <= base["peak_rss_mb"],
            )
    reduced = {k: v for k, v in summary.items() if k.startswith("ours-") and ("bfloat16" in k or "int8" in k)}
    if dtype == "float32" and reduced:
        best = min(reduced, key=lambda k: reduced[k]["total_s"])
        ratio = base["total_s"] / reduced[best]["total_s"]
        add(
            f"reduced precision vs MusicGen fp32 (best: {best})",
            f">= {REDUCED_PRECISION_GOAL}",
            ratio,
            ratio >= REDUCED_PRECISION_GOAL,
            "" if full else f"measured over {steps} steps, not 1500",
        )
    return out


def print_table(summary: dict, base_key: str) -> None:
    base = summary.get(base_key, {}).get("total_s")
    header = (
        f"{'mode':<36}{'total s':>9}{'speed-up':>9}{'first ms':>10}{'last ms':>9}{'growth':>8}"
        f"{'floor ms':>15}{'x floor':>8}{'RSS MB':>8}{'cores':>6}"
    )
    print(header)
    print("-" * len(header))
    for name, s in summary.items():
        ratio = base / s["total_s"] if base else float("nan")
        floor = f"{s['floor_first_ms']:.1f}->{s['floor_last_ms']:.1f}"
        print(
            f"{name:<36}{s['total_s']:>9.1f}{ratio:>9.2f}{s['first_median_ms']:>10.1f}{s['last_median_ms']:>9.1f}"
            f"{s['growth_last_over_first']:>8.2f}{floor:>15}{s['loop_over_floor']:>8.2f}{s['peak_rss_mb']:>8.0f}"
            f"{s['cores_used']:>6.2f}"
        )


# ---------------------------------------------------------------------------- main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500, help="decoding steps per timed run (sequence length N+1)")
    parser.add_argument("--json", required=True, help="where to write the report")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--dtype",
        choices=("float32", "bfloat16"),
        default="float32",
        help="dtype of the equal-dtype comparison (ours dynamic/static vs MusicGen)",
    )
    parser.add_argument(
        "--modes",
        help="override, comma-separated family:dtype:cache[:compile] "
        "(e.g. ours:int8:dynamic, ours:bfloat16:static:compile)",
    )
    parser.add_argument(
        "--recipe",
        choices=("gpu",),
        help=f"gpu: the documented GPU recipe against fp32 and MusicGen, modes {GPU_RECIPE}",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--tiny", action="store_true", help="add the tiny model's real-time factor; decoders default to tiny size"
    )
    parser.add_argument("--decoder-size", choices=tuple(DECODER_SIZES), help="default: songgen, tiny with --tiny")
    parser.add_argument("--memory-length", type=int, default=300, help="cross-attention memory positions")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--warmup-steps", type=int, default=16)
    parser.add_argument("--check-steps", type=int, default=16, help="steps of the reduced-precision check")
    parser.add_argument("--copy-mb", type=int, default=512, help="tensor size of the copy-bandwidth probe")
    parser.add_argument("--rtf-seconds", type=float, default=10.0, help="audio length of the tiny RTF run")
    args = parser.parse_args(argv)
    args.decoder_size = args.decoder_size or ("tiny" if args.tiny else "songgen")
    if args.recipe and args.modes:
        parser.error("pass --recipe or --modes, not both")
    if args.device == "cuda" and not cuda_visible():  # asked in a child: the parent forks the timed runs
        parser.error("--device cuda: no CUDA device is visible to torch; run on a GPU machine or drop --device")
    if args.steps < max(CODEBOOKS, args.warmup_steps):
        parser.error(f"--steps must be at least {max(CODEBOOKS, args.warmup_steps)}")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    import transformers

    import songgen_hf  # noqa: F401  (imported before forking so children share it)

    modes = parse_modes(args.modes or GPU_RECIPE) if (args.modes or args.recipe) else default_modes(args.dtype)
    report = {
        **schema_report_head(
            "generate",
            "generate.py",
            torch=torch.__version__,
            transformers=transformers.__version__,
            python=platform.python_version(),
            cpu_capability=torch.backends.cpu.get_cpu_capability(),
            platform=platform.platform(),
        ),
        "load_average": {"start": load_average()},
        "settings": {
            "steps": args.steps,
            "threads": args.threads,
            "dtype": args.dtype,
            "device": args.device,
            "decoder_size": args.decoder_size,
            "decoder": {**DECODER_SIZES[args.decoder_size], "vocab_size": VOCAB, "num_codebooks": CODEBOOKS},
            "memory_length": args.memory_length,
            "guidance_scale": GUIDANCE,
            "top_k": TOP_K,
            "batch": 1,
            "repeats": args.repeats,
            "warmup_steps": args.warmup_steps,
            "isolation": "each timed run in its own forked child (timing and peak RSS from the same run); "
            "modes interleaved, order rotated per repeat, warm-up in each child",
            "rss_baseline_mb": rss_mb("VmRSS"),
        },
    }
    print(f"# {report['command']}\n# {report['machine']['cpu_model']}, load {report['load_average']['start']}")
    bandwidth = run_in_child(bandwidth_child, args.copy_mb, args.threads, args.device)
    print(
        f"copy bandwidth ({args.device}) {bandwidth['copy_gb_s_median']:.1f} GB/s "
        f"(median of 7, {args.copy_mb} MB, read+write)"
    )
    runs = []
    for repeat in range(args.repeats):
        for k in range(len(modes)):
            mode = modes[(k + repeat) % len(modes)]
            run = run_in_child(timing_child, mode, args)
            run.update(repeat=repeat, memory_length=args.memory_length)
            run.update(analyse(run, bandwidth["copy_gb_s_median"] * 1e9))
            runs.append(run)
            print(
                f"  {mode_name(mode):<26} total {run['total_s']:.1f} s, first {run['first_median_ms']:.1f} ms, "
                f"last {run['last_median_ms']:.1f} ms, peak RSS {run['peak_rss_mb']:.0f} MB, "
                f"cores {run['cores_used']:.2f}, load {run['load_after'][0]}",
                flush=True,
            )
    after = run_in_child(bandwidth_child, args.copy_mb, args.threads, args.device)
    report["bandwidth"] = {
        "method": "dst.copy_(src) on fp32 tensors, (read + write bytes) / time",
        "before": bandwidth,
        "after": after,
        "used_gb_s": bandwidth["copy_gb_s_median"],
    }
    report["runs"] = runs
    report["summary"] = summarise(runs, modes)
    report["machine"]["torch_threads"] = runs[0]["threads"]
    report["correctness"] = [
        run_in_child(correctness_child, dtype, args)
        for dtype in dict.fromkeys(m["dtype"] for m in modes if m["family"] == "ours")
        if dtype != "float32"
    ]
    report["targets"] = targets(report["summary"], args.dtype, args.steps)
    report["tiny_rtf"] = run_in_child(tiny_rtf_child, args) if args.tiny else None
    report["load_average"]["end"] = load_average()

    print()
    print_table(report["summary"], f"musicgen-{args.dtype}-dynamic")
    print(
        f"\nfloor = (decoder weights + K/V read per step) / {report['bandwidth']['used_gb_s']:.1f} GB/s; "
        "'x floor' = measured loop time / summed floor"
    )
    for check in report["correctness"]:
        print(
            f"{check['dtype']} vs fp32: max|dlogit|/std {check['max_abs_diff_over_logit_std']:.3f}, "
            f"top-1 agreement {check['top1_agreement']:.3f}, greedy cells identical "
            f"{check['greedy_free_cells_identical']:.3f} -> {'ok' if check['within_tolerance'] else 'OUT OF TOLERANCE'}"
        )
    for t in report["targets"]:
        print(f"[{'met' if t['met'] else 'NOT met'}] {t['target']}: {t['value']:.2f} (goal {t['goal']}) {t['note']}")
    if report["tiny_rtf"]:
        r = report["tiny_rtf"]
        print(
            f"tiny model RTF: {r['audio_seconds']:.1f} s of audio in {r['total_s']:.2f} s -> {r['rtf']:.2f}x real time"
        )
    print(f"load average: start {report['load_average']['start']}, end {report['load_average']['end']}")
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    write_text_atomic(args.json, json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
