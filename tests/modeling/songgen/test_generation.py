"""generate(): transformers' loop with SongGen's hooks and processors."""

import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList, TopKLogitsWarper

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.patterns import available_token_patterns
from songgen_hf.modeling.songgen.logits_process_songgen import (
    SignatureCachedLogitsProcessorList,
    SongGenPatternLogitsProcessor,
)
from songgen_hf.testing import dummy_generation_inputs, solo_inputs, tiny_songgen_config, tiny_songgen_model

from .guidance_helpers import greedy_first_step

PATTERNS = sorted(available_token_patterns())


@pytest.mark.parametrize("pattern", PATTERNS)
def test_greedy_generation_returns_aligned_codes_and_audio(pattern):
    model = tiny_songgen_model(pattern)
    # min_duration_s = duration_s: a random model may not stop early
    settings = dict(duration_s=0.32, min_duration_s=0.32, do_sample=False)
    out = model.generate(**dummy_generation_inputs(model), return_dict_in_generate=True, **settings)
    # 0.32 s at 50 Hz, the same for every pattern (interleaving is not halved; whole steps of 2 or 4 frames)
    frames = 16
    assert out.sequences.shape == (2, model.pattern.num_rows, model.pattern.sequence_length(frames))
    for name in model.pattern.track_names:
        codes = out.codes[name]
        assert codes.shape == (2, 8, frames)
        assert codes.max() < 1024 and codes.min() >= 0
    assert out.frame_lengths.tolist() == [frames, frames]
    assert out.audio.shape == (2, 1, frames * 320)
    assert out.audio_lengths.tolist() == [frames * 320] * 2
    if model.pattern.num_tracks == 2:
        assert out.vocals.shape == out.accompaniment.shape == out.audio.shape
    plain = model.generate(**dummy_generation_inputs(model), **settings)
    assert torch.equal(plain, out.audio)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_guidance_scale_one_is_exactly_conditional(pattern):
    model = tiny_songgen_model(pattern)
    conditions = dummy_generation_inputs(model)
    kwargs = dict(
        duration_s=0.16, do_sample=False, return_dict_in_generate=True, decode_audio=False, output_scores=True
    )
    plain = model.generate(**conditions, **kwargs)
    one = model.generate(**conditions, guidance_scale=1.0, **kwargs)
    guided = model.generate(**conditions, guidance_scale=3.0, **kwargs)
    assert torch.equal(plain.sequences, one.sequences)
    assert all(torch.equal(a, b) for a, b in zip(plain.scores, one.scores))
    assert not torch.equal(plain.scores[1], guided.scores[1])


def test_a_saved_default_guidance_scale_applies_and_none_turns_it_off():
    model = tiny_songgen_model("mixed_pro", use_voice_encoder=False)
    conditions = dummy_generation_inputs(model)
    kwargs = dict(duration_s=0.2, do_sample=False, return_dict_in_generate=True, decode_audio=False, output_scores=True)
    explicit = model.generate(**conditions, guidance_scale=3.0, **kwargs)
    unguided = model.generate(**conditions, guidance_scale=1.0, **kwargs)
    model.generation_config.guidance_scale = 3.0  # as `songgen export --generation guidance_scale=3` saves it
    by_default = model.generate(**conditions, **kwargs)
    switched_off = model.generate(**conditions, guidance_scale=None, **kwargs)
    assert all(torch.equal(a, b) for a, b in zip(explicit.scores, by_default.scores))
    assert all(torch.equal(a, b) for a, b in zip(unguided.scores, switched_off.scores))


