"""Arrangement guidance: the opposite arrangement, the guided scores, generation with a third copy, errors, saving."""

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.logits_processors import SongGenClassifierFreeGuidanceLogitsProcessor
from songgen_hf.modeling.songgen.musical_controls import (
    NUM_ARRANGEMENTS,
    UNKNOWN_ARRANGEMENT,
    arrangement_id,
    arrangement_parts,
    opposite_arrangement_ids,
)
from songgen_hf.testing import tiny_songgen_config

from .test_musical_controls import _model, batch  # noqa: F401  (batch: the same decoder-input fixture)

ARRANGEMENT = {"use_arrangement_control": True}
INSTRUMENTAL, SUNG_WITH_DRUMS = arrangement_id(False, None), arrangement_id(True, True)


@pytest.fixture(scope="module")
def model():
    return _model(controls=ARRANGEMENT)


def test_the_opposite_turns_said_parts_round_and_leaves_unsaid_ones():
    ids = torch.arange(NUM_ARRANGEMENTS)
    opposite = opposite_arrangement_ids(ids)
    for said, turned in zip(ids.tolist(), opposite.tolist()):
        vocals, drums = arrangement_parts(said)
        flip = lambda part: None if part is None else not part  # noqa: E731
        assert arrangement_parts(turned) == (flip(vocals), flip(drums))
    assert torch.equal(opposite_arrangement_ids(opposite), ids)  # its own inverse
    assert opposite[UNKNOWN_ARRANGEMENT] == UNKNOWN_ARRANGEMENT


def test_the_guided_scores_push_away_from_the_opposite_copy():
    torch.manual_seed(0)
    conditional, unconditional, opposite = torch.randn(3, 4, 10).unbind(0)
    input_ids = torch.zeros(4, 1, dtype=torch.long)
    three = SongGenClassifierFreeGuidanceLogitsProcessor(3.0, arrangement_guidance_scale=1.5)
    expected = unconditional + 3.0 * (conditional - unconditional) + 1.5 * (conditional - opposite)
    torch.testing.assert_close(three(input_ids, torch.cat([conditional, unconditional, opposite])), expected)
    # without the unconditional copy: the conditional scores plus the push
    two = SongGenClassifierFreeGuidanceLogitsProcessor(1.0, arrangement_guidance_scale=2.0)
    torch.testing.assert_close(two(input_ids, torch.cat([conditional, opposite])), conditional + 2.0 * (conditional - opposite))
    # off: exactly the classic two-copy guidance
    classic = SongGenClassifierFreeGuidanceLogitsProcessor(3.0)
    assert torch.equal(classic(input_ids, torch.cat([conditional, unconditional])),
                       unconditional + 3.0 * (conditional - unconditional))
    with pytest.raises(ValueError, match="3 times"):
        three(input_ids, torch.cat([conditional, unconditional]))
    with pytest.raises(ValueError, match="arrangement_guidance_scale"):
        SongGenClassifierFreeGuidanceLogitsProcessor(3.0, arrangement_guidance_scale=-1.0)
    with pytest.raises(ValueError, match="Nothing to guide"):
        SongGenClassifierFreeGuidanceLogitsProcessor(1.0, arrangement_guidance_scale=0.0)


def _generate(model, batch, ids, **options):
    torch.manual_seed(0)
    return model.generate(
        input_ids=batch["input_ids"], lyrics_input_ids=batch["lyrics_input_ids"], arrangement_ids=torch.tensor(ids),
        duration_s=0.3, return_dict_in_generate=True, decode_audio=False, **options,
    ).sequences


@pytest.mark.parametrize("guidance_scale", [1.0, 3.0])
def test_generation_moves_only_where_an_arrangement_was_asked(model, batch, guidance_scale):
    said = [INSTRUMENTAL, SUNG_WITH_DRUMS]
    plain = _generate(model, batch, said, guidance_scale=guidance_scale)
    pushed = _generate(model, batch, said, guidance_scale=guidance_scale, arrangement_guidance_scale=4.0)
    assert torch.equal(pushed, _generate(model, batch, said, guidance_scale=guidance_scale, arrangement_guidance_scale=4.0))
    assert not torch.equal(plain, pushed)
    # nothing said: the opposite copy is the conditional one, the push is zero and the song is the same
    unsaid = [UNKNOWN_ARRANGEMENT] * 2
    torch.testing.assert_close(
        _generate(model, batch, unsaid, guidance_scale=guidance_scale, arrangement_guidance_scale=4.0),
        _generate(model, batch, unsaid, guidance_scale=guidance_scale), rtol=0, atol=0,
    )


