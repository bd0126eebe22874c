"""LoRA adapters for SongGen's LM decoder, with PEFT.

Only the decoder adapts: the regex ``target_modules`` names decoder layers, the per-codebook
output heads, and on request the token embeddings, the musical controls and the description's projection into
the decoder, by their full path, so the T5 description encoder, the lyrics and voice encoders, the lyrics'
projection and the X-Codec stay untouched however the options are set (``"all-linear"`` would also
hit the codec).  ``task_type=None`` gives a plain ``PeftModel`` whose ``forward``
and ``generate`` hand every argument to SongGen's own methods (``duration_s``, guidance, voice
...), where a task-specific wrapper would impose a text-LM signature::

    from songgen_hf.training.lora import apply_lora, load_lora, lora_config_for_songgen, merge_lora, save_adapter

    peft_model = apply_lora(model, lora_config_for_songgen(r=16, targets=("self_attn", "ffn", "heads")))
    ...train...
    save_adapter(peft_model, "my-adapter")            # adapter weights + config, a few MB
    peft_model = load_lora("base-folder", "my-adapter")
    merged = merge_lora(peft_model)                   # a plain SongGenForConditionalGeneration

A saved adapter folder names its base twice: portably in ``songgen_adapter.json`` (the embedded
default by name, else a path relative to the adapter folder; see :mod:`songgen_hf.pipelines.adapter_folders`),
which the songgen loaders (``pipeline("text-to-song", model="my-adapter")`` included) read first, so an adapter
moved together with its base, or trained on the embedded model and used on another install, still loads; and in
``adapter_config.json``'s ``base_model_name_or_path`` for PEFT's own tools: the embedded model by its name, a Hub
id as it is, a base folder of your own as an absolute path.
The supported way to load one is :func:`load_lora` (``load_lora(None, "my-adapter")`` finds the
base); ``PeftModel.from_pretrained(base_model, "my-adapter")`` with a loaded base works too, and
``SongGenProcessor.from_pretrained("my-adapter")`` gives the base's processor, musical controls
included.  :func:`set_adapter_base` re-points an adapter whose base moved on its own.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from songgen_hf.modeling.limits import check_lora_sizes
from songgen_hf.pipelines.adapter_folders import (
    BASE_RECORD_FILE,
    base_record,
    load_lora,
    merge_lora,
    resolve_adapter_base,
    write_base_record,
)
from songgen_hf.pipelines.loading import ADAPTER_CONFIG_FILE, base_model_folder, embedded_model_name
from songgen_hf.utils.atomic import write_text_atomic
from songgen_hf.utils.safe_files import read_json, read_text

ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors"

DECODER_LAYERS = r"decoder\.model\.layers\."
ATTENTION_BLOCKS = ("self_attn", "encoder_attn")
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")
FFN_LAYERS = ("fc1", "fc2")
# A group name stands for all its linears; a single linear can also be named on its own.
TARGET_GROUPS: dict[str, tuple[str, ...]] = {
    **{block: tuple(f"{block}.{proj}" for proj in PROJECTIONS) for block in ATTENTION_BLOCKS},
    "ffn": FFN_LAYERS,
}
SINGLE_TARGETS = tuple(name for group in TARGET_GROUPS.values() for name in group)
# The per-codebook output heads (the mix's and, in a dual-track model, the vocal stem's): each turns the decoder's
# state into one codebook's token distribution, which is where a sound's timbre is largely decided, so a new sound
# needs them adapted; as a LoRA target they stay a low-rank update that blends, scales and merges like the others.
HEADS_TARGET = "heads"
HEADS_PATTERN = r"decoder\.(?:vocal_)?lm_heads\.\d+"
DEFAULT_TARGETS = ("self_attn", "encoder_attn", "ffn", HEADS_TARGET)
# Targets outside the decoder layers and heads, each a low-rank update like the others: the per-codebook token
# embeddings (what the decoder hears of its own past), the musical controls (tempo and key projections, the
# arrangement embedding) and the projection of the description encoder's states into the decoder (the one module
# outside the decoder a LoRA may reach: it is where a trigger phrase in the description becomes the decoder's)
EXTRA_TARGETS: dict[str, str] = {
    "embeddings": r"decoder\.model\.embed_tokens\.\d+",
    "controls": r"decoder\.model\.musical_controls\."
    r"(?:tempo_projection|key_projection|key_embedding|arrangement_embedding)",
    "description": r"enc_to_dec_proj",
}
OUTSIDE_DECODER_TARGETS = ("enc_to_dec_proj",)


# ---------------------------------------------------------------------------------- configuration
def _expand_targets(targets: str | Iterable[str]) -> list[str]:
    """The layer linears the targets name, plus ``"heads"`` when the heads are among them."""
    if isinstance(targets, str):
        targets = [targets]
    expanded: list[str] = []
    for target in targets:
        if target == HEADS_TARGET or target in EXTRA_TARGETS:
            names = (target,)
        elif target in TARGET_GROUPS:
            names = TARGET_GROUPS[target]
        elif target in SINGLE_TARGETS:
            names = (target,)
        else:
            raise ValueError(
                f"Unknown LoRA target {target!r}. Use groups {sorted(TARGET_GROUPS)}, {HEADS_TARGET!r} (the output "
                f"heads), {sorted(EXTRA_TARGETS)} or single decoder linears {list(SINGLE_TARGETS)}."
            )
        expanded += [name for name in names if name not in expanded]
    if not expanded:
        raise ValueError(
            f"Give at least one LoRA target: {sorted(TARGET_GROUPS)}, {HEADS_TARGET!r} or {list(SINGLE_TARGETS)}."
        )
    return expanded


def lora_target_pattern(targets: str | Iterable[str] = DEFAULT_TARGETS, layers: Sequence[int] | None = None) -> str:
    """The full-match regex over module names that ``target_modules`` gets.

    ``targets``: ``"self_attn"`` / ``"encoder_attn"`` (their q, k, v and out projections),
    ``"ffn"`` (``fc1`` and ``fc2``), ``"heads"`` (every per-codebook output head), or single linears
    such as ``"self_attn.q_proj"``.
    ``layers``: decoder layer indices to adapt; None adapts every layer.  The heads sit after the
    layers and are adapted whichever layers are chosen."""
    names = _expand_targets(targets)
    if layers is None:
        layer_pattern = r"\d+"
    else:
        indices = sorted({int(i) for i in layers})
        if not indices or indices[0] < 0:
            raise ValueError(f"lora layers must be a non-empty list of layer indices >= 0, got {list(layers)}.")
        layer_pattern = "|".join(str(i) for i in indices)
    patterns = []
    linears = [name for name in names if name != HEADS_TARGET and name not in EXTRA_TARGETS]
    if linears:
        alternatives = "|".join(re.escape(name) for name in linears)
        patterns.append(rf"{DECODER_LAYERS}(?:{layer_pattern})\.(?:{alternatives})")
    if HEADS_TARGET in names:
        patterns.append(HEADS_PATTERN)
    patterns += [EXTRA_TARGETS[name] for name in names if name in EXTRA_TARGETS]
    return patterns[0] if len(patterns) == 1 else "|".join(f"(?:{pattern})" for pattern in patterns)


def _decoder_config(model_config):
    return getattr(model_config, "decoder", model_config)


def modules_to_save_for_songgen(model_config, train_heads: bool = False, train_embeddings: bool = False) -> list[str]:
    """Decoder heads / embedding tables to train in full, one ModuleList child at a time.

    PEFT refuses a ModuleList in ``modules_to_save`` and matches names by suffix, so each
    child is listed with its ``decoder.`` path (``decoder.lm_heads.0`` can never match
    ``decoder.vocal_lm_heads.0``)."""
    if not (train_heads or train_embeddings):
        return []
    if model_config is None:
        raise ValueError("train_heads / train_embeddings need model_config (the SongGen config) to list the heads.")
    decoder = _decoder_config(model_config)
    names: list[str] = []
    if train_heads:
        names += [f"decoder.lm_heads.{i}" for i in range(decoder.num_rows)]
        if decoder.has_vocal_heads:
            names += [f"decoder.vocal_lm_heads.{i}" for i in range(decoder.num_rows)]
    if train_embeddings:
        names += [f"decoder.model.embed_tokens.{i}" for i in range(decoder.num_rows)]
    return names


def lora_config_for_songgen(
    r: int = 16,
    alpha: float = 32,
    dropout: float = 0.05,
    targets: str | Iterable[str] = DEFAULT_TARGETS,
    layers: Sequence[int] | None = None,
    train_heads: bool = False,
    train_embeddings: bool = False,
    model_config=None,
    **lora_options: Any,
) -> LoraConfig:
    """A ``LoraConfig`` that adapts decoder linears only (see :func:`lora_target_pattern`).

    ``train_heads`` / ``train_embeddings`` also train the output heads / the per-row embedding
    tables in full (saved in full with the adapter: a head is hidden x vocab); they need
    ``model_config`` to know how many there are.  With ``train_heads`` the heads train in full
    instead of through a LoRA, so ``"heads"`` among the targets then adds nothing.  Other
    ``LoraConfig`` fields pass through."""
    if train_heads:
        targets = [targets] if isinstance(targets, str) else list(targets)
        targets = [target for target in targets if target != HEADS_TARGET]
        if not targets:
            raise ValueError(
                "train_heads trains the output heads in full, and 'heads' is the only LoRA target: add decoder "
                f"targets ({sorted(TARGET_GROUPS)}) or drop train_heads."
            )
    check_lora_sizes(r, alpha, "the LoRA config", rank_name="lora_r")  # 1e9 is refused, not allocated
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"lora dropout must be in [0, 1), got {dropout}.")
    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=lora_target_pattern(targets, layers),
        modules_to_save=modules_to_save_for_songgen(model_config, train_heads, train_embeddings) or None,
        bias="none",
        task_type=None,
        **lora_options,
    )


# ---------------------------------------------------------------------------------- wrapping
def matching_modules(model: torch.nn.Module, pattern: str) -> list[str]:
    """Names of ``model``'s modules that the full-match ``pattern`` selects (as PEFT matches them)."""
    regex = re.compile(pattern)
    return [name for name, _ in model.named_modules() if name and regex.fullmatch(name)]


