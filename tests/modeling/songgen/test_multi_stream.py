"""AudioGen's multi-stream patterns in the model: S frames per decoding step, whole-step budgets cut to the asked
length, continuation, and the sizes the decoder takes from the pattern.

The pattern-level properties (round trip, masks, lengths) are in tests/modeling/test_patterns.py and
the every-pattern generation tests (batch = items alone, caches agree, cached = recompute) pick the
stream patterns up from the registry; this file holds what only multi-stream models do.
"""

import pytest
import torch

from songgen_hf.modeling.songgen.arguments_songgen import check_generation_arguments
from songgen_hf.testing import dummy_generation_inputs, dummy_inputs, tiny_songgen_model

STREAMS = {"mixed_stream2": 2, "mixed_stream4": 4}


class _ForwardCounter:
    def __init__(self, module):
        self.calls = 0
        module.register_forward_pre_hook(self)

    def __call__(self, *args):
        self.calls += 1


@pytest.mark.parametrize("pattern, streams", STREAMS.items())
def test_decoder_is_sized_from_the_pattern(pattern, streams):
    model = tiny_songgen_model(pattern, use_voice_encoder=False)
    k = model.config.decoder.num_codebooks
    assert model.config.decoder.num_rows == streams * k == model.pattern.num_rows
    assert len(model.decoder.lm_heads) == len(model.decoder.model.embed_tokens) == streams * k
    assert model.config.audio_encoder.num_quantizers >= k  # the codec still sees K codebooks
    assert not hasattr(model.decoder, "vocal_lm_heads")


@pytest.mark.parametrize("pattern, streams", STREAMS.items())
def test_a_step_emits_s_frames(pattern, streams):
    """16 frames take 16 / S steps plus the codebook delay, against 16 + delay for the single stream."""
    single, multi = tiny_songgen_model("mixed"), tiny_songgen_model(pattern)
    kwargs = dict(
        duration_s=0.32, min_duration_s=0.32, do_sample=False, return_dict_in_generate=True, decode_audio=False
    )
    counter = _ForwardCounter(multi.decoder)
    out = multi.generate(**dummy_generation_inputs(multi), **kwargs)
    reference = single.generate(**dummy_generation_inputs(single), **kwargs)
    delay = multi.config.decoder.num_codebooks - 1
    assert out.sequences.shape[-1] - 1 == 16 // streams + delay
    assert reference.sequences.shape[-1] - 1 == 16 + delay
    assert counter.calls == out.sequences.shape[-1] - 1  # one forward per decoding step
    assert out.codes["mix"].shape == (2, 8, 16) and out.frame_lengths.tolist() == [16, 16]


@pytest.mark.parametrize("pattern, streams", STREAMS.items())
def test_a_duration_between_two_steps_is_generated_to_the_next_step_and_cut_back(pattern, streams):
    model = tiny_songgen_model(pattern)
    counter = _ForwardCounter(model.decoder)
    kwargs = dict(min_duration_s=0.1, do_sample=False, return_dict_in_generate=True)
    # 0.3 s = 15 frames: not whole steps of 2 or 4
    cut = model.generate(**dummy_generation_inputs(model), duration_s=0.3, **kwargs)
    steps = counter.calls
    whole = model.generate(**dummy_generation_inputs(model), duration_s=0.32, **kwargs)  # 16 frames: whole steps
    assert steps == counter.calls - steps  # the same decoding steps: 0.3 s takes the step that 0.32 s ends on
    lengths = whole.frame_lengths.clamp(max=15)
    assert torch.equal(cut.frame_lengths, lengths) and cut.frame_lengths.max() <= 15
    assert torch.equal(cut.codes["mix"], whole.codes["mix"][..., :15])  # the same song, cut at the asked frame
    assert cut.audio.shape[-1] <= 15 * 320 and torch.equal(cut.audio_lengths, lengths * 320)
    # the pipeline and CLI run the same checks on the config alone: such a duration is not an error there either
    check_generation_arguments({"duration_s": 0.3}, model.config, names={"duration_s": "--duration"})
    # a prompt as long as the asked song leaves nothing to generate, though the whole-step budget holds a frame more
    prompt = torch.randint(0, 1024, (2, 8, 15), generator=torch.Generator().manual_seed(1))
    with pytest.raises(ValueError, match=r"audio prompt \(15 frames\) fills the whole budget of 15 frames"):
        model.generate(**dummy_generation_inputs(model), audio_prompt_codes=prompt, duration_s=0.3)


