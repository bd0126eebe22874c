"""Sizes of an official SongGen checkpoint, read off its tensor shapes and checked against ``config.json``.

The reference code hard-codes some sizes (the lyrics Conformer, the 25-layer MERT mix) and
reads the rest from ``config.json``; a checkpoint of another size (a community model, a tiny
test model) therefore records some of its sizes nowhere but in its weights.  Every size that a
shape determines is taken from the shapes; a ``config.json`` value that is present must agree,
and a size that no shape determines (attention heads of the decoder and of MERT, MERT's conv
strides) must come from a config -- a disagreement or a gap is a ``ValueError`` naming the keys.

Shapes are plain ``{official name: tuple}`` mappings (from safetensors headers or tensors), so
nothing here needs the weights in memory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

Shapes = Mapping[str, Sequence[int]]

DECODER_PREFIX = "decoder.model.decoder."
_T5_BLOCK = "text_encoder.encoder.block.{i}.layer.{j}."


def tensor_shapes(state_dict: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """``{name: shape}`` of a state dict (tensors or anything with ``.shape``)."""
    return {key: tuple(value.shape) for key, value in state_dict.items()}


def _indices(shapes: Shapes, pattern: str) -> list[int]:
    """Sorted distinct integers captured by ``pattern`` (one group) over the keys."""
    regex = re.compile(pattern)
    return sorted({int(m.group(1)) for key in shapes if (m := regex.match(key))})


def _contiguous(shapes: Shapes, pattern: str, what: str) -> int:
    """How many numbered blocks ``pattern`` finds; ``ValueError`` when the numbering has gaps."""
    found = _indices(shapes, pattern)
    if found and found != list(range(len(found))):
        missing = sorted(set(range(found[-1] + 1)) - set(found))
        raise ValueError(
            f"The checkpoint's {what} are numbered {found[0]}..{found[-1]} with {missing} missing; "
            "the file is damaged or incomplete: use an intact copy."
        )
    return len(found)


def _shape(shapes: Shapes, key: str, rank: int | None = None) -> tuple[int, ...] | None:
    shape = shapes.get(key)
    if shape is None:
        return None
    shape = tuple(int(n) for n in shape)
    if rank is not None and len(shape) != rank:
        raise ValueError(
            f"{key} has shape {shape}; a {rank}-D tensor was expected. The checkpoint is not an "
            "official SongGen checkpoint or is damaged."
        )
    return shape


def agree(config: Mapping, field: str, inferred: int, evidence: str, where: str = "") -> int:
    """``inferred``, after checking that ``config[field]`` (when present) says the same."""
    stated = config.get(field)
    if stated is not None and int(stated) != int(inferred):
        raise ValueError(
            f"config.json {where}{field}={stated} disagrees with the weights: {evidence}. The config "
            "and the weights come from different models; download the folder again or fix config.json."
        )
    return int(inferred)


def _rows_per_codebook(track_pattern: str) -> int:
    """Embedding tables per codebook: 2 for the parallel dual-track patterns, 1 otherwise."""
    from songgen_hf.modeling.songgen import SongGenDecoderConfig

    probe = SongGenDecoderConfig(track_pattern=track_pattern, num_codebooks=1, hidden_size=8, num_attention_heads=1)
    return probe.num_rows


def decoder_sizes(decoder: Mapping, shapes: Shapes, track_pattern: str) -> dict[str, int]:
    """hidden_size, vocab_size, num_codebooks, num_hidden_layers, ffn_dim and heads of the decoder."""
    tables = _contiguous(
        shapes, re.escape(DECODER_PREFIX) + r"embed_tokens\.(\d+)\.weight$", "decoder embedding tables"
    )
    if not tables:
        raise ValueError(
            f"The checkpoint has no {DECODER_PREFIX}embed_tokens.0.weight, so the decoder's size cannot "
            "be read; is this an official SongGen checkpoint (Parler-style decoder.model.decoder.*)?"
        )
    key = f"{DECODER_PREFIX}embed_tokens.0.weight"
    vocab, hidden = _shape(shapes, key, rank=2)
    for index in range(1, tables):
        other = _shape(shapes, f"{DECODER_PREFIX}embed_tokens.{index}.weight", rank=2)
        if other != (vocab, hidden):
            raise ValueError(
                f"{DECODER_PREFIX}embed_tokens.{index}.weight has shape {other} but embed_tokens.0 has "
                f"{(vocab, hidden)}; every codebook table must have the same size."
            )
    heads_found = _contiguous(shapes, r"decoder\.lm_heads\.(\d+)\.weight$", "decoder output heads")
    if heads_found and heads_found != tables:
        raise ValueError(
            f"The checkpoint has {tables} decoder embedding tables but {heads_found} decoder.lm_heads; "
            "they must match (one of each per codebook row)."
        )
    per_codebook = _rows_per_codebook(track_pattern)
    if tables % per_codebook:
        raise ValueError(
            f"track_pattern {track_pattern!r} needs {per_codebook} embedding tables per codebook, but the "
            f"checkpoint has {tables} ({DECODER_PREFIX}embed_tokens.0..{tables - 1})."
        )
    layers = _contiguous(shapes, re.escape(DECODER_PREFIX) + r"layers\.(\d+)\.", "decoder layers")
    fc1 = _shape(shapes, f"{DECODER_PREFIX}layers.0.fc1.weight", rank=2)
    evidence = f"{key} has shape {(vocab, hidden)}"
    sizes = {
        "vocab_size": agree(decoder, "vocab_size", vocab, evidence, "decoder."),
        "hidden_size": agree(decoder, "hidden_size", hidden, evidence, "decoder."),
        "num_codebooks": agree(
            decoder,
            "num_codebooks",
            tables // per_codebook,
            f"there are {tables} embedding tables ({per_codebook} per codebook for {track_pattern})",
            "decoder.",
        ),
        "num_hidden_layers": agree(
            decoder,
            "num_hidden_layers",
            layers,
            f"the weights hold {layers} layers ({DECODER_PREFIX}layers.*)",
            "decoder.",
        ),
    }
    if fc1 is not None:
        sizes["ffn_dim"] = agree(
            decoder, "ffn_dim", fc1[0], f"{DECODER_PREFIX}layers.0.fc1.weight has shape {fc1}", "decoder."
        )
    # Heads are not in any shape (q/k/v/out are all hidden x hidden); config.json or the reference default (16).
    heads = int(decoder.get("num_attention_heads", 16))
    if heads <= 0 or hidden % heads:
        stated = (
            "config.json decoder.num_attention_heads"
            if "num_attention_heads" in decoder
            else "the reference default num_attention_heads (16; config.json does not record it)"
        )
        raise ValueError(
            f"{stated} = {heads} does not divide the decoder width {hidden} ({evidence}); the number of "
            "heads cannot be read from the weights, so set decoder.num_attention_heads in config.json."
        )
    sizes["num_attention_heads"] = heads
    return sizes


def lyrics_sizes(config_dict: Mapping, shapes: Shapes, use_encoder: bool) -> dict[str, int] | None:
    """SongGenLyricsEncoderConfig sizes (vocab, hidden, layers, heads, FFN), or None without ``embed_prompts``."""
    embed = _shape(shapes, "embed_prompts.weight", rank=2)
    if embed is None:
        return None
    vocab, width = embed
    sizes = {"vocab_size": agree(config_dict, "vocab_size", vocab, f"embed_prompts.weight has shape {embed}")}
    input_proj = _shape(shapes, "lyrics_encoder.embed.out.0.weight", rank=2)
    if not use_encoder or input_proj is None:
        sizes["hidden_size"] = width
        return sizes
    hidden, inner = input_proj
    if inner != width:
        raise ValueError(
            f"lyrics_encoder.embed.out.0.weight has shape {input_proj} but embed_prompts.weight is {embed}: "
            "the lyrics embedding must be as wide as the encoder's input projection expects."
        )
    if hidden != width:
        raise ValueError(
            f"The lyrics encoder is {hidden} wide (lyrics_encoder.embed.out.0.weight {input_proj}) but its "
            f"embedding is {width} wide (embed_prompts.weight {embed}); songgen-hf's lyrics encoder embeds "
            "at its own width, so this checkpoint cannot be converted."
        )
    bias_u = _shape(shapes, "lyrics_encoder.encoders.0.self_attn.pos_bias_u", rank=2)
    fc1 = _shape(shapes, "lyrics_encoder.encoders.0.feed_forward.w_1.weight", rank=2)
    if bias_u is None or fc1 is None:
        raise ValueError(
            "The checkpoint has lyrics_encoder.embed.* but no lyrics_encoder.encoders.0 attention or "
            "feed-forward weights (self_attn.pos_bias_u, feed_forward.w_1.weight); it is incomplete."
        )
    if bias_u[0] * bias_u[1] != hidden:
        raise ValueError(
            f"lyrics_encoder.encoders.0.self_attn.pos_bias_u has shape {bias_u} (heads x head_dim) but the "
            f"encoder is {hidden} wide; the checkpoint is inconsistent."
        )
    sizes.update(
        hidden_size=hidden,
        num_hidden_layers=_contiguous(shapes, r"lyrics_encoder\.encoders\.(\d+)\.", "lyrics encoder blocks"),
        num_attention_heads=bias_u[0],  # the per-head position biases carry the head count
        intermediate_size=fc1[0],
    )
    return sizes


def text_encoder_sizes(text: Mapping, shapes: Shapes) -> dict[str, int]:
    """T5 encoder sizes read off the weights; config.json's ``text_encoder`` values must agree."""
    found: dict[str, int] = {}
    where = "text_encoder."
    for key in ("text_encoder.shared.weight", "text_encoder.encoder.embed_tokens.weight"):
        embed = _shape(shapes, key, rank=2)
        if embed is not None:
            found["vocab_size"] = agree(text, "vocab_size", embed[0], f"{key} has shape {embed}", where)
            found["d_model"] = agree(text, "d_model", embed[1], f"{key} has shape {embed}", where)
            break
    blocks = _contiguous(shapes, r"text_encoder\.encoder\.block\.(\d+)\.", "T5 encoder blocks")
    if blocks:
        found["num_layers"] = agree(text, "num_layers", blocks, f"the weights hold {blocks} T5 encoder blocks", where)
    bias_key = _T5_BLOCK.format(i=0, j=0) + "SelfAttention.relative_attention_bias.weight"
    bias = _shape(shapes, bias_key, rank=2)
    if bias is not None:
        found["relative_attention_num_buckets"] = agree(
            text, "relative_attention_num_buckets", bias[0], f"{bias_key} has shape {bias}", where
        )
        found["num_heads"] = agree(text, "num_heads", bias[1], f"{bias_key} has shape {bias}", where)
        q_key = _T5_BLOCK.format(i=0, j=0) + "SelfAttention.q.weight"
        q = _shape(shapes, q_key, rank=2)
        if q is not None:
            if q[0] % bias[1]:
                raise ValueError(f"{q_key} has {q[0]} rows, not a multiple of the {bias[1]} heads of {bias_key}.")
            found["d_kv"] = agree(text, "d_kv", q[0] // bias[1], f"{q_key} has shape {q} for {bias[1]} heads", where)
    for name in ("wi_0", "wi"):
        key = _T5_BLOCK.format(i=0, j=1) + f"DenseReluDense.{name}.weight"
        wi = _shape(shapes, key, rank=2)
        if wi is not None:
            found["d_ff"] = agree(text, "d_ff", wi[0], f"{key} has shape {wi}", where)
            break
    return found


def projection_width(shapes: Shapes, key: str, output: int, output_evidence: str) -> int | None:
    """The input width of the ``nn.Linear`` ``key`` after checking its output is ``output`` (the decoder width)."""
    shape = _shape(shapes, key, rank=2)
    if shape is None:
        return None
    if shape[0] != output:
        raise ValueError(
            f"{key} has shape {shape}, i.e. it projects to {shape[0]}, but {output_evidence}; "
            "the checkpoint is inconsistent."
        )
    return shape[1]


# ------------------------------------------------------------------------------ voice path (MERT)
_MERT_ONLY_KEYS = ("feature_extractor_cqt", "deepnorm")  # MERT branches HuBERT does not have


def hubert_config_from_mert(mert_config) -> Any:
    """A ``HubertConfig`` from a MERT ``config.json`` (dict or config), keeping the fields HuBERT knows.

    MERT's own switches that change the network (``feature_extractor_cqt``, ``deepnorm``) must be off,
    as they are for MERT-v1-330M; anything else MERT-specific selects inactive code and is dropped.
    """
    from transformers import HubertConfig, PreTrainedConfig

    values = mert_config.to_dict() if isinstance(mert_config, PreTrainedConfig) else dict(mert_config)
    active = [key for key in _MERT_ONLY_KEYS if values.get(key)]
    if active:
        raise ValueError(
            f"The MERT config turns on {', '.join(active)}, which songgen-hf's voice encoder (a HuBERT "
            "network) does not implement; only MERT-v1-style checkpoints with them off are supported."
        )
    known = set(HubertConfig().to_dict())
    kwargs = {
        key: value
        for key, value in values.items()
        if key in known and key not in ("model_type", "architectures", "transformers_version")
    }
    return HubertConfig(**kwargs)


def _mert_shapes(config) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of a HuBERT built from ``config``, in the official ``mert_model.*`` names."""
    import torch
    from transformers import HubertModel

    with torch.device("meta"):
        model = HubertModel(config)
    names = {}
    for key, value in model.state_dict().items():
        key = key.replace(".parametrizations.weight.original0", ".weight_g")
        key = key.replace(".parametrizations.weight.original1", ".weight_v")
        names["mert_model." + key] = tuple(value.shape)
    return names


def mert_encoder_config(shapes: Shapes, mert_config=None):
    """The voice encoder's HuBERT config: from ``mert_config``, else MERT-v1-330M when the weights allow it.

    MERT's attention heads and conv strides appear in no shape, so embedded ``mert_model.*`` weights
    of any other size need the MERT ``config.json`` (``mert_folder``) or an explicit ``voice=`` config.
    """
    from songgen_hf.modeling.songgen.configuration_songgen import mert_v1_330m_config

    if mert_config is not None:
        return hubert_config_from_mert(mert_config)
    released = mert_v1_330m_config()
    embedded = {key: tuple(shape) for key, shape in shapes.items() if key.startswith("mert_model.")}
    if embedded:
        normalised = {
            re.sub(
                r"parametrizations\.weight\.original0$",
                "weight_g",
                re.sub(r"parametrizations\.weight\.original1$", "weight_v", key),
            ): shape
            for key, shape in embedded.items()
        }
        expected = _mert_shapes(released)
        differing = sorted(key for key in normalised if expected.get(key) != normalised[key])
        if differing:
            key = differing[0]
            raise ValueError(
                f"The embedded MERT is not MERT-v1-330M ({key} has shape {normalised[key]}, MERT-v1-330M "
                f"{'has no such key' if key not in expected else f'has {expected[key]}'}), and its attention heads "
                "and conv strides cannot be read from the weights. Pass mert_folder= a folder with its config.json "
                "(or voice= a SongGenVoiceEncoderConfig), or voice=False to drop reference-voice conditioning."
            )
        return released
    layers = _shape(shapes, "mert_layer_agg.weight")
    proj = _shape(shapes, "audio_mert_to_dec_proj.weight", rank=2)
    if (layers is not None and layers[1] != released.num_hidden_layers + 1) or (
        proj is not None and proj[1] != released.hidden_size
    ):
        raise ValueError(
            f"The voice path (mert_layer_agg.weight {layers}, audio_mert_to_dec_proj.weight {proj}) was not trained "
            "on MERT-v1-330M (25 layers, 1024 wide), and the checkpoint embeds no MERT; pass mert_folder= the MERT "
            "it was trained with (with its config.json), or voice=False."
        )
    return released


def check_voice_path(shapes: Shapes, encoder_config) -> None:
    """``mert_layer_agg`` must mix every hidden state of the encoder and the projection must read its width."""
    layers = _shape(shapes, "mert_layer_agg.weight", rank=3)
    if layers is not None and layers[1] != encoder_config.num_hidden_layers + 1:
        raise ValueError(
            f"mert_layer_agg.weight has shape {layers}: it mixes {layers[1]} hidden states, but the MERT "
            f"config has {encoder_config.num_hidden_layers} layers (+1 embedding output = "
            f"{encoder_config.num_hidden_layers + 1}); the MERT config does not belong to this checkpoint."
        )
    proj = _shape(shapes, "audio_mert_to_dec_proj.weight", rank=2)
    if proj is not None and proj[1] != encoder_config.hidden_size:
        raise ValueError(
            f"audio_mert_to_dec_proj.weight has shape {proj}: it reads {proj[1]}-wide MERT states, but the "
            f"MERT config is {encoder_config.hidden_size} wide; the MERT config does not belong to this "
            "checkpoint."
        )


__all__ = [
    "agree",
    "check_voice_path",
    "decoder_sizes",
    "hubert_config_from_mert",
    "lyrics_sizes",
    "mert_encoder_config",
    "projection_width",
    "tensor_shapes",
    "text_encoder_sizes",
]
