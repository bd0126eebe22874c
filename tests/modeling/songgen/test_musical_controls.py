"""Musical controls: the metronome's phase, what reaches which song, dropout, guidance, saving, errors."""

import math

import pytest
import torch

from songgen_hf import SongGenDecoderConfig, SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.conditioning_songgen import SongGenMusicalControls
from songgen_hf.modeling.songgen.configuration_songgen import UNKNOWN_KEY, music_key_id
from songgen_hf.testing import tiny_songgen_config

CONTROLS = {"use_tempo_control": True, "use_key_control": True}


def _model(seed=0, controls=CONTROLS, **overrides):
    torch.manual_seed(seed)
    config = tiny_songgen_config("mixed", use_voice_encoder=False, decoder=dict(controls), **overrides)
    return SongGenForConditionalGeneration(config).eval()


@pytest.fixture(scope="module")
def model():
    return _model()


def _logits(model, batch, **controls):
    with torch.no_grad():
        logits = model(**batch, **controls).logits
    return logits.view(2, -1, *logits.shape[1:])  # (songs, rows, length, vocab)


def _seeded_song(model, batch, **generate_kwargs):
    """The codes generate() draws from seed 0 for ``batch``'s prompt: a control changes them only by what it does."""
    torch.manual_seed(0)
    return model.generate(
        input_ids=batch["input_ids"],
        lyrics_input_ids=batch["lyrics_input_ids"],
        return_dict_in_generate=True,
        decode_audio=False,
        **generate_kwargs,
    ).sequences


def test_key_ids_are_pitch_class_plus_twelve_for_minor():
    assert music_key_id(9, minor=False) == 9 and music_key_id(9, minor=True) == 21
    assert len({music_key_id(p, m) for p in range(12) for m in (False, True)}) == 24 == UNKNOWN_KEY
    with pytest.raises(ValueError, match="0..11"):
        music_key_id(12, minor=False)


def test_metronome_repeats_every_bar_and_differs_within_it():
    controls = SongGenMusicalControls(SongGenDecoderConfig(hidden_size=16, num_attention_heads=4, **CONTROLS))
    beats_per_frame = torch.tensor([120 / 60 / 50])  # 120 BPM at 50 Hz: a beat every 25 frames, a bar every 100
    positions = torch.arange(0, 300)[None]
    features = controls.beat_phase_features(positions, beats_per_frame)[0]
    close = dict(rtol=0, atol=1e-5)
    torch.testing.assert_close(features[:100], features[100:200], **close)
    torch.testing.assert_close(features[:100], features[200:300], **close)
    # the one-beat period (third) repeats every 25 frames; the bar period (first) does not
    sin_bar, sin_beat = features[:, 0], features[:, 2]
    torch.testing.assert_close(sin_beat[:25], sin_beat[25:50], **close)
    assert (sin_bar[:25] - sin_bar[25:50]).abs().max() > 0.5
    assert abs(sin_beat[0].item()) < 1e-6 and abs(features[0, 6].item() - 1) < 1e-6  # phase 0 on the downbeat


def test_tempo_and_key_reach_only_their_own_song(model, batch):
    base = _logits(model, batch, tempo_bpm=torch.tensor([120.0, 90.0]), music_key_ids=torch.tensor([3, 21]))
    faster = _logits(model, batch, tempo_bpm=torch.tensor([150.0, 90.0]), music_key_ids=torch.tensor([3, 21]))
    other_key = _logits(model, batch, tempo_bpm=torch.tensor([120.0, 90.0]), music_key_ids=torch.tensor([3, 4]))
    assert (base[0] - faster[0]).abs().max() > 1e-3 and torch.equal(base[1], faster[1])
    assert torch.equal(base[0], other_key[0]) and (base[1] - other_key[1]).abs().max() > 1e-3


def test_unknown_controls_equal_no_controls(model, batch):
    unknown = _logits(
        model,
        batch,
        tempo_bpm=torch.tensor([float("nan"), 0.0]),
        music_key_ids=torch.tensor([UNKNOWN_KEY, UNKNOWN_KEY]),
    )
    torch.testing.assert_close(unknown, _logits(model, batch), rtol=0, atol=0)


