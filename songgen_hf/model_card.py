"""Model cards for SongGen folders: render ``templates/model_card.md``, check it, write ``README.md``.

    card = render_model_card(model, processor, repo_id="me/songgen-small", training_data="...")
    save_model_card("runs/stage1/final", repo_id="me/songgen-small")  # reads the folder itself

**Metadata choices.**

* ``library_name: songgen-hf``, not ``transformers``.  The Hub shows a library's own loading
  snippet for ``transformers`` (``AutoModel.from_pretrained(repo)``), and that snippet fails here:
  ``model_type`` ``songgen`` is not a transformers architecture, so the Auto classes only know it
  after ``import songgen_hf`` (no ``auto_map`` / remote code is exported).  A custom library name
  is allowed; it costs the Hub's built-in snippet and download statistics, and the card's own
  snippets (executed by ``tests/test_model_card.py``) say how to load the model instead.  Pass
  ``library_name="transformers"`` once folders carry a remote-code ``auto_map``.
* ``pipeline_tag: text-to-audio``: ``text-to-song`` is not a Hub task, and the built-in
  ``text-to-audio`` pipeline does load these folders.

**Validation.**  ``ModelCard.validate()`` posts the card to the Hub's ``/api/validate-yaml``
endpoint, so it needs the network (and raises at once under ``HF_HUB_OFFLINE=1``).
:func:`validate_model_card` therefore checks the metadata locally by default (the YAML parses
into a mapping, the required fields have the expected types and values, the card re-parses with
the same data, no template placeholder is left) and calls the Hub only with ``online=True``.

Nothing calls :func:`save_model_card` yet: the trainer's final save and the converters are
meant to call it on their staging folder, before the atomic rename, so ``README.md`` arrives
together with the weights.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import ModelCard, ModelCardData

from songgen_hf.model_figures import format_count, lyrics_token_limit
from songgen_hf.utils.atomic import atomic_file

TEMPLATE_NAME = "model_card.md"
LIBRARY_NAME = "songgen-hf"
PIPELINE_TAG = "text-to-audio"
DEFAULT_LICENSE = "apache-2.0"
BASE_TAGS = ("text-to-song", "music", "songgen")
CARD_FILE_NAME = "README.md"

# Keyword arguments that belong in the YAML metadata rather than the Markdown body.
_CARD_DATA_KEYS = frozenset(
    {
        "license",
        "license_name",
        "license_link",
        "base_model",
        "datasets",
        "language",
        "metrics",
        "tags",
        "library_name",
        "model_name",
        "eval_results",
    }
)
# What a card's fields may set (``songgen export --card-fields``): the metadata above, the template's own text
# variables and the arguments of render_model_card.  Every other template variable is the model's own figure.
CARD_FIELDS = _CARD_DATA_KEYS | {
    "repo_id",
    "training_data",
    "evaluation",
    "model_summary",
    "limitations",
    "example_duration_s",
    "local_dir",
}


def check_card_fields(fields: Any, source: str = "card fields") -> None:
    """Refuse card fields that no card has a place for, naming them and the ones there are."""
    if not isinstance(fields, dict):
        raise ValueError(f"{source} must be a mapping of model-card fields, got {type(fields).__name__}.")
    unknown = sorted(str(key) for key in fields if key not in CARD_FIELDS)
    if unknown:
        raise ValueError(f"{source}: unknown model-card field(s) {unknown}; the fields are {sorted(CARD_FIELDS)}.")


_PATTERN_DESCRIPTIONS = {
    "mixed": "one mixed track, codebooks delayed",
    "mixed_pro": "one mixed track plus an auxiliary vocal loss",
    "parallel_std": "accompaniment and vocals as parallel codebook rows",
    "parallel_A_V": "accompaniment and vocals in parallel, accompaniment first",
    "parallel_V_A": "vocals and accompaniment in parallel, vocals first",
    "interleaving_A_V": "accompaniment and vocal frames interleaved, accompaniment first",
    "interleaving_V_A": "vocal and accompaniment frames interleaved, vocals first",
    "mixed_stream2": "one mixed track in AudioGen's 2 streams: two frames per decoding step",
    "mixed_stream4": "one mixed track in AudioGen's 4 streams: four frames per decoding step",
    "mixed_pro_stream2": "one mixed track in 2 streams plus an auxiliary vocal loss: two frames per decoding step",
}
# Unrendered Jinja left in the output means a template variable was misspelt.
_PLACEHOLDER = re.compile(r"\{\{|\{%")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _template_text() -> str:
    return resources.files("songgen_hf").joinpath("templates", TEMPLATE_NAME).read_text(encoding="utf-8")


def _as_config(model_or_config: Any):
    """A ``SongGenConfig`` from a model, a config or a saved folder."""
    from songgen_hf.modeling.songgen import SongGenConfig

    if isinstance(model_or_config, (str, os.PathLike)):
        return SongGenConfig.from_pretrained(os.fspath(model_or_config))
    config = getattr(model_or_config, "config", model_or_config)
    if getattr(config, "model_type", None) != SongGenConfig.model_type or getattr(config, "decoder", None) is None:
        raise ValueError(
            f"render_model_card needs a SongGen model, config or folder, got {type(model_or_config).__name__} "
            f"(model_type {getattr(config, 'model_type', None)!r})."
        )
    return config


def _count_parameters(model_or_config: Any, config) -> int:
    import torch

    from songgen_hf.model_figures import count_parameters

    if hasattr(model_or_config, "parameters"):
        return count_parameters(model_or_config)
    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration

    with torch.device("meta"):  # shapes only: no memory, no weights
        return count_parameters(SongGenForConditionalGeneration(config))


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _format_evaluation(evaluation: Any) -> str | None:
    """Free text as is; a ``{metric: value}`` mapping as a Markdown table."""
    if evaluation is None or isinstance(evaluation, str):
        return evaluation
    if isinstance(evaluation, Mapping):
        rows = ["| metric | value |", "|---|---|"] + [f"| {key} | {value} |" for key, value in evaluation.items()]
        return "\n".join(rows)
    raise ValueError(
        f"evaluation must be Markdown text or a {{metric: value}} mapping, got {type(evaluation).__name__}."
    )


def _format_training_data(training_data: Any) -> tuple[str | None, list[str]]:
    """(Markdown, Hub dataset ids): a string is prose; a list is dataset ids, also put in ``datasets``."""
    if training_data is None or isinstance(training_data, str):
        return training_data, []
    if isinstance(training_data, Sequence) and all(isinstance(item, str) for item in training_data):
        items = list(training_data)
        return "\n".join(f"- [{item}](https://huggingface.co/datasets/{item})" for item in items), items
    raise ValueError("training_data must be Markdown text or a list of Hub dataset ids.")


def render_model_card(
    model_or_config: Any,
    processor: Any = None,
    repo_id: str | None = None,
    training_data: str | Sequence[str] | None = None,
    evaluation: str | Mapping[str, Any] | None = None,
    **extra: Any,
) -> ModelCard:
    """Fill the package's model-card template for a SongGen model.

    Args:
        model_or_config: a ``SongGenForConditionalGeneration``, its ``SongGenConfig`` or a saved folder.
        processor: the model's ``SongGenProcessor`` (for the lyric limit and the language), optional.
        repo_id: the Hub id (or folder) the usage snippets load from; ``"path/to/songgen"`` if omitted.
        training_data: Markdown, or a list of Hub dataset ids (also listed in the ``datasets`` metadata).
        evaluation: Markdown, or a ``{metric: value}`` mapping rendered as a table.
        **extra: metadata fields (``license``, ``base_model``, ``language``, ``tags`` (added to the
            defaults), ``model_name``, ``library_name``...) or template variables (``model_summary``,
            ``limitations``, ``example_duration_s``, ``local_dir``).

    Returns:
        a ``huggingface_hub.ModelCard``; check it with :func:`validate_model_card`.
    """
    from songgen_hf.modeling.songgen.arguments_songgen import MAX_SONG_S
    from songgen_hf.modeling.songgen.configuration_songgen import default_window_s

    config = _as_config(model_or_config)
    decoder = config.decoder
    pattern = decoder.token_pattern()
    card_kwargs = {key: extra.pop(key) for key in list(extra) if key in _CARD_DATA_KEYS}
    training_text, dataset_ids = _format_training_data(training_data)

    tags = list(BASE_TAGS) + [decoder.track_pattern]
    if pattern.num_tracks > 1:
        tags.append("stems")
    tags += [tag for tag in _as_list(card_kwargs.pop("tags", None)) if tag not in tags]
    languages = _as_list(card_kwargs.pop("language", None))
    if not languages and processor is not None:
        languages = list(getattr(processor.lyrics_tokenizer, "languages", []))
    explicit_datasets = _as_list(card_kwargs.pop("datasets", None))
    datasets = explicit_datasets + [item for item in dataset_ids if item not in explicit_datasets]
    model_name = card_kwargs.pop("model_name", None) or (repo_id.rstrip("/").split("/")[-1] if repo_id else None)

    card_data = ModelCardData(
        library_name=card_kwargs.pop("library_name", LIBRARY_NAME),
        pipeline_tag=PIPELINE_TAG,
        license=card_kwargs.pop("license", DEFAULT_LICENSE),
        tags=tags,
        language=languages or None,
        datasets=datasets or None,
        model_name=model_name,
        **card_kwargs,
    )

    lyrics_limit = lyrics_token_limit(processor, config)
    voice = config.voice_encoder
    frames = pattern.num_frames(decoder.max_position_embeddings)
    # A Hub id gets an `hf download` line in the shell snippet; a local folder is used as is.
    is_hub_id = bool(repo_id) and _HUB_ID.match(repo_id) is not None and not os.path.exists(repo_id)
    variables = {
        "repo_id": repo_id,
        "download_repo": repo_id if is_hub_id else None,
        "local_dir": "songgen-model" if is_hub_id else repo_id,
        "example_duration_s": max(1, min(10, int(frames / config.frame_rate))),
        "model_name": model_name,
        "training_data": training_text,
        "evaluation": _format_evaluation(evaluation),
        "dual_track": pattern.num_tracks > 1,
        "track_pattern": decoder.track_pattern,
        "pattern_description": _PATTERN_DESCRIPTIONS.get(decoder.track_pattern, "see config.json"),
        "sampling_rate": int(config.sampling_rate),
        "frame_rate": config.frame_rate,
        "num_codebooks": decoder.num_codebooks,
        "codebook_size": decoder.codebook_size,
        "decoder_layers": decoder.num_hidden_layers,
        "decoder_hidden_size": decoder.hidden_size,
        "max_seconds": f"{frames / config.frame_rate:g}",
        # the windows a longer song is made in by default, where the config saves shorter ones than one pass holds
        "window_seconds": f"{default_window_s(config):g}" if getattr(decoder, "default_window_frames", None) else None,
        "longest_song_seconds": f"{MAX_SONG_S:g}",
        "text_encoder": getattr(config.text_encoder, "model_type", "text").upper(),
        "max_lyrics_tokens": lyrics_limit,
        "voice_seconds": None if voice is None else f"{voice.clip_seconds:g}",
        "voice_sampling_rate": None if voice is None else int(voice.sampling_rate),
        "num_parameters": format_count(_count_parameters(model_or_config, config)),
        **extra,
    }
    return ModelCard.from_template(card_data, template_str=_template_text(), **variables)


def validate_model_card(card: ModelCard | str, online: bool = False) -> dict[str, Any]:
    """Check a rendered card; returns its metadata as a dict, raises ``ValueError`` naming the problem.

    ``online=True`` also runs ``ModelCard.validate()``, which needs the Hub (see the module docstring).
    """
    text = str(card)
    match = re.match(r"\A---\r?\n(.*?)\r?\n---\r?\n", text, flags=re.DOTALL)
    if match is None:
        raise ValueError("The model card does not start with a '---' YAML metadata block.")
    try:
        metadata = yaml.safe_load(match.group(1))
    except yaml.YAMLError as error:
        raise ValueError(f"The model card metadata is not valid YAML: {error}") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"The model card metadata must be a mapping, got {type(metadata).__name__}.")
    problems = []
    if metadata.get("pipeline_tag") != PIPELINE_TAG:
        problems.append(f"pipeline_tag must be {PIPELINE_TAG!r}, got {metadata.get('pipeline_tag')!r}")
    for key in ("library_name", "license"):
        if not isinstance(metadata.get(key), str) or not metadata[key]:
            problems.append(f"{key} must be a non-empty string")
    if metadata.get("license") == "other" and not (metadata.get("license_name") and metadata.get("license_link")):
        problems.append("license 'other' needs license_name and license_link")
    tags = metadata.get("tags")
    if not isinstance(tags, list) or not all(isinstance(tag, str) and tag for tag in tags):
        problems.append("tags must be a list of non-empty strings")
    elif not set(BASE_TAGS) <= set(tags):
        problems.append(f"tags must include {list(BASE_TAGS)}")
    for key in ("language", "datasets", "base_model"):
        value = metadata.get(key)
        if value is not None and not isinstance(value, (str, list)):
            problems.append(f"{key} must be a string or a list of strings")
    leftover = _PLACEHOLDER.search(text)
    if leftover:
        problems.append(f"unrendered template syntax {leftover.group(0)!r} near {text[leftover.start() :][:40]!r}")
    if problems:
        raise ValueError("Invalid model card: " + "; ".join(problems) + ".")
    parsed = ModelCard(text)  # huggingface_hub's own parse: raises on malformed eval results
    if online:
        parsed.validate()
    return metadata


def save_model_card(
    folder: str | os.PathLike,
    model_or_config: Any = None,
    processor: Any = None,
    filename: str = CARD_FILE_NAME,
    **kwargs: Any,
) -> Path:
    """Render, validate (offline) and write ``README.md`` into a saved SongGen folder, atomically.

    Without ``model_or_config`` the folder's ``config.json`` is used, and its processor files when
    present.  Other arguments go to :func:`render_model_card`.  Returns the card's path.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"save_model_card writes into an existing model folder; {folder} is not a folder.")
    if model_or_config is None:
        model_or_config = folder
    if processor is None and (folder / "processor_config.json").is_file():
        from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor

        processor = SongGenProcessor.from_pretrained(folder)
    card = render_model_card(model_or_config, processor, **kwargs)
    validate_model_card(card)
    target = folder / filename
    with atomic_file(target) as temporary:  # complete or absent, with the umask's permissions
        # newline="" keeps the card's own line endings, as ModelCard.save does
        with open(temporary, "w", encoding="utf-8", newline="") as stream:
            stream.write(str(card))
    return target


__all__ = [
    "CARD_FIELDS",
    "check_card_fields",
    "render_model_card",
    "save_model_card",
    "validate_model_card",
]
