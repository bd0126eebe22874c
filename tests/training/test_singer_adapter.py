"""The told singer learns the style (finetune-lora's singer stage, pipelines/singer_adapters.py) and adapters stay
in their lane (lane_weight, songgen_hf/training/lane.py), on tiny models: the singer's LoRA trains (its loss
falls), is saved in the adapter folder and named in its record, loads through every door (pipeline adapters=,
adapter=, blends and weights, model=ADAPTER merged, songgen generate --adapter, songgen export), switches with the
decoder's adapter and leaves songs made without it the base's bit for bit; the regulariser lowers how far the
adapter moves songs described as something else."""

import json
import shutil

import numpy as np
import pytest
import torch

from songgen_hf.commands.cli import main as songgen_main
from songgen_hf.data.encode import EncodeOptions, encode_manifest
from songgen_hf.modeling.songgen import SongGenSinger, SongGenSingerConfig
from songgen_hf.pipelines import load_text_to_song_pipeline
from songgen_hf.pipelines.singer_adapters import (
    LEARNED_VOICE_FILE,
    SINGER_ADAPTER_FOLDER,
    SingerAdapterError,
    check_singer_adapter,
    merged_singer,
    read_learned_voice,
    singer_adapter_folder,
    write_learned_voice,
)
from songgen_hf.testing import save_tiny_checkpoint
from songgen_hf.training.lora import write_style_tempo
from songgen_hf.training.lora_trainer import LoraTrainingConfig, finetune_lora
from songgen_hf.training.singer_lora import SingerDataError, singer_loss, singer_training_songs

from ..data.tone_songs import write_tone_songs

SUNG = {
    "description": "a pop song in C major at 120 bpm with a female voice",
    "lyrics": "we run across the night\nand sing until the light",
}
SECONDS = 4.0  # the score's first sung bar starts after the intro: a shorter song has nothing to sing
VOICE = "en-us+f2"


def _scored(manifest):
    """The tone songs with a score, as the synthetic corpus records one: syllables, onsets, lengths, notes, voice."""
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    for record in records:
        words = record["lyrics"].split()
        step = 0.8 / max(len(words), 1)
        record["attributes"].update(
            syllables=words,
            note_onsets_s=[round(0.2 + i * step, 3) for i in range(len(words))],
            note_durations_s=[round(step, 3)] * len(words),
            melody_midi=[60 + i % 5 for i in range(len(words))],
            voice=VOICE,
        )
    manifest.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return manifest


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny dual-track base with a told singer, and its songs encoded with stems by the base's codec."""
    root = tmp_path_factory.mktemp("singer_lora")
    folder = save_tiny_checkpoint(root / "base", "parallel_stream2", use_voice_encoder=False)
    torch.manual_seed(0)
    config = SongGenSingerConfig(hidden_size=64, num_hidden_layers=1, num_attention_heads=1, voices=[VOICE])
    SongGenSinger(config).save_pretrained(folder / "singer")
    manifest = _scored(write_tone_songs(root / "songs", num_songs=4, base_seconds=1.5))
    encode_manifest(manifest, folder, root / "encoded", EncodeOptions())
    return {"root": root, "base": folder, "encoded": root / "encoded"}


def _config(base, output, **overrides):
    options = dict(
        train_data=str(base["encoded"]),
        init_from=str(base["base"]),
        output_dir=str(output),
        batch_size=2,
        learning_rate=1e-2,
        lora_r=4,
        lora_alpha=8,
        log_steps=1,
        save_steps=100,
        max_steps=3,
        warmup_steps=1,
        seed=0,
        singer_steps=12,
        singer_learning_rate=1e-2,
        singer_batch_size=4,
    )
    options.update(overrides)
    return LoraTrainingConfig(**options)


@pytest.fixture(scope="module")
def adapters(base):
    """Two runs of different seeds, each with its singer's LoRA."""
    root = base["root"]
    first = finetune_lora(_config(base, root / "run_a"))
    second = finetune_lora(_config(base, root / "run_b", seed=1, singer_learning_rate=2e-2))
    return {"a": str(first), "b": str(second)}