def test_saved_songgen_generation_settings_survive_save_and_load(tmp_path):
    # duration_s & co. are not GenerationConfig fields: a plain config would save them and the
    # next from_pretrained would drop them without a word
    model = tiny_songgen_model("mixed_pro", use_voice_encoder=False)
    conditions = dummy_generation_inputs(model, batch_size=1)
    settings = dict(duration_s=0.12, min_duration_s=0.08, guidance_conditions=["description"], guidance_top_k=7)
    for key, value in settings.items():
        setattr(model.generation_config, key, value)
    model.save_pretrained(tmp_path)
    loaded = SongGenForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert {key: getattr(loaded.generation_config, key) for key in settings} == settings
    kwargs = dict(
        do_sample=False, guidance_scale=3.0, return_dict_in_generate=True, decode_audio=False, output_scores=True
    )
    by_default = loaded.generate(**conditions, **kwargs)
    asked = loaded.generate(**conditions, **kwargs, **settings)
    assert int(by_default.frame_lengths[0]) == round(0.12 * model.config.frame_rate)
    assert all(torch.equal(a, b) for a, b in zip(by_default.scores, asked.scores))
    # a call's own length still wins over the saved one
    longer = loaded.generate(**conditions, **kwargs | {"duration_s": 0.2})
    assert int(longer.frame_lengths[0]) == round(0.2 * model.config.frame_rate)


def test_a_saved_duration_beyond_the_model_is_named_as_the_saved_setting(tmp_path):
    model = tiny_songgen_model("mixed_pro", use_voice_encoder=False)
    model.generation_config.duration_s = 1000.0
    with pytest.raises(ValueError, match=r"generation_config\.duration_s must be .*longest song"):
        model.generate(**dummy_generation_inputs(model, batch_size=1), do_sample=False)


def test_guidance_matches_a_manual_two_pass_computation():
    model = tiny_songgen_model("mixed")
    conditions = dummy_generation_inputs(model, batch_size=1)
    scale = 2.5
    out, (memory, mask), (null, null_mask) = greedy_first_step(
        model, conditions, guidance_scale=scale, output_scores=True
    )
    first = out.sequences[:, :, :1].reshape(-1, 1)
    with torch.no_grad():
        cond = model.decoder(first, encoder_hidden_states=memory, encoder_attention_mask=mask).logits[:, -1]
        uncond = model.decoder(first, encoder_hidden_states=null, encoder_attention_mask=null_mask).logits[:, -1]
    guided = uncond + scale * (cond - uncond)
    expected = guided[..., :1024].argmax(-1)
    # row 0 is free at the first step; the other rows are forced BOS
    assert out.sequences[0, 0, 1] == expected[0]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_static_dynamic_and_no_cache_agree(pattern):
    model = tiny_songgen_model(pattern)
    conditions = dummy_generation_inputs(model)
    kwargs = dict(duration_s=0.16, do_sample=False, return_dict_in_generate=True, decode_audio=False)
    dynamic = model.generate(**conditions, **kwargs).sequences
    static = model.generate(**conditions, cache_implementation="static", **kwargs).sequences
    uncached = model.generate(**conditions, use_cache=False, **kwargs).sequences
    assert torch.equal(dynamic, static)
    assert torch.equal(dynamic, uncached)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_batch_items_equal_solo_generation(pattern):
    model = tiny_songgen_model(pattern)
    batch = dummy_generation_inputs(model, batch_size=2)
    kwargs = dict(duration_s=0.16, do_sample=False, return_dict_in_generate=True, decode_audio=False)
    together = model.generate(**batch, **kwargs).sequences
    for row in range(2):
        solo = solo_inputs(batch, row)
        alone = model.generate(**solo, **kwargs).sequences
        assert torch.equal(together[row : row + 1], alone), row


def test_sampling_is_reproducible_with_a_seed():
    model = tiny_songgen_model("mixed")
    conditions = dummy_generation_inputs(model)
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        runs.append(
            model.generate(
                **conditions,
                duration_s=0.2,
                do_sample=True,
                top_k=20,
                temperature=0.9,
                decode_audio=False,
                return_dict_in_generate=True,
            ).sequences
        )
    assert torch.equal(*runs)


def test_audio_prompt_codes_are_continued():
    model = tiny_songgen_model("mixed")
    conditions = dummy_generation_inputs(model)
    prompt = torch.randint(0, 1024, (2, 8, 6))
    out = model.generate(
        **conditions, audio_prompt_codes=prompt, duration_s=0.3, do_sample=False, return_dict_in_generate=True
    )
    assert torch.equal(out.codes["mix"][..., :6], prompt)
    assert out.frame_lengths.tolist() == [15, 15]


