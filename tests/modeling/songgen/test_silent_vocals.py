"""Instrumental requests to dual-track models: the vocal track held at the codec's codes of silence."""

import math

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.patterns import available_token_patterns, get_token_pattern
from songgen_hf.modeling.songgen.arguments_songgen import check_generation_arguments
from songgen_hf.modeling.songgen.configuration_songgen import arrangement_id
from songgen_hf.modeling.songgen.logits_process_songgen import SongGenPatternLogitsProcessor
from songgen_hf.testing import dummy_inputs, tiny_songgen_config

DUAL_TRACK = [name for name in available_token_patterns() if "vocals" in get_token_pattern(name).track_names]
INSTRUMENTAL, SUNG = arrangement_id(vocals=False, drums=True), arrangement_id(vocals=True, drums=True)


def _model(pattern="parallel_stream2", arrangement=True, seed=0):
    torch.manual_seed(seed)
    config = tiny_songgen_config(pattern, use_voice_encoder=False, decoder={"use_arrangement_control": arrangement})
    return SongGenForConditionalGeneration(config).eval()


def _inputs(model, arrangements):
    inputs = dummy_inputs(model.config, batch_size=len(arrangements), with_labels=False, seed=0)
    inputs.pop("decoder_input_ids")
    return {**inputs, "arrangement_ids": torch.tensor(arrangements)}


def _generate(model, inputs, **kwargs):
    torch.manual_seed(1)
    return model.generate(**inputs, duration_s=0.4, do_sample=True, return_dict_in_generate=True, **kwargs)


@pytest.mark.parametrize("name", DUAL_TRACK)
@pytest.mark.parametrize("frames,extra", [(5, 0), (5, 3), (2, 0)])
def test_track_cells_are_exactly_the_tracks_cells_of_the_generation_mask(name, frames, extra):
    pattern = get_token_pattern(name, num_codebooks=3)
    length = pattern.sequence_length(frames) + extra
    generator = torch.Generator().manual_seed(0)
    accompaniment, vocals = (torch.randint(0, 1024, (2, 3, 5), generator=generator) for _ in range(2))
    room = min(5, pattern.num_frames(length))
    lengths = torch.full((2,), room)
    # a cell belongs to the vocal track where changing the vocal codes changes the mask
    one = pattern.generation_mask(
        2, length, prompt=(accompaniment[..., :room], vocals[..., :room]), prompt_frame_lengths=lengths
    )
    other = pattern.generation_mask(
        2, length, prompt=(accompaniment[..., :room], (vocals[..., :room] + 1) % 1024), prompt_frame_lengths=lengths
    )
    cells = pattern.track_cells("vocals", vocals, length)
    assert torch.equal(cells, torch.where(one != other, one, torch.full_like(one, -1)))
    assert int((cells >= 0).sum()) == 2 * 3 * room


def test_track_cells_refuses_what_it_cannot_lay_out():
    pattern = get_token_pattern("parallel_std", num_codebooks=3)
    with pytest.raises(ValueError, match="not 'mix'"):
        pattern.track_cells("mix", torch.zeros(1, 3, 4, dtype=torch.long), 10)
    with pytest.raises(ValueError, match=r"codes must be \(batch, 3, frames\)"):
        pattern.track_cells("vocals", torch.zeros(1, 2, 4, dtype=torch.long), 10)
    with pytest.raises(ValueError, match="codes must lie in"):
        pattern.track_cells("vocals", torch.full((1, 3, 4), 1024), 10)


def test_a_held_free_cell_gets_all_the_code_mass_and_keeps_its_eos():
    pattern = get_token_pattern("parallel_std", num_codebooks=2)
    length = pattern.sequence_length(3)
    mask = pattern.generation_mask(1, length)
    held = pattern.track_cells("vocals", torch.tensor([[[7, 7, 7], [9, 9, 9]]]), length)
    processor = SongGenPatternLogitsProcessor(pattern, mask, held=held)
    vocab = 1088
    scores = torch.randn(pattern.num_rows, vocab, generator=torch.Generator().manual_seed(0))
    column = 2  # codebook 0 and 1 of both tracks are free here
    out = processor(torch.zeros(pattern.num_rows, column, dtype=torch.long), scores.clone())
    vocal_rows = [2, 3]
    for row, code in zip(vocal_rows, (7, 9)):
        finite = torch.isfinite(out[row, :1024]).nonzero().flatten().tolist()
        assert finite == [code]
        assert math.isclose(out[row, code].item(), torch.logsumexp(scores[row, :1024], -1).item(), rel_tol=1e-6)
    # the accompaniment samples as it would without the held cells
    plain = SongGenPatternLogitsProcessor(pattern, mask)(
        torch.zeros(pattern.num_rows, column, dtype=torch.long), scores.clone()
    )
    assert torch.equal(out[:2], plain[:2])