def _log(run):
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


def test_the_singer_stage_trains_its_loss_falls_and_it_is_saved_and_named(base, adapters):
    folder = singer_adapter_folder(adapters["a"])
    assert folder is not None and folder.name == SINGER_ADAPTER_FOLDER
    record = json.loads((base["root"] / "run_a" / "final" / "songgen_adapter.json").read_text())
    assert record["singer_adapter"] == SINGER_ADAPTER_FOLDER
    config = check_singer_adapter(folder)
    assert config["peft_type"] == "LORA" and config["r"] == 4
    losses = [entry["singer_loss"] for entry in _log(base["root"] / "run_a") if entry.get("stage") == "singer"]
    assert len(losses) == 12
    # the adapted singer knows the songs' vocals better than the base singer, on the same fixed draws
    singer = SongGenSinger.from_pretrained(base["base"] / "singer").eval()
    songs = singer_training_songs([base["encoded"]], singer.config)
    adapted = merged_singer(singer, adapters["a"])
    assert singer_loss(adapted, songs) < singer_loss(singer, songs) - 0.05
    assert np.mean(losses[-3:]) < np.mean(losses[:3])


def test_without_the_singer_stage_the_adapter_has_no_singer_adapter(base, tmp_path):
    final = finetune_lora(_config(base, tmp_path / "run", singer_adapter=False, max_steps=1))
    assert singer_adapter_folder(final) is None
    assert not (final / SINGER_ADAPTER_FOLDER).exists()
    assert "singer_adapter" not in json.loads((final / "songgen_adapter.json").read_text())


def test_a_song_without_a_vocal_stem_is_named_before_training_when_the_singer_stage_is_required(base, tmp_path):
    manifest = _scored(write_tone_songs(tmp_path / "songs", num_songs=2))
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    for record in records:
        record.pop("vocal_path")
        record.pop("accompaniment_path")
    manifest.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    encode_manifest(manifest, base["base"], tmp_path / "encoded", EncodeOptions())
    config = _config({**base, "encoded": tmp_path / "encoded"}, tmp_path / "run", singer_adapter=True)
    with pytest.raises(SingerDataError, match=r"song0, song1 .* has none.*singer_adapter: false"):
        finetune_lora(config)
    assert not (tmp_path / "run" / "final").exists()


def test_songs_without_timed_lyrics_leave_the_singer_nothing_and_say_so(base, tmp_path):
    manifest = write_tone_songs(tmp_path / "songs", num_songs=2)  # no syllable timing in the attributes
    encode_manifest(manifest, base["base"], tmp_path / "encoded", EncodeOptions())
    singer = SongGenSinger.from_pretrained(base["base"] / "singer")
    with pytest.raises(SingerDataError, match="says when its words are sung"):
        singer_training_songs([tmp_path / "encoded"], singer.config)


# ---------------------------------------------------------------------------------- every door
def _sing(pipe, **options):
    return pipe(SUNG, duration_s=SECONDS, min_duration_s=SECONDS, seed=3, **options)


@pytest.fixture(scope="module")
def styled(base, adapters):
    return load_text_to_song_pipeline(str(base["base"]), adapters={"a": adapters["a"], "b": adapters["b"]})


def test_songs_without_an_adapter_are_the_bases_bit_for_bit(base, styled):
    plain = load_text_to_song_pipeline(str(base["base"]))
    reference = _sing(plain)
    np.testing.assert_array_equal(_sing(styled)["audio"], reference["audio"])
    _sing(styled, adapter="a")
    np.testing.assert_array_equal(_sing(styled, adapter=None)["audio"], reference["audio"])
    # the pipeline's singer object is the base's own, untouched, whenever no adapter is chosen
    assert styled.singer is styled._singer_styles.base
    for (name, a), (_, b) in zip(plain.singer.state_dict().items(), styled.singer.state_dict().items()):
        assert torch.equal(a, b), name


