"""``songgen export``: turn a trained SongGen folder into a compact release folder.

A training ``final`` folder is float32.  A release folder -- the embedded default model, or one
to upload -- stores the weights in half precision (half the bytes; the codec's EMA codebook
statistics stay, so the folder can still be fine-tuned), but keeps ``config.json``'s ``dtype``
at float32: ``from_pretrained`` then upcasts on load, so CPU users compute in float32
without asking, while GPU users pass ``dtype=torch.bfloat16`` and never touch float32 at all.
The processor (tokenizers) and a model card travel with the weights; the folder is written
atomically, so an interrupted export never leaves half a model behind.

``--format official`` writes the official SongGen layout instead (what ``LiuZH-19/SongGen_*``
holds and what the reference code and vllm-omni load; see
:mod:`songgen_hf.conversion.official_export`), float32 unless ``--storage-dtype`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import torch

from songgen_hf.pipelines.adapter_folders import resolve_adapter_base
from songgen_hf.pipelines.loading import ADAPTER_CONFIG_FILE, is_adapter_folder
from songgen_hf.utils.atomic import atomic_directory
from songgen_hf.utils.safe_files import FileReadError, read_json, read_text

STORAGE_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
EXPORT_FORMATS = ("release", "official")
# The official checkpoints store float32; the release folder halves the bytes.
DEFAULT_STORAGE_DTYPE = {"release": "float16", "official": "float32"}


def release_state_dict(
    model: torch.nn.Module, storage_dtype: torch.dtype, lossless: bool = False
) -> dict[str, torch.Tensor]:
    """The model's tensors, floating-point ones cast to ``storage_dtype``; with ``lossless``, only those the cast
    keeps exactly (the others are stored as they are)."""

    def stored(tensor: torch.Tensor) -> torch.Tensor:
        if not tensor.is_floating_point():
            return tensor
        cast = tensor.to(storage_dtype)
        return cast if not lossless or torch.equal(cast.to(tensor.dtype), tensor) else tensor

    return {name: stored(tensor) for name, tensor in model.state_dict().items()}


def export_songgen(
    source: str | Path,
    target: str | Path,
    storage_dtype: str = "float16",
    card: bool = True,
    card_fields: dict[str, Any] | None = None,
    generation: dict[str, Any] | None = None,
    codec: str | Path | None = None,
    base: str | Path | None = None,
    vocal_heads: bool = True,
    singer: str | Path | None = None,
    default_window_s: float | None = None,
) -> Path:
    """Write ``source`` (a saved SongGen folder with its processor) to ``target`` as a release folder.

    A LoRA adapter folder as ``source`` is merged into its base (the one it names, see
    :mod:`songgen_hf.pipelines.adapter_folders`, or ``base``): the release is a plain SongGen folder.

    ``card_fields`` go to :func:`songgen_hf.model_card.render_model_card` (``model_name``,
    ``model_summary``, ``training_data``, ``evaluation``, ``limitations``, ``license``...);
    ``generation`` sets the folder's default sampling (``guidance_scale``, ``top_k``...), so callers
    who pass nothing get the settings the model was evaluated with.  ``codec`` swaps in a codec whose
    decoder was fine-tuned after the model was trained (``songgen codec train`` with
    ``train_decoder_only``); it must encode exactly as the model's own codec, which is checked.
    ``vocal_heads=False`` leaves out mixed pro's training-only vocal heads (``mixed_pro`` -> ``mixed``,
    ``mixed_pro_stream2`` -> ``mixed_stream2``): the same songs from a smaller folder.  Every sub-model of the
    source (:func:`songgen_hf.pipelines.loading.sub_model_folders`; an adapter's are its base's) goes to the
    release under its name, so nothing the model folder holds is lost: the singer (``singer/``, or the ``songgen
    train-singer`` folder ``singer`` names) re-saved like the model, any other copied as it is.  The generation
    settings travel too (an adapter's are its base's, e.g. ``cpu_quantize``): the release sings the song the
    source sings for a seed.  ``default_window_s`` saves the windows a longer song is made in when a call names no
    ``window_s`` (``decoder.default_window_frames``: the length the model was trained on, where that is shorter
    than its window)."""
    from songgen_hf.pipelines.loading import SINGER_FOLDER, sub_model_folders

    source, target = Path(source), Path(target)
    sub_models = sub_model_folders(source, base)
    if singer is not None:
        sub_models[SINGER_FOLDER] = Path(singer)
    model, processor = _load_with_settings(source, target, base, storage_dtype, generation, vocal_heads)
    if codec is not None:
        replace_codec_decoder(model, codec)
    if default_window_s is not None:
        save_default_window(model.config, default_window_s)
    # An adapter merged into a half-precision base: the weights it changed stay float32 (the base's are stored
    # exactly as the base stores them), so the release computes with the weights the adapter generates with.
    lossless = is_adapter_folder(source)
    with atomic_directory(target, mark="export") as staging:
        model.save_pretrained(staging, state_dict=release_state_dict(model, STORAGE_DTYPES[storage_dtype], lossless))
        _declare_compute_dtype(Path(staging) / "config.json")
        processor.save_pretrained(staging)
        for name, folder in sub_models.items():
            if name == SINGER_FOLDER:
                # an adapter's singer adapter is merged into the base's singer, as its decoder adapter is
                adapted = source if singer is None and lossless else None
                _save_singer(folder, Path(staging) / name, STORAGE_DTYPES[storage_dtype], adapted)
            else:  # a kind this exporter does not know: its files as they are
                shutil.copytree(folder, Path(staging) / name)
        if card:
            from songgen_hf.model_card import save_model_card

            fields = dict(card_fields or {})
            if lossless and "base_model" not in fields:  # an adapter merged: its base as the Hub knows it
                base = _portable_base_name(source)
                if base is not None:
                    fields["base_model"] = base
            save_model_card(staging, **fields)
    return target


def save_default_window(config, seconds: float, flag: str = "--default-window") -> None:
    """Set ``config``'s saved default window (``decoder.default_window_frames``) to ``seconds``; ``ValueError`` naming
    ``flag`` for one outside (0, the model's window] or shorter than two frames (a frame of context and a new one)."""
    from songgen_hf.modeling.songgen.configuration_songgen import duration_frames, max_duration_s, window_frames

    frames = duration_frames(config, seconds)
    if frames < 2 or frames > window_frames(config):
        raise ValueError(
            f"{flag} {seconds:g} s is outside what this model's windows can be: give 2 frames "
            f"({2 / config.frame_rate:g} s) to its window of {max_duration_s(config):g} s."
        )
    config.decoder.default_window_frames = frames


def _portable_base_name(adapter_dir: Path) -> str | None:
    """The base of an adapter folder by embedded name or Hub id (its ``songgen_adapter.json``), else None: a card
    names no folder of the disk it was written on."""
    from songgen_hf.pipelines.adapter_folders import BASE_RECORD_FILE

    try:
        named = read_json(adapter_dir / BASE_RECORD_FILE).get("base_model") or {}
    except (OSError, ValueError, AttributeError):
        return None
    return named.get("embedded") or named.get("repo_id") if isinstance(named, dict) else None


def export_official_songgen(
    source: str | Path,
    target: str | Path,
    storage_dtype: str = "float32",
    base: str | Path | None = None,
    generation: dict[str, Any] | None = None,
    embed_codec: bool = True,
    vocal_heads: bool = True,
) -> tuple[Path, list[str]]:
    """Write ``source`` (a SongGen folder, or a LoRA adapter merged into its base) in the official layout.

    Returns the folder and the notes of :func:`songgen_hf.conversion.official_export.export_official`.
    """
    from songgen_hf.conversion.official_export import export_official

    source, target = Path(source), Path(target)
    model, processor = _load_with_settings(source, target, base, storage_dtype, generation, vocal_heads)
    notes = export_official(
        model, target, processor, embed_codec=embed_codec, storage_dtype=STORAGE_DTYPES[storage_dtype], overwrite=True
    )
    return target, notes


def _load_with_settings(
    source: Path, target: Path, base, storage_dtype: str, generation: dict | None, vocal_heads: bool = True
):
    """The model to export (a LoRA adapter merged first, vocal heads dropped unless ``vocal_heads``) with
    ``generation`` applied; the storage dtype and the generation keys checked first (both formats take
    the same settings)."""
    if storage_dtype not in STORAGE_DTYPES:
        raise ValueError(f"storage dtype must be one of {sorted(STORAGE_DTYPES)}, got {storage_dtype!r}.")
    model, processor = _load_for_export(source, target, base)
    unknown = sorted(key for key in (generation or {}) if not hasattr(model.generation_config, key))
    if unknown:
        raise ValueError(
            f"Unknown generation setting(s) {unknown}; use GenerationConfig fields such as guidance_scale, top_k."
        )
    model.generation_config.update(**(generation or {}))
    from songgen_hf.modeling.songgen.arguments_songgen import check_generation_arguments

    # the settings whose check needs the model: its longest song, whether it has musical controls
    needs_model = {
        key: (generation or {}).get(key)
        for key in (
            "duration_s",
            "min_duration_s",
            "control_guidance_scale",
            "silence_instrumental_vocals",
            "codebook_temperatures",
        )
    }
    check_generation_arguments(needs_model, model.config, names={key: f"--generation {key}" for key in needs_model})
    if not vocal_heads:
        from songgen_hf.training.track_layouts import without_vocal_heads

        model = without_vocal_heads(model)
    return model, processor


def _load_for_export(source: Path, target: Path, base):
    """(float32 model, processor) of a SongGen folder or of a LoRA adapter merged into its base."""
    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor

    adapter = is_adapter_folder(source)
    if not adapter and not (source / "config.json").is_file():
        raise ValueError(
            f"{source} is not a saved SongGen folder (no config.json) "
            f"nor a LoRA adapter folder (no {ADAPTER_CONFIG_FILE}); "
            "pass a training run's final/ folder."
        )
    if base is not None and not adapter:
        raise ValueError(
            f"--base names the base model of a LoRA adapter, but {source} is a full SongGen folder; drop --base."
        )
    if source.resolve() == target.resolve():
        raise ValueError("The export target must differ from the source folder.")
    if adapter:
        from songgen_hf.training.lora import load_lora, merge_lora

        base_folder = resolve_adapter_base(source, base)  # a missing base: a clear error naming it
        model = merge_lora(load_lora(base_folder, source, dtype=torch.float32))
    else:
        model = SongGenForConditionalGeneration.from_pretrained(source, dtype=torch.float32)
    try:
        # an adapter's processor is its base's (SongGenProcessor reads the base through the adapter)
        processor = SongGenProcessor.from_pretrained(base_folder if adapter and base is not None else source)
    except OSError as error:
        raise ValueError(
            f"{source} has no SongGen processor ({error}); export needs the tokenizers beside the weights."
        ) from None
    return model, processor


def replace_codec_decoder(model: torch.nn.Module, codec: str | Path) -> None:
    """Make ``codec`` the model's codec if every code-deciding weight is identical to its current one.

    Only the decoder side (``fc2`` and the acoustic decoder) may differ, in weights or in kind
    (a DAC decoder replaced by an ISTFT one): the model's tokens keep their meaning.
    """
    from songgen_hf.modeling import XCodecModel
    from songgen_hf.training.codec_trainer import code_side_differences

    if not (Path(codec) / "config.json").is_file():
        raise ValueError(f"{codec} is not a saved X-Codec folder (no config.json); pass a codec run's final/ folder.")
    decode_only = bool(getattr(model.config.audio_encoder, "decode_only", False))
    replacement = XCodecModel.from_pretrained(codec, dtype=torch.float32, decode_only=decode_only)
    new, current = replacement.state_dict(), model.audio_encoder.state_dict()

    differing = code_side_differences(current, new)
    if differing:
        raise ValueError(
            f"{codec} does not encode like the model's codec ({len(differing)} encoder/codebook tensors differ, "
            f"e.g. {differing[:3]}): the model's tokens would mean something else. Only a decoder fine-tuned with "
            "`train_decoder_only` from the model's own codec can replace it."
        )
    replacement.eval().requires_grad_(False)
    model.audio_encoder = replacement
    model.config.audio_encoder = replacement.config


def _save_singer(folder: str | Path, target: Path, storage_dtype: torch.dtype, adapter: Path | None = None) -> None:
    """The singer in ``folder`` saved to ``target`` like the model: weights in ``storage_dtype``, float32 compute;
    ``adapter``: a LoRA adapter folder whose singer adapter (if any) is merged in first."""
    from songgen_hf.modeling.songgen_singer import SongGenSinger
    from songgen_hf.pipelines.singer_adapters import merged_singer

    singer = SongGenSinger.from_pretrained(folder, dtype=torch.float32)
    if adapter is not None:
        singer = merged_singer(singer, adapter)
    singer.save_pretrained(target, state_dict=release_state_dict(singer, storage_dtype))
    _declare_compute_dtype(target / "config.json")


def _declare_compute_dtype(config_path: Path) -> None:
    """float32 in config.json (and its sub-configs) so a plain ``from_pretrained`` upcasts on load."""
    config = read_json(config_path)

    def visit(node):
        if isinstance(node, dict):
            for key in ("dtype", "torch_dtype"):
                if key in node:
                    node[key] = "float32"
            for key, value in node.items():
                if key != "official_files":  # the official files as the reference wrote them, kept as they were
                    visit(value)

    visit(config)
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# Sampling settings a release may default to, with their accepted ranges (checked before any weights load).
def _generation_ranges() -> dict:
    """The same bounds generate() checks (modeling/songgen/arguments_songgen.py), for --generation."""
    from songgen_hf.modeling.songgen.arguments_songgen import MAX_GUIDANCE_SCALE, MAX_TEMPERATURE

    return {
        "guidance_scale": dict(minimum=1, maximum=MAX_GUIDANCE_SCALE),
        "control_guidance_scale": dict(minimum=0, maximum=MAX_GUIDANCE_SCALE),
        "temperature": dict(above=0, maximum=MAX_TEMPERATURE),
        "top_p": dict(above=0, maximum=1),
        "repetition_penalty": dict(above=0, maximum=100),
        # SongGen's own defaults; the model's longest song is checked once it loads (_load_with_settings)
        "duration_s": dict(above=0, maximum=3600),
        "min_duration_s": dict(minimum=0, maximum=3600),
    }


_GENERATION_COUNTS = {
    "top_k": 0,
    "max_new_tokens": 1,
    "min_new_tokens": 0,
    "max_length": 1,
    "num_beams": 1,
    "guidance_top_k": 1,
}


def check_export_arguments(args: argparse.Namespace) -> None:
    """``songgen export``'s output, --generation and --codec, checked before the model loads."""
    from songgen_hf.commands.cli import check_count, check_number, check_output_spares_inputs, check_path_given
    from songgen_hf.modeling.songgen.generation_songgen import SongGenGenerationConfig
    from songgen_hf.modeling.songgen.quantization import QUANTIZE_CHOICES
    from songgen_hf.training.config_files import parse_overrides

    if args.output_dir is not None and args.output is not None and Path(args.output_dir) != Path(args.output):
        raise ValueError(f"Two output folders given (OUT {args.output_dir} and --output {args.output}); give one.")
    args.output = args.output if args.output is not None else args.output_dir
    if args.output is None:
        raise ValueError("No output folder: give OUT after SOURCE (or --output OUT).")
    if args.storage_dtype is None:
        args.storage_dtype = DEFAULT_STORAGE_DTYPE[args.export_format]
    if args.export_format == "official":
        given = {
            "--codec": args.codec,
            "--card-fields": args.card_fields,
            "--default-window": getattr(args, "default_window", None),
        }
        refused = [flag for flag, value in given.items() if value]
        if refused:
            raise ValueError(
                f"{' and '.join(refused)} only apply to --format release (the official layout has no model "
                "card and keeps the model's own codec and windows); drop them or export the release format."
            )
    for flag, value in (("SOURCE", args.source), ("--output", args.output), ("--codec", args.codec)):
        check_path_given(flag, value)
    from songgen_hf.pipelines.loading import embedded_model_path

    embedded = embedded_model_path(args.source)  # an embedded model by name: a self-contained copy of it
    args.source = str(embedded) if embedded is not None else args.source
    source_config = Path(args.source) / "config.json"
    if source_config.is_file():
        from songgen_hf.conversion.checkpoint_files import read_model_type

        model_type = read_model_type(args.source, "SOURCE")
        if model_type != "songgen":
            raise ValueError(
                f"SOURCE {args.source} holds a {model_type!r} model; songgen export takes a SongGen folder "
                "(a training run's final/) or a LoRA adapter folder."
            )
    output = Path(args.output)
    from songgen_hf.utils.atomic import check_replaceable, check_writable

    check_output_spares_inputs("--output", output, {"SOURCE": args.source, "--codec": args.codec, "--base": args.base})
    # an existing folder is replaced only with --overwrite, and only when it is provably an earlier export
    check_replaceable(output, getattr(args, "overwrite", False), "--output")
    source = Path(args.source)
    # the source's weights bound the release's (stored in the same or a smaller dtype): refused now if they cannot fit
    weights = sum(path.stat().st_size for path in source.glob("*.safetensors")) if source.is_dir() else 0
    check_writable(output, "--output", weights)
    if getattr(args, "default_window", None) is not None:  # the model's own window bounds it once the model loads
        check_number("--default-window", args.default_window, above=0, example=10)
    generation = parse_overrides(args.generation)
    defaults = SongGenGenerationConfig()
    unknown = sorted(key for key in generation if not hasattr(defaults, key))
    if unknown:
        raise ValueError(
            f"Unknown generation setting(s) {unknown} in --generation; "
            "use GenerationConfig fields such as guidance_scale, top_k, or SongGen's duration_s."
        )
    ranges = _generation_ranges()
    for key, value in generation.items():
        flag = f"--generation {key}"
        if key in ranges:
            check_number(flag, value, **ranges[key])
        elif key in _GENERATION_COUNTS:
            check_count(flag, value, minimum=_GENERATION_COUNTS[key])
        elif key in ("do_sample", "silence_instrumental_vocals") and not isinstance(value, bool):
            raise ValueError(f"{flag} must be true or false, got {value!r}.")
        elif key == "codebook_temperatures":
            from songgen_hf.modeling.songgen.arguments_songgen import check_generation_arguments

            check_generation_arguments({key: value}, names={key: flag})  # the tracks once the model loads
        elif key == "cpu_quantize" and value is not None and value not in QUANTIZE_CHOICES:
            raise ValueError(f"{flag} must be one of {list(QUANTIZE_CHOICES)} or null, got {value!r}.")
    if args.singer is not None:
        if args.export_format == "official":
            raise ValueError("--singer only applies to --format release (the official layout has no singer).")
        singer_config = Path(args.singer) / "config.json"
        try:
            singer_type = read_json(singer_config, "--singer's config").get("model_type")
        except (OSError, ValueError, AttributeError):
            singer_type = None
        if singer_type != "songgen_singer":
            raise ValueError(
                f"--singer {args.singer} is not a singer folder (a config.json of model_type "
                "'songgen_singer'): give the final/ folder of `songgen train-singer`."
            )
    if args.codec is not None:
        from songgen_hf.conversion.checkpoint_files import read_codec_config

        read_codec_config(args.codec, flag="--codec")  # a missing, SongGen or foreign folder: refused now
    if args.card_fields is not None:
        card = Path(args.card_fields)
        if not card.exists():
            raise ValueError(f"--card-fields {card} does not exist; pass a YAML or JSON file of model-card fields.")
        try:
            read_text(card, "--card-fields")
        except FileReadError as error:
            raise ValueError(f"{str(error).rstrip('.')}; pass a YAML or JSON file of model-card fields.") from None
        from songgen_hf.model_card import check_card_fields
        from songgen_hf.training.config_files import read_config_file

        check_card_fields(read_config_file(card), f"--card-fields {card}")
    if not Path(args.source).exists():
        from songgen_hf.conversion.conversion_cache import local_model_folder

        # a Hub id, once every cheap check passed: its snapshot (an official checkpoint: converted once, cached)
        args.source = str(local_model_folder(args.source))


__all__ = [
    "check_export_arguments",
    "export_official_songgen",
    "export_songgen",
    "release_state_dict",
    "replace_codec_decoder",
]
