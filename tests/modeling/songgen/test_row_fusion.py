"""The inference fast path (one matmul for all LM heads, one lookup for all embedding tables)."""

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.row_fusion import FusedRowWeights, can_fuse, frozen_row_weights
from songgen_hf.testing import dummy_inputs, tiny_songgen_config


@pytest.fixture(scope="module", params=["mixed_pro", "parallel_std"])
def model(request):
    torch.manual_seed(0)
    return SongGenForConditionalGeneration(tiny_songgen_config(request.param, use_voice_encoder=False)).eval()


def _logits(model, inputs, grad: bool):
    with torch.set_grad_enabled(grad):
        out = model(**inputs)
    return out.logits.detach(), out.vocal_logits.detach() if out.vocal_logits is not None else None


def test_fused_path_matches_per_row_modules(model):
    inputs = dummy_inputs(model.config, with_labels=True)
    model.decoder._row_fusion.clear()
    model.decoder.model._row_fusion.clear()
    fused, fused_vocal = _logits(model, inputs, grad=False)
    assert "lm_heads" in model.decoder._row_fusion._entries  # the fast path really ran
    assert "embed_tokens" in model.decoder.model._row_fusion._entries
    reference, reference_vocal = _logits(model, inputs, grad=True)  # autograd on: the per-row path
    torch.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-5)
    if reference_vocal is not None:
        torch.testing.assert_close(fused_vocal, reference_vocal, rtol=1e-5, atol=1e-5)


def test_stacked_copies_follow_weight_updates(model):
    inputs = dummy_inputs(model.config, with_labels=True)
    _logits(model, inputs, grad=False)  # builds the stacked copies
    decoder = model.decoder
    saved = {k: v.clone() for k, v in decoder.state_dict().items()}
    try:
        with torch.no_grad():
            decoder.lm_heads[3].weight.mul_(-2.0)  # in place, like an optimiser step
            decoder.model.embed_tokens[1].weight.add_(0.5)
        fused, _ = _logits(model, inputs, grad=False)
        reference, _ = _logits(model, inputs, grad=True)
        torch.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-5)
        decoder.load_state_dict(saved)
        restored, _ = _logits(model, inputs, grad=False)
        reference, _ = _logits(model, inputs, grad=True)
        torch.testing.assert_close(restored, reference, rtol=1e-5, atol=1e-5)
    finally:
        decoder.load_state_dict(saved)


def test_hooked_or_adapted_modules_keep_their_own_path():
    heads = torch.nn.ModuleList([torch.nn.Linear(4, 6, bias=False) for _ in range(2)])
    with torch.no_grad():
        assert can_fuse(heads, torch.nn.Linear)
        handle = heads[1].register_forward_hook(lambda module, args, output: output * 0)
        assert not can_fuse(heads, torch.nn.Linear)  # the hook must still run
        handle.remove()
        heads.append(torch.nn.Linear(4, 6, bias=True))
        assert not can_fuse(heads, torch.nn.Linear)
    assert not can_fuse(heads[:2], torch.nn.Linear)  # autograd on: training never takes the copy


def _counted_concatenation():
    """A build function for FusedRowWeights.get that records each call."""
    builds = []

    def build(ws):
        builds.append(1)
        return torch.cat(ws)

    return build, builds


def test_cache_rebuilds_only_when_a_source_changes():
    cache = FusedRowWeights()
    weights = [torch.randn(3, 2) for _ in range(2)]
    build, builds = _counted_concatenation()
    first = cache.get("w", weights, build)
    assert cache.get("w", weights, build) is first and len(builds) == 1
    weights[0].add_(1.0)
    assert torch.equal(cache.get("w", weights, build)[:3], weights[0]) and len(builds) == 2
    weights[1] = weights[1].double()
    assert cache.get("w", weights, build).dtype == torch.float64 and len(builds) == 3


def test_compiled_graphs_take_the_per_row_path():
    """transformers compiles the decoding step with fullgraph=True on CUDA; the copies are Python state."""
    heads = torch.nn.ModuleList([torch.nn.Linear(4, 6, bias=False) for _ in range(2)])

    @torch.compile(fullgraph=True, backend="eager")
    def fusable(x):
        return x * 2 if can_fuse(heads, torch.nn.Linear) else x * 3

    with torch.no_grad():
        assert fusable(torch.ones(1)).item() == 3.0
        assert can_fuse(heads, torch.nn.Linear)  # eager: fused


def test_a_frozen_cache_checks_each_copy_once_and_sees_changes_after_the_freeze():
    cache = FusedRowWeights()
    weights = [torch.randn(3, 2) for _ in range(2)]
    build, builds = _counted_concatenation()
    with cache.frozen():
        first = cache.get("w", weights, build)
        weights[0].add_(1.0)  # no decoding step does this; inside a freeze it is not looked for
        assert cache.get("w", weights, build) is first and len(builds) == 1
    assert torch.equal(cache.get("w", weights, build)[:3], weights[0]) and len(builds) == 2
    with cache.frozen():  # a new freeze checks again on first use
        weights[1].mul_(2.0)
        assert torch.equal(cache.get("w", weights, build)[3:], weights[1]) and len(builds) == 3


def test_a_frozen_cache_remembers_the_modules_but_not_autograd():
    heads = torch.nn.ModuleList([torch.nn.Linear(4, 6, bias=False) for _ in range(2)])
    cache = FusedRowWeights()
    with torch.no_grad():
        with cache.frozen():
            assert cache.fusable(heads, torch.nn.Linear)
            handle = heads[1].register_forward_hook(lambda module, args, output: output)
            assert cache.fusable(heads, torch.nn.Linear)  # remembered for the freeze
            with torch.enable_grad():
                assert not cache.fusable(heads, torch.nn.Linear)
        assert not cache.fusable(heads, torch.nn.Linear)  # the hook counts again after it
        handle.remove()


def test_generate_freezes_the_copies_for_its_own_call_only(model):
    inputs = dummy_inputs(model.config, with_labels=False)
    inputs.pop("decoder_input_ids")
    seen = []

    def spy(input_ids, scores):
        seen.append((model.decoder._row_fusion._frozen, model.decoder.model._row_fusion._frozen))
        return scores

    model.generate(**inputs, duration_s=0.1, min_duration_s=0.1, do_sample=False, logits_processor=[spy])
    assert seen and set(seen) == {(1, 1)}
    assert model.decoder._row_fusion._frozen == 0 and not model.decoder._row_fusion._checked
    with pytest.raises(ValueError):
        with frozen_row_weights(model):
            raise ValueError("an error inside a generate call")
    assert model.decoder._row_fusion._frozen == 0 and model.decoder.model._row_fusion._frozen == 0


def test_a_copied_or_pickled_model_rebuilds_its_copies(model):
    import copy
    import pickle

    inputs = dummy_inputs(model.config, with_labels=True)
    reference, _ = _logits(model, inputs, grad=False)
    with model.decoder._row_fusion.frozen():
        clone = copy.deepcopy(model)
    assert clone.decoder._row_fusion._frozen == 0 and not clone.decoder._row_fusion._entries
    torch.testing.assert_close(_logits(clone, inputs, grad=False)[0], reference)
    restored = pickle.loads(pickle.dumps(model))
    torch.testing.assert_close(_logits(restored, inputs, grad=False)[0], reference)