def test_dropped_description_drops_the_controls(batch):
    model = _model(description_dropout_prob=1.0).train()
    with torch.no_grad():
        slow = model(**batch, tempo_bpm=torch.tensor([60.0, 70.0]), music_key_ids=torch.tensor([0, 1])).loss
        fast = model(**batch, tempo_bpm=torch.tensor([180.0, 170.0]), music_key_ids=torch.tensor([5, 9])).loss
    assert slow.item() == fast.item()


def test_guidance_nulls_the_controls_in_the_unconditional_half():
    kwargs = {"tempo_bpm": torch.tensor([120.0, 80.0]), "music_key_ids": torch.tensor([3, 15])}
    SongGenForConditionalGeneration._repeat_musical_controls(kwargs, [False, True])
    assert kwargs["tempo_bpm"][:2].tolist() == [120.0, 80.0] and torch.isnan(kwargs["tempo_bpm"][2:]).all()
    assert kwargs["music_key_ids"].tolist() == [3, 15, UNKNOWN_KEY, UNKNOWN_KEY]
    kept = {"tempo_bpm": torch.tensor([120.0])}
    SongGenForConditionalGeneration._repeat_musical_controls(kept, [False, False])  # description not guided
    assert kept["tempo_bpm"].tolist() == [120.0, 120.0]


@pytest.mark.parametrize("guidance_scale", [None, 3.0])
def test_generation_follows_the_requested_tempo(model, batch, guidance_scale):
    """Same seed, same prompt: a different tempo gives a different song, the same tempo the same song."""

    def generate(bpm):
        return _seeded_song(
            model,
            batch,
            tempo_bpm=torch.tensor(bpm),
            music_key_ids=torch.tensor([2, 14]),
            duration_s=0.4,
            guidance_scale=guidance_scale,
        )

    first = generate([120.0, 96.0])
    assert torch.equal(first, generate([120.0, 96.0]))
    assert not torch.equal(first, generate([60.0, 96.0]))


def test_controls_survive_save_and_reload(model, batch, tmp_path):
    model.save_pretrained(tmp_path)
    reloaded = SongGenForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert reloaded.config.decoder.use_tempo_control and reloaded.config.decoder.use_key_control
    controls = {"tempo_bpm": torch.tensor([120.0, 90.0]), "music_key_ids": torch.tensor([3, 21])}
    torch.testing.assert_close(_logits(reloaded, batch, **controls), _logits(model, batch, **controls))


def test_bad_controls_are_clear_errors(model, batch):
    plain = SongGenForConditionalGeneration(tiny_songgen_config("mixed", use_voice_encoder=False)).eval()
    with pytest.raises(ValueError, match="no tempo control"):
        plain(**batch, tempo_bpm=torch.tensor([120.0, 90.0]))
    with pytest.raises(ValueError, match="no key control"):
        plain(**batch, music_key_ids=torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="one value per song"):
        model(**batch, tempo_bpm=torch.tensor([120.0]))
    with pytest.raises(ValueError, match="beats per minute"):
        model(**batch, tempo_bpm=torch.tensor([120.0, 9000.0]))
    with pytest.raises(ValueError, match=r"0\.\.24"):
        model(**batch, music_key_ids=torch.tensor([3, 25]))
    with pytest.raises(ValueError, match="tempo_control_periods"):
        SongGenDecoderConfig(tempo_control_periods=[4.0, 0.0])


def test_metronome_starts_at_the_scale_of_the_positions(model):
    projection = model.decoder.model.musical_controls.tempo_projection
    assert math.isclose(projection.weight.std().item(), projection.in_features**-0.5, rel_tol=0.3)
    assert torch.equal(model.decoder.model.musical_controls.unknown_tempo, torch.zeros_like(projection.bias))


