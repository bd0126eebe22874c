"""``control_each_dropout_prob``: each musical control replaced by "unknown" on its own in training, on top of the
joint drops, so that "tempo told, key unknown" (how most prompts ask) is trained."""

import math

import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.configuration_songgen import UNKNOWN_ARRANGEMENT, UNKNOWN_KEY
from songgen_hf.testing import tiny_songgen_config

CONTROLS = {"use_tempo_control": True, "use_key_control": True, "use_arrangement_control": True}
# the joint drops of a real run (songgen-tiny's): the description, the lyrics, every condition, the controls together
JOINT = {"description_dropout_prob": 0.1, "lyrics_dropout_prob": 0.1, "joint_dropout_prob": 0.1}


def _model(controls=CONTROLS, **overrides):
    torch.manual_seed(0)
    config = tiny_songgen_config("mixed", use_voice_encoder=False, decoder=dict(controls), **overrides)
    return SongGenForConditionalGeneration(config).train()


def test_each_control_drops_on_its_own_at_its_rate_on_top_of_the_joint_drop():
    model = _model(control_dropout_prob=0.2, control_each_dropout_prob=0.3, **JOINT)
    batch = 40_000
    torch.manual_seed(1)
    drop = model.training_condition_drops(batch, None)
    each = {name: drop[f"control_{name}"] for name in ("tempo", "key", "arrangement")}
    spread = 4 * math.sqrt(0.3 * 0.7 / batch)  # four standard deviations of a rate over the batch
    for name, mask in each.items():
        assert abs(mask.float().mean().item() - 0.3) < spread, name
    # drawn apart: the masks differ, and two of them agree as often as independent draws do (0.3^2 + 0.7^2)
    assert not torch.equal(each["tempo"], each["key"]) and not torch.equal(each["key"], each["arrangement"])
    agree = (each["tempo"] == each["key"]).float().mean().item()
    assert abs(agree - 0.58) < 4 * math.sqrt(0.58 * 0.42 / batch)
    # a control is unknown where it dropped alone, with the controls together, or with the description
    dropped = model._controls_dropped(drop)
    together = drop["controls"] | drop["description"]
    for name, mask in each.items():
        assert torch.equal(dropped[name], mask | together), name
    # "tempo told, key unknown" is trained: a share near (1 - together) x 0.3 x 0.7 of the rows
    told_tempo_unknown_key = (~dropped["tempo"] & dropped["key"]).float().mean().item()
    expected = (1 - together.float().mean().item()) * 0.3 * 0.7
    assert abs(told_tempo_unknown_key - expected) < 0.01


def test_each_dropped_control_reaches_the_decoder_as_unknown_and_the_others_as_told():
    model = _model()
    tempo, keys, arrangements = torch.tensor([120.0, 90.0, 100.0]), torch.tensor([3, 15, 7]), torch.tensor([4, 1, 2])
    dropped = {
        "tempo": torch.tensor([True, False, False]),
        "key": torch.tensor([False, True, False]),
        "arrangement": torch.tensor([False, False, True]),
    }
    controls = model._convert_controls(tempo, keys, 3, dropped, arrangements)
    beats = controls["tempo_beats_per_frame"]
    assert torch.isnan(beats[0]) and not torch.isnan(beats[1:]).any()
    assert controls["music_key_ids"].tolist() == [3, UNKNOWN_KEY, 7]
    assert controls["arrangement_ids"].tolist() == [4, 1, UNKNOWN_ARRANGEMENT]
    # one mask (the joint drop, as ResGen's null branch passes it) still drops every control of its rows
    together = model._convert_controls(tempo, keys, 3, torch.tensor([False, True, False]), arrangements)
    assert torch.isnan(together["tempo_beats_per_frame"][1]) and not torch.isnan(together["tempo_beats_per_frame"][0])
    assert together["music_key_ids"].tolist() == [3, UNKNOWN_KEY, 7]
    assert together["arrangement_ids"].tolist() == [4, UNKNOWN_ARRANGEMENT, 2]


def test_only_the_controls_the_model_uses_draw_a_mask():
    model = _model(controls={"use_tempo_control": True, "use_key_control": True}, control_each_dropout_prob=0.5)
    drop = model.training_condition_drops(8, None)
    assert {"control_tempo", "control_key"} <= set(drop) and "control_arrangement" not in drop


def test_at_zero_every_other_mask_and_every_random_number_after_them_is_unchanged():
    """Drawn after every other mask and only when above 0: a run that leaves it at 0 draws what it drew before the
    option existed, and a run that sets it keeps the other masks of the same seed."""
    off = _model(control_dropout_prob=0.2, **JOINT)
    on = _model(control_dropout_prob=0.2, control_each_dropout_prob=0.5, **JOINT)
    torch.manual_seed(3)
    drawn_off = off.training_condition_drops(64, None)
    after_off = torch.rand(4)
    # what the drops drew before this option: one draw per probability above 0, description, lyrics, (no voice
    # encoder here), every condition together, the controls together; nothing more
    torch.manual_seed(3)
    description, lyrics, joint, controls = (torch.rand(64) for _ in range(4))
    assert torch.equal(torch.rand(4), after_off)
    assert torch.equal(drawn_off["description"], (description < 0.1) | (joint < 0.1))
    assert torch.equal(drawn_off["lyrics"], (lyrics < 0.1) | (joint < 0.1))
    assert torch.equal(drawn_off["controls"], controls < 0.2)
    assert torch.equal(drawn_off["voice"], joint < 0.1)  # the voice drops with every condition only
    assert set(drawn_off) == {"description", "lyrics", "voice", "controls"}
    assert torch.is_tensor(off._controls_dropped(drawn_off))  # one mask for every control, as before
    torch.manual_seed(3)
    drawn_on = on.training_condition_drops(64, None)
    assert {name: mask for name, mask in drawn_on.items() if not name.startswith("control_")}.keys() == drawn_off.keys()
    for name, mask in drawn_off.items():
        assert torch.equal(drawn_on[name], mask), name
    # outside training nothing is drawn
    torch.manual_seed(3)
    assert on.eval().training_condition_drops(64, None) == {}
    assert torch.equal(torch.rand(64), description)