@pytest.mark.parametrize("pattern", STREAMS)
def test_a_streamed_song_ends_where_generate_cuts_it(pattern):
    from songgen_hf.pipelines.streaming import SongGenStreamer

    model = tiny_songgen_model(pattern, use_voice_encoder=False)
    inputs = dummy_generation_inputs(model, batch_size=1)
    kwargs = dict(duration_s=0.3, min_duration_s=0.3, do_sample=False)
    streamer = SongGenStreamer(model, chunk_frames=4, context_frames=4, lookahead_frames=0, crossfade_ms=0)
    model.generate(**inputs, streamer=streamer, decode_audio=False, **kwargs)
    streamed = sum(len(chunk) for chunk in streamer)
    out = model.generate(**inputs, return_dict_in_generate=True, **kwargs)
    assert streamer.frame_limit == 15 and streamer.num_frames == 15
    assert streamed == int(out.audio_lengths[0]) == 15 * 320


@pytest.mark.parametrize("pattern", STREAMS)
def test_audio_continuation_keeps_a_prompt_that_fills_part_of_a_step(pattern):
    model = tiny_songgen_model(pattern)
    prompt = torch.randint(0, 1024, (2, 8, 5), generator=torch.Generator().manual_seed(3))  # 5: not whole steps
    out = model.generate(
        **dummy_generation_inputs(model),
        audio_prompt_codes=prompt,
        audio_prompt_frame_lengths=torch.tensor([5, 3]),
        duration_s=0.32,
        min_duration_s=0.32,
        do_sample=False,
        return_dict_in_generate=True,
    )
    assert torch.equal(out.codes["mix"][0, :, :5], prompt[0])
    assert torch.equal(out.codes["mix"][1, :, :3], prompt[1, :, :3])
    assert out.frame_lengths.tolist() == [16, 16]
    assert out.audio.shape == (2, 1, 16 * 320)


def test_min_duration_ends_on_a_whole_step():
    """The lead row may end the song only once min_duration_s is reached, then all streams end together."""
    model = tiny_songgen_model("mixed_stream4")
    conditions = dummy_generation_inputs(model)
    out = model.generate(
        **conditions,
        duration_s=0.64,
        min_duration_s=0.1,
        do_sample=True,
        top_k=0,
        return_dict_in_generate=True,
        decode_audio=False,
    )
    lengths = out.frame_lengths.tolist()
    assert all(n % 4 == 0 and 8 <= n <= 32 for n in lengths), lengths  # 0.1 s = 5 frames -> 2 whole steps


def test_training_loss_weighs_every_stream():
    model = tiny_songgen_model("mixed_stream2", use_voice_encoder=False)
    model.train()
    inputs = dummy_inputs(model.config, batch_size=2, num_frames=9)  # odd: the streams differ by a frame
    out = model(**inputs)
    rows = model.pattern.num_rows
    assert out.codebook_losses.shape == (rows,) and torch.isfinite(out.loss)
    counts = out.codebook_token_counts.view(2, -1)  # (streams, K)
    # items of 9 and 6 frames: stream 0 holds 5 + 3, stream 1 4 + 3 (each row also supervises one EOS)
    assert counts[0].tolist() == [5 + 3 + 2] * 8 and counts[1].tolist() == [4 + 3 + 2] * 8


def test_mixed_pro_stream2_trains_a_vocal_head_per_row():
    """(That generation never reads them: tests/training/test_vocal_heads.py.)"""
    pro = tiny_songgen_model("mixed_pro_stream2", use_voice_encoder=False)
    rows = pro.pattern.num_rows
    assert len(pro.decoder.vocal_lm_heads) == len(pro.decoder.lm_heads) == rows == 16
    pro.train()
    inputs = dummy_inputs(pro.config, batch_size=2, num_frames=9)
    assert inputs["vocal_labels"].shape == inputs["labels"].shape
    out = pro(**inputs)
    assert out.vocal_codebook_losses.shape == (rows,)
    without_vocals = pro(**{name: value for name, value in inputs.items() if name != "vocal_labels"})
    assert out.loss > without_vocals.loss  # the vocal loss is added
    out.loss.backward()
    assert all(head.weight.grad is not None and head.weight.grad.abs().sum() > 0 for head in pro.decoder.vocal_lm_heads)