def _local_base_path(model) -> str | None:
    """The absolute folder the model came from, so a saved adapter finds its base from anywhere."""
    name = getattr(model, "name_or_path", "") or ""
    return str(Path(name).resolve()) if name and os.path.isdir(name) else (name or None)


def apply_lora(model, lora_config: LoraConfig | None = None, **options: Any) -> PeftModel:
    """Inject LoRA into ``model`` (in place) and return the ``PeftModel`` around it.

    Without ``lora_config`` one is built from ``options`` (:func:`lora_config_for_songgen`
    arguments) and the model's config.  Every parameter outside the adapter (and any
    ``modules_to_save`` copies) is frozen.  A string ``target_modules`` must match at least one
    module: a pattern that matches nothing is refused, naming the pattern."""
    if lora_config is None:
        lora_config = lora_config_for_songgen(model_config=model.config, **options)
    elif options:
        raise ValueError(f"Give either lora_config or options {sorted(options)}, not both.")
    if lora_config.task_type is not None:
        raise ValueError(
            f"task_type={lora_config.task_type!r} would replace SongGen's forward/generate signature; "
            "use task_type=None."
        )
    pattern = lora_config.target_modules
    if isinstance(pattern, str):
        matched = matching_modules(model, pattern)
        if not matched:
            raise ValueError(
                f"The LoRA target pattern `{pattern}` matches no module of this {type(model).__name__}: a LoRA target "
                "that matches nothing would train nothing. Check the targets and layer indices (decoder layers: "
                f"{_count_decoder_layers(model)})."
            )
        if DECODER_LAYERS in pattern and not any(name.startswith("decoder.model.layers.") for name in matched):
            raise ValueError(
                f"The LoRA target pattern `{pattern}` matches no module of this {type(model).__name__}'s decoder "
                "layers: a LoRA target that matches nothing would train nothing. Check the layer indices (decoder "
                f"layers: {_count_decoder_layers(model)})."
            )
        outside = [name for name in matched if not name.startswith("decoder.") and name not in OUTSIDE_DECODER_TARGETS]
        if outside:
            raise ValueError(f"The LoRA target pattern `{pattern}` reaches outside the decoder: {outside[:5]}.")
    with warnings.catch_warnings():  # PEFT still asks transformers' deprecated name; nothing the user can change
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        peft_model = get_peft_model(model, lora_config)
    peft_model.peft_config[peft_model.active_adapter].base_model_name_or_path = _local_base_path(model)
    # get_peft_model already freezes the base; enforce it for anything a caller unfroze on purpose before
    for name, parameter in peft_model.named_parameters():
        if parameter.requires_grad and not _is_adapter_parameter(name):
            parameter.requires_grad_(False)
    return peft_model