def test_the_probability_is_checked_and_saved(tmp_path):
    with pytest.raises(ValueError, match=r"control_each_dropout_prob must be a probability in \[0, 1\], got 1.5"):
        tiny_songgen_config(control_each_dropout_prob=1.5)
    model = _model(control_each_dropout_prob=0.25)
    model.save_pretrained(tmp_path)
    assert SongGenForConditionalGeneration.from_pretrained(tmp_path).config.control_each_dropout_prob == 0.25


def test_resgen_trains_with_each_control_unknown_on_its_own():
    """ResGen conditions through the same mixin: with every control dropped on its own, the controls never reach
    its decoder in training (two tempos and keys, one loss), while its description still does."""
    from songgen_hf import ResGenForConditionalGeneration
    from songgen_hf.testing import tiny_resgen_config

    torch.manual_seed(0)
    config = tiny_resgen_config(
        decoder={"use_tempo_control": True, "use_key_control": True},
        joint_dropout_prob=0.0,
        control_each_dropout_prob=1.0,
    )
    model = ResGenForConditionalGeneration(config).train()
    codes = torch.randint(0, 1024, (2, 4, 12), generator=torch.Generator().manual_seed(1))
    ids, lyrics = torch.randint(3, 50, (2, 5)), torch.randint(3, 50, (2, 7))

    def loss(tempo, keys, description=ids):
        conditions = {
            "input_ids": description,
            "attention_mask": torch.ones_like(description),
            "lyrics_input_ids": lyrics,
            "lyrics_attention_mask": torch.ones_like(lyrics),
        }
        torch.manual_seed(0)
        with torch.no_grad():
            return model(
                **conditions,
                audio_codes=codes,
                mask_ratios=torch.tensor([0.4, 0.8]),
                generator=torch.Generator().manual_seed(0),
                tempo_bpm=torch.tensor(tempo),
                music_key_ids=torch.tensor(keys),
            ).loss.item()

    slow = loss([60.0, 70.0], [0, 1])
    assert slow == loss([180.0, 170.0], [5, 9])
    assert slow != loss([60.0, 70.0], [0, 1], ids.flip(-1))


def test_one_probability_per_control_drops_each_at_its_own_rate_and_keeps_the_one_number_draws():
    """A mapping gives each control its own rate (a control it leaves out stays told); with the same rate for every
    control it draws bit for bit what the one number draws, so a run can move one control without moving the rest."""
    per_control = _model(control_each_dropout_prob={"key": 0.5, "arrangement": 0.25}, **JOINT)
    batch = 40_000
    torch.manual_seed(5)
    drop = per_control.training_condition_drops(batch, None)
    assert "control_tempo" not in drop  # told wherever the controls do not drop together
    for name, rate in (("key", 0.5), ("arrangement", 0.25)):
        spread = 4 * math.sqrt(rate * (1 - rate) / batch)
        assert abs(drop[f"control_{name}"].float().mean().item() - rate) < spread, name
    dropped = per_control._controls_dropped(drop)
    assert torch.equal(dropped["tempo"], drop["description"])  # the tempo drops only with the description here
    after = torch.rand(4)
    # the same draws as one number: the tempo's row is drawn even at 0, so the rows after it line up
    one_number = _model(control_each_dropout_prob=0.5, **JOINT)
    same_each = _model(control_each_dropout_prob={"tempo": 0.5, "key": 0.5, "arrangement": 0.5}, **JOINT)
    torch.manual_seed(5)
    drawn_one = one_number.training_condition_drops(batch, None)
    torch.manual_seed(5)
    drawn_each = same_each.training_condition_drops(batch, None)
    assert torch.equal(torch.rand(4), after)
    assert drawn_one.keys() == drawn_each.keys()
    for name, mask in drawn_one.items():
        assert torch.equal(drawn_each[name], mask), name
    assert torch.equal(drawn_one["control_key"], drop["control_key"])


@pytest.mark.parametrize(
    "value, message",
    [
        ({"tempo": 0.0, "keys": 0.5}, r"names 'keys'; the musical controls are tempo, key, arrangement"),
        ({"key": 1.5}, r"control_each_dropout_prob\['key'\] must be a probability in \[0, 1\], got 1.5"),
        ({"key": "half"}, r"control_each_dropout_prob\['key'\] must be a probability"),
        ("half", r"control_each_dropout_prob must be a probability"),
    ],
)
def test_a_bad_probability_per_control_is_refused_with_its_fix(value, message):
    with pytest.raises(ValueError, match=message):
        tiny_songgen_config(control_each_dropout_prob=value)


def test_the_probabilities_per_control_are_saved(tmp_path):
    probs = {"tempo": 0.0, "key": 0.5, "arrangement": 0.5}
    _model(control_each_dropout_prob=probs).save_pretrained(tmp_path)
    assert SongGenForConditionalGeneration.from_pretrained(tmp_path).config.control_each_dropout_prob == probs
