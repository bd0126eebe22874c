"""Held-out loss during SongGen training (``validation_data``): logged where asked, equal to the loss of the model
as saved, the same on several processes as on one, and without any effect on the run itself."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.data.encode import EncodeOptions, encode_manifest
from songgen_hf.modeling.patterns import get_token_pattern
from songgen_hf.modeling.songgen.conditioning_songgen import SongGenMusicalControls
from songgen_hf.modeling.songgen.loss import combine_row_losses, masked_row_cross_entropy
from songgen_hf.training.resgen_trainer import train_resgen
from songgen_hf.training.songgen_data import SongGenCollator, sung_track
from songgen_hf.training.songgen_trainer import LOG_FILE, SongGenTrainer, train_songgen
from songgen_hf.training.validation import HeldOutLoss, sung_row_sums, wrong_key, wrong_lyrics, wrong_tempo

from ..data.tone_songs import save_tiny_codec, save_tiny_tokenizers, with_word_timing, write_tone_songs
from .tiny_stage import tiny_stage_config


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("validation")
    codec = save_tiny_codec(root / "codec")
    encode_manifest(write_tone_songs(root / "songs"), codec, root / "encoded", EncodeOptions())
    # held-out songs: other tones, same codec
    encode_manifest(write_tone_songs(root / "held_out", seed=7), codec, root / "held_out_encoded", EncodeOptions())
    # the same held-out songs with captions that name a key and a tempo (the first one names neither)
    manifest = root / "held_out" / "manifest.jsonl"
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    captions = [
        "a calm song",
        "a pop song in A minor at 96 BPM",
        "a rock song in F# major at 140 BPM",
        "a folk song in Bb major at 70 BPM",
    ]
    for record, caption in zip(records, captions):
        record["caption"] = caption
    controlled = root / "held_out" / "controlled.jsonl"
    controlled.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    encode_manifest(controlled, codec, root / "controlled_encoded", EncodeOptions())
    save_tiny_tokenizers(root / "description_tokenizer", root / "lyrics_tokenizer")
    return root


def _config(assets, output_dir, **overrides):
    options = dict(model={"preset": "tiny", "track_pattern": "mixed"}, warmup_steps=1, max_steps=6)
    return tiny_stage_config(assets, output_dir, **{**options, **overrides})


def _records(output_dir) -> list[dict]:
    return [json.loads(line) for line in (Path(output_dir) / LOG_FILE).read_text().splitlines()]


def _validations(output_dir) -> dict[int, dict]:
    return {r["step"]: r for r in _records(output_dir) if "validation_loss" in r}


def _make_words_audible(model) -> None:
    """A fresh model's small initial weights make its lyrics matter by about 1e-6 nats, float noise: amplify the path
    from the lyric tokens to the decoder so that the words it is given clearly change its predictions."""
    with torch.no_grad():
        model.lyrics_encoder.embed_tokens.weight.mul_(50.0)
        for name, parameter in model.named_parameters():
            if ".encoder_attn." in name and name.endswith("weight"):
                parameter.mul_(10.0)


def _deafen(model) -> None:
    """A decoder whose cross-attention carries nothing from the memory cannot hear which words it got."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".encoder_attn.v_proj." in name:
                parameter.zero_()


def test_held_out_loss_is_logged_at_the_start_every_n_steps_and_at_the_end(assets, tmp_path):
    train_songgen(_config(assets, tmp_path, validation_data=str(assets / "held_out_encoded"), validation_steps=4))
    validations = _validations(tmp_path)
    assert sorted(validations) == [0, 4, 6]
    songs = len(list((assets / "held_out" / "audio").glob("*_mix.wav")))
    for record in validations.values():
        assert record["validation_songs"] == songs and record["validation_tokens"] > 0
        assert torch.isfinite(torch.tensor(record["validation_loss"]))
        assert len(record["validation_codebook_losses"]) == 8  # one per codebook row of a mixed model