def test_audio_prompt_waveform_is_encoded_with_the_codec():
    model = tiny_songgen_model("mixed")
    conditions = dummy_generation_inputs(model)
    waveform = torch.randn(2, 1, 3200) * 0.1
    expected = model.audio_encoder.encode(waveform).audio_codes[:, :8]
    out = model.generate(
        **conditions, audio_prompt=waveform, duration_s=0.4, do_sample=False, return_dict_in_generate=True
    )
    assert torch.equal(out.codes["mix"][..., : expected.shape[-1]], expected)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_pattern_processor_ends_every_row_on_the_same_frame(pattern):
    """Drive the processor like the sampling loop; the lead row ends the song at frame 4."""
    model = tiny_songgen_model(pattern)
    p = model.pattern
    length = p.sequence_length(9)
    mask = p.generation_mask(1, length)
    processor = SongGenPatternLogitsProcessor(p, mask)
    rows, eos = p.num_rows, p.token_ids.eos_token_id
    ids = mask[..., :1].reshape(rows, 1)
    generator = torch.Generator().manual_seed(0)
    # intercept/slope count decoding steps: 4 frames are 4 // S steps of a multi-stream pattern
    steps = 4 // p.frames_per_step
    lead_eos_column = int(processor.intercept[processor.lead_row] + processor.slope[processor.lead_row] * steps)
    for column in range(1, length):
        scores = torch.randn(rows, 1088, generator=generator)
        scores[:, 1025:] += 100.0  # tempt it with special ids
        if column == lead_eos_column:
            scores[processor.lead_row, eos] = 1e4
        else:
            scores[:, eos] = -1e4
        next_ids = processor(ids, scores).argmax(-1)
        ids = torch.cat([ids, next_ids[:, None]], dim=1)
    reverted = p.revert(ids.view(1, rows, -1))
    for name in p.track_names:
        assert reverted.frame_lengths[name].tolist() == [4], name
        assert reverted.codes[name][..., :4].max() < 1024
    free = (mask == -1).view(rows, -1)
    assert not ((ids >= 1025) & free).any(), "special id sampled at a free position"


@pytest.mark.parametrize("pattern", PATTERNS)
def test_pattern_processor_fast_path_equals_the_general_rule(pattern):
    """Free columns take a precomputed bias; it must give exactly what the cell-by-cell rule gives.

    Two songs in one batch, the first ending early, so columns with forced cells, free columns,
    the EOS window and the synchronised closing all occur."""
    p = tiny_songgen_model(pattern).pattern
    step = p.frames_per_step  # counted in decoding steps, so multi-stream songs see free columns too
    length = p.sequence_length(24 * step)
    mask = p.generation_mask(2, length)
    fast = SongGenPatternLogitsProcessor(p, mask, min_frames=2)
    general = SongGenPatternLogitsProcessor(p, mask, min_frames=2)
    general.has_forced_cell = [True] * length  # never takes the shortcut
    rows, eos = p.num_rows, p.token_ids.eos_token_id
    ids = mask[..., :1].reshape(2 * rows, 1)
    generator = torch.Generator().manual_seed(1)
    end_column = int(fast.intercept[fast.lead_row] + fast.slope[fast.lead_row] * 12)
    shortcuts = 0
    for column in range(1, length):
        scores = torch.randn(2 * rows, 1088, generator=generator)
        scores[:, eos] = 1e4 if column == end_column else -1e4
        scores[rows:, eos] = -1e4  # the second song runs to the budget
        expected = general(ids, scores.clone())
        assert torch.equal(fast(ids, scores.clone()), expected), f"column {column}"
        shortcut = not (fast.any_song_ended or fast.has_forced_cell[column])
        shortcuts += shortcut
        if shortcut:  # every code, 0 included, may be sampled at a free cell
            assert torch.isfinite(expected[:, :1024]).all(), f"column {column}"
        ids = torch.cat([ids, expected.argmax(-1, keepdim=True)], dim=1)
    assert shortcuts > 0 and fast.any_song_ended
    reverted = p.revert(ids.view(2, rows, -1))
    assert reverted.frame_lengths[p.track_names[0]].tolist() == [12 * step, 24 * step]


class _NeedsStep(LogitsProcessor):
    def __call__(self, input_ids, scores, step):
        return scores + step


