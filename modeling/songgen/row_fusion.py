"""One matmul (or one lookup) for all of SongGen's token rows at inference time: :class:`FusedRowWeights`, the
stacked copies of the per-row embedding tables and heads, and the memo keys (:func:`tensor_bytes`,
:func:`weight_signature`) that tell when a copy or a table made from tensors is stale."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from songgen_hf.modeling.songgen.quantization import Bf16Linear, Int8Linear, bf16_matmul, int8_matmul

# SongGen keeps one embedding table and one LM head per token row (8 for mixed/mixed pro, 16
# for the parallel patterns), which is the checkpoint layout and what training, PEFT and
# conversion see.  A decoding step on CPU is a few milliseconds of mostly small calls, so eight
# ``(batch, H) x (H, V)`` head matmuls cost noticeably more than one ``(batch, H) x (H, 8V)``,
# and eight lookups-and-adds more than one lookup into the stacked tables and a sum.
#
# :class:`FusedRowWeights` keeps those stacked copies.  A copy is rebuilt whenever any source
# tensor is replaced (``.to()``, ``load_state_dict`` with ``assign``) or modified in place
# (optimizer steps, ``load_state_dict``), which the source's storage pointer and autograd
# version counter reveal; the fast paths only run without autograd, so training never sees them.
# Inside :func:`frozen_row_weights` (a ``generate()`` call) those checks run once per copy instead
# of at every decoding step: reading a hundred tensors' pointers and versions and the modules'
# kinds each step cost about 0.3 ms of a 10 ms CPU step, and no decoding step changes a weight.


def tensor_bytes(value: torch.Tensor) -> bytes:
    """A CPU tensor's values as bytes, to key a memo by them (any dtype, bfloat16 included).  A slice such as
    ``tempo_bpm[:, 0]`` keeps its parent's strides, which a byte view cannot follow: it is read from a dense copy."""
    flat = value.detach().reshape(-1)
    if flat.stride(-1) != 1:  # read every decoding step: copy only what a byte view cannot read in place
        flat = flat.clone(memory_format=torch.contiguous_format)
    return flat.view(torch.uint8).numpy().tobytes()


def weight_signature(tensors: Sequence[torch.Tensor]) -> tuple:
    """What identifies tensors' current values without reading them: a copy made from them is stale once this
    changes."""
    # Inference tensors have no version counter; they cannot be modified outside inference mode.
    return tuple((t.data_ptr(), -1 if t.is_inference() else t._version, t.dtype, t.device, t.shape) for t in tensors)


class FusedRowWeights:
    """Stacked copies of per-row weights, rebuilt only when a source changes."""

    def __init__(self):
        self._entries: dict[str, tuple[tuple, object]] = {}
        self._frozen = 0  # how many generate() calls (threads of a Space, say) are inside a freeze
        self._freeze_lock = threading.Lock()
        self._checked: set[str] = set()  # keys whose sources were checked in the current freeze
        self._fusable: dict[tuple, bool] = {}  # can_fuse answers remembered in the current freeze

    def __getstate__(self) -> dict:
        return {}  # a copied or pickled model starts with no copies and no freeze; they are rebuilt on use

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def get(self, key: str, tensors: Sequence[torch.Tensor], build: Callable[[list[torch.Tensor]], object]):
        if self._frozen and key in self._checked:
            return self._entries[key][1]
        signature = weight_signature(tensors)
        entry = self._entries.get(key)
        if entry is None or entry[0] != signature:
            with torch.no_grad():
                entry = (signature, build([t.detach() for t in tensors]))
            self._entries[key] = entry
        if self._frozen:
            self._checked.add(key)
        return entry[1]

    def fusable(self, modules: nn.ModuleList, kind: type) -> bool:
        """:func:`can_fuse`, with the modules' part of the answer remembered while frozen."""
        if not self._frozen:
            return can_fuse(modules, kind)
        if torch.is_grad_enabled() or torch.compiler.is_compiling():
            return False
        key = (id(modules), kind)
        answer = self._fusable.get(key)
        if answer is None:
            answer = self._fusable[key] = can_fuse(modules, kind)
        return answer

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """While inside, the sources are trusted not to change: each copy is checked once, on first use."""
        with self._freeze_lock:
            self._frozen += 1
        try:
            yield
        finally:
            with self._freeze_lock:
                self._frozen -= 1
                if not self._frozen:
                    self._checked.clear()
                    self._fusable.clear()

    def clear(self) -> None:
        self._entries.clear()
        self._checked.clear()
        self._fusable.clear()