def test_an_instrumental_gets_silent_vocal_codes_and_the_sung_song_is_untouched():
    model = _model()
    inputs = _inputs(model, [INSTRUMENTAL, SUNG])
    held = _generate(model, inputs)  # the default: on, since the model can
    own = _generate(model, inputs, silence_instrumental_vocals=False)
    frames = int(held.frame_lengths[0])
    silence = model.silence_codes(held.codes["vocals"].shape[-1])[0]
    assert torch.equal(held.codes["vocals"][0, :, :frames], silence[:, :frames])
    assert not torch.equal(own.codes["vocals"][0, :, :frames], silence[:, :frames])
    # the sung song samples from the same random numbers either way
    for track in ("accompaniment", "vocals"):
        assert torch.equal(held.codes[track][1], own.codes[track][1])
    # what the codec makes of its codes of silence is near silence; the model's own vocal track is not
    assert held.vocals[0].abs().max() < own.vocals[0].abs().max()


def test_silence_codes_are_what_encoding_silence_gives_and_are_cached():
    model = _model()
    hop = model.config.audio_encoder.hop_length
    expected = model.audio_encoder.encode(torch.zeros(1, 1, 7 * hop)).audio_codes[
        :, : model.config.decoder.num_codebooks
    ]
    first = model.silence_codes(7)
    assert torch.equal(first, expected)
    assert model.silence_codes(7) is first
    with torch.no_grad():  # training the codec in place invalidates them
        next(model.audio_encoder.parameters()).add_(1.0)
    assert model.silence_codes(7) is not first


def test_an_audio_prompt_keeps_its_vocal_codes_and_silence_follows():
    model = _model("parallel_std")
    inputs = _inputs(model, [INSTRUMENTAL])
    prompt = {
        name: torch.randint(
            0, 1024, (1, model.config.decoder.num_codebooks, 3), generator=torch.Generator().manual_seed(3)
        )
        for name in ("accompaniment", "vocals")
    }
    out = _generate(model, inputs, audio_prompt_codes=prompt)
    frames = int(out.frame_lengths[0])
    assert torch.equal(out.codes["vocals"][0, :, :3], prompt["vocals"][0])
    silence = model.silence_codes(out.codes["vocals"].shape[-1])[0]
    assert torch.equal(out.codes["vocals"][0, :, 3:frames], silence[:, 3:frames])


def test_it_is_saved_in_the_generation_config_and_false_turns_it_off(tmp_path):
    model = _model()
    model.generation_config.silence_instrumental_vocals = False
    model.save_pretrained(tmp_path)
    loaded = SongGenForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert loaded.generation_config.silence_instrumental_vocals is False
    inputs = _inputs(loaded, [INSTRUMENTAL])
    off = _generate(loaded, inputs)
    on = _generate(loaded, inputs, silence_instrumental_vocals=True)
    silence = loaded.silence_codes(on.codes["vocals"].shape[-1])[0]
    frames = int(on.frame_lengths[0])
    assert torch.equal(on.codes["vocals"][0, :, :frames], silence[:, :frames])
    assert not torch.equal(
        off.codes["vocals"][0, :, : int(off.frame_lengths[0])], silence[:, : int(off.frame_lengths[0])]
    )


@pytest.mark.parametrize(
    "pattern,arrangement,reason",
    [
        ("mixed", True, "its mixed pattern has no vocal track"),
        ("parallel_std", False, "it reads no arrangement control"),
    ],
)
def test_insisting_on_a_model_that_cannot_is_refused_and_the_default_does_nothing(pattern, arrangement, reason):
    model = _model(pattern, arrangement=arrangement)
    with pytest.raises(ValueError, match=f"silence_instrumental_vocals holds .* cannot: {reason}"):
        check_generation_arguments({"silence_instrumental_vocals": True}, model.config)
    inputs = dummy_inputs(model.config, batch_size=1, with_labels=False, seed=0)
    inputs.pop("decoder_input_ids")
    with pytest.raises(ValueError, match=reason):
        _generate(model, inputs, silence_instrumental_vocals=True)
    _generate(model, inputs)  # the default quietly applies where it can, nowhere here


def test_a_non_boolean_is_refused():
    with pytest.raises(ValueError, match="silence_instrumental_vocals must be True, False or None, got 'yes'"):
        check_generation_arguments({"silence_instrumental_vocals": "yes"})