def test_the_last_figure_is_the_saved_models_loss_and_the_run_is_unchanged_by_validating(assets, tmp_path):
    with_validation = train_songgen(
        _config(assets, tmp_path / "a", validation_data=str(assets / "held_out_encoded"), validation_max_songs=3)
    )
    without = train_songgen(_config(assets, tmp_path / "b"))
    # validating draws no random numbers from the run's streams and leaves the model in training mode
    assert load_file(with_validation / "model.safetensors").keys() == load_file(without / "model.safetensors").keys()
    for key, value in load_file(with_validation / "model.safetensors").items():
        assert torch.equal(value, load_file(without / "model.safetensors")[key]), key
    assert [r["loss"] for r in _records(tmp_path / "a") if "loss" in r] == [
        r["loss"] for r in _records(tmp_path / "b") if "loss" in r
    ]

    # the logged figure is the loss of the final weights on the held-out songs, recomputed from the saved folder
    config = _config(
        assets,
        tmp_path / "c",
        init_from=str(with_validation),
        model=None,
        validation_data=str(assets / "held_out_encoded"),
        validation_max_songs=3,
    )
    trainer = SongGenTrainer(config)
    model = SongGenForConditionalGeneration.from_pretrained(with_validation)
    recomputed = trainer.validation(model, trainer.validation_weights(), model.config.decoder.num_codebooks)
    logged = _validations(tmp_path / "a")[6]
    assert logged["validation_songs"] == 3
    assert recomputed["validation_loss"] == pytest.approx(logged["validation_loss"], rel=1e-5)
    # and training on the songs lowered it from where the run began
    assert logged["validation_loss"] < _validations(tmp_path / "a")[0]["validation_loss"]


def test_processes_share_the_batches_and_their_reduced_figure_is_one_processs(assets, tmp_path):
    # condition dropout on: a forward in training mode would draw from the global random stream
    trainer = SongGenTrainer(
        _config(
            assets,
            tmp_path,
            validation_data=str(assets / "held_out_encoded"),
            batch_size=1,
            description_dropout_prob=0.5,
        )
    )
    held_out: HeldOutLoss = trainer.validation
    assert len(held_out.batches) >= 3
    model = trainer.accelerator.unwrap_model(trainer.model)
    weights = trainer.validation_weights()
    model.train()
    alone = held_out(model, weights, 8)
    assert model.training  # restored

    # two "processes": each scores every other batch; the reduction adds their sums and counts
    other_process = []  # what rank 1 contributes to each reduction, in call order
    shared = held_out(model, weights, 8, rank=1, world=2, reduce=lambda tensor: other_process.append(tensor) or tensor)
    calls = iter(other_process)
    shared = held_out(model, weights, 8, rank=0, world=2, reduce=lambda tensor: tensor + next(calls))
    assert shared["validation_tokens"] == alone["validation_tokens"]
    assert shared["validation_loss"] == pytest.approx(alone["validation_loss"], rel=1e-5)

    # more processes than batches: the idle one adds zeros to every reduction, draws no random numbers and
    # leaves the model in training mode (it stays in step with the others)
    before = torch.random.get_rng_state()
    idle = held_out(model, weights, 8, rank=7, world=8)
    assert idle["validation_tokens"] == 0 and model.training
    assert torch.equal(torch.random.get_rng_state(), before)


def test_control_margins_measure_how_much_the_asked_key_and_tempo_matter(assets, tmp_path):
    controls = {
        "preset": "tiny",
        "track_pattern": "mixed",
        "decoder": {"use_key_control": True, "use_tempo_control": True},
    }
    trainer = SongGenTrainer(
        _config(assets, tmp_path, model=controls, validation_data=str(assets / "controlled_encoded"))
    )
    model = trainer.accelerator.unwrap_model(trainer.model)
    weights, rows = trainer.validation_weights(), model.config.decoder.num_codebooks
    record = trainer.validation(model, weights, rows)
    assert abs(record["validation_key_margin"]) > 1e-4 and abs(record["validation_tempo_margin"]) > 1e-4
    # a model whose key input is switched off gains nothing from the right key: its key margin is zero
    controls_module = next(m for m in model.modules() if isinstance(m, SongGenMusicalControls))
    with torch.no_grad():
        for name in ("key_embedding", "key_projection"):
            if getattr(controls_module, name, None) is not None:
                for parameter in getattr(controls_module, name).parameters():
                    parameter.zero_()
    deaf = trainer.validation(model, weights, rows)
    assert deaf["validation_key_margin"] == pytest.approx(0.0, abs=1e-6)
    assert abs(deaf["validation_tempo_margin"]) > 1e-4

    # captions that name no key or tempo: no margin to report, rather than a zero that looks like a finding
    plain = SongGenTrainer(
        _config(assets, tmp_path / "plain", model=controls, validation_data=str(assets / "held_out_encoded"))
    )
    plain_model = plain.accelerator.unwrap_model(plain.model)
    assert not {"validation_key_margin", "validation_tempo_margin"} & set(plain.validation(plain_model, weights, rows))


