"""The one table of tensor names, official SongGen layout <-> ``SongGenForConditionalGeneration``.

Each rule is a pair of templates with named placeholders, ``("decoder.model.decoder.{rest}",
"decoder.model.{rest}")``; a key is renamed by matching it against one side and filling the
other, so the converter (official -> package) and the exporter (package -> official) read the
same rules and cannot drift apart.  The lyrics-encoder rules are not restated here: they are
derived from :func:`official_lyrics_encoder_key_map` (the modeling code's own map), whose
regexes are turned into templates mechanically.

What the table does not cover is handled by the callers, on purpose:

* T5's tied input embedding (``text_encoder.shared.weight`` == ``...encoder.embed_tokens.weight``),
* the decoder's sinusoid table ``decoder.model.decoder.embed_positions.weights`` (recomputed),
* ``decoder.vocal_lm_heads.*`` of a pattern without vocal heads (dropped),
* the X-Codec (``audio_encoder.model.*``), whose layout conversion is not a rename.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from songgen_hf.modeling.songgen.modeling_songgen import official_lyrics_encoder_key_map

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


__all__ = ["OFFICIAL_KEY_RULES", "KeyRule", "official_to_package_key", "package_to_official_key"]