@pytest.mark.parametrize(
    ("pattern", "frames_per_position"),
    [("mixed", 1.0), ("mixed_stream2", 2.0), ("mixed_stream4", 4.0), ("interleaving_A_V", 0.5), ("parallel_A_V", 1.0)],
)
def test_the_metronome_keeps_the_musics_beat_whatever_the_pattern(pattern, frames_per_position):
    """A decoder position holds S frames in a multi-stream layout and half a frame when two tracks interleave:
    the tempo reaching the decoder is in beats per position, so one beat of music is one metronome beat."""
    torch.manual_seed(0)
    model = SongGenForConditionalGeneration(
        tiny_songgen_config(pattern, use_voice_encoder=False, decoder=dict(CONTROLS))
    ).eval()
    assert model.pattern.frames_per_position == frames_per_position
    controls = model._musical_control_inputs(torch.tensor([120.0]), None, 1, None)
    beats_per_frame = 120.0 / 60.0 / model.config.frame_rate
    assert controls["tempo_beats_per_frame"].item() == pytest.approx(beats_per_frame * frames_per_position)


PITCH_CLASS_KEYS = {**CONTROLS, "key_control_features": "pitch_classes"}


def test_key_pitch_class_features_say_the_scale_and_the_home_note():
    from songgen_hf.modeling.songgen.conditioning_songgen import key_pitch_class_features

    features = key_pitch_class_features()
    c_major, a_minor, g_major = features[music_key_id(0, False)], features[music_key_id(9, True)], features[7]
    assert c_major[:12].tolist() == [1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1]  # C D E F G A B
    assert torch.equal(c_major[:12], a_minor[:12])  # relative keys share the scale...
    assert c_major[12:].argmax() == 0 and a_minor[12:].argmax() == 9  # ...not the home note
    assert (c_major[:12] != g_major[:12]).sum() == 2  # a fifth apart: F vs F#
    assert len({tuple(row.tolist()) for row in features}) == UNKNOWN_KEY  # 24 distinct keys


def test_pitch_class_key_control_reaches_its_song_and_unknown_equals_none(batch):
    model = _model(controls=PITCH_CLASS_KEYS)
    controls = model.decoder.model.musical_controls
    assert controls.key_embedding is None and controls.key_projection.in_features == 24
    assert torch.equal(controls.unknown_key, torch.zeros_like(controls.unknown_key))
    base = _logits(model, batch, music_key_ids=torch.tensor([3, 21]))
    other_key = _logits(model, batch, music_key_ids=torch.tensor([3, 4]))
    assert torch.equal(base[0], other_key[0]) and (base[1] - other_key[1]).abs().max() > 1e-3
    unknown = _logits(model, batch, music_key_ids=torch.tensor([UNKNOWN_KEY, UNKNOWN_KEY]))
    torch.testing.assert_close(unknown, _logits(model, batch), rtol=0, atol=0)


def test_pitch_class_key_control_saves_reloads_and_is_checked(tmp_path, batch):
    model = _model(controls=PITCH_CLASS_KEYS)
    model.save_pretrained(tmp_path / "m")
    reloaded = SongGenForConditionalGeneration.from_pretrained(tmp_path / "m").eval()
    assert reloaded.config.decoder.key_control_features == "pitch_classes"
    keys = torch.tensor([5, 17])
    torch.testing.assert_close(
        _logits(reloaded, batch, music_key_ids=keys), _logits(model, batch, music_key_ids=keys), rtol=0, atol=0
    )
    # the features are music theory, not weights: the checkpoint holds the map, not the table
    from safetensors import safe_open

    with safe_open(str(next((tmp_path / "m").glob("*.safetensors"))), "pt") as weights:
        assert not any(name.endswith("key_features") for name in weights.keys())
    with pytest.raises(ValueError, match="key_control_features must be"):
        SongGenDecoderConfig(key_control_features="chroma")


# ------------------------------------------------------------------ decoding steps read a per-song table
def _controls_module(seed=0):
    torch.manual_seed(seed)
    config = SongGenDecoderConfig(
        hidden_size=16,
        num_attention_heads=4,
        use_arrangement_control=True,
        key_control_features="pitch_classes",
        **CONTROLS,
    )
    return SongGenMusicalControls(config).eval()