def test_the_lyrics_margin_is_logged_per_row_where_sung_songs_share_a_batch(assets, tmp_path):
    trainer = SongGenTrainer(_config(assets, tmp_path, validation_data=str(assets / "held_out_encoded")))
    model = trainer.accelerator.unwrap_model(trainer.model)
    weights, rows = trainer.validation_weights(), model.config.decoder.num_codebooks
    _make_words_audible(model)
    record = trainer.validation(model, weights, rows)
    per_row = record["validation_lyrics_margin_rows"]
    assert len(per_row) == len(record["validation_codebook_losses"])
    assert max(abs(value) for value in per_row) > 5e-5  # 1.9e-4 measured; float noise stays near 1e-6
    # the combined margin weighs the rows as the loss does
    assert record["validation_lyrics_margin"] == pytest.approx(
        combine_row_losses(torch.tensor(per_row), weights, rows).item(), abs=1e-5
    )
    # a decoder whose cross-attention carries nothing from the memory cannot hear which words it got
    _deafen(model)
    deaf = trainer.validation(model, weights, rows)
    assert max(abs(value) for value in deaf["validation_lyrics_margin_rows"]) < 1e-6


def test_wrong_lyrics_swaps_sung_songs_only():
    ids = torch.tensor([[1, 5, 6, 2], [1, 2, 0, 0], [1, 7, 2, 0], [1, 8, 9, 2]])  # the second is an instrumental
    mask = (ids != 0).long()
    moved_ids, moved_mask, known = wrong_lyrics(ids, mask)
    assert known.tolist() == [True, False, True, True]
    assert moved_ids.tolist() == [[1, 7, 2, 0], [1, 2, 0, 0], [1, 8, 9, 2], [1, 5, 6, 2]]  # cyclic among the sung
    assert moved_mask.tolist() == (moved_ids != 0).long().tolist()
    assert torch.equal(ids, torch.tensor([[1, 5, 6, 2], [1, 2, 0, 0], [1, 7, 2, 0], [1, 8, 9, 2]]))  # not in place
    lone_ids, _, lone_known = wrong_lyrics(ids[:2], mask[:2])  # one sung song has no other lyrics to take
    assert torch.equal(lone_ids, ids[:2]) and not lone_known.any()


