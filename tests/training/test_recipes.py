"""Every shipped recipe parses with its config class, so the documented commands do not rot."""

from pathlib import Path

import pytest

from songgen_hf.training.codec_config import CodecTrainingConfig
from songgen_hf.training.songgen_config import SongGenTrainingConfig

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.parametrize("path", sorted(RECIPES.rglob("*.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recipe_parses(path):
    if path.name == "card.yaml" or path.name.startswith("card_"):  # model-card fields for `songgen export --card-fields`
        from songgen_hf.model_card import render_model_card, validate_model_card
        from songgen_hf.testing import tiny_songgen_config
        from songgen_hf.training.config_files import read_config_file

        card = render_model_card(tiny_songgen_config(use_voice_encoder=False), **read_config_file(path))
        validate_model_card(card)
        assert "[More information needed]" not in str(card)
        return
    if path.name.startswith("codec"):
        config = CodecTrainingConfig.from_file(path)
        assert config.max_steps > 0
    else:
        config = SongGenTrainingConfig.from_file(path)
        assert config.stage
        if config.model and path.parent.name.startswith("resgen"):
            from songgen_hf.modeling.resgen import ResGenConfig

            model = ResGenConfig(**config.model)  # the model section is a valid ResGenConfig
            assert model.decoder.num_hidden_layers == config.model["decoder"]["num_hidden_layers"]
        elif config.model:
            from songgen_hf import SongGenConfig

            SongGenConfig(**config.model)  # the model section is a valid SongGenConfig



@pytest.mark.parametrize("path", sorted(RECIPES.rglob("build.sh")), ids=lambda p: p.parent.name)
def test_build_script_is_valid_bash_and_names_existing_recipes(path):
    """A build script that no longer parses, or names a recipe file that was renamed, fails here, not hours
    into a rebuild."""
    import re
    import shutil
    import subprocess

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    checked = subprocess.run([bash, "-n", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    named = re.findall(r'\$RECIPE/([\w.-]+\.(?:yaml|py))', path.read_text())
    assert named, "the script names no recipe file"
    missing = [name for name in named if not (path.parent / name).is_file()]
    assert not missing, f"{path.name} names recipe files that do not exist: {missing}"

def _recipe_script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, RECIPES / "songgen_tiny" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pitch_probe_tells_informative_codes_from_uninformative_ones():
    """The probe behind codec_v2.yaml's rationale: a tone's frames predict its pitch class, noise does not."""
    import math

    import numpy as np

    probe = _recipe_script("probe_codec_pitch")
    rate, rng = 16000, np.random.default_rng(0)
    clips = []
    for index in range(24):
        semitone = index % 12
        t = np.arange(rate) / rate
        clips.append(0.3 * np.sin(2 * math.pi * 220.0 * 2 ** (semitone / 12) * t))
    chromas = [probe.frame_chroma(clip, 50, rate) for clip in clips]
    assert all((c[5:-5].argmax(1) == i % 12).all() for i, c in enumerate(chromas))  # pitch classes from A
    spectra = [probe.with_context(probe.log_spectrum(clip, 50)) for clip in clips]
    noise = [rng.normal(size=(50, 40)) for _ in clips]
    informative = probe.probe(spectra[:12], chromas[:12], spectra[12:], chromas[12:])
    uninformative = probe.probe(noise[:12], chromas[:12], noise[12:], chromas[12:])
    assert informative > 0.9 and uninformative < 0.3, (informative, uninformative)


def test_pitch_probe_reads_the_key_of_a_round_trip_against_the_corpus_row():
    """key_found, behind the probe's round-trip figure, compares the estimator with the row's key."""
    import math

    import numpy as np

    probe = _recipe_script("probe_codec_pitch")
    rate = 16000

    def melody(shift: int) -> np.ndarray:
        t = np.arange(int(0.3 * rate)) / rate
        notes = [60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60, 60, 64, 67, 72]
        return np.concatenate([
            sum(0.3 / h * np.sin(2 * math.pi * 440 * 2 ** ((n + shift - 69) / 12) * h * t) for h in (1, 2, 3))
            * np.exp(-2 * t)
            for n in notes
        ])

    c_major = {"attributes": {"key": "C", "mode": "major"}}
    assert probe.key_found(melody(0), c_major, rate)
    assert not probe.key_found(melody(6), c_major, rate)  # the same tune in F# major
    assert probe.key_found(melody(6), {"attributes": {"key": "F#", "mode": "major"}}, rate)
    assert not probe.key_found(np.zeros(rate), c_major, rate)  # silence has no key


def test_adding_the_tempo_rate_keeps_the_model_and_lets_the_rate_learn(tmp_path):
    """add_tempo_rate.py: the copy gives the source's logits, reloads with the rate, and the rate's column gets a gradient."""
    import torch

    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.testing import save_tiny_checkpoint

    script = _recipe_script("add_tempo_rate")
    source = save_tiny_checkpoint(tmp_path / "source", track_pattern="mixed_stream2", use_voice_encoder=False,
                                  decoder={"use_tempo_control": True})
    assert script.main([str(source), str(tmp_path / "copy")]) == 0
    copy = SongGenForConditionalGeneration.from_pretrained(tmp_path / "copy")
    assert copy.config.decoder.tempo_control_rate
    script.check_same_logits(SongGenForConditionalGeneration.from_pretrained(source), copy)
    weight = copy.decoder.model.musical_controls.tempo_projection.weight
    assert torch.equal(weight[:, -1], torch.zeros_like(weight[:, -1]))
    rows = copy.config.decoder.num_rows
    loss = copy(input_ids=torch.ones(1, 4, dtype=torch.long), lyrics_input_ids=torch.ones(1, 4, dtype=torch.long),
                decoder_input_ids=torch.randint(0, 1024, (rows, 10)), labels=torch.randint(0, 1024, (1, rows, 10)),
                tempo_bpm=torch.tensor([70.0])).loss
    loss.backward()
    assert weight.grad[:, -1].abs().sum() > 0  # the zero column learns
    with pytest.raises(ValueError, match="already reads the rate"):
        script.with_tempo_rate(copy)


def test_stem_round_trips_builds_each_system_from_its_terms(tmp_path):
    """The script behind docs/evaluation.md's session-28 ceilings: a system is the sum of its terms, clean or
    through the codec, with their gains; an instrumental's vocal stem is silence."""
    import json

    import numpy as np
    import pytest

    from songgen_hf.data.audio import load_audio
    from songgen_hf.evaluation.prompts import load_prompts
    from songgen_hf.evaluation.runner import load_model_and_processor
    from songgen_hf.evaluation.systems import codec_round_trip
    from songgen_hf.testing import save_tiny_checkpoint

    from ..evaluation.tiny_corpus import write_tiny_corpus

    script = _recipe_script("stem_round_trips")
    assert script.parse_system("acc_rt+voc*1.5") == [("acc", True, 1.0), ("voc", False, 1.5)]
    with pytest.raises(SystemExit, match="bad system 'drums_rt'"):
        script.parse_system("drums_rt")
    _, test = write_tiny_corpus(tmp_path / "corpus", num_train=1, num_test=2, seconds=1.0)
    records = [json.loads(line) for line in test.read_text().splitlines()]
    records[1].pop("vocal_path")
    test.write_text("".join(json.dumps(record) + "\n" for record in records))
    model, _ = load_model_and_processor(save_tiny_checkpoint(tmp_path / "model", use_voice_encoder=False), "cpu")
    prompts = load_prompts(test, 2, 1.0)
    specs = ("mix", "acc+voc_rt*2", "acc_rt+voc_rt")
    clips = script.build_clips(model, prompts, {spec: script.parse_system(spec) for spec in specs})
    rate, codebooks = model.config.sampling_rate, model.config.decoder.num_codebooks
    for index, prompt in enumerate(prompts):
        acc = load_audio(prompt.accompaniment_path, rate)
        voc = np.zeros_like(acc) if prompt.vocal_path is None else load_audio(prompt.vocal_path, rate)
        acc_rt, voc_rt = (codec_round_trip(model.audio_encoder, a, codebooks)[1] for a in (acc, voc))
        n = len(clips["mix"][index])
        assert n == min(len(acc_rt), len(voc_rt)) and n > 0
        np.testing.assert_allclose(clips["mix"][index], load_audio(prompt.audio_path, rate)[:n])
        np.testing.assert_allclose(clips["acc+voc_rt*2"][index], acc[:n] + 2 * voc_rt[:n], atol=1e-6)
        np.testing.assert_allclose(clips["acc_rt+voc_rt"][index], acc_rt[:n] + voc_rt[:n], atol=1e-6)


def test_stem_round_trips_levels_are_the_round_trips_rms_against_the_clean_tracks(tmp_path):
    import numpy as np

    from songgen_hf.evaluation.prompts import load_prompts
    from songgen_hf.evaluation.runner import load_model_and_processor
    from songgen_hf.testing import save_tiny_checkpoint

    from ..evaluation.tiny_corpus import write_tiny_corpus

    script = _recipe_script("stem_round_trips")
    _, test = write_tiny_corpus(tmp_path / "corpus", num_train=1, num_test=2, seconds=1.0)
    model, _ = load_model_and_processor(save_tiny_checkpoint(tmp_path / "model", use_voice_encoder=False), "cpu")
    prompts = load_prompts(test, 2, 1.0)
    changes = script.level_changes(model, prompts)
    clips = script.build_clips(model, prompts, {"voc": [("voc", False, 1.0)], "voc_rt": [("voc", True, 1.0)]})
    expected = [10 * np.log10(np.mean(rt ** 2) / np.mean(clean ** 2)) for rt, clean in zip(clips["voc_rt"], clips["voc"])]
    assert set(changes) == {"mix", "acc", "voc"} and np.allclose(changes["voc"], expected)


def test_lyric_attention_probe_reads_order_and_share_from_the_weights():
    """The probe behind session 38's finding (v12 reads its lyrics as a bag): a head whose attention walks the lyrics
    in order scores +1, one that walks them backwards -1, and the share counts only the lyrics' part of the memory."""
    import torch

    probe = _recipe_script("probe_lyric_attention")
    frames, description = 12, 3

    class Attention(torch.nn.Module):
        def forward(self, lyrics_length):
            weights = torch.zeros(1, 2, frames, description + lyrics_length)
            for t in range(frames):
                ahead = round(t * (lyrics_length - 1) / (frames - 1))
                weights[0, 0, t, description + ahead] = 1.0  # in order, all on the lyrics
                weights[0, 1, t, :description] = 0.5 / description  # half on the description ...
                weights[0, 1, t, description + lyrics_length - 1 - ahead] = 0.5  # ... half walking backwards
            return None, weights

    class Layer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder_attn = Attention()

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.decoder = torch.nn.Module()
            self.decoder.model = torch.nn.Module()
            self.decoder.model.layers = torch.nn.ModuleList([Layer()])

        def forward(self, attention_mask, lyrics_attention_mask):
            for layer in self.decoder.model.layers:
                layer.encoder_attn(lyrics_attention_mask.shape[1])

    def collate(items):
        (item,) = items
        return {"attention_mask": torch.ones(1, description, dtype=torch.long),
                "lyrics_attention_mask": torch.ones(1, item["lyrics_tokens"], dtype=torch.long)}

    model = Model()
    songs = [{"lyrics_tokens": 2}, {"lyrics_tokens": 9}, {"lyrics_tokens": 7}]  # the first is too short to follow
    report = probe.lyric_attention(model, collate, songs, songs=5)
    assert report["songs"] == 2
    (layer,) = report["layers"]
    assert layer["lyrics_share"] == [1.0, 0.5]
    assert layer["order_rho"][0] > 0.99 and layer["order_rho"][1] < -0.99
    assert layer["effective_tokens"] == [1.0, 1.0]  # each frame's lyric attention sits on one token
    assert report["best_head_order_rho"] == pytest.approx(layer["order_rho"][0], abs=1e-4)
    assert not model.decoder.model.layers[0].encoder_attn._forward_hooks  # the hooks are gone afterwards
    with pytest.raises(SystemExit, match="No sung song"):
        probe.lyric_attention(model, collate, songs[:1], songs=5)


def test_lyric_attention_probe_runs_on_a_songgen_model():
    """The same probe on a real (tiny) model: eager attention hands the hooks their weights, one row per head."""
    import torch

    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.testing import tiny_songgen_config, tiny_tokenizers
    from songgen_hf.training.songgen_data import SongGenCollator

    probe = _recipe_script("probe_lyric_attention")
    torch.manual_seed(0)
    config = tiny_songgen_config("parallel_stream2", use_voice_encoder=False)
    config._attn_implementation = "eager"
    model = SongGenForConditionalGeneration(config).eval()
    description, lyrics = tiny_tokenizers()
    collator = SongGenCollator(model.pattern, description, lyrics)
    codes = {track: torch.randint(0, 1024, (8, 16)) for track in ("accompaniment", "vocals")}
    songs = [{"caption": "a pop song", "lyrics": text, "language": "en", "num_frames": 16, "codes": codes,
              "vocal_path": "", "voice_start": 0.0} for text in ("", "walk the line and sing along tonight")]
    report = probe.lyric_attention(model, collator, songs, songs=4)
    assert report["songs"] == 1
    report_tokens = int(collator([songs[1]])["lyrics_attention_mask"].sum())
    assert len(report["layers"]) == config.decoder.num_hidden_layers
    for layer in report["layers"]:
        assert len(layer["lyrics_share"]) == len(layer["order_rho"]) == config.decoder.num_attention_heads
        assert all(0.0 < share < 1.0 for share in layer["lyrics_share"])  # the description takes the rest
        assert all(-1.0 <= rho <= 1.0 for rho in layer["order_rho"])
        # a random model spreads its attention: more than one token, at most all of them
        assert all(1.0 < spread <= report_tokens for spread in layer["effective_tokens"])


@pytest.mark.parametrize("track_pattern", ["parallel_stream2", "mixed"])
def test_lyric_attention_probe_can_listen_to_the_models_own_songs(tmp_path, track_pattern):
    """``--generated``: each prompt is sung by the model and the probe reads those codes, as long as the real song,
    one code track per stem the collator reads; seeded, so the same prompt gives the same song."""
    import torch

    from songgen_hf import SongGenForConditionalGeneration, SongGenProcessor
    from songgen_hf.testing import save_tiny_checkpoint
    from songgen_hf.training.songgen_data import SongGenCollator

    probe = _recipe_script("probe_lyric_attention")
    path = save_tiny_checkpoint(tmp_path / "model", track_pattern, use_voice_encoder=False)
    model = SongGenForConditionalGeneration.from_pretrained(path, attn_implementation="eager").eval()
    processor = SongGenProcessor.from_pretrained(path)
    real = {"caption": "a pop song", "lyrics": "walk the line and sing along tonight", "language": "en",
            "num_frames": 14, "codes": {"mix": torch.zeros(8, 30, dtype=torch.long)}, "crop_start": 7,
            "vocal_path": "", "voice_start": 0.0}
    sung = probe.sung_by_the_model(model, processor, real, seed=3)
    assert sung["num_frames"] == 14 and sung["crop_start"] == 0 and sung["lyrics"] == real["lyrics"]
    assert set(model.pattern.track_names) <= set(sung["codes"])
    for track in sung["codes"].values():
        assert track.shape == (8, 14) and 0 <= int(track.min()) and int(track.max()) < 1024
    again = probe.sung_by_the_model(model, processor, real, seed=3)
    assert all(torch.equal(again["codes"][name], codes) for name, codes in sung["codes"].items())
    collator = SongGenCollator(model.pattern, processor.tokenizer, processor.lyrics_tokenizer)
    report = probe.lyric_attention(model, collator, [real], songs=1, processor=processor)
    assert report["songs"] == 1 and len(report["layers"]) == model.config.decoder.num_hidden_layers


def test_lyric_continuation_probe_continues_each_clip_from_its_own_start(tmp_path, monkeypatch):
    """The probe behind session 41's finding (v12 does not say the words even when continuing a real song): each sung
    clip is continued from its own codes, with its lyrics or another clip's, and the vocal track after the prompt is
    what the recogniser hears, beside the clean stem and its round trip over the same span."""
    import json
    import sys

    import numpy as np
    import torch

    from songgen_hf import SongGenForConditionalGeneration, SongGenProcessor
    from songgen_hf.evaluation.codec_evaluation import load_clips
    from songgen_hf.testing import save_tiny_checkpoint

    from ..evaluation.tiny_corpus import write_tiny_corpus

    probe = _recipe_script("probe_lyric_continuation")
    _, test = write_tiny_corpus(tmp_path / "corpus", num_train=1, num_test=3, seconds=1.6)
    path = save_tiny_checkpoint(tmp_path / "model", "parallel_stream2", use_voice_encoder=False)
    model = SongGenForConditionalGeneration.from_pretrained(path).eval()
    processor = SongGenProcessor.from_pretrained(path)
    clips, _ = load_clips(test, 3)
    captions = [json.loads(line)["caption"] for line in test.read_text().splitlines()]
    lyrics = [clip.lyrics for clip in clips]
    prompt_frames, rate = 20, model.config.sampling_rate
    seen = []
    generate = model.generate
    monkeypatch.setattr(model, "generate", lambda **kw: seen.append(kw["audio_prompt_codes"]) or generate(**kw))
    tracks = probe.continue_clips(model, processor, clips, captions, lyrics, prompt_frames, seed=0)
    assert len(tracks) == len(seen) == 3
    for track, prompt in zip(tracks, seen):
        assert set(prompt) == {"accompaniment", "vocals"} and prompt["vocals"].shape[-1] == prompt_frames
        assert abs(len(track) - round(1.6 * rate - prompt_frames / model.config.frame_rate * rate)) <= rate // 50 * 2
    assert not torch.equal(seen[0]["vocals"], seen[1]["vocals"])  # each clip's own start
    again = probe.continue_clips(model, processor, clips, captions, lyrics, prompt_frames, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(tracks, again))  # seeded

    output = tmp_path / "continuation.json"
    monkeypatch.setattr(sys, "argv", ["probe", str(path), "--manifest", str(test), "--num-clips", "3",
                                      "--prompt-seconds", "0.4", "--output", str(output)])
    probe.main()
    report = json.loads(output.read_text())
    monkeypatch.setattr(sys, "argv", ["probe", str(path), "--manifest", str(test), "--num-clips", "3",
                                      "--prompt-seconds", "1.6"])
    with pytest.raises(SystemExit, match="below the shortest sung clip"):
        probe.main()
    assert report["sung_clips"] == 3 and report["prompt_seconds"] == 0.4
    for name in ("clean vocal stem", "codec round trip", "continued, right lyrics", "continued, other lyrics"):
        assert 0.0 <= report[name]["recall"]["mean"] <= 1.0
    assert -1.0 <= report["lyrics_steer"]["mean"] <= 1.0


def test_one_step_word_probe_replaces_only_the_predicted_codebooks_of_the_sung_track():
    """The probe behind session 41's finding (v12 does not predict the words even one frame ahead): the real codes
    come back exactly from the teacher-forced layout, and the predicted versions differ from them only in the sung
    track's first codebooks, where they are the model's own argmax."""
    import numpy as np
    import torch

    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.testing import tiny_songgen_config, tiny_tokenizers
    from songgen_hf.training.songgen_data import SongGenCollator

    probe = _recipe_script("probe_one_step_words")
    torch.manual_seed(0)
    model = SongGenForConditionalGeneration(tiny_songgen_config("parallel_stream2", use_voice_encoder=False)).eval()
    collator = SongGenCollator(model.pattern, *tiny_tokenizers())
    generator = torch.Generator().manual_seed(1)
    codes = {track: torch.randint(0, 1024, (8, 16), generator=generator) for track in ("accompaniment", "vocals")}
    song = {"caption": "a pop song", "lyrics": "walk the line and sing along tonight", "language": "en",
            "num_frames": 16, "codes": codes, "vocal_path": "", "voice_start": 0.0}
    out = probe.one_step_tracks(model, collator([song]), 2, torch.Generator().manual_seed(0))
    assert probe.sung_track(model) == "vocals" and set(out) == set(probe.VERSIONS)
    real = out["real codes"][0]
    assert torch.equal(real, codes["vocals"])  # the teacher-forced layout reverts to the song itself
    for name in probe.VERSIONS[1:]:
        predicted = out[name][0]
        assert predicted.shape == real.shape
        assert torch.equal(predicted[2:], real[2:])  # codebooks 3-8 stay real
        assert not torch.equal(predicted[:2], real[:2])  # a random model does not guess 32 codes right
    again = probe.one_step_tracks(model, collator([song]), 2, torch.Generator().manual_seed(0))
    assert all(torch.equal(out[name], again[name]) for name in probe.VERSIONS)  # argmax and seeded draw

    report = probe.probe_songs(model, collator, [song, {**song, "lyrics": "hold the light and call my name"}], 2)
    assert report["songs"] == 2 and report["track"] == "vocals" and report["codebooks_predicted"] == 2
    for name in (*probe.VERSIONS, probe.PREFIX):
        assert 0.0 <= report[name]["recall"]["mean"] <= 1.0 and np.isfinite(report[name]["above_chance"]["mean"])


def test_local_predictor_reads_the_sung_frames_and_learns_what_the_syllable_decides():
    """The yardstick for ``validation_sung_loss``: sung frames come from the records' syllable timing, and where the
    code sung is decided by the syllable, the predictor told the syllable learns it and the one that is not cannot."""
    import json

    import torch

    probe = _recipe_script("probe_local_predictor")
    generator = torch.Generator().manual_seed(0)
    syllables = ["la", "mo", "ti", "ru", "ke", "sa"]

    def record(seed: int) -> dict:
        rng = torch.Generator().manual_seed(seed)
        order = [syllables[int(i)] for i in torch.randint(0, len(syllables), (8,), generator=rng)]
        onsets = [0.1 + 0.2 * i for i in range(8)]  # 5 frames sung, then 5 silent, from frame 5
        codes = torch.randint(0, 1024, (8, 90), generator=generator)
        for number, text in enumerate(order):
            first = 5 + 10 * number
            decided = [100 * (syllables.index(text) + 1) + k for k in range(3)]
            codes[:3, first : first + 5] = torch.tensor(decided)[:, None]
        attributes = {"syllables": order, "note_onsets_s": onsets, "note_durations_s": [0.1] * 8}
        return {"codes_vocals": codes.tolist(), "lyrics": " ".join(order), "attributes": json.dumps(attributes)}

    song = probe.sung_song(record(0), 50.0)
    assert song["sung"].sum() == 40 and song["sung"][5:10].all() and not song["sung"][10:15].any()
    assert song["since"][5:10].tolist() == [0, 1, 2, 3, 4] and song["until"][5:10].tolist() == [4, 3, 2, 1, 0]
    assert song["syllable"][7] == json.loads(record(0)["attributes"])["syllables"][0]
    assert probe.sung_song({**record(0), "lyrics": ""}, 50.0) is None  # an instrumental has no sung frames

    train_songs = [probe.sung_song(record(seed), 50.0) for seed in range(40)]
    held_songs = [probe.sung_song(record(seed), 50.0) for seed in range(100, 110)]
    vocabulary = {name: index + 1 for index, name in enumerate(syllables)}
    results = {}
    for told in (False, True):
        words = vocabulary if told else {}
        train, held = (probe.frame_examples(songs, 1, words) for songs in (train_songs, held_songs))
        assert len(train["target"]) == 40 * 40 and train["past"].shape == (1600, 1, 3)
        _, history = probe.train_predictor(train, held, 1, len(words), epochs=6, seed=0)
        results[told] = history[-1]
    # told the syllable, the first frame of each note is predictable; the rest follow from the frame before
    assert results[True][0] < 0.5 * results[False][0], results
