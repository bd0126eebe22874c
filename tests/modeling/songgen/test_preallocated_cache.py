"""SongGen's preallocated cache: the default of generate(), equal to the library's dynamic and static caches."""

import numpy as np
import pytest
import torch
from transformers.cache_utils import DynamicCache, EncoderDecoderCache, StaticCache

from songgen_hf.modeling.patterns import available_token_patterns
from songgen_hf.modeling.songgen.arguments_songgen import check_generation_arguments
from songgen_hf.modeling.songgen.preallocated_cache import (
    CACHE_IMPLEMENTATIONS,
    DEFAULT_CACHE_IMPLEMENTATION,
    SongGenPreallocatedCache,
    SongGenPreallocatedLayer,
    cache_field,
    preallocated_encoder_decoder_cache,
)
from songgen_hf.testing import dummy_generation_inputs, streamed_generation, tiny_songgen_config, tiny_songgen_model

PATTERNS = sorted(available_token_patterns())
# 0.16 s = 8 frames: whole decoding steps for every pattern, multi-stream (2 or 4 frames a step) included
GREEDY = dict(
    duration_s=0.16,
    min_duration_s=0.16,
    do_sample=False,
    guidance_scale=3.0,
    return_dict_in_generate=True,
    decode_audio=False,
    output_scores=True,
)


class _CacheSpy:
    """Records the self-attention cache class of every decoder call."""

    def __init__(self, model):
        self.kinds = []
        model.decoder.register_forward_pre_hook(self, with_kwargs=True)

    def __call__(self, module, args, kwargs):
        cache = kwargs.get("cache")
        self.kinds.append(type(cache.self_attention_cache).__name__ if cache is not None else None)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_greedy_generation_is_identical_with_every_cache(pattern):
    model = tiny_songgen_model(pattern)
    spy = _CacheSpy(model)
    conditions = dummy_generation_inputs(model)
    runs = {name: model.generate(**conditions, cache_implementation=name, **GREEDY) for name in CACHE_IMPLEMENTATIONS}
    used = list(dict.fromkeys(spy.kinds))
    assert used == ["SongGenPreallocatedCache", "StaticCache", "DynamicCache"]
    spy.kinds.clear()
    default = model.generate(**conditions, **GREEDY)
    assert set(spy.kinds) == {"SongGenPreallocatedCache"} and DEFAULT_CACHE_IMPLEMENTATION == "preallocated"
    for name, out in {**runs, "default": default}.items():
        assert torch.equal(out.sequences, runs["dynamic"].sequences), name
        # the scores agree to float32 rounding (static attention sums over masked, empty positions too)
        for a, b in zip(out.scores, runs["dynamic"].scores):
            finite = torch.isfinite(b)
            assert torch.equal(finite, torch.isfinite(a))
            torch.testing.assert_close(a[finite], b[finite], rtol=0, atol=1e-5)


def _self_cache(kind: str, config, capacity: int):
    if kind == "preallocated":
        return preallocated_encoder_decoder_cache(capacity, config=config)
    self_attention = (
        StaticCache(config=config, max_cache_len=capacity) if kind == "static" else DynamicCache(config=config)
    )
    return EncoderDecoderCache(self_attention, DynamicCache(config=config))


@pytest.mark.parametrize("kind", CACHE_IMPLEMENTATIONS)
@pytest.mark.parametrize("pattern", PATTERNS)
def test_cached_logits_equal_full_recompute(pattern, kind):
    model = tiny_songgen_model(
        pattern, use_voice_encoder=False, decoder={"use_tempo_control": True, "use_key_control": True}
    )
    config, rows = model.config.decoder, model.pattern.num_rows
    batch, length, memory_length = 2, 12, 5
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 1024, (batch * rows, length), generator=generator)
    memory = torch.randn(batch, memory_length, config.hidden_size, generator=generator)
    memory_mask = torch.ones(batch, memory_length, dtype=torch.long)
    memory_mask[1, 3:] = 0
    controls = dict(tempo_bpm=torch.tensor([96.0, float("nan")]), music_key_ids=torch.tensor([5, 24]))
    common = dict(encoder_outputs=(memory,), attention_mask=memory_mask, **controls)
    with torch.no_grad():
        full = model(decoder_input_ids=ids, use_cache=False, **common).logits  # (batch * rows, length, vocab)
        cache = _self_cache(kind, config, capacity=length + 3)
        prefix = 3  # a multi-token first call, then one token per step, as generate() does
        steps = [model(decoder_input_ids=ids[:, :prefix], cache=cache, use_cache=True, **common).logits]
        for position in range(prefix, length):
            steps.append(
                model(decoder_input_ids=ids[:, position : position + 1], cache=cache, use_cache=True, **common).logits
            )
    cached = torch.cat(steps, dim=1)
    assert cached.shape == full.shape
    torch.testing.assert_close(cached, full, rtol=0, atol=1e-5)
    assert cache.get_seq_length() == length


@pytest.mark.parametrize("pattern", ["mixed_pro", "parallel_std", "interleaving_A_V", "mixed_stream4"])
def test_batch_items_equal_solo_generation_with_the_preallocated_cache(pattern):
    model = tiny_songgen_model(pattern)
    conditions = dummy_generation_inputs(model, batch_size=3)
    kwargs = dict(GREEDY, cache_implementation="preallocated")
    batch = model.generate(**conditions, **kwargs).sequences
    for item in range(3):
        solo = {key: value[item : item + 1] for key, value in conditions.items()}
        assert torch.equal(model.generate(**solo, **kwargs).sequences[0], batch[item])