def test_wrong_controls_move_known_values_only():
    keys, known = wrong_key(torch.tensor([0, 9, 21, 24]))  # C major, A major, A minor, unknown
    assert keys.tolist() == [6, 3, 15, 24] and known.tolist() == [True, True, True, False]
    tempi, known = wrong_tempo(torch.tensor([60.0, 150.0, float("nan")]))
    assert tempi[:2].tolist() == [90.0, 100.0] and torch.isnan(tempi[2]) and known.tolist() == [True, True, False]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"validation_steps": -1}, "validation_steps must be >= 0"),
        ({"validation_max_songs": 0}, "validation_max_songs.* must be from 1 to"),
        ({"validation_data": []}, "`validation_data` as a list must name encoded dataset folders"),
        ({"validation_data": 3}, r"`validation_data` .* must be a string or list or null, got 3"),
    ],
)
def test_bad_validation_settings_are_refused_with_the_fix(assets, tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        _config(assets, tmp_path, **overrides)


def test_resgen_training_refuses_validation_data_instead_of_ignoring_it(assets, tmp_path):
    config = _config(assets, tmp_path, validation_data=str(assets / "held_out_encoded"))
    with pytest.raises(ValueError, match="validation_data is a SongGen training option"):
        train_resgen(config)
    assert not (tmp_path / LOG_FILE).exists()


def _timed(item_frames: int, onsets, durations, crop_start: int = 0, lyrics: str = "la la") -> dict:
    attributes = {"syllables": ["la"] * len(onsets), "note_onsets_s": onsets, "note_durations_s": durations}
    return {"num_frames": item_frames, "lyrics": lyrics, "attributes": json.dumps(attributes), "crop_start": crop_start}


@pytest.mark.parametrize(
    "name",
    ["mixed", "mixed_pro", "parallel_std", "interleaving_A_V", "parallel_V_A", "mixed_stream2", "parallel_stream2"],
)
def test_sung_cells_are_where_the_pattern_puts_the_sung_frames_codes(name):
    """Lay out codes whose value is their frame's index: the cells the mask selects must hold exactly the sung
    frames, on every codebook row of the sung track and on no other row."""
    pattern = get_token_pattern(name, num_codebooks=3)
    collator = SongGenCollator(pattern, None, None, frame_rate=50.0)
    items = [
        _timed(20, [0.1, 0.3], [0.08, 0.04]),  # frames 5-8 and 15-16
        _timed(18, [0.3], [0.1], crop_start=10),  # song frames 15-19 = crop frames 5-9
        _timed(20, [0.1], [0.1], lyrics=""),  # an instrumental: nothing sung
        {"num_frames": 12, "lyrics": "la", "attributes": "{}"},
    ]  # no timing
    cells = collator.sung_cells(items)
    frames = torch.arange(20).expand(len(items), 3, 20)
    voice = sung_track(pattern)
    # the sung track's codes are their frame's index, any other track's 500 more: a cell of another track shows
    tracks = {track: frames if track == voice else frames + 500 for track in pattern.track_names}
    lengths = torch.tensor([item["num_frames"] for item in items])
    if pattern.has_auxiliary_vocal_targets:  # mixed pro: the voice is in the mix; its vocal targets are training's
        built = pattern.build_labels(frames, frames + 500, frame_lengths=lengths, vocal_frame_lengths=lengths)
    else:
        built = pattern.build_labels(tracks, frame_lengths=lengths)
    labels = built.loss_labels()
    assert cells.shape == labels.shape
    expected = [set(range(5, 9)) | {15, 16}, set(range(5, 10)), set(), set()]
    for item, frames_sung in enumerate(expected):
        per_codebook: dict[int, list[int]] = {}
        for row in range(labels.shape[1]):
            codebook = pattern.row_tracks[row][1] if pattern.row_tracks else row  # interleaving: row k is codebook k
            per_codebook.setdefault(codebook, []).extend(labels[item, row][cells[item, row]].tolist())
        assert len(per_codebook) == 3
        # each sung frame once per codebook (a multi-stream codebook spreads its frames over S rows), nothing else
        assert all(sorted(got) == sorted(frames_sung) for got in per_codebook.values()), per_codebook


def test_sung_row_sums_equal_the_masked_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(2 * 4, 6, 11)
    labels = torch.randint(0, 11, (2, 4, 6))
    cells = torch.rand(2, 4, 6) > 0.5
    sums, counts = sung_row_sums(logits, labels, cells)
    reference, reference_counts = masked_row_cross_entropy(logits.view(2, 4, 6, 11), labels.masked_fill(~cells, -100))
    assert torch.allclose(sums, reference, atol=1e-5)
    assert counts.tolist() == reference_counts.tolist() == cells.sum(dim=(0, 2)).tolist()


def test_the_voice_is_scored_over_its_sung_frames_where_songs_say_when_they_sing(assets, tmp_path):
    timed = with_word_timing(assets / "held_out_encoded", assets / "held_out_timed")
    trainer = SongGenTrainer(_config(assets, tmp_path, validation_data=timed))
    model = trainer.accelerator.unwrap_model(trainer.model)
    weights, rows = trainer.validation_weights(), model.config.decoder.num_codebooks
    _make_words_audible(model)
    record = trainer.validation(model, weights, rows)
    # the same figure by another route: the model's own per-row loss with every other cell ignored
    items = [trainer.validation.dataset[i] for i in range(len(trainer.validation.dataset))]
    batch = trainer.validation.collator(items)
    cells = trainer.validation.collator.sung_cells(items)
    assert cells.any()
    with torch.no_grad():
        model.eval()
        logits = model(**batch).logits
    sums, counts = masked_row_cross_entropy(
        logits.view(*batch["labels"].shape, -1), batch["labels"].masked_fill(~cells, -100)
    )
    assert record["validation_sung_loss_tokens"] == int(counts.sum())
    assert record["validation_sung_loss_rows"] == pytest.approx((sums / counts).tolist(), abs=1e-4)
    assert record["validation_sung_loss"] == pytest.approx((sums / counts).mean().item(), abs=1e-4)
    sung_rise = record["validation_lyrics_margin_sung_rows"]
    assert max(abs(value) for value in sung_rise) > 5e-5
    _deafen(model)
    deaf = trainer.validation(model, weights, rows)
    assert max(abs(value) for value in deaf["validation_lyrics_margin_sung_rows"]) < 1e-6
    # songs that do not say when they sing add no sung figures
    untimed = SongGenTrainer(_config(assets, tmp_path / "untimed", validation_data=str(assets / "held_out_encoded")))
    plain = untimed.validation(untimed.accelerator.unwrap_model(untimed.model), weights, rows)
    assert not [key for key in plain if "sung" in key]
