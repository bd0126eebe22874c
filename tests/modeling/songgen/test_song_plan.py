"""Songs longer than one window, planned by their sections: what each window sings, and the plans refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from songgen_hf.modeling.songgen.long_song_songgen import LongSongPlan
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor, format_understood
from songgen_hf.modeling.songgen.song_plan_songgen import (
    MAX_SYLLABLES_PER_SECOND,
    line_syllables,
    plan_song,
    window_spans,
)
from songgen_hf.testing import tiny_songgen_config, tiny_tokenizers

RATE = 50.0  # frames a second
TAGGED = (
    "[intro]\n"
    "[verse]\nwe run across the night\nand sing until the light\n"
    "[chorus]\nhold me close tonight\nthe stars are shining bright\n"
    "[guitar solo]\n"
    "[outro]"
)


@pytest.fixture(scope="module")
def processor():
    # the tiny model's window: 4.96 s, its default context 0.4 of it
    return SongGenProcessor.for_config(tiny_songgen_config("mixed", use_voice_encoder=False), *tiny_tokenizers())


def _plan(lyrics: str, seconds: float, window_s: float = 10.0, context_s: float = 4.0):
    return plan_song(lyrics, round(seconds * RATE), round(window_s * RATE), round(context_s * RATE), RATE)


def test_windows_tile_the_song_as_generate_does():
    for total, window, context in [(25, 15, 5), (40, 15, 5), (30, 15, 5), (6000, 1500, 600), (10, 15, 5)]:
        assert window_spans(total, window, context) == LongSongPlan(total, window, context, None).window_spans()


def test_sections_are_planned_as_tagged():
    plan = _plan(TAGGED, 60.0)
    kinds = [(section.kind, section.label, section.instrumental) for section in plan.sections]
    assert kinds == [
        ("intro", "intro", True),
        ("verse", "verse", False),
        ("chorus", "chorus", False),
        ("other", "guitar solo", True),
        ("outro", "outro", True),
    ]
    # the sections fill the song in order; sung ones share it by syllables, instrumental ones as an average sung one
    assert plan.sections[0].start_s == 0 and plan.sections[-1].end_s == pytest.approx(60.0)
    for before, after in zip(plan.sections, plan.sections[1:]):
        assert after.start_s == pytest.approx(before.end_s)
    verse, chorus = (sum(map(line_syllables, section.lines)) for section in plan.sections[1:3])
    lengths = [section.end_s - section.start_s for section in plan.sections]
    assert lengths[1] / lengths[2] == pytest.approx(verse / chorus)
    for instrumental in (0, 3, 4):
        assert lengths[instrumental] == pytest.approx((lengths[1] + lengths[2]) / 2)
    # windows of 10 s continuing from the previous 4 s: 0-10, 6-16, ... 54-60
    assert [(w.start_s, w.end_s) for w in plan.windows] == [(6.0 * i, min(6.0 * i + 10, 60.0)) for i in range(10)]
    # the intro's window is instrumental, the verse's and the chorus's windows sing their lines, the solo and the
    # outro are instrumental again
    intro, verse_s, chorus_s = plan.sections[0], plan.sections[1], plan.sections[2]
    assert plan.windows[0].lines == () and plan.windows[0].sections == ("intro",)
    sung = [line for window in plan.windows for line in window.lines]
    assert set(sung) == set(verse_s.lines + chorus_s.lines)  # every line sung, nothing else
    for window in plan.windows:
        for line in window.lines:
            section = verse_s if line in verse_s.lines else chorus_s
            assert window.start_s < section.end_s and window.end_s > section.start_s
        if window.start_s >= chorus_s.end_s:
            assert window.instrumental and window.lyrics == ""
    assert intro.end_s > 0 and plan.windows[-1].sections == ("outro",)


def test_lyrics_without_tags_are_spread_by_syllables_over_the_song():
    oh, long, hold, la = "oh", "we run across the night and sing until the light", "hold me close tonight", "la"
    plan = _plan("\n".join([oh, long, hold, la]), 40.0)
    assert [section.kind for section in plan.sections] == [None] and plan.sections[0].name == "lyrics"
    counts = [line_syllables(line) for line in (oh, long, hold, la)]
    assert counts == [1, 12, 5, 1]  # 40 s / 19 syllables: oh 0-2.1 s, the long line 2.1-27.4, hold 27.4-37.9, la
    # a window sings the lines whose middle it holds and a line covering half of it (the long one, 4 windows)
    assert [window.lines for window in plan.windows] == [
        (oh, long),  # 0-10
        (long,),  # 6-16
        (long,),  # 12-22
        (long,),  # 18-28
        (hold,),  # 24-34: the long line's last 3.4 s are less than half of it
        (hold, la),  # 30-40
    ]


@pytest.mark.parametrize(
    "lyrics, message",
    [
        ("[verse]\n[chorus]\nhold on", r"\[verse\] \(section 1\) has no lines"),
        ("[intro]\n[verse]\nla\n[chorus]\n[hook]", r"\[chorus\] \(section 3\), \[hook\] \(section 4\) have no lines"),
        ("[Verse 2]\n[bridge]\nla", r"\[Verse 2\] \(section 1\).*tag an instrumental stretch \[break\]"),
    ],
)
def test_an_empty_sung_section_is_refused_naming_it(lyrics, message):
    with pytest.raises(ValueError, match=message):
        _plan(lyrics, 30.0)


def test_empty_intro_bridge_break_outro_and_other_tags_are_instrumental():
    plan = _plan("[intro]\n[bridge]\n[instrumental]\n[drum solo]\n[outro]", 30.0)
    assert all(window.instrumental for window in plan.windows)
    assert [s.end_s - s.start_s for s in plan.sections] == pytest.approx([6.0] * 5)


def test_more_lines_than_the_length_can_sing_are_refused_naming_the_sections():
    verse = "\n".join(["we run across the night and sing until the light"] * 6)  # 6 x 12 syllables
    lyrics = f"[intro]\n[verse]\n{verse}\n[chorus]\nhold me close tonight\n[outro]"
    total = 6 * line_syllables(verse.splitlines()[0]) + line_syllables("hold me close tonight")
    with pytest.raises(ValueError, match=rf"{total} syllables \(by section: \[verse\] 72, \[chorus\] 5\)") as error:
        _plan(lyrics, 12.0, window_s=5.0, context_s=2.0)
    assert f"more than the {MAX_SYLLABLES_PER_SECOND:g} a second" in str(error.value)
    shortest = int(str(error.value).split("Ask for a song of at least ")[1].split(" s")[0])
    _plan(lyrics, shortest, window_s=5.0, context_s=2.0)  # the length it names sings them
    with pytest.raises(ValueError, match="syllables a second"):
        _plan(lyrics, shortest - 2, window_s=5.0, context_s=2.0)


def test_the_processor_plans_with_the_models_window_and_encodes_each_windows_lines(processor):
    assert processor.plan_song(TAGGED, 4.0) is None  # one window: sung in one pass with all its lyrics
    plan = processor.plan_song(TAGGED, 12.0)
    assert (plan.window_s, plan.context_s) == (4.96, 1.98)  # the model's window, 0.4 of it as context
    assert len(plan.windows) == 4
    features = processor(["pop", "rock"], [TAGGED, ""], duration_s=12.0)
    ids, mask = features["window_lyrics_input_ids"], features["window_lyrics_attention_mask"]
    assert ids.shape[:2] == mask.shape[:2] == (2, 4)
    for index, window in enumerate(plan.windows):
        alone = processor("pop", window.lyrics)  # each window's lines, encoded as the whole lyrics are
        length = alone["lyrics_attention_mask"].shape[-1]
        assert torch.equal(ids[0, index, :length], alone["lyrics_input_ids"][0])
        assert int(mask[0, index].sum()) == length
    empty = processor("rock", "")["lyrics_input_ids"][0]  # a song without lyrics: every window instrumental
    assert all(torch.equal(ids[1, index, : len(empty)], empty) for index in range(4))
    assert "window_lyrics_input_ids" not in processor("pop", TAGGED, duration_s=4.0)
    with pytest.raises(ValueError, match="pass duration_s too"):
        processor("pop", TAGGED, window_s=2.0)


def test_interpret_and_the_cli_line_show_the_plan(processor):
    assert "plan" not in processor.interpret("pop", TAGGED)
    assert "plan" not in processor.interpret("pop", TAGGED, duration_s=4.0)
    reading = processor.interpret("pop", TAGGED, duration_s=12.0, window_s=4.0, context_s=1.0)
    plan = reading["plan"]
    assert (plan["duration_s"], plan["window_s"], plan["context_s"]) == (12.0, 4.0, 1.0)
    assert [(w["start_s"], w["end_s"]) for w in plan["windows"]] == [(0, 4), (3, 7), (6, 10), (9, 12)]
    assert [s["label"] for s in plan["sections"]] == ["intro", "verse", "chorus", "guitar solo", "outro"]
    text = format_understood(reading)
    first, *rest = text.splitlines()
    assert first.startswith("understood: ") and rest[0].startswith("plan: 12 s in 4 windows of at most 4 s")
    assert "intro 0-" in rest[1] and "(instrumental)" in rest[1] and "verse " in rest[1]
    assert [line.split(":")[0].strip() for line in rest[2:]] == [
        f"window {i} {s}" for i, s in enumerate(["0-4 s", "3-7 s", "6-10 s", "9-12 s"], 1)
    ]
    with pytest.raises(ValueError, match=r"\[verse\] \(section 1\) has no lines"):
        processor.interpret("pop", "[verse]\n[chorus]\nla", duration_s=12.0)


def test_a_plan_made_once_is_handed_on_and_gives_what_planning_again_gives(processor):
    plan = processor.plan_song(TAGGED, 12.0)
    again = processor(["pop", "rock"], [TAGGED, TAGGED], duration_s=12.0)
    handed = processor(["pop", "rock"], [TAGGED, TAGGED], plans=[plan, plan])
    assert set(handed) == set(again)
    assert all(torch.equal(handed[name], again[name]) for name in again)
    assert processor.interpret("pop", TAGGED, plan=plan) == processor.interpret("pop", TAGGED, duration_s=12.0)
    with pytest.raises(ValueError, match="either plans or duration_s"):
        processor("pop", TAGGED, plans=[plan], duration_s=12.0)
    with pytest.raises(ValueError, match="one SongPlan per song"):
        processor(["pop", "rock"], [TAGGED, TAGGED], plans=[plan])
    with pytest.raises(ValueError, match="one SongPlan per song"):
        processor(["pop", "rock"], [TAGGED, TAGGED], plans=[plan, processor.plan_song(TAGGED, 20.0)])
    with pytest.raises(ValueError, match="either plan or duration_s"):
        processor.interpret("pop", TAGGED, plan=plan, duration_s=12.0)


def test_a_processor_that_does_not_know_its_model_says_how_to_tell_it():
    bare = SongGenProcessor(*tiny_tokenizers())
    with pytest.raises(ValueError, match="set processor.model_config = model.config"):
        bare.interpret("pop", TAGGED, duration_s=12.0)


def test_a_three_window_song_through_the_pipeline_sings_the_planned_lines_in_each_window(tmp_path, monkeypatch):
    from songgen_hf.pipelines import load_text_to_song_pipeline
    from songgen_hf.testing import save_tiny_checkpoint

    pipe = load_text_to_song_pipeline(save_tiny_checkpoint(tmp_path / "model", "mixed", use_voice_encoder=False))
    model, real_window = pipe.model, type(pipe.model)._generate_window
    windows = []

    def window(inputs, generation_config, kwargs, *args, **state):  # each window of the song is one pass
        windows.append((kwargs["lyrics_input_ids"].clone(), kwargs["lyrics_attention_mask"].clone()))
        return real_window(model, inputs, generation_config, kwargs, *args, **state)

    monkeypatch.setattr(model, "_generate_window", window)
    # 3 syllables in 1.4 s: intro 0-0.28 s, verse 0.28-0.65, chorus 0.65-0.84, solo 0.84-1.12, outro 1.12-1.4
    lyrics = "[intro]\n[verse]\nla la\n[chorus]\noh\n[guitar solo]\n[outro]"
    settings = dict(duration_s=1.4, window_s=0.6, context_s=0.2, seed=0, do_sample=False)
    # two songs in one batch: each window of each song reads its own planned lines
    songs = [{"description": "pop", "lyrics": lyrics}, {"description": "rock", "lyrics": "oh oh"}]
    song, other = pipe(songs, batch_size=2, **settings)
    assert song["audio"].shape == other["audio"].shape == (1, round(1.4 * song["sampling_rate"]))
    plan, spread = (pipe.processor.plan_song(text, 1.4, 0.6, 0.2) for text in (lyrics, "oh oh"))
    assert [(w.start_s, w.end_s) for w in plan.windows] == [(0.0, 0.6), (0.4, 1.0), (0.8, 1.4)]
    assert [window["lines"] for window in song["understood"]["plan"]["windows"]] == [
        list(w.lines) for w in plan.windows
    ]
    assert [window.lines for window in plan.windows] == [("la la",), ("la la", "oh"), ()]  # the last: solo, outro
    assert [window.lines for window in spread.windows] == [("oh oh",)] * 3  # one line over the whole song
    assert len(windows) == 3
    for (ids, mask), first, second in zip(windows, plan.windows, spread.windows):
        # exactly each window's lines, as the lyrics encoder reads a batch of lyrics
        expected = pipe.processor(["pop", "rock"], [first.lyrics, second.lyrics])
        assert torch.equal(ids, expected["lyrics_input_ids"]) and torch.equal(mask, expected["lyrics_attention_mask"])

    # a song of one window reads the whole lyrics, as before
    windows.clear()
    pipe({"description": "pop", "lyrics": lyrics}, duration_s=0.2, seed=0, do_sample=False)
    ((ids, _),) = windows  # one pass
    assert torch.equal(ids, pipe.processor(["pop"], [lyrics])["lyrics_input_ids"])
    # a plan that cannot be sung is refused before anything is generated
    windows.clear()
    with pytest.raises(ValueError, match=r"\[verse\] \(section 2\) has no lines"):
        pipe({"description": "pop", "lyrics": "[intro]\n[verse]\n[chorus]\nla"}, **settings)
    assert windows == []


def test_a_dual_track_song_rests_its_vocal_track_in_the_planned_instrumental_sections(tmp_path, monkeypatch):
    """The processor marks the plan's instrumental frames for a model with a vocal track of its own (none for a
    mixed one, whose planned window lyrics are all it can be told); the pipeline hands them to generate, batched,
    and the vocal track holds the codec's silence there."""
    from songgen_hf.pipelines import load_text_to_song_pipeline
    from songgen_hf.testing import save_tiny_checkpoint

    lyrics = "[intro]\n[verse]\nla la\n[chorus]\noh\n[guitar solo]\n[outro]"
    settings = dict(duration_s=1.4, window_s=0.6, context_s=0.2)
    mixed = SongGenProcessor.for_config(tiny_songgen_config("mixed", use_voice_encoder=False), *tiny_tokenizers())
    assert "instrumental_frames" not in mixed("pop", lyrics, **settings)

    pipe = load_text_to_song_pipeline(
        save_tiny_checkpoint(tmp_path / "model", "interleaving_A_V", use_voice_encoder=False)
    )
    plan = pipe.processor.plan_song(lyrics, **settings)
    expected = torch.zeros(70, dtype=torch.bool)
    for section in plan.sections:  # intro 0-0.28 s, solo 0.84-1.12, outro 1.12-1.4: frames 0-14 and 42-70
        if section.instrumental:
            expected[round(section.start_s * RATE) : round(section.end_s * RATE)] = True
    assert expected[:14].all() and not expected[14:42].any() and expected[42:].all()
    features = pipe.processor(["pop", "rock"], [lyrics, "oh oh"], **settings)
    assert torch.equal(features["instrumental_frames"], torch.stack([expected, torch.zeros(70, dtype=torch.bool)]))

    model, real_generate = pipe.model, type(pipe.model).generate
    calls = []

    def generate(*args, **kwargs):  # the pipeline asks for the codes too (return_dict_in_generate)
        out = real_generate(model, *args, **kwargs)
        calls.append((kwargs.get("instrumental_frames"), out.codes["vocals"]))
        return out

    monkeypatch.setattr(model, "generate", generate)
    songs = [{"description": "pop", "lyrics": lyrics}, {"description": "rock", "lyrics": "oh oh"}]
    pipe(songs, batch_size=2, seed=0, **settings)
    (frames, vocals), *_ = calls
    assert torch.equal(frames, features["instrumental_frames"])
    silence = model.silence_codes(70)[0]
    assert torch.equal(vocals[0][:, expected], silence[:, expected])
    assert not torch.equal(vocals[1][:, expected], silence[:, expected])