def _stream(model, conditions, **kwargs):
    """generate() in a thread feeding a SongGenStreamer, as the pipeline's streaming does; the chunks joined."""
    from songgen_hf.pipelines.streaming import SongGenStreamer

    streamer = SongGenStreamer(model, chunk_frames=5, timeout=60)
    chunks, _ = streamed_generation(model, streamer, **conditions, decode_audio=False, **kwargs)
    return len(chunks), torch.from_numpy(np.concatenate(chunks))


def test_streaming_works_with_the_preallocated_and_static_caches():
    model = tiny_songgen_model("mixed_pro")
    conditions = dummy_generation_inputs(model, batch_size=1)
    settings = dict(duration_s=0.4, min_duration_s=0.4, do_sample=False)
    reference = model.generate(**conditions, cache_implementation="dynamic", **settings)[0, 0]
    for name in (None, "preallocated", "static"):
        extra = {} if name is None else {"cache_implementation": name}
        count, streamed = _stream(model, conditions, **settings, **extra)
        assert count > 1 and streamed.shape == reference.shape, name
        torch.testing.assert_close(streamed, reference, rtol=0, atol=1e-4)


class _Untouchable(torch.nn.Module):
    def forward(self, *args, **kwargs):
        raise AssertionError("the model ran before the cache name was checked")


@pytest.mark.parametrize("where", ["argument", "saved generation config"])
def test_unknown_cache_implementation_is_refused_before_any_compute(where):
    model = tiny_songgen_model("mixed_pro")
    conditions = dummy_generation_inputs(model)
    model.text_encoder, model.decoder = _Untouchable(), _Untouchable()
    kwargs = {"cache_implementation": "hybird"} if where == "argument" else {}
    if where != "argument":
        model.generation_config.cache_implementation = "hybird"
    with pytest.raises(ValueError, match=r"cache_implementation 'hybird'.*'preallocated', 'static', 'dynamic'"):
        model.generate(**conditions, duration_s=0.2, **kwargs)


@pytest.mark.parametrize("value", ["quantized", "offloaded", "Static", 3])
def test_the_config_only_check_names_the_accepted_caches(value):
    # the check the pipeline and CLI run before loading weights, with the user's own flag name
    with pytest.raises(ValueError, match=r"Unknown --cache .*'preallocated', 'static', 'dynamic'"):
        check_generation_arguments({"cache_implementation": value}, names={"cache_implementation": "--cache"})
    for name in CACHE_IMPLEMENTATIONS:
        check_generation_arguments({"cache_implementation": name})


def test_preallocated_cache_with_use_cache_false_is_a_conflict():
    model = tiny_songgen_model("mixed_pro")
    with pytest.raises(ValueError, match="use_cache"):
        model.generate(
            **dummy_generation_inputs(model), duration_s=0.2, cache_implementation="preallocated", use_cache=False
        )
    # no cache at all still works, and so does a cache object of the caller's
    plain = model.generate(**dummy_generation_inputs(model), use_cache=False, **GREEDY).sequences
    own = preallocated_encoder_decoder_cache(64, config=model.config.decoder)
    assert torch.equal(model.generate(**dummy_generation_inputs(model), **cache_field(own), **GREEDY).sequences, plain)


def test_layer_writes_in_place_and_reads_a_view():
    layer = SongGenPreallocatedLayer(max_cache_len=5)
    first = torch.randn(2, 3, 2, 4)
    keys, values = layer.update(first, -first)
    buffer = layer.key_buffer
    keys, values = layer.update(torch.ones(2, 3, 1, 4), torch.zeros(2, 3, 1, 4))
    assert keys.shape == (2, 3, 3, 4) and layer.get_seq_length() == 3 and layer.get_mask_sizes(1) == (4, 0)
    assert keys.data_ptr() == buffer.data_ptr() and layer.key_buffer is buffer  # no copy of the past
    torch.testing.assert_close(keys[:, :, :2], first)
    layer.crop(-1)
    assert layer.get_seq_length() == 2 and layer.keys.shape[-2] == 2
    layer.batch_select_indices(torch.tensor([1]))
    assert layer.keys.shape == (1, 3, 2, 4)
    torch.testing.assert_close(layer.values, -first[1:])
    layer.reset()
    assert layer.get_seq_length() == 0 and layer.get_max_length() == 5
    with pytest.raises(ValueError, match="holds 5 positions and was asked for 6"):
        layer.update(torch.zeros(1, 3, 6, 4), torch.zeros(1, 3, 6, 4))


def test_cache_needs_a_layer_count_and_a_positive_capacity():
    assert len(SongGenPreallocatedCache(8, num_layers=3).layers) == 3
    assert len(SongGenPreallocatedCache(8, config=tiny_songgen_config().decoder).layers) == 2
    with pytest.raises(ValueError, match="config or num_layers"):
        SongGenPreallocatedCache(8)
    with pytest.raises(ValueError, match="max_cache_len must be a whole number"):
        SongGenPreallocatedLayer(0)
