"""The decoding step traces under torch.compile without a graph break (static and preallocated caches).

``torch._dynamo.explain`` traces the step with a recording backend (no inductor, a few seconds on
CPU) and counts the breaks.  The step is what transformers' loop calls after the first one: one
token per row, the cache of the earlier steps, the memory and its padding mask, musical controls."""

import pytest
import torch
from transformers.cache_utils import DynamicCache, EncoderDecoderCache, StaticCache
from transformers.modeling_outputs import BaseModelOutput

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.preallocated_cache import preallocated_encoder_decoder_cache
from songgen_hf.testing import tiny_songgen_config


def _cache(kind: str, config, capacity: int):
    if kind == "preallocated":
        return preallocated_encoder_decoder_cache(capacity, config=config)
    return EncoderDecoderCache(StaticCache(config=config, max_cache_len=capacity), DynamicCache(config=config))


@pytest.mark.parametrize("kind", ["static", "preallocated"])
def test_decoding_step_has_no_graph_break(kind):
    torch.manual_seed(0)
    config = tiny_songgen_config(
        "mixed_pro", use_voice_encoder=False, decoder={"use_tempo_control": True, "use_key_control": True}
    )
    model = SongGenForConditionalGeneration(config).eval()
    batch, rows, memory_length = 2, model.pattern.num_rows, 7
    memory = torch.randn(batch, memory_length, config.decoder.hidden_size)
    memory_mask = torch.ones(batch, memory_length, dtype=torch.long)
    memory_mask[1, 5:] = 0  # a padded memory: the cross-attention mask is not trivial
    common = dict(
        encoder_outputs=BaseModelOutput(last_hidden_state=memory),
        attention_mask=memory_mask,
        cache=_cache(kind, config.decoder, capacity=32),
        use_cache=True,
        tempo_bpm=torch.tensor([120.0, float("nan")]),
        music_key_ids=torch.tensor([3, 24]),
    )
    step_ids = torch.full((batch * rows, 1), 5)
    torch._dynamo.reset()
    with torch.no_grad():
        model(decoder_input_ids=torch.full((batch * rows, 3), 1025), **common)  # the first call, eager
        explanation = torch._dynamo.explain(model)(decoder_input_ids=step_ids, **common)
        traced_logits = model(decoder_input_ids=step_ids, **common).logits  # eager, after the traced step
    reasons = [f"{r.reason[:200]} at {r.user_stack[-1] if r.user_stack else '?'}" for r in explanation.break_reasons]
    assert explanation.graph_break_count == 0, reasons
    assert explanation.graph_count == 1
    # the traced step really ran and wrote the cache: 3 + 1 + 1 positions
    assert int(common["cache"].get_seq_length()) == 5
    assert torch.isfinite(traced_logits).all()


def test_eager_checks_still_guard_the_step():
    """The value checks that compile skips still run eagerly: an id out of range is named, not an index error."""
    config = tiny_songgen_config("mixed_pro", use_voice_encoder=False)
    model = SongGenForConditionalGeneration(config).eval()
    memory = torch.randn(1, 4, config.decoder.hidden_size)
    with pytest.raises(ValueError, match=r"Decoder token ids must lie in \[0, 1088\)"):
        model(decoder_input_ids=torch.full((model.pattern.num_rows, 2), 5000), encoder_outputs=(memory,))