def _count_decoder_layers(model) -> int:
    layers = getattr(getattr(getattr(model, "decoder", None), "model", None), "layers", None)
    return len(layers) if layers is not None else 0


def _is_adapter_parameter(name: str) -> bool:
    return ".lora_" in name or ".modules_to_save." in name


def trainable_parameter_names(peft_model: PeftModel) -> list[str]:
    return [name for name, parameter in peft_model.named_parameters() if parameter.requires_grad]


# ---------------------------------------------------------------------------------- save / load / merge
def save_adapter(peft_model: PeftModel, folder: str | Path, base_model_path: str | Path | None = None) -> Path:
    """Write ``adapter_config.json``, ``adapter_model.safetensors`` (the adapter only),
    ``songgen_adapter.json`` (the base, named portably: see :mod:`songgen_hf.pipelines.adapter_folders`) and a copy
    of the base's ``config.json`` (what transformers' ``pipeline()`` reads the model's kind from).

    ``base_model_path`` (default: the folder the base came from; the embedded default may be
    named ``"songgen-tiny"``) goes into ``base_model_name_or_path``: an embedded model by its name and a Hub id as
    it is, so that a pushed adapter names no folder of the disk it was trained on; a base folder of your own as
    an absolute path, the form transformers' ``pipeline()`` and PEFT resolve from any current directory."""
    folder = Path(folder)
    config = peft_model.peft_config[peft_model.active_adapter]
    if base_model_path is not None:
        config.base_model_name_or_path = str(Path(base_model_folder(base_model_path)).resolve())
    elif config.base_model_name_or_path and os.path.isdir(config.base_model_name_or_path):
        config.base_model_name_or_path = str(Path(config.base_model_name_or_path).resolve())
    peft_model.save_pretrained(str(folder))
    name = config.base_model_name_or_path and embedded_model_name(config.base_model_name_or_path)
    if name:  # written by PEFT from the folder it read the base from; the file names the base as it travels
        saved = read_json(folder / ADAPTER_CONFIG_FILE)
        saved["base_model_name_or_path"] = name
        write_text_atomic(folder / ADAPTER_CONFIG_FILE, json.dumps(saved, indent=2, sort_keys=True) + "\n")
    if config.base_model_name_or_path:
        record = write_base_record(folder, config.base_model_name_or_path)
        write_text_atomic(folder / "README.md", adapter_card(config, record["base_model"]))
        _copy_base_config(folder, config.base_model_name_or_path)
    return folder