def test_signature_cached_list_behaves_like_the_library_list():
    processors = [TopKLogitsWarper(3), _NeedsStep()]
    ids, scores = torch.zeros(2, 1, dtype=torch.long), torch.randn(2, 10)
    cached = SignatureCachedLogitsProcessorList(processors)
    for step in range(3):  # the cached signature is reused, the result stays the library's
        assert torch.equal(cached(ids, scores, step=step), LogitsProcessorList(processors)(ids, scores, step=step))
    with pytest.raises(ValueError, match="required parameters"):
        cached(ids, scores)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"guidance_scale": 0.5}, "guidance_scale must be a number >= 1"),
        ({"top_p": 1.5}, "top_p must be a number > 0 and <= 1"),
        ({"temperature": 0.0}, "temperature must be a number >= 0.001"),
        ({"num_beams": 2}, "greedy search or sampling"),
        ({"duration_s": 601.0}, "longest song is 600 s; this model's window is 4.96 s"),
        ({"max_new_tokens": 600, "duration_s": None}, "supports 256"),
        ({"min_new_tokens": 5}, "min_duration_s"),
        ({"guidance_conditions": ["melody"]}, "Unknown guidance_conditions"),
        ({"audio_prompt_codes": torch.zeros(2, 8, 30, dtype=torch.long), "duration_s": 0.4}, "fills the whole budget"),
    ],
)
def test_bad_generation_arguments_fail_before_compute(kwargs, message):
    model = tiny_songgen_model("mixed")
    with pytest.raises(ValueError, match=message):
        model.generate(**dummy_generation_inputs(model), **{"duration_s": 0.2, **kwargs})


def test_stem_gains_scale_each_decoded_stem_and_the_song_sums_them(tmp_path):
    """A dual-track model's ``stem_gains_db`` scales each decoded stem (same tokens, same seed); the stems
    still sum to the song; the setting survives save and load."""
    model = tiny_songgen_model("parallel_stream2", use_voice_encoder=False)
    settings = dict(duration_s=0.32, min_duration_s=0.32, do_sample=False, return_dict_in_generate=True)
    plain = model.generate(**dummy_generation_inputs(model), **settings)
    model.config.stem_gains_db = {"vocals": 6.0, "accompaniment": -3.0}
    model.save_pretrained(tmp_path)
    reloaded = SongGenForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert reloaded.config.stem_gains_db == {"vocals": 6.0, "accompaniment": -3.0}
    gained = reloaded.generate(**dummy_generation_inputs(reloaded), **settings)
    assert all(torch.equal(plain.codes[name], gained.codes[name]) for name in plain.codes)
    torch.testing.assert_close(gained.vocals, plain.vocals * 10 ** (6 / 20))
    torch.testing.assert_close(gained.accompaniment, plain.accompaniment * 10 ** (-3 / 20))
    peak = (gained.vocals + gained.accompaniment).abs().amax().item()
    expected = gained.vocals + gained.accompaniment
    if peak > 0.99:  # a sum that would clip is scaled to a 0.99 peak
        expected = expected * (0.99 / peak)
    torch.testing.assert_close(gained.audio, expected)


@pytest.mark.parametrize(
    "pattern, gains, message",
    [
        ("mixed_stream2", {"vocals": 1.6}, "decodes one track and sums no stems"),
        ("parallel_stream2", {"drums": 1.0}, "names 'drums'; this model's tracks are accompaniment, vocals"),
        ("parallel_stream2", {"vocals": 40.0}, r"must be a number of dB in \[-24, 24\]"),
        ("parallel_stream2", [1.6], "must map track names to dB"),
    ],
)
def test_stem_gains_that_mean_nothing_are_refused(pattern, gains, message):
    with pytest.raises(ValueError, match=message):
        tiny_songgen_config(pattern, stem_gains_db=gains)
    model = tiny_songgen_model(pattern, use_voice_encoder=False)
    model.config.stem_gains_db = gains  # set after loading: refused when the stems are summed
    if model.pattern.num_tracks > 1:
        with pytest.raises(ValueError, match=message):
            model.generate(**dummy_generation_inputs(model), duration_s=0.1, do_sample=False)