def test_generate_refuses_window_lyrics_that_do_not_fit_its_windows():
    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.testing import dummy_generation_inputs

    torch.manual_seed(0)
    model = SongGenForConditionalGeneration(tiny_songgen_config("mixed", use_voice_encoder=False)).eval()
    inputs = dummy_generation_inputs(model)
    ids = inputs["lyrics_input_ids"][:, None].repeat(1, 2, 1)
    mask = inputs["lyrics_attention_mask"][:, None].repeat(1, 2, 1)
    with pytest.raises(ValueError, match=r"made in 3 windows for a batch of 2: plan the lyrics with the same"):
        model.generate(
            **inputs,
            window_lyrics_input_ids=ids,
            window_lyrics_attention_mask=mask,
            duration_s=0.6,
            window_s=0.3,
            context_s=0.1,
        )
    with pytest.raises(ValueError, match="go together"):
        model.generate(**inputs, window_lyrics_input_ids=ids, duration_s=0.6, window_s=0.3, context_s=0.1)
    with pytest.raises(ValueError, match="pass the duration_s they were planned for"):
        model.generate(**inputs, window_lyrics_input_ids=ids, window_lyrics_attention_mask=mask, max_new_tokens=3)


NOTED = "[intro]\n[verse]\nla la la\n[chorus: anthemic, at 140 bpm, in A major]\noh oh oh oh\n[outro]"
NOTED_SETTINGS = dict(duration_s=2.4, window_s=0.6, context_s=0.2)