def test_the_setting_is_saved_with_the_model(model, batch, tmp_path):
    said = [INSTRUMENTAL, SUNG_WITH_DRUMS]
    model.generation_config.arrangement_guidance_scale = 4.0
    try:
        model.save_pretrained(tmp_path)
        from_config = _generate(model, batch, said, guidance_scale=3.0)
    finally:
        model.generation_config.arrangement_guidance_scale = None
    reloaded = SongGenForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert reloaded.generation_config.arrangement_guidance_scale == 4.0
    assert torch.equal(from_config, _generate(model, batch, said, guidance_scale=3.0, arrangement_guidance_scale=4.0))
    assert torch.equal(from_config, _generate(reloaded, batch, said, guidance_scale=3.0))


def test_bad_arrangement_guidance_is_a_clear_error(model, batch):
    with pytest.raises(ValueError, match="arrangement_guidance_scale must be a number >= 0"):
        _generate(model, batch, [0, 4], arrangement_guidance_scale=-1.0)
    with pytest.raises(ValueError, match="no arrangement_ids were given"):
        torch.manual_seed(0)
        model.generate(input_ids=batch["input_ids"], lyrics_input_ids=batch["lyrics_input_ids"], duration_s=0.3,
                       arrangement_guidance_scale=2.0)
    plain = SongGenForConditionalGeneration(tiny_songgen_config("mixed", use_voice_encoder=False)).eval()
    with pytest.raises(ValueError, match="use_arrangement_control=True"):
        plain.generate(input_ids=batch["input_ids"], lyrics_input_ids=batch["lyrics_input_ids"], duration_s=0.3,
                       arrangement_guidance_scale=2.0)


def test_the_command_line_and_the_pipeline_take_it(tmp_path, capsys):
    import soundfile as sf

    from songgen_hf.cli import main
    from songgen_hf.pipelines import load_text_to_song_pipeline
    from songgen_hf.testing import save_tiny_checkpoint

    controlled = save_tiny_checkpoint(tmp_path / "controlled", track_pattern="mixed", use_voice_encoder=False,
                                      decoder=dict(ARRANGEMENT))
    plain = save_tiny_checkpoint(tmp_path / "plain", track_pattern="mixed", use_voice_encoder=False)

    def generate(folder, *extra):
        return main(["generate", "--description", "an instrumental with no drums", "--lyrics", "",
                     "--model", str(folder), "--duration", "0.3", "--no-progress", "--seed", "0", *extra])

    output = tmp_path / "song.wav"
    assert generate(controlled, "--output", str(output), "--arrangement-guidance-scale", "2") == 0
    assert sf.info(output).frames > 0
    # refused before any weights load, naming the flag and the reason
    assert generate(plain, "--output", str(tmp_path / "x.wav"), "--arrangement-guidance-scale", "2") == 2
    error = capsys.readouterr().err
    assert "--arrangement-guidance-scale needs a model with the arrangement control" in error
    assert generate(controlled, "--output", str(tmp_path / "y.wav"), "--arrangement-guidance-scale", "-1") == 2
    assert "--arrangement-guidance-scale must be a number >= 0" in capsys.readouterr().err

    pipe = load_text_to_song_pipeline(str(controlled))
    song = {"description": "an instrumental with no drums", "lyrics": ""}

    def audio(**options):
        return pipe(song, duration_s=0.3, min_duration_s=0.3, seed=0, **options)["audio"]

    pushed = audio(arrangement_guidance_scale=4.0)
    assert (pushed == audio(arrangement_guidance_scale=4.0)).all()  # seeded: the same song again
    assert (pushed != audio()).any()  # and not the song without the push
