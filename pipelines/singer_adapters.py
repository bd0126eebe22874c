"""The told singer's share of a LoRA adapter: ``ADAPTER/singer_adapter``, a peft LoRA of the base's singer.

``songgen finetune-lora`` adapts the decoder *and* the told singer (``modeling/songgen_singer``) on the same songs,
so that the vocals of a style come through when the singer re-sings the vocal track; the singer's LoRA is saved
in the adapter folder's ``singer_adapter/`` and named in its ``songgen_adapter.json`` (``"singer_adapter"``).
Wherever the decoder's adapter goes, the singer's goes with it:

* ``adapters={...}`` / ``adapter=`` of the pipeline (and ``songgen generate --adapter``): each song's singer is the
  base singer with the chosen adapter's update, or a blend's ``sum(w_i * delta_i)`` (the update is linear in
  the weights, as the decoder's ``cat`` blend is); ``adapter=None`` sings with the base singer itself, untouched,
  so a song made without an adapter is the base's bit for bit;
* ``model=ADAPTER`` (merged) and ``songgen export ADAPTER``: the singer merged with its update.

Beside its LoRA the singer adapter keeps what its training songs' scores sang (``learned_voice.json``: per gender
the notes' median and range and the voices, :class:`~songgen_hf.modeling.songgen.vocal_score_songgen.LearnedVoice`),
and each song sung with the adapter is planned in that register and voice (a blend weighs them as it weighs the
updates; ``adapter=None``: the corpus's, bit for bit): the LoRA learnt to sing its songs' notes, so it is told notes
of that kind.  The file is read through the package's safe reader and checked with the adapter.

The singer's LoRA is folded into a copy of the singer's weights rather than run as LoRA layers: the singer's
encoder layers take PyTorch's fused inference path, which reads the linear weights directly and would skip a
LoRA layer's update.  The singer is small (a few MB), so each style keeps its own copy.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from songgen_hf.pipelines.adapter_folders import BASE_RECORD_FILE, check_adapter_files, read_adapter_config
from songgen_hf.pipelines.loading import ADAPTER_CONFIG_FILE

SINGER_ADAPTER_FOLDER = "singer_adapter"
SINGER_ADAPTER_KEY = "singer_adapter"  # the entry of songgen_adapter.json that names the folder
# The singer's linears a LoRA adapts: each encoder layer's feed-forward pair and the per-codebook heads.  Attention
# is left out: nn.MultiheadAttention reads its projection weights directly, past any LoRA layer.
SINGER_TARGETS = r"body\.layers\.\d+\.linear[12]|heads\.\d+"
# With ``singer_note_embeddings`` the LoRA also adapts the score's note and voice tables (rows of ``units``): notes
# the base singer was never told (a bass choir's, below the corpus's register) then get embeddings of their own.
SINGER_SCORE_TABLES = r"units\.\d+"
MAX_KEPT = 8  # singers kept built for styles at once (rebuilding one is cheap)
LEARNED_VOICE_FILE = "learned_voice.json"  # in the singer adapter's folder: what its songs' scores sang
LEARNED_VOICE_FORMAT = 1


class SingerAdapterError(ValueError):
    """A singer adapter that cannot be used; the message names it and the fix."""


def singer_adapter_folder(adapter_dir: str | os.PathLike) -> Path | None:
    """The singer's LoRA inside the adapter folder ``adapter_dir``, or None when it has none.  The adapter's
    ``songgen_adapter.json`` names it; a folder it names that is missing is refused (a copy left it behind)."""
    from songgen_hf.pipelines.adapter_folders import _read_json

    adapter_dir = Path(adapter_dir)
    record_path = adapter_dir / BASE_RECORD_FILE
    if not record_path.is_file():
        return None
    named = _read_json(record_path).get(SINGER_ADAPTER_KEY)
    if named is None:
        return None
    if named != SINGER_ADAPTER_FOLDER:
        raise SingerAdapterError(
            f"{record_path} names the singer adapter {named!r}; a songgen adapter keeps it in "
            f"{SINGER_ADAPTER_FOLDER!r}. Save the adapter again with songgen finetune-lora."
        )
    folder = adapter_dir / SINGER_ADAPTER_FOLDER
    if not (folder / ADAPTER_CONFIG_FILE).exists():
        raise SingerAdapterError(
            f"{adapter_dir} names a singer adapter but {folder} holds none ({ADAPTER_CONFIG_FILE} is missing): the "
            "copy is incomplete; copy the whole adapter folder again."
        )
    return folder


def check_singer_adapter(folder: str | os.PathLike) -> dict:
    """A singer adapter's files, before any weight loads: a peft LoRA (config through the safe reader, safetensors
    weights whole, sizes within limits and borne out by the weights, no pickle that names code) of the singer's
    linears only.  Returns its config; a :class:`SingerAdapterError` naming the folder and the fix otherwise."""
    import re

    folder = Path(folder)
    try:
        config = read_adapter_config(folder)
        if config.get("peft_type") != "LORA":
            raise ValueError(f"it holds a {config.get('peft_type')!r} adapter, not a LoRA")
        if not (folder / "adapter_model.safetensors").is_file():
            raise ValueError("it has no adapter_model.safetensors (the copy is incomplete)")
        check_adapter_files(folder)
    except ValueError as error:
        raise SingerAdapterError(f"The singer adapter {folder}: {error}") from None
    targets = config.get("target_modules")
    allowed = f"{SINGER_TARGETS}|{SINGER_SCORE_TABLES}"
    if not isinstance(targets, str) or any(not re.fullmatch(allowed, name) for name in _example_targets(targets)):
        raise SingerAdapterError(
            f"The singer adapter {folder} targets {targets!r}; a singer adapter adapts the singer's feed-forward "
            "layers, heads and score tables only. Train it again with songgen finetune-lora."
        )
    if config.get("modules_to_save"):
        raise SingerAdapterError(f"The singer adapter {folder} trains modules in full; a singer adapter is LoRA only.")
    read_learned_voice(folder)  # checked with the weights' files, before any weight loads
    return config


def write_learned_voice(folder: str | os.PathLike, learned) -> Path:
    """``learned`` (a :class:`~songgen_hf.modeling.songgen.vocal_score_songgen.LearnedVoice`) into the singer adapter
    folder ``folder``, atomically."""
    import json

    from songgen_hf.utils.atomic import write_text_atomic

    path = Path(folder) / LEARNED_VOICE_FILE
    record = {"format": LEARNED_VOICE_FORMAT, "registers": learned.to_dict()}
    write_text_atomic(path, json.dumps(record, indent=1) + "\n")
    return path


def read_learned_voice(folder: str | os.PathLike):
    """What the singer adapter in ``folder`` learnt of its songs' voice (a ``LearnedVoice``), or None when it
    records none (an adapter trained before the record, or on songs whose notes are unknown).  Read through the
    package's safe reader and checked: a damaged record is a :class:`SingerAdapterError` naming it and the fix."""
    from songgen_hf.modeling.songgen.vocal_score_songgen import LearnedVoice
    from songgen_hf.pipelines.adapter_folders import _read_json

    path = Path(folder) / LEARNED_VOICE_FILE
    if not os.path.lexists(path):
        return None
    try:
        record = _read_json(path)  # the adapter folder's reader: safe, and read once while the file is unchanged
        if record.get("format") != LEARNED_VOICE_FORMAT or set(record) != {"format", "registers"}:
            raise ValueError(
                f"it must hold {{'format': {LEARNED_VOICE_FORMAT}, 'registers': {{...}}}}, got the keys "
                f"{sorted(record)}"
            )
        return LearnedVoice.from_dict(record["registers"])
    except ValueError as error:
        raise SingerAdapterError(
            f"The singer adapter's {path} cannot be used: {str(error).rstrip('.')}. Train the adapter again with "
            f"songgen finetune-lora, or delete {LEARNED_VOICE_FILE} to sing it in the corpus's registers."
        ) from None