def _controlled_processor():
    config = tiny_songgen_config(
        "mixed", use_voice_encoder=False, decoder={"use_tempo_control": True, "use_key_control": True}
    )
    return config, SongGenProcessor.for_config(config, *tiny_tokenizers())


def test_a_sections_note_is_read_before_the_songs_description_in_the_windows_it_holds():
    from songgen_hf.modeling.songgen.configuration_songgen import music_key_id
    from songgen_hf.modeling.songgen.song_plan_songgen import format_plan

    _, processor = _controlled_processor()
    plan = processor.plan_song(NOTED, **NOTED_SETTINGS)
    chorus = next(section for section in plan.sections if section.kind == "chorus")
    assert chorus.note == "anthemic, at 140 bpm, in A major" and chorus.name == "chorus"
    # windows start at the chorus and at the section after it, where the note changes: the windows whose new
    # stretch is the chorus (1.11-1.8 s, frames 56-90) play it as its note says, from its first frame to its last
    assert [window.note != "" for window in plan.windows] == [False, False, False, True, True, False, False]
    assert plan.window_ends(50) == [30, 50, 56, 76, 90, 110, 120]
    song = "pop at 100 bpm in C major"
    assert plan.windows[3].description(song) == "anthemic, at 140 bpm, in A major. pop at 100 bpm in C major"
    assert plan.windows[0].description(song) == song
    # the printout says where the note plays: the new stretches of the windows that read it
    assert "chorus 1.11-1.8 s (1 line; anthemic, at 140 bpm, in A major, played 1.12-1.8 s)" in format_plan(
        plan.to_dict()
    )
    assert plan.to_dict()["sections"][2]["note_plays"] == [[1.12, 1.8]] and "warnings" not in plan.to_dict()

    features = processor([song, "rock"], [NOTED, "la la"], **NOTED_SETTINGS)
    assert features["window_input_ids"].shape[:2] == features["window_attention_mask"].shape[:2] == (2, 7)
    # each song in its own windows: the other one's are as long as they can be, its last repeated to the batch's
    assert features["window_ends"].tolist() == [[30, 50, 56, 76, 90, 110, 120], [30, 50, 70, 90, 110, 120, 120]]
    assert features["window_tempo_bpm"][0].tolist() == [100.0, 100.0, 100.0, 140.0, 140.0, 100.0, 100.0]
    keys = features["window_music_key_ids"][0].tolist()
    c_major, a_major = music_key_id(0, minor=False), music_key_id(9, minor=False)
    assert keys == [c_major, c_major, c_major, a_major, a_major, c_major, c_major]
    for index, window in enumerate(plan.windows):  # each window's description encoded as a song's is
        alone = processor(window.description(song), "la")
        length = alone["attention_mask"].shape[-1]
        assert torch.equal(features["window_input_ids"][0, index, :length], alone["input_ids"][0])
    # the other song has no notes: its windows read its own description
    rock = processor("rock", "la")["input_ids"][0]
    assert all(torch.equal(features["window_input_ids"][1, i, : len(rock)], rock) for i in range(7))
    # a song without notes: every window reads the song's description, with its controls
    plain = processor(song, "la la la\noh oh", **NOTED_SETTINGS)
    assert all(torch.equal(row, plain["input_ids"][0]) for row in plain["window_input_ids"][0])
    assert plain["window_tempo_bpm"][0].tolist() == [100.0] * 6 and plain["window_ends"].shape == (1, 6)