def style_tempo_of(captions) -> float | None:
    """The tempo of a run's songs, as the adapter records it (``style_tempo_bpm``): the median of the tempos their
    captions name, read as training reads them for the tempo control; None when none names one."""
    import statistics

    from songgen_hf.modeling.songgen.description_songgen import parse_tempo_bpm

    tempos = [tempo for tempo in (parse_tempo_bpm(caption or "") for caption in captions) if tempo is not None]
    return round(float(statistics.median(tempos)), 1) if tempos else None


def write_style_tempo(adapter_dir: str | Path, tempo: float | None) -> None:
    """Record ``tempo`` (:func:`style_tempo_of`) in the adapter's ``songgen_adapter.json``, or remove the record
    (``None``): a pipeline makes the adapter's songs whose request names no tempo at it
    (:func:`songgen_hf.pipelines.adapters.adapter_style_tempo`)."""
    from songgen_hf.pipelines.adapters import STYLE_TEMPO_KEY

    record_path = Path(adapter_dir) / BASE_RECORD_FILE
    record = read_json(record_path)
    if tempo is None:
        record.pop(STYLE_TEMPO_KEY, None)
    else:
        record[STYLE_TEMPO_KEY] = float(tempo)
    write_text_atomic(record_path, json.dumps(record, indent=1) + "\n")


def _copy_base_config(folder: Path, base: str) -> None:
    """The base's ``config.json`` beside the adapter: transformers' ``pipeline("text-to-song", model=ADAPTER)``
    reads the model's config from the adapter folder when one is there, instead of asking the Hub for the base the
    adapter names (``songgen-tiny`` is no Hub repository).  The folder stays an adapter: it holds no model weights."""
    source = Path(base_model_folder(base)) / "config.json"
    if source.is_file():
        write_text_atomic(folder / "config.json", read_text(source, "the base's config.json"))