def _example_targets(pattern: str) -> list[str]:
    """Module names of a songgen singer that ``pattern`` selects, for checking that it selects no others: the
    names of a singer of generous size, listed without building one."""
    import re

    regex = re.compile(pattern)
    names = [f"body.layers.{i}.{part}" for i in range(64) for part in ("linear1", "linear2", "self_attn.out_proj")]
    names += [f"heads.{i}" for i in range(64)] + [f"codes.{i}" for i in range(64)] + ["context", "level", "norm"]
    names += [f"units.{i}" for i in range(64)]
    return [name for name in names if regex.fullmatch(name)]


def singer_delta(singer, folder: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The weight update of the singer LoRA in ``folder`` on ``singer`` (``merged - base`` for every weight it
    changes), in float32 on the singer's device.  The singer is not changed."""
    import warnings

    from peft import PeftModel

    from songgen_hf.pipelines.adapter_folders import check_adapter_loaded

    check_singer_adapter(folder)
    work = copy.deepcopy(singer).float()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            adapted = PeftModel.from_pretrained(work, os.fspath(folder))
    except (RuntimeError, ValueError, KeyError) as error:
        reason = str(error).strip().splitlines()[0][:300]
        raise SingerAdapterError(
            f"The singer adapter {folder} does not fit this singer ({reason}); it was trained on another base's "
            "singer: use the adapter with the base it was trained from."
        ) from None
    try:
        check_adapter_loaded(adapted, folder)
    except ValueError as error:
        raise SingerAdapterError(str(error)) from None
    merged = adapted.merge_and_unload().state_dict()
    base = singer.state_dict()
    return {
        name: (merged[name].float() - base[name].float())
        for name in base
        if name in merged and base[name].is_floating_point() and not torch.equal(merged[name], base[name].float())
    }


def singer_with(singer, deltas: list[tuple[Mapping[str, torch.Tensor], float]]):
    """A copy of ``singer`` whose weights are the base's plus ``sum(weight * delta)``."""
    built = copy.deepcopy(singer)
    state = built.state_dict()
    with torch.no_grad():
        for name in {name for delta, _ in deltas for name in delta}:
            total = state[name].float()
            for delta, weight in deltas:
                if name in delta and weight:
                    total = total + weight * delta[name].to(total.device)
            state[name].copy_(total.to(state[name].dtype))
    return built.eval()


def merged_voice(adapter_dir: str | os.PathLike):
    """The voice style of songs sung by a pipeline whose model is ``adapter_dir`` merged: its singer adapter's learnt
    voice at weight 1, or None when it has none."""
    folder = singer_adapter_folder(adapter_dir)
    learned = None if folder is None else read_learned_voice(folder)
    return None if learned is None else ((learned, 1.0),)


def merged_singer(singer, adapter_dir: str | os.PathLike):
    """``singer`` with the singer adapter of ``adapter_dir`` folded in (a copy), or ``singer`` itself when the
    adapter has none."""
    folder = singer_adapter_folder(adapter_dir)
    if folder is None:
        return singer
    return singer_with(singer, [(singer_delta(singer, folder), 1.0)])


class SingerStyles:
    """The told singer of a pipeline whose decoder carries several adapters: the base singer, and for each style
    (an adapter's name or a blend) the singer with that style's update, built on first use and kept."""

    def __init__(self, singer, adapters: Mapping[str, str]):
        self.base = singer
        self.deltas: dict[str, dict[str, torch.Tensor]] = {}
        self.voices: dict[str, Any] = {}  # each adapter's learnt voice (LearnedVoice), where its singer records one
        for name, folder in adapters.items():
            found = singer_adapter_folder(folder)
            if found is not None:
                self.deltas[name] = singer_delta(singer, found)
                learned = read_learned_voice(found)
                if learned is not None:
                    self.voices[name] = learned
        self.built: dict[tuple, Any] = {}

    def __bool__(self) -> bool:
        return bool(self.deltas)

    @staticmethod
    def _chosen(choice: str | dict[str, float] | None, known) -> tuple[tuple[str, float], ...]:
        if choice is None:
            return ()
        weights = {choice: 1.0} if isinstance(choice, str) else dict(choice)
        return tuple(sorted((name, float(w)) for name, w in weights.items() if name in known and w != 0))

    def voice_for(self, choice: str | dict[str, float] | None):
        """The voice style of a song's style (``adapter=``, already checked): its adapters' learnt voices with their
        weights (``vocal_score_songgen.song_voice``), or None (the corpus's registers and voices) for None or for a
        style whose adapters learnt none."""
        chosen = self._chosen(choice, self.voices)
        return tuple((self.voices[name], weight) for name, weight in chosen) or None

    def singer_for(self, choice: str | dict[str, float] | None):
        """The singer of a song's style (``adapter=``, already checked): the base singer itself for None or for a
        style whose adapters carry no singer update."""
        chosen = self._chosen(choice, self.deltas)
        if not chosen:
            return self.base
        if chosen not in self.built:
            self.built[chosen] = singer_with(self.base, [(self.deltas[name], weight) for name, weight in chosen])
            while len(self.built) > MAX_KEPT:
                self.built.pop(next(iter(self.built)))
        return self.built[chosen]


__all__ = [
    "LEARNED_VOICE_FILE",
    "SINGER_ADAPTER_FOLDER",
    "SINGER_ADAPTER_KEY",
    "SINGER_SCORE_TABLES",
    "SINGER_TARGETS",
    "SingerAdapterError",
    "SingerStyles",
    "check_singer_adapter",
    "merged_singer",
    "merged_voice",
    "read_learned_voice",
    "singer_adapter_folder",
    "singer_delta",
    "singer_with",
    "write_learned_voice",
]