def _step(module, position, **controls):
    with torch.no_grad():
        return module(torch.tensor([[position]]), 2, dtype=torch.float32, **controls)


def test_a_decoding_step_reads_what_the_full_computation_gives():
    module = _controls_module()
    controls = {
        "tempo_beats_per_frame": torch.tensor([0.04, float("nan")]),
        "music_key_ids": torch.tensor([3, 24]),
        "arrangement_ids": torch.tensor([4, 8]),
    }
    with torch.no_grad():
        full = module(torch.arange(600)[None], 2, dtype=torch.float32, **controls)  # (2, 600, 16), computed directly
    for position in (0, 1, 77, 255, 256, 599):  # 256 and 599: past the first table, which then doubles
        torch.testing.assert_close(
            _step(module, position, **controls), full[:, position : position + 1], rtol=1e-6, atol=1e-6
        )
    assert module._table[1].shape[1] >= 600


def test_the_table_follows_new_controls_and_new_weights():
    module = _controls_module()
    slow = {"tempo_beats_per_frame": torch.tensor([0.02, 0.02]), "music_key_ids": torch.tensor([3, 3])}
    fast = {"tempo_beats_per_frame": torch.tensor([0.05, 0.02]), "music_key_ids": torch.tensor([3, 3])}
    before = _step(module, 10, **slow)
    assert (before[0] - _step(module, 10, **fast)[0]).abs().max() > 1e-3  # other controls, other rows
    torch.testing.assert_close(_step(module, 10, **slow), before, rtol=0, atol=0)
    with torch.no_grad():
        module.tempo_projection.weight.add_(0.5)  # an optimizer step between two songs
    assert (_step(module, 10, **slow) - before).abs().max() > 1e-3
    with torch.enable_grad():  # training never reads (or builds) the table
        module._table = None
        module(torch.tensor([[10]]), 2, dtype=torch.float32, **slow)
        assert module._table is None


def test_generation_controls_are_converted_once_per_song_and_follow_new_values(model, batch):
    calls = []
    original = model._convert_controls

    def counting(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    model._convert_controls = counting
    model.__dict__.pop("_controls_memo", None)  # earlier tests' last controls
    try:
        for bpm in (120.0, 120.0, 90.0):
            with torch.no_grad():
                out = model._musical_control_inputs(torch.tensor([bpm, bpm]), torch.tensor([3, 21]), 2, None)
            assert out["tempo_beats_per_frame"][0].item() == pytest.approx(bpm / 60 / 50)
        assert [c.tolist() for c in calls] == [[120.0, 120.0], [90.0, 90.0]]  # the repeat was not converted again
        with pytest.raises(ValueError, match="tempo_bpm values must be beats per minute"):  # still validated
            with torch.no_grad():
                model._musical_control_inputs(torch.tensor([5000.0, 90.0]), None, 2, None)
    finally:
        del model._convert_controls


def test_controls_given_as_slices_of_a_larger_tensor_are_read_as_their_values():
    """A control may be a strided view (one column of a per-window table): the memos read its values, not its
    parent's layout, and the song is the one the same values give as a fresh tensor."""
    from songgen_hf.testing import dummy_generation_inputs

    config = tiny_songgen_config(
        "mixed", use_voice_encoder=False, decoder={"use_tempo_control": True, "use_key_control": True}
    )
    torch.manual_seed(0)
    model = SongGenForConditionalGeneration(config).eval()
    inputs = dummy_generation_inputs(model)
    tempos, keys = torch.tensor([[100.0, 140.0], [90.0, 70.0]]), torch.tensor([[0, 9], [3, 5]])
    settings = dict(duration_s=0.2, do_sample=False, decode_audio=False, return_dict_in_generate=True)
    sliced = model.generate(**inputs, tempo_bpm=tempos[:, 1], music_key_ids=keys[:, 1], **settings)
    fresh = model.generate(
        **inputs, tempo_bpm=torch.tensor([140.0, 70.0]), music_key_ids=torch.tensor([9, 5]), **settings
    )
    assert tempos[:, 1].stride() == (2,)
    assert torch.equal(sliced.sequences, fresh.sequences)