def _base_name(named: dict) -> str | None:
    """The base as a card names it where it is read (the Hub): an embedded model's name or a Hub id, never a path
    on the disk the adapter was trained on."""
    return named.get("embedded") or named.get("repo_id")


def adapter_card(config, named: dict, training: dict | None = None) -> str:
    """The adapter folder's ``README.md``: what it adapts, how it was trained and how to use it, with Hub metadata
    (``library_name: peft``, ``base_model`` by name or Hub id, ``text-to-audio``).  ``named``: the portable base
    record (:func:`songgen_hf.pipelines.adapter_folders.base_record`); ``training``: the run's data and steps, when
    known."""
    import yaml

    base = _base_name(named)
    targets = config.target_modules
    targets = targets if isinstance(targets, str) else ", ".join(sorted(targets or []))
    metadata = {"library_name": "peft", "pipeline_tag": "text-to-audio", "tags": ["songgen", "lora", "text-to-song"]}
    if base is not None:
        metadata["base_model"] = base
    base_text = f"`{base}`" if base is not None else "the SongGen model it was trained from (kept beside it)"
    trained = ""
    if training:
        trained = "\n## Training\n\n" + "".join(f"- {key}: {value}\n" for key, value in training.items())
    return (
        f"---\n{yaml.safe_dump(metadata, sort_keys=False)}---\n\n"
        f"# A LoRA adapter for {base_text}\n\n"
        f"A low-rank adapter (rank {config.r}, alpha {config.lora_alpha}) of the SongGen decoder's linear layers "
        f"({targets}), made with `songgen finetune-lora` from the songgen-hf package.  It changes how its base "
        "sings and plays; the base's description, lyrics and controls work as before.\n\n"
        "## Use\n\n"
        "Install songgen-hf from its repository (it is on no package index yet), then:\n\n"
        "```bash\n"
        'songgen generate --model ADAPTER_FOLDER --description "a calm folk song at 90 bpm" '
        '--lyrics "walking home" --duration 10 --output song.wav\n'
        "songgen info ADAPTER_FOLDER   # its base, targets, rank and measured effect\n"
        "```\n\n"
        "The base loads by its name or Hub id; a base on your disk is found through `songgen_adapter.json`."
        f"\n{trained}"
    )


def adapter_base_path(adapter_dir: str | Path) -> str:
    """The base model folder (or Hub id) of an adapter folder; a ``ValueError`` naming it if it is missing."""
    return resolve_adapter_base(adapter_dir)


def set_adapter_base(adapter_dir: str | Path, base_model_path: str | Path) -> str:
    """Point the adapter in ``adapter_dir`` at ``base_model_path`` (a SongGen folder, or ``"songgen-tiny"``)
    after the base moved on its own; rewrites both records.  Returns the base folder."""
    from songgen_hf.utils.atomic import write_text_atomic

    adapter_dir = Path(adapter_dir)
    config_file = adapter_dir / ADAPTER_CONFIG_FILE
    if not config_file.is_file():
        raise ValueError(f"{adapter_dir} is not a LoRA adapter folder: no {ADAPTER_CONFIG_FILE}.")
    base = Path(base_model_folder(base_model_path)).resolve()
    try:
        model_type = read_json(base / "config.json").get("model_type")
    except (OSError, ValueError):
        model_type = None
    if model_type != "songgen":
        raise ValueError(f"{base_model_path} is not a SongGen model folder (config.json with model_type 'songgen').")
    config = read_json(config_file)
    config["base_model_name_or_path"] = embedded_model_name(base) or str(base)
    write_text_atomic(config_file, json.dumps(config, indent=2, sort_keys=True) + "\n")
    record = {"base_model": base_record(base, adapter_dir)}
    write_text_atomic(adapter_dir / BASE_RECORD_FILE, json.dumps(record, indent=1) + "\n")
    return str(base)


__all__ = [
    "DEFAULT_TARGETS",
    "TARGET_GROUPS",
    "adapter_base_path",
    "apply_lora",
    "load_lora",
    "lora_config_for_songgen",
    "lora_target_pattern",
    "matching_modules",
    "merge_lora",
    "modules_to_save_for_songgen",
    "save_adapter",
    "set_adapter_base",
    "trainable_parameter_names",
]