def test_each_window_of_a_song_with_notes_is_generated_from_its_own_description(tmp_path, monkeypatch):
    from songgen_hf.pipelines import load_text_to_song_pipeline
    from songgen_hf.testing import save_tiny_checkpoint

    folder = save_tiny_checkpoint(
        tmp_path / "model",
        "mixed",
        use_voice_encoder=False,
        decoder={"use_tempo_control": True, "use_key_control": True},
    )
    pipe = load_text_to_song_pipeline(folder)
    model, real_window = pipe.model, type(pipe.model)._generate_window
    windows = []

    def window(inputs, generation_config, kwargs, *args, **state):  # each window of the song is one pass
        windows.append((kwargs["input_ids"].clone(), kwargs["tempo_bpm"].clone()))
        return real_window(model, inputs, generation_config, kwargs, *args, **state)

    monkeypatch.setattr(model, "_generate_window", window)
    song, other = "pop at 100 bpm in C major", "rock at 90 bpm"
    # a song with notes and one without, in one batch: each in its own windows (the noted song's cut at its chorus)
    songs = [{"description": song, "lyrics": NOTED}, {"description": other, "lyrics": "la la la\noh oh"}]
    out = pipe(songs, batch_size=2, seed=0, do_sample=False, **NOTED_SETTINGS)
    assert [o["audio"].shape[-1] for o in out] == [round(2.4 * out[0]["sampling_rate"])] * 2
    plan = pipe.processor.plan_song(NOTED, **NOTED_SETTINGS)
    plain = pipe.processor.plan_song("la la la\noh oh", **NOTED_SETTINGS)
    assert len(plan.windows) == 7 and len(plain.windows) == 6 and len(windows) == 7
    for (ids, tempo), window in zip(windows, plan.windows):
        expected = pipe.processor([window.description(song), other], ["la", "la"])["input_ids"]
        assert torch.equal(ids, expected[:, : ids.shape[-1]])
        assert tempo.tolist() == [140.0 if window.note else 100.0, 90.0]
    # the same songs one at a time are the same songs
    alone = [pipe(item, seed=0, do_sample=False, **NOTED_SETTINGS)["audio"] for item in songs]
    assert all(np.allclose(one["audio"], two, atol=1e-5) for one, two in zip(out, alone))