@contextlib.contextmanager
def frozen_row_weights(model: nn.Module) -> Iterator[None]:
    """Freeze every :class:`FusedRowWeights` under ``model`` (see :meth:`FusedRowWeights.frozen`) for one
    ``generate()`` call: its decoding steps do not change weights, hooks or adapters."""
    with contextlib.ExitStack() as stack:
        for module in model.modules():
            for value in module.__dict__.values():
                if isinstance(value, FusedRowWeights):
                    stack.enter_context(value.frozen())
        yield


_PLAIN = (torch.Tensor, nn.Parameter)


def can_fuse(modules: nn.ModuleList, kind: type) -> bool:
    """Plain, bias-free modules of one kind only: adapters, quantised or hooked layers keep their own path.

    Never while ``torch.compile`` traces (transformers compiles the decoding step on CUDA with a
    fullgraph): the copy bookkeeping is Python state the compiler cannot follow, and the
    compiled graph fuses the per-row calls by itself.
    """
    if torch.is_grad_enabled() or torch.compiler.is_compiling():
        return False
    # Runs every decoding step for every row (48-64 modules): the module dicts are read directly, since
    # ``parameters()`` / ``buffers()`` generators cost more than the fused matmul saves.
    for m in modules:
        if type(m) is not kind or m._forward_hooks or m._forward_pre_hooks:
            return False
        if m._parameters.get("bias") is not None or m.__dict__.get("max_norm") is not None:
            return False
        # a quantised weight (torchao's int8 tensor subclass) has its own kernel: stacking would dequantise it
        for tensors in (m._parameters, m._buffers):
            for t in tensors.values():
                if t is not None and type(t) not in _PLAIN:
                    return False
    return True


def fused_logits(cache: FusedRowWeights, key: str, hidden_states: torch.Tensor, heads: nn.ModuleList) -> torch.Tensor:
    """``(B, L, H)`` -> ``(B, rows, L, V)``, what stacking each head's output gives (float32 heads: to
    rounding; :class:`Int8Linear` and :class:`Bf16Linear` heads: exactly, one call for all rows)."""
    batch, length, hidden = hidden_states.shape
    if type(heads[0]) is Bf16Linear:
        weight = cache.get(key, [h.weight_bf16 for h in heads], lambda ws: torch.cat(ws, dim=0))  # (rows * V, H)
        logits = bf16_matmul(hidden_states.reshape(-1, hidden), weight)  # (B * L, rows * V)
        return logits.reshape(batch, length, len(heads), -1).transpose(1, 2)
    if type(heads[0]) is Int8Linear:
        rows = len(heads)
        values, scale = cache.get(  # one signature check for both stacks
            key,
            [h.weight_int8 for h in heads] + [h.weight_scale for h in heads],
            lambda ts: (torch.cat(ts[:rows], dim=0), torch.cat(ts[rows:], dim=0)),
        )
        logits = int8_matmul(hidden_states.reshape(-1, hidden), values, scale)  # (B * L, rows * V)
        return logits.reshape(batch, length, len(heads), -1).transpose(1, 2)
    weight = cache.get(key, [h.weight for h in heads], lambda ws: torch.cat(ws, dim=0))  # (rows * V, H)
    # (rows * V, H) @ (H, B * L): the weight streamed row by row, as it is stored.  A decoding step is a
    # matrix-vector product bound by reading the weight; on a 2-core CPU this order reads the 32 heads of a
    # dual-track model (36 MB in float32) in 3.3 ms where (B * L, H) @ (H, rows * V) took 4.2 ms.
    logits = (weight @ hidden_states.reshape(-1, hidden).to(weight.dtype).t()).t()  # (B * L, rows * V)
    return logits.reshape(batch, length, len(heads), -1).transpose(1, 2)


def fused_embedding_sum(
    cache: FusedRowWeights, key: str, input_ids: torch.Tensor, tables: nn.ModuleList
) -> torch.Tensor:
    """``(B, rows, L)`` ids -> ``(B, L, H)``: the sum over rows of each row's embedding."""
    stacked = cache.get(key, [t.weight for t in tables], lambda ws: torch.cat(ws, dim=0))
    vocab = tables[0].num_embeddings
    offsets = torch.arange(len(tables), device=input_ids.device).view(1, -1, 1) * vocab
    return nn.functional.embedding(input_ids + offsets, stacked).sum(dim=1)


__all__ = [
    "can_fuse",
    "frozen_row_weights",
    "fused_embedding_sum",
    "fused_logits",
    "FusedRowWeights",
    "tensor_bytes",
    "weight_signature",
]