def test_switching_adapters_switches_the_singers_too(base, adapters, styled):
    singers = {}
    for choice in ("a", "b", None):
        _sing(styled, adapter=choice)
        singers[choice] = {k: v.clone() for k, v in styled.singer.state_dict().items()}
    expected_a = merged_singer(SongGenSinger.from_pretrained(base["base"] / "singer"), adapters["a"]).state_dict()
    for name, value in expected_a.items():
        torch.testing.assert_close(singers["a"][name], value)
    changed = [name for name in singers["a"] if not torch.equal(singers["a"][name], singers["b"][name])]
    assert changed and all("linear" in name or "heads" in name for name in changed)
    assert any(not torch.equal(singers["a"][name], singers[None][name]) for name in singers["a"])


def test_the_singer_adapter_changes_the_vocals_and_blends_scale_it(base, adapters, styled):
    decoder_only = base["root"] / "decoder_only"
    if not decoder_only.exists():
        shutil.copytree(adapters["a"], decoder_only)
        shutil.rmtree(decoder_only / SINGER_ADAPTER_FOLDER)
        record = json.loads((decoder_only / "songgen_adapter.json").read_text())
        record.pop("singer_adapter")
        (decoder_only / "songgen_adapter.json").write_text(json.dumps(record))
    pipe = load_text_to_song_pipeline(str(base["base"]), adapters={"a": adapters["a"], "plain": str(decoder_only)})
    with_singer, without = _sing(pipe, adapter="a"), _sing(pipe, adapter="plain")
    np.testing.assert_array_equal(with_singer["accompaniment"], without["accompaniment"])  # the decoder's alike
    assert np.abs(with_singer["vocals"] - without["vocals"]).max() > 1e-4
    # a blend's singer is the base's plus the weighted update, the same arithmetic as the decoder's cat blend
    _sing(pipe, adapter={"a": 0.5})
    half = {k: v.clone() for k, v in pipe.singer.state_dict().items()}
    _sing(pipe, adapter=None)
    zero = {k: v.clone() for k, v in pipe.singer.state_dict().items()}
    _sing(pipe, adapter="a")
    full = pipe.singer.state_dict()
    for name in half:
        torch.testing.assert_close(half[name], (zero[name] + full[name]) / 2, atol=1e-6, rtol=1e-5)
    _sing(pipe, adapter={"a": 0.0})  # at weight 0 the singer is the base's own
    assert pipe.singer is pipe._singer_styles.base


def test_the_merged_adapter_and_its_export_sing_with_the_adapted_singer(base, adapters, styled, tmp_path):
    merged = load_text_to_song_pipeline(adapters["a"])
    expected = merged_singer(SongGenSinger.from_pretrained(base["base"] / "singer"), adapters["a"]).state_dict()
    for name, value in expected.items():
        torch.testing.assert_close(merged.singer.state_dict()[name], value)
    assert songgen_main(["export", adapters["a"], "--output", str(tmp_path / "release"), "--no-card"]) == 0
    exported = SongGenSinger.from_pretrained(tmp_path / "release" / "singer")
    for name, value in expected.items():
        torch.testing.assert_close(exported.state_dict()[name], value, atol=2e-3, rtol=2e-3)


def test_songgen_generate_adapter_sings_with_the_adapters_singer(base, adapters, styled, tmp_path):
    song = _sing(styled, adapter="a")
    out = tmp_path / "song.wav"
    argv = ["generate", "--model", str(base["base"]), "--adapter", adapters["a"], "--description", SUNG["description"]]
    argv += ["--lyrics", SUNG["lyrics"], "--duration", "4", "--min-duration", "4", "--seed", "3"]
    assert songgen_main([*argv, "--output", str(out), "--overwrite"]) == 0
    import soundfile

    audio, _ = soundfile.read(out, dtype="float32")
    np.testing.assert_allclose(audio, np.asarray(song["audio"]).reshape(audio.shape), atol=1e-4)