def test_per_window_descriptions_that_do_not_fit_are_refused_before_any_window():
    from songgen_hf import SongGenForConditionalGeneration

    config, processor = _controlled_processor()
    torch.manual_seed(0)
    model = SongGenForConditionalGeneration(config).eval()
    features = dict(processor(["pop"], [NOTED], **NOTED_SETTINGS))
    features["window_tempo_bpm"] = features["window_tempo_bpm"][:, :5]
    calls = []
    model.register_forward_pre_hook(lambda *args: calls.append(1))
    with pytest.raises(ValueError, match=r"per-window descriptions .* do not fit this song of 2\.4 s, made in 7"):
        model.generate(**features, **NOTED_SETTINGS)
    assert not calls


def test_a_note_no_window_can_play_is_a_warning_in_the_plan(caplog):
    """A noted section shorter than the part of a window that would read its note: the plan says so, with the fix,
    in its printout, its dict and the log, rather than dropping the note without a word."""
    from songgen_hf.modeling.songgen.song_plan_songgen import format_plan

    _, processor = _controlled_processor()
    lyrics = (
        "[verse]\nla la la la la la la la la la la la\n[chorus: at 140 bpm]\noh\n"
        "[verse]\nla la la la la la la la la la la la la"
    )
    plan = processor.plan_song(lyrics, duration_s=4.0, window_s=1.2, context_s=0.4)
    chorus = plan.to_dict()["sections"][1]
    notes = [text for text in plan.warnings() if "plays nowhere" in text]
    assert chorus["note_plays"] == [] and len(notes) == 1
    assert "the note of [chorus: at 140 bpm] (1.8-2.0 s) plays nowhere" in notes[0]
    printed = format_plan(plan.to_dict())
    assert "at 140 bpm, played nowhere" in printed and "  warning: the note of [chorus: at 140 bpm]" in printed
    assert "shorter windows" in plan.to_dict()["warnings"][0]
