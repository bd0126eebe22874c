"""The one table of tensor names, official SongGen layout <-> ``SongGenForConditionalGeneration``.

Each rule is a pair of templates with named placeholders, ``("decoder.model.decoder.{rest}",
"decoder.model.{rest}")``; a key is renamed by matching it against one side and filling the
other, so the converter (official -> package) and the exporter (package -> official) read the
same rules and cannot drift apart.  The lyrics-encoder rules are derived from
:func:`official_lyrics_encoder_key_map`, whose regexes are turned into templates mechanically.

The encoders' own maps and state-dict converters are here too: the lyrics encoder's
(:func:`convert_official_lyrics_encoder_state_dict`) and the voice encoder's
(:func:`convert_official_voice_state_dict`, :func:`convert_mert_state_dict` for a stand-alone MERT).

What the table does not cover is handled by the callers, on purpose:

* T5's tied input embedding (``text_encoder.shared.weight`` == ``...encoder.embed_tokens.weight``),
* the decoder's sinusoid table ``decoder.model.decoder.embed_positions.weights`` (recomputed),
* ``decoder.vocal_lm_heads.*`` of a pattern without vocal heads (dropped),
* the X-Codec (``audio_encoder.model.*``), whose layout conversion is not a rename.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

# ----------------------------------------------------------------------------------------------------
# The lyrics encoder's official names (``SongGenLyricsEncoder`` in ``modeling/songgen/conditioning_songgen.py``).

_OFFICIAL_LAYER = r"^lyrics_encoder\.encoders\.(\d+)\."


def official_lyrics_encoder_key_map() -> list[tuple[str, str]]:
    """``(official regex, replacement)`` pairs, official SongGen names -> [`SongGenLyricsEncoder`] names.

    Replacements are relative to the encoder module (prepend the parent's attribute name,
    e.g. ``"lyrics_encoder."``).  Apply with ``re.sub``; at most one pattern matches a key.
    ``lyrics_to_dec_proj.*`` is not listed: it belongs to the parent model.
    """
    return [
        (r"^embed_prompts\.weight$", "embed_tokens.weight"),
        (r"^lyrics_encoder\.embed\.out\.0\.(weight|bias)$", r"input_proj.\1"),
        (r"^lyrics_encoder\.embed\.out\.1\.(weight|bias)$", r"input_layer_norm.\1"),
        (_OFFICIAL_LAYER + r"self_attn\.linear_q\.(weight|bias)$", r"layers.\1.self_attn.q_proj.\2"),
        (_OFFICIAL_LAYER + r"self_attn\.linear_k\.(weight|bias)$", r"layers.\1.self_attn.k_proj.\2"),
        (_OFFICIAL_LAYER + r"self_attn\.linear_v\.(weight|bias)$", r"layers.\1.self_attn.v_proj.\2"),
        (_OFFICIAL_LAYER + r"self_attn\.linear_out\.(weight|bias)$", r"layers.\1.self_attn.out_proj.\2"),
        (_OFFICIAL_LAYER + r"self_attn\.linear_pos\.weight$", r"layers.\1.self_attn.pos_proj.weight"),
        (_OFFICIAL_LAYER + r"self_attn\.(pos_bias_u|pos_bias_v)$", r"layers.\1.self_attn.\2"),
        (_OFFICIAL_LAYER + r"feed_forward\.w_1\.(weight|bias)$", r"layers.\1.feed_forward.fc1.\2"),
        (_OFFICIAL_LAYER + r"feed_forward\.w_2\.(weight|bias)$", r"layers.\1.feed_forward.fc2.\2"),
        (_OFFICIAL_LAYER + r"norm_mha\.(weight|bias)$", r"layers.\1.attn_layer_norm.\2"),
        (_OFFICIAL_LAYER + r"norm_ff\.(weight|bias)$", r"layers.\1.ffn_layer_norm.\2"),
        (r"^lyrics_encoder\.after_norm\.(weight|bias)$", r"final_layer_norm.\1"),
    ]


def convert_official_lyrics_encoder_state_dict(
    state_dict: dict[str, torch.Tensor],
    prefix: str = "",
    include_encoder: bool = True,
) -> dict[str, torch.Tensor]:
    """Pick the lyrics-path tensors out of an official SongGen state dict and rename them.

    Args:
        state_dict: official tensors (the whole model's or just the lyrics path's).  Keys
            that are not ``embed_prompts.weight`` or under ``lyrics_encoder.`` are ignored.
        prefix: prepended to every new name, e.g. ``"lyrics_encoder."`` for the parent.
        include_encoder: ``False`` keeps only the embedding (for ``use_encoder=False``).

    Raises:
        KeyError: a key under ``lyrics_encoder.`` has no mapping (e.g. a checkpoint trained
            with the convolution module or macaron FFN, which this port does not build).
    """
    patterns = [(re.compile(pattern), replacement) for pattern, replacement in official_lyrics_encoder_key_map()]
    converted = {}
    for name, tensor in state_dict.items():
        if name != "embed_prompts.weight" and not name.startswith("lyrics_encoder."):
            continue
        if name.startswith("lyrics_encoder.") and not include_encoder:
            continue
        for pattern, replacement in patterns:
            new_name, matched = pattern.subn(replacement, name)
            if matched:
                converted[prefix + new_name] = tensor
                break
        else:
            raise KeyError(f"no mapping for official lyrics-encoder key {name!r}")
    return converted


# ----------------------------------------------------------------------------------------------------
# The voice encoder's official names (``SongGenVoiceEncoder`` in ``modeling/songgen/conditioning_songgen.py``).
#
# Official -> package parameter names (``official_key_to_voice_encoder_key``):
#
# ==============================  =====================
# SongGen checkpoint              ``SongGenVoiceEncoder``
# ==============================  =====================
# ``mert_layer_agg.*``            ``layer_aggregation.*``
# ``audio_mert_to_dec_proj.*``    ``projection.*``
# ``mert_model.<hubert key>``     ``audio_encoder.<hubert key>``
# ==============================  =====================
#
# ``MERTModel`` keys equal ``HubertModel`` keys (read in ``modeling_MERT.py``), except that a
# checkpoint written by torch < 2.1 stores the positional conv's weight norm as
# ``weight_g``/``weight_v``; those become ``parametrizations.weight.original0``/``original1``.
# Whether SongGen's safetensors really embed ``mert_model.*`` is unverified (spec §9).  If they
# do not, a local copy of ``m-a-p/MERT-v1-330M`` loads straight into the encoder with
# ``HubertModel.from_pretrained(mert_dir, config=mert_v1_330m_config())`` (checked offline on a
# MERT-layout folder: ``model_type: "mert_model"``, ``pytorch_model.bin`` with ``weight_g``/``weight_v``;
# no missing or unexpected keys), or via ``convert_mert_state_dict`` for a raw state dict.

OFFICIAL_PREFIX_MAP: dict[str, str] = {
    "mert_layer_agg.": "layer_aggregation.",
    "audio_mert_to_dec_proj.": "projection.",
    "mert_model.": "audio_encoder.",
}

# Legacy ``torch.nn.utils.weight_norm`` names -> the parametrization names current torch uses.
_WEIGHT_NORM_RENAMES: dict[str, str] = {
    ".weight_g": ".parametrizations.weight.original0",
    ".weight_v": ".parametrizations.weight.original1",
}


def official_key_to_voice_encoder_key(key: str) -> str | None:
    """Map one SongGen checkpoint key to a ``SongGenVoiceEncoder`` key (``None`` if not ours)."""
    for source, target in OFFICIAL_PREFIX_MAP.items():
        if key.startswith(source):
            mapped = target + key[len(source) :]
            if target == "audio_encoder.":
                for old, new in _WEIGHT_NORM_RENAMES.items():
                    if mapped.endswith(old):
                        mapped = mapped[: -len(old)] + new
            return mapped
    return None


def convert_official_voice_state_dict(
    state_dict: Mapping[str, torch.Tensor], target_prefix: str = "", source_prefix: str = ""
) -> dict[str, torch.Tensor]:
    """Pick the voice-path tensors out of a SongGen checkpoint and rename them.

    Args:
        state_dict: the full official state dict (other keys are ignored).
        source_prefix: prefix in front of the official names, if any (e.g. ``"model."``).
        target_prefix: prefix of the voice encoder inside the caller's model
            (e.g. ``"voice_encoder."``).

    Returns:
        ``{target_prefix + our_key: tensor}``.  Raises ``ValueError`` when two official keys
        collide (e.g. both ``weight_g`` and ``parametrizations...original0``).
    """
    converted: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        if not key.startswith(source_prefix):
            continue
        mapped = official_key_to_voice_encoder_key(key[len(source_prefix) :])
        if mapped is None:
            continue
        mapped = target_prefix + mapped
        if mapped in converted:
            raise ValueError(f"Two checkpoint keys map to {mapped!r}; the checkpoint mixes weight-norm layouts.")
        converted[mapped] = tensor
    return converted


def convert_mert_state_dict(state_dict: Mapping[str, torch.Tensor], target_prefix: str = "") -> dict[str, torch.Tensor]:
    """Rename a stand-alone ``m-a-p/MERT-v1-330M`` state dict (``MERTModel`` keys) for ``audio_encoder``."""
    prefixed = {"mert_model." + key: value for key, value in state_dict.items()}
    return convert_official_voice_state_dict(prefixed, target_prefix=target_prefix)


# placeholder name -> the regex it stands for (a rule may also define its own, see _from_regex)
_PLACEHOLDERS = {"rest": r".+", "module": r".+", "i": r"\d+", "param": r"weight|bias"}


@dataclass(frozen=True)
class KeyRule:
    """``official`` <-> ``package`` templates; ``groups`` gives the regex of each ``{placeholder}``."""

    official: str
    package: str
    groups: dict[str, str] = field(default_factory=dict)

    def _regex(self, template: str) -> re.Pattern:
        parts, position = [], 0
        for match in re.finditer(r"\{(\w+)\}", template):
            name = match.group(1)
            parts.append(re.escape(template[position : match.start()]))
            parts.append(f"(?P<{name}>{self.groups.get(name, _PLACEHOLDERS.get(name))})")
            position = match.end()
        parts.append(re.escape(template[position:]))
        return re.compile("".join(parts) + r"\Z")

    def rename(self, key: str, to_package: bool) -> str | None:
        source, target = (self.official, self.package) if to_package else (self.package, self.official)
        match = self._regex(source).match(key)
        return None if match is None else target.format(**match.groupdict())


def _from_regex(pattern: str, replacement: str, package_prefix: str) -> KeyRule:
    """A :class:`KeyRule` from an ``(official regex, replacement)`` pair of the form the modeling maps use.

    Supported: ``^``/``$`` anchors, escaped dots, literal text and capture groups (``\\1`` ... in the
    replacement).  Anything else is refused at import, so a change to a modeling map that this cannot
    invert fails every test at once instead of exporting wrong names.
    """
    body = pattern.removeprefix("^").removesuffix("$")
    template, groups, index, position = [], {}, 0, 0
    while position < len(body):
        char = body[position]
        if char == "\\" and body[position + 1 : position + 2] == ".":
            template.append(".")
            position += 2
        elif char == "(":
            end = body.index(")", position)
            index += 1
            groups[f"g{index}"] = body[position + 1 : end]
            template.append(f"{{g{index}}}")
            position = end + 1
        elif char.isalnum() or char == "_":
            template.append(char)
            position += 1
        else:
            raise ValueError(f"Cannot turn the key regex {pattern!r} into a two-way rule (at {body[position:]!r}).")
    package = re.sub(r"\\(\d+)", lambda m: f"{{g{m.group(1)}}}", replacement)
    return KeyRule("".join(template), package_prefix + package, groups)


def _rules() -> tuple[KeyRule, ...]:
    same = [
        KeyRule(f"{name}.{{rest}}", f"{name}.{{rest}}")
        for name in (
            "text_encoder.encoder",
            "enc_to_dec_proj",
            "lyrics_to_dec_proj",
            "decoder.lm_heads",
            "decoder.vocal_lm_heads",
        )
    ]
    lyrics = [
        _from_regex(pattern, replacement, "lyrics_encoder.")
        for pattern, replacement in official_lyrics_encoder_key_map()
    ]
    voice = [
        KeyRule("mert_layer_agg.{rest}", "voice_encoder.layer_aggregation.{rest}"),
        KeyRule("audio_mert_to_dec_proj.{rest}", "voice_encoder.projection.{rest}"),
        # MERT keeps torch's legacy weight-norm names (weight_g / weight_v) in its checkpoints
        KeyRule(
            "mert_model.{module}.weight_g", "voice_encoder.audio_encoder.{module}.parametrizations.weight.original0"
        ),
        KeyRule(
            "mert_model.{module}.weight_v", "voice_encoder.audio_encoder.{module}.parametrizations.weight.original1"
        ),
        KeyRule("mert_model.{rest}", "voice_encoder.audio_encoder.{rest}"),
    ]
    decoder = [KeyRule("decoder.model.decoder.{rest}", "decoder.model.{rest}")]  # Parler's triple nesting
    return (KeyRule("text_encoder.shared.weight", "text_encoder.shared.weight"), *same, *lyrics, *voice, *decoder)


OFFICIAL_KEY_RULES: tuple[KeyRule, ...] = _rules()


def _rename(key: str, to_package: bool) -> str | None:
    for rule in OFFICIAL_KEY_RULES:
        renamed = rule.rename(key, to_package=to_package)
        if renamed is not None:
            return renamed
    return None


def official_to_package_key(key: str) -> str | None:
    """The package name of an official tensor name (first matching rule), or None when no rule covers it."""
    return _rename(key, to_package=True)


def package_to_official_key(key: str) -> str | None:
    """The official name of a package tensor name, from the same rules read backwards; None when none covers it."""
    return _rename(key, to_package=False)


__all__ = [
    "OFFICIAL_KEY_RULES",
    "OFFICIAL_PREFIX_MAP",
    "KeyRule",
    "convert_mert_state_dict",
    "convert_official_lyrics_encoder_state_dict",
    "convert_official_voice_state_dict",
    "official_key_to_voice_encoder_key",
    "official_lyrics_encoder_key_map",
    "official_to_package_key",
    "package_to_official_key",
]
