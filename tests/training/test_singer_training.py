"""``songgen train-singer`` (songgen_hf/training/singer.py): on synthetic songs whose sung codes the syllable
decides, the singer learns them from the score; a run resumes exactly; bad input is named."""

import json

import pytest
import torch

from songgen_hf.modeling.songgen import SongGenSinger
from songgen_hf.modeling.songgen_singer.modeling_songgen_singer import score_units
from songgen_hf.training import singer as training

SIZES = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=1)
SUNG_SYLLABLES = ["la", "mo", "ti", "ru"]


def _syllable_record(seed: int, noise, codebooks: int = 3, quiet_accompaniment: bool = False) -> dict:
    """A synthetic sung record: six of ``SUNG_SYLLABLES`` (drawn with ``seed``), each sung
    5 frames from frame 5 + 10 n, whose first ``codebooks`` vocal codes the syllable decides; every other code is
    drawn from ``noise`` (the accompaniment's too, unless ``quiet_accompaniment``); melody 60 + n, voice en+f2."""
    import json

    import torch

    rng = torch.Generator().manual_seed(seed)
    order = [SUNG_SYLLABLES[int(i)] for i in torch.randint(0, len(SUNG_SYLLABLES), (6,), generator=rng)]
    vocal = torch.randint(0, 1024, (8, 70), generator=noise)
    for number, text in enumerate(order):
        start = 5 + 10 * number
        vocal[:codebooks, start : start + 5] = (100 * SUNG_SYLLABLES.index(text) + torch.arange(codebooks))[:, None]
    attributes = {
        "syllables": order,
        "note_onsets_s": [0.1 + 0.2 * i for i in range(6)],
        "note_durations_s": [0.1] * 6,
        "melody_midi": [60 + i for i in range(6)],
        "voice": "en+f2",
    }
    accompaniment = (
        torch.zeros(8, 70, dtype=torch.long)
        if quiet_accompaniment
        else torch.randint(0, 1024, (8, 70), generator=noise)
    )
    return {
        "codes_vocals": vocal.tolist(),
        "codes_accompaniment": accompaniment.tolist(),
        "lyrics": " ".join(order),
        "attributes": json.dumps(attributes),
    }


def _encoded(folder, seeds, **record_options):
    import datasets

    noise = torch.Generator().manual_seed(seeds[0])
    records = [_syllable_record(seed, noise, **record_options) for seed in seeds]
    datasets.Dataset.from_list(records).save_to_disk(str(folder))
    return folder


def test_a_singer_learns_what_the_score_decides_and_sings_it(tmp_path):
    train = _encoded(tmp_path / "train", list(range(1, 41)))
    held = _encoded(tmp_path / "held", list(range(100, 106)))
    final = training.train_singer(
        [train],
        tmp_path / "run",
        held,
        steps=250,
        batch_size=8,
        learning_rate=3e-3,
        unit_dropout=0.15,
        log_steps=250,
        **SIZES,
    )
    log = json.loads((tmp_path / "run" / "train_log.json").read_text())
    nll = log[-1]["held_out_nll"]
    # 30 of the 70 frames are sung: told the syllable, its first codebook costs little; hidden, one of four
    assert nll["told"][0] < nll["hidden"][0] - 0.3, nll
    singer = SongGenSinger.from_pretrained(final).eval()
    assert singer.config.voices == ["en+f2"]
    record = _syllable_record(200, torch.Generator().manual_seed(7))
    song = training.singer_song(record, singer.config)
    sung = singer.fill(song["context"][None], song["units"][None])[0]
    frames = song["units"][singer.config.letters] > 0
    right = (sung[0][frames] == song["codes"][0][frames]).float().mean()
    blind = singer.fill(song["context"][None], training.hide_syllables(song["units"][None], singer.config.letters))[0]
    guessed = (blind[0][frames] == song["codes"][0][frames]).float().mean()
    # the syllables' codes, sung where the score says (one of four by chance, as without the syllables)
    assert right > 0.6 and right > guessed + 0.3, (right, guessed)
    assert training.record_score({**record, "lyrics": ""}) is None