def test_a_damaged_singer_adapter_is_refused_naming_it(base, adapters, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(adapters["a"], copy)
    (copy / SINGER_ADAPTER_FOLDER / "adapter_model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ValueError, match="singer_adapter"):
        load_text_to_song_pipeline(str(base["base"]), adapters={"x": str(copy)})
    shutil.rmtree(copy / SINGER_ADAPTER_FOLDER)
    with pytest.raises(SingerAdapterError, match="copy is incomplete"):
        singer_adapter_folder(copy)


# ---------------------------------------------------------------------------------- the learnt voice
def test_the_singer_stage_records_the_register_and_voices_its_songs_sang(base, adapters):
    learned = read_learned_voice(singer_adapter_folder(adapters["a"]))
    sung = [json.loads(line) for line in (base["root"] / "songs" / "manifest.jsonl").read_text().splitlines()]
    notes = [note for record in sung for note in record["attributes"]["melody_midi"]]
    register = learned.register("female")  # the songs' voice is a corpus woman's
    assert learned.register("male") is None and register.songs == len(sung)
    assert register.median == float(np.median(notes)) and register.low <= min(notes) <= max(notes) <= register.high
    assert register.voices == ((VOICE, 1.0),)
    record = json.loads((singer_adapter_folder(adapters["a"]) / LEARNED_VOICE_FILE).read_text())
    assert record["format"] == 1 and set(record["registers"]) == {"female"}


def _deep_copy(adapters, root):
    """Adapter ``a`` as if its songs had been sung by a low male choir (MIDI 34-50): its learnt voice says so."""
    from songgen_hf.modeling.songgen.vocal_score_songgen import LearnedVoice

    folder = root / "deep"
    if not folder.exists():
        shutil.copytree(adapters["a"], folder)
        rng = np.random.default_rng(0)
        sung = [(gender, rng.integers(34, 51, size=10).tolist(), "en-us+m3") for gender in ("male", "female") * 4]
        write_learned_voice(folder / SINGER_ADAPTER_FOLDER, LearnedVoice.from_scores(sung))
    return folder


def _score(pipe, **style):
    """The vocal score the pipeline's singer is told for ``SUNG`` (its preprocess): as a call of ``style``
    (``adapter=...``) plans it, with the voice style such a call hands down; without ``style`` as a song prepared
    outside a call is planned (in the pipeline's own style)."""
    score = {"seed": 3, "duration_s": SECONDS}
    if style:
        score["voice_style"] = pipe.song_voice_style(SUNG["description"], **style)
    return pipe.preprocess(SUNG, score=score)["vocal_scores"][0]


def test_a_song_with_the_adapter_is_planned_in_its_learnt_register_without_it_unchanged(base, adapters):
    deep = _deep_copy(adapters, base["root"])
    learned = read_learned_voice(deep / SINGER_ADAPTER_FOLDER).register("female")
    plain = load_text_to_song_pipeline(str(base["base"]))
    pipe = load_text_to_song_pipeline(str(base["base"]), adapters={"deep": str(deep), "a": adapters["a"]})
    reference = _score(plain)
    sung = {}
    for choice in ("deep", None, "a", {"deep": 0.5}, {"deep": 0.0}):  # switching, a blend, a weight of 0
        song = _sing(pipe, adapter=choice)
        sung[json.dumps(choice)] = (song, _score(pipe, adapter=choice))
    deep_song, deep_score = sung['"deep"']
    assert all(learned.low <= note <= learned.high for note in deep_score.midi)  # SUNG asks for a female voice
    assert np.median(deep_score.midi) < np.median(reference.midi) - 10
    for choice in ("null", '{"deep": 0.0}'):  # no adapter, or at weight 0: the base's score
        assert sung[choice][1] == reference
    np.testing.assert_array_equal(sung["null"][0]["audio"], _sing(plain)["audio"])
    # adapter a learnt its own songs' register (notes 60-64): near the corpus's, not the deep one
    assert np.median(sung['"a"'][1].midi) > np.median(deep_score.midi) + 10
    # half the weight, half the way: the blend's register lies between the corpus's and the learnt one
    half = np.median(sung['{"deep": 0.5}'][1].midi)
    assert np.median(deep_score.midi) + 3 < half < np.median(reference.midi) - 3
    # the same LoRA without the learnt register sings other notes over the same accompaniment
    a_song = sung['"a"'][0]
    np.testing.assert_array_equal(deep_song["accompaniment"], a_song["accompaniment"])
    assert np.abs(deep_song["vocals"] - a_song["vocals"]).max() > 1e-4
    merged = load_text_to_song_pipeline(str(deep))  # model=ADAPTER: its learnt voice for every song
    assert _score(merged) == deep_score


def test_a_call_s_voice_style_is_its_own_and_leaves_later_songs_and_edits_alone(base, adapters):
    """A call hands its songs' voice style down (nothing of it is kept on the pipeline): after a call in the deep
    style, a song prepared outside a call, a re-sung edit and the next call are planned in the pipeline's own style as
    before it; a pipeline whose style is the deep adapter plans its songs and its edits in the deep voice."""
    from songgen_hf.pipelines.editing import bar_seconds, plan_edit, resing

    deep = _deep_copy(adapters, base["root"])
    pipe = load_text_to_song_pipeline(str(base["base"]), adapters={"deep": str(deep)})
    reference = _score(pipe)
    made = _sing(pipe)
    edited = pipe(SUNG, duration_s=8.0, seed=0)  # a song long enough to re-sing a stretch of
    rate = edited["sampling_rate"]
    stems = {name: (edited[name].astype(np.float64), rate) for name in ("vocals", "accompaniment")}
    lyrics = "we run across the night"
    plan = plan_edit(pipe.model.config, edited["audio"].shape[-1], 3.0, 5.5, bar_s=bar_seconds(pipe.processor, **SUNG))

    def sung_again(pipe):
        song = (edited["audio"].astype(np.float64), rate)
        return resing(pipe, song, plan, SUNG["description"], lyrics, stems=stems)["vocals"]

    before = sung_again(pipe)
    deep_song = _sing(pipe, adapter="deep")
    assert _score(pipe, adapter="deep") != reference  # the deep call's own voice style
    assert not hasattr(pipe, "voice_style")
    assert _score(pipe) == reference  # nothing of it stays
    np.testing.assert_array_equal(sung_again(pipe), before)
    np.testing.assert_array_equal(_sing(pipe)["audio"], made["audio"])
    assert pipe.song_voice_style(SUNG["description"]) is None
    assert [weight for _, weight in pipe.song_voice_style(SUNG["description"], adapter="deep")] == [1.0]
    # the pipeline's style is what its songs and edits are planned in, calls or no calls before
    styled = load_text_to_song_pipeline(str(base["base"]), adapters={"deep": str(deep)}, adapter="deep")
    assert _score(styled) == _score(pipe, adapter="deep")
    assert np.abs(sung_again(styled) - before).max() > 1e-4  # the deep singer, in the deep voice
    np.testing.assert_array_equal(_sing(styled)["audio"], deep_song["audio"])


def test_a_damaged_learnt_voice_is_refused_naming_it(base, adapters, tmp_path):
    import os

    copy = tmp_path / "copy"
    shutil.copytree(adapters["a"], copy)
    record = copy / SINGER_ADAPTER_FOLDER / LEARNED_VOICE_FILE
    good = json.loads(record.read_text())
    bad = {**good, "registers": {"female": {**good["registers"]["female"], "low": 90}}}
    for damaged in (json.dumps(bad), "{not json", json.dumps({"format": 2, "registers": good["registers"]})):
        record.write_text(damaged)
        with pytest.raises(ValueError, match=f"{LEARNED_VOICE_FILE} cannot be used: .*[^.]\\. Train the adapter again"):
            load_text_to_song_pipeline(str(base["base"]), adapters={"x": str(copy)})  # before any weight loads
        with pytest.raises(SingerAdapterError, match=LEARNED_VOICE_FILE):
            check_singer_adapter(copy / SINGER_ADAPTER_FOLDER)
    record.unlink()
    os.mkfifo(record)  # a FIFO where the record was: refused by the safe reader, not waited on
    with pytest.raises(SingerAdapterError, match=LEARNED_VOICE_FILE):
        check_singer_adapter(copy / SINGER_ADAPTER_FOLDER)
    record.unlink()  # an adapter without the record sings in the corpus's registers
    assert read_learned_voice(copy / SINGER_ADAPTER_FOLDER) is None
    pipe = load_text_to_song_pipeline(str(base["base"]), adapters={"x": str(copy)})
    _sing(pipe, adapter="x")
    assert pipe.song_voice_style(SUNG["description"], adapter="x") is None


def test_songgen_info_shows_the_adapters_records_and_a_damaged_one_as_a_warning(base, adapters, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(adapters["a"], copy)
    assert songgen_main(["info", str(copy), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)["adapter"]["records"]
    learned = read_learned_voice(singer_adapter_folder(copy)).to_dict()
    assert records["singer_adapter"] == {"folder": SINGER_ADAPTER_FOLDER, "learned_voice": learned}
    assert records["style_tempo_bpm"].startswith("none")  # the tone songs' captions name no tempo
    write_style_tempo(copy, 96.0)
    assert songgen_main(["info", str(copy), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["adapter"]["records"]["style_tempo_bpm"] == 96.0
    (copy / SINGER_ADAPTER_FOLDER / LEARNED_VOICE_FILE).write_text("{not json")
    assert songgen_main(["info", str(copy)]) == 0  # shown, as a damaged model config is, not a traceback
    out = capsys.readouterr().out
    assert f"warning: The singer adapter's {copy / SINGER_ADAPTER_FOLDER / LEARNED_VOICE_FILE} cannot be used" in out


# ---------------------------------------------------------------------------------- the lane
HELD_OUT_UNRELATED = [
    "a slow ambient piece with soft pads and no drums",
    "a fast heavy metal song with screamed vocals",
    "a bossa nova with nylon guitar and a soft male voice",
    "a marching band tune with brass and snare",
]


def _movement(base, final, descriptions, tokenizer) -> float:
    """How far the adapter in ``final`` moves the decoder's token distributions from the base's on fixed songs
    described by ``descriptions`` (mean KL(base || adapted) per supervised cell)."""
    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.pipelines.adapter_folders import load_lora
    from songgen_hf.testing import dummy_inputs
    from songgen_hf.training.lane import LaneRegulariser

    adapted = load_lora(SongGenForConditionalGeneration.from_pretrained(base["base"]), str(final))
    batch = dummy_inputs(adapted.get_base_model().config, batch_size=4, seed=5)
    lane = LaneRegulariser(descriptions, tokenizer)
    with torch.no_grad():
        return float(lane.divergence(adapted.get_base_model(), adapted, lane.unrelated(batch)))


def test_the_lane_regulariser_keeps_unrelated_descriptions_near_the_base(base, tmp_path):
    from songgen_hf.training.songgen_trainer import load_tokenizers

    options = dict(singer_adapter=False, max_steps=8, learning_rate=2e-2)
    plain = finetune_lora(_config(base, tmp_path / "plain", **options))
    config = _config(base, tmp_path / "lane", lane_weight=20.0, **options)
    lane = finetune_lora(config)
    log = _log(tmp_path / "lane")
    assert all("lane_kl" in entry for entry in log if "loss" in entry)
    tokenizer, _ = load_tokenizers(config)
    style = [
        json.loads(line)["caption"] for line in (base["root"] / "songs" / "manifest.jsonl").read_text().splitlines()
    ]
    moved = {
        name: _movement(base, final, HELD_OUT_UNRELATED, tokenizer)
        for name, final in (("plain", plain), ("lane", lane))
    }
    own = {name: _movement(base, final, style, tokenizer) for name, final in (("plain", plain), ("lane", lane))}
    # descriptions the regulariser never drew move far less; the style's own songs still move
    assert moved["lane"] < 0.5 * moved["plain"], moved
    assert own["lane"] > moved["lane"], (own, moved)


def test_lane_options_are_checked(base, tmp_path):
    with pytest.raises(ValueError, match="lane_weight"):
        _config(base, tmp_path / "run", lane_weight=-1.0)
    with pytest.raises(ValueError, match="lane_descriptions"):
        _config(base, tmp_path / "run", lane_weight=1.0, lane_descriptions=["ok", ""])
    for rows in (0, True, 2.5, "2"):
        with pytest.raises(ValueError, match="lane_rows_per_pass"):
            _config(base, tmp_path / "run", lane_weight=1.0, lane_rows_per_pass=rows)


def test_the_lane_in_passes_of_one_song_trains_as_in_one_pass(base, tmp_path):
    """The trainer's lane in passes of one song logs the same divergence and leaves the same adapter as in one pass
    (lane_rows_per_pass: null) of the same seeds."""
    from safetensors.torch import load_file

    options = dict(singer_adapter=False, max_steps=4, learning_rate=5e-2, lane_weight=5.0)
    runs = {
        rows: finetune_lora(_config(base, tmp_path / f"rows{rows}", lane_rows_per_pass=rows, **options))
        for rows in (1, None)
    }
    kl = {rows: [e["lane_kl"] for e in _log(tmp_path / f"rows{rows}") if "loss" in e] for rows in runs}
    # the adapter starts as the base (nothing to diverge from), then moves away
    assert len(kl[1]) == 4 and kl[1][0] == pytest.approx(0.0, abs=1e-6) and kl[1][-1] > 1e-5, kl
    assert kl[1] == pytest.approx(kl[None], rel=1e-3, abs=1e-6)
    weights = {rows: load_file(str(final / "adapter_model.safetensors")) for rows, final in runs.items()}
    for name, value in weights[1].items():
        torch.testing.assert_close(value, weights[None][name], rtol=1e-4, atol=1e-6, msg=name)


def test_the_lane_on_songs_unlike_the_style_trains_and_names_a_missing_weight(base, tmp_path):
    other = _scored(write_tone_songs(tmp_path / "other", num_songs=3, base_seconds=1.0, seed=5))
    encode_manifest(other, base["base"], tmp_path / "other_encoded", EncodeOptions())
    options = dict(singer_adapter=False, max_steps=2, lane_data=str(tmp_path / "other_encoded"))
    with pytest.raises(ValueError, match="set lane_weight > 0"):
        finetune_lora(_config(base, tmp_path / "off", **options))
    finetune_lora(_config(base, tmp_path / "run", lane_weight=1.0, **options))
    kl = [entry["lane_kl"] for entry in _log(tmp_path / "run") if "loss" in entry]
    assert len(kl) == 2 and all(np.isfinite(kl)) and kl[0] >= 0


def test_the_singer_stage_can_adapt_the_scores_note_tables_too(base, tmp_path):
    final = finetune_lora(_config(base, tmp_path / "run", max_steps=1, singer_note_embeddings=True))
    folder = singer_adapter_folder(final)
    config = check_singer_adapter(folder)
    singer = SongGenSinger.from_pretrained(base["base"] / "singer").eval()
    pitch, voice = singer.config.letters + 1, singer.config.letters + 2
    assert f"units\\.({pitch}|{voice})" in config["target_modules"]
    adapted = merged_singer(singer, final).state_dict()
    changed = {name for name, value in singer.state_dict().items() if not torch.equal(value, adapted[name])}
    assert {f"units.{pitch}.weight", f"units.{voice}.weight"} <= changed
    assert not any(name.startswith("units.") for name in changed - {f"units.{pitch}.weight", f"units.{voice}.weight"})
    pipe = load_text_to_song_pipeline(str(base["base"]), adapters={"notes": str(final)})
    assert np.isfinite(_sing(pipe, adapter="notes")["vocals"]).all()