def test_a_stopped_run_resumes_exactly(tmp_path, monkeypatch):
    train = _encoded(tmp_path / "train", list(range(1, 17)))
    options = dict(steps=12, batch_size=4, learning_rate=3e-3, save_steps=5, log_steps=4, **SIZES)
    whole = SongGenSinger.from_pretrained(training.train_singer([train], tmp_path / "whole", **options))

    real, calls = training.masked_loss, []

    def stopping(*args, **kwargs):
        calls.append(1)
        if len(calls) == 8:  # after the step-5 checkpoint, before the step-10 one
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "masked_loss", stopping)
    with pytest.raises(KeyboardInterrupt):
        training.train_singer([train], tmp_path / "stopped", **options)
    monkeypatch.setattr(training, "masked_loss", real)
    with pytest.raises(ValueError, match="already holds a run"):
        training.train_singer([train], tmp_path / "stopped", **options)
    resumed = SongGenSinger.from_pretrained(
        training.train_singer([train], tmp_path / "stopped", resume=True, **options)
    )
    for (name, a), (_, b) in zip(whole.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    assert json.loads((tmp_path / "stopped" / "train_log.json").read_text()) == json.loads(
        (tmp_path / "whole" / "train_log.json").read_text()
    )


def test_folders_without_sung_songs_and_a_resume_without_a_run_are_named(tmp_path):
    import datasets

    plain = [{**_syllable_record(1, torch.Generator().manual_seed(0)), "codes_vocals": None}]
    datasets.Dataset.from_list(plain).save_to_disk(str(tmp_path / "instrumental"))
    with pytest.raises(ValueError, match="No sung record"):
        training.train_singer([tmp_path / "instrumental"], tmp_path / "run", steps=1)
    train = _encoded(tmp_path / "train", [1, 2])
    with pytest.raises(ValueError, match="does not exist"):
        training.train_singer([train], tmp_path / "fresh", steps=1, resume=True)


def test_the_cli_refuses_values_that_cannot_train(tmp_path, capsys):
    from songgen_hf.commands.cli import main

    for bad in (["--steps", "0"], ["--unit-dropout", "1.5"], ["--hidden-size", "100"], ["--context-shuffle", "2"]):
        assert main(["train-singer", str(tmp_path), "--output", str(tmp_path / "run"), *bad]) == 2
        assert "must be" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_training_score_is_the_records_own_timing_notes_and_voice():
    record = _syllable_record(3, torch.Generator().manual_seed(0))
    score = training.record_score(record)
    attributes = json.loads(record["attributes"])
    assert list(score.syllables) == attributes["syllables"] and list(score.midi) == attributes["melody_midi"]
    assert score.voice == "en+f2" and all(s in SUNG_SYLLABLES for s in score.syllables)
    config = SongGenSinger.config_class(voices=["en+f2"])
    units = score_units(config, score, 70)
    assert units[config.letters + 1, 5:10].tolist() == [61] * 5  # melody 60 + 1 on the first note (frames 5-9)


def test_bf16_autocast_trains_float32_weights(tmp_path):
    train = _encoded(tmp_path / "train", [1, 2, 3, 4])
    final = training.train_singer([train], tmp_path / "run", steps=3, batch_size=2, bf16=True, device="cpu", **SIZES)
    singer = SongGenSinger.from_pretrained(final)
    assert all(parameter.dtype == torch.float32 for parameter in singer.parameters())
    assert all(torch.isfinite(parameter).all() for parameter in singer.parameters())


def test_a_singer_sung_over_other_songs_accompaniment_still_follows_the_score(tmp_path):
    """--context-shuffle 1: every song sung over another's accompaniment; the score alone decides the codes here,
    so the singer still learns them (and the run is a different one from the plain run's)."""
    train = _encoded(tmp_path / "train", list(range(1, 41)))
    held = _encoded(tmp_path / "held", list(range(100, 106)))
    options = dict(steps=250, batch_size=8, learning_rate=3e-3, log_steps=250, **SIZES)
    training.train_singer([train], tmp_path / "shuffled", held, context_shuffle=1.0, **options)
    nll = json.loads((tmp_path / "shuffled" / "train_log.json").read_text())[-1]["held_out_nll"]
    assert nll["told"][0] < nll["hidden"][0] - 0.3, nll
