"""The singer probes of sessions 43-44 (recipes/songgen_tiny/probe_*_singer.py, probe_syllable_lookup.py):
each on synthetic songs whose sung codes the syllable decides, so what the probe learns can be checked."""

from .test_recipes import _recipe_script


SUNG_SYLLABLES = ["la", "mo", "ti", "ru"]


def _syllable_record(seed: int, noise, codebooks: int = 3, quiet_accompaniment: bool = False) -> dict:
    """A synthetic sung record for the singer probes: six of ``SUNG_SYLLABLES`` (drawn with ``seed``), each sung
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
    attributes = {"syllables": order, "note_onsets_s": [0.1 + 0.2 * i for i in range(6)],
                  "note_durations_s": [0.1] * 6, "melody_midi": [60 + i for i in range(6)], "voice": "en+f2"}
    accompaniment = torch.zeros(8, 70, dtype=torch.long) if quiet_accompaniment else torch.randint(
        0, 1024, (8, 70), generator=noise)
    return {"codes_vocals": vocal.tolist(), "codes_accompaniment": accompaniment.tolist(),
            "lyrics": " ".join(order), "attributes": json.dumps(attributes)}


def test_aligned_singer_reads_the_timing_and_sings_what_the_units_decide():
    """The probe behind session 43's finding: each sung frame is told its syllable's letters (or the lyric token sung)
    and how far into the note it is, nothing elsewhere; where the codes sung are decided by the syllable, a singer
    trained on them fills them from the units alone, and one never told the units cannot."""
    import json

    import torch

    from songgen_hf.processing.lyrics_alignment import syllable_token_positions
    from songgen_hf.testing import tiny_tokenizers

    probe = _recipe_script("probe_aligned_singer")
    _, lyrics_tokenizer = tiny_tokenizers()
    noise = torch.Generator().manual_seed(0)

    def record(seed: int) -> dict:
        return _syllable_record(seed, noise)

    first = record(0)
    order = json.loads(first["attributes"])["syllables"]
    letters = probe.frame_units(first, 70, "syllables")
    assert letters[0, 5:10].tolist() == [ord(order[0][0]) + 1] * 5 and letters[1, 7] == ord(order[0][1]) + 1
    assert not letters[2 : probe.LETTERS, 5:10].any() and not letters[:, 10:15].any() and not letters[:, :5].any()
    assert letters[probe.LETTERS, 5:10].tolist() == [1, 2, 3, 4, 5]
    tokens = probe.frame_units(first, 70, "tokens", lyrics_tokenizer)
    ids = lyrics_tokenizer.frame_lyrics(first["lyrics"])
    positions = syllable_token_positions(lyrics_tokenizer, first["lyrics"], order)
    assert tokens[0, 15] == ids[int(positions[1])] + 1 and tokens[1, 15] == ids[int(positions[1]) - 1] + 1
    assert tokens[probe.LETTERS, 15:20].tolist() == [1, 2, 3, 4, 5] and not tokens[:, 10:15].any()
    assert not letters[probe.PITCH].any() and not letters[probe.VOICE].any()  # told only the units by default
    told = probe.frame_units(first, 70, "syllables", tell=("pitch", "voice"))
    assert not told[: probe.LETTERS].any() and told[probe.SINCE, 5:10].tolist() == [1, 2, 3, 4, 5]
    assert told[probe.PITCH, 15:20].tolist() == [62] * 5 and not told[probe.PITCH, 10:15].any()
    assert told[probe.VOICE, 5] == probe.VOICES["en+f2"] > 0 and not told[probe.VOICE, :5].any()
    assert not probe.frame_units({**first, "lyrics": ""}, 70, "syllables").any()  # an instrumental: nothing sung
    assert probe.sung_song({**first, "codes_vocals": None}, "syllables") is None

    train = [probe.sung_song(record(seed), "syllables") for seed in range(1, 33)]
    held = [probe.sung_song(record(seed), "syllables") for seed in range(100, 104)]
    sizes = dict(width=64, layers=2, heads=2, unit_vocabulary=160)
    singer, told = probe.train_singer(train, held, 250, batch=8, crop=None, learning_rate=3e-3, log_every=250, **sizes)
    deaf = [{**song, "units": torch.zeros_like(song["units"])} for song in train]
    _, untold = probe.train_singer(deaf, held, 250, batch=8, crop=None, learning_rate=3e-3, log_every=250, **sizes)
    # 30 of the 70 frames are sung: told, their first codebook costs about nothing; untold, one of four syllables
    assert told[-1]["held_out_nll"][0] < untold[-1]["held_out_nll"][0] - 0.3, (told, untold)
    # on the sung frames the told singer leans on the units: hiding them costs it what the syllable decided
    assert told[-1]["sung_nll"]["told"][0] < told[-1]["sung_nll"]["hidden"][0] - 0.5, told
    sung = held[0]["units"][probe.LETTERS] > 0
    filled = probe.fill(singer, held[0], given=0)[0]
    assert filled.shape == (3, 70)
    accuracy = (filled[0, sung] == held[0]["codes"][0, sung]).float().mean()
    assert accuracy > 0.9
    drawn = probe.fill(singer, held[0], given=0, temperature=0.1, generator=torch.Generator().manual_seed(0))[0]
    assert (drawn[0, sung] == held[0]["codes"][0, sung]).float().mean() > 0.9  # a cold draw keeps what is certain
    hot = [probe.fill(singer, held[0], given=0, temperature=5.0, generator=torch.Generator().manual_seed(seed))[0]
           for seed in (1, 2)]
    assert not torch.equal(hot[0], hot[1]) and (hot[0] < 1024).all()  # a hot draw differs from seed to seed



def test_syllable_lookup_pastes_the_nearest_instance_of_each_sung_syllable():
    """The probe behind session 44's lookup: each held-out sung syllable gets the codes of the same syllable from a
    training song (same voice and nearest pitch preferred), stretched to its note; unsung frames get the training
    stems' usual silent frame; the control takes another syllable's codes."""
    import json
    import random

    import torch

    probe = _recipe_script("probe_syllable_lookup")
    silence = torch.tensor([7, 8, 9, 10, 11, 12, 13, 14])

    def record(syllables, onsets, durations, pitches, voice, fill):
        codes = silence[:, None].repeat(1, 60).clone()
        attributes = {"syllables": syllables, "note_onsets_s": onsets, "note_durations_s": durations,
                      "melody_midi": pitches, "voice": voice}
        for number, (onset, duration) in enumerate(zip(onsets, durations)):
            start, end = round(onset * 50), round((onset + duration) * 50)
            codes[:, start:end] = fill(number, syllables[number], pitches[number], voice, end - start)
        return {"codes": codes, "spans": probe.sung_spans({"lyrics": " ".join(syllables),
                                                           "attributes": json.dumps(attributes)}, 60),
                "lyrics": " ".join(syllables)}

    def sung(number, text, pitch, voice, frames):  # codes that say which syllable, pitch and voice, and each frame
        base = 100 * ["la", "mo"].index(text) + pitch + (50 if voice == "b" else 0)
        return torch.stack([torch.full((8,), base) + step for step in range(frames)], dim=1)

    train = [record(["la", "mo"], [0.1, 0.5], [0.2, 0.1], [60, 62], "a", sung),
             record(["la", "mo"], [0.1, 0.5], [0.2, 0.1], [61, 70], "b", sung),
             record(["la"], [0.2], [0.1], [70, ], "a", sung)]
    assert [span["text"] for span in train[0]["spans"]] == ["la", "mo"]
    assert (train[0]["spans"][0]["start"], train[0]["spans"][0]["end"]) == (5, 15)
    library = probe.SyllableLibrary(train)
    assert library.silence.tolist() == silence.tolist()
    held = record(["mo", "la"], [0.2, 0.6], [0.2, 0.1], [69, 61], "b", sung)
    pasted, found = library.paste(held)
    assert found == 2
    # "mo" (voice b, pitch 69): the voice-b instance at 70, 5 frames stretched over 10 (each frame twice)
    assert pasted[0, 10:20].tolist() == [220 + step // 2 for step in range(10)]
    # "la" (voice b, pitch 61): voice b's 10 frames squeezed into 5 (every other one)
    assert pasted[0, 30:35].tolist() == [111 + 2 * step for step in range(5)]
    assert (pasted[:, :10] == silence[:, None]).all() and (pasted[:, 35:] == silence[:, None]).all()
    control, _ = library.paste(held, random.Random(0))
    assert control[0, 10] < 150 <= control[0, 30]  # each syllable sung as the other one ("la" < 150 <= "mo")
    anyone = [library.paste(held, anyone=random.Random(seed))[0][0, 30] for seed in range(20)]
    assert {int(code) // 10 for code in anyone} == {6, 11, 7}  # "la" from all three of its instances, drawn at random
    assert library.paste(record(["ti"], [0.1], [0.1], [60], "a", lambda *_: silence[:, None]))[1] == 0
    assert probe.sung_spans({"lyrics": "", "attributes": "{}"}, 60) == []


def test_latent_singer_regresses_what_the_syllable_decides_and_decodes_as_the_codec_does():
    """The probe behind session 44's regression: the singer, told each sung frame's syllable, pitch and voice,
    regresses the sum of the stem's codewords; what the syllables decide it learns, and hidden it cannot; a latent
    decoded through the codec's decoder alone sounds as the codes it sums decode."""
    import torch

    from songgen_hf import XCodecModel
    from songgen_hf.testing import tiny_xcodec_config

    probe = _recipe_script("probe_latent_singer")
    aligned = _recipe_script("probe_aligned_singer")
    codec = XCodecModel(tiny_xcodec_config(teacher="mel")).eval()
    codes = torch.randint(0, 1024, (1, 8, 12), generator=torch.Generator().manual_seed(0))
    latent = codec.quantizer.decode(codes.transpose(0, 1))
    assert torch.allclose(probe.decode_latent(codec, latent), codec.decode(codes).audio_values, atol=1e-5)
    heard = probe._LatentCodec(codec)
    assert torch.equal(heard.decode(codes).audio_values, codec.decode(codes).audio_values)
    assert torch.allclose(heard.decode(latent).audio_values, codec.decode(codes).audio_values, atol=1e-5)

    noise = torch.Generator().manual_seed(1)

    def record(seed: int) -> dict:  # every codebook of a sung frame set by its syllable
        return _syllable_record(seed, noise, codebooks=8, quiet_accompaniment=True)

    tell = ("units", "pitch", "voice")
    train = [aligned.sung_song(record(seed), "syllables", tell=tell, codebooks=8) for seed in range(1, 33)]
    held = [aligned.sung_song(record(seed), "syllables", tell=tell, codebooks=8) for seed in range(100, 104)]
    probe.with_latents(train + held, codec.quantizer, 8)
    assert held[0]["latent"].shape == (70, codec.config.codebook_dim)
    assert torch.allclose(held[0]["latent"][5], codec.quantizer.decode(held[0]["codes"][:, None, 5:6])[0, :, 0])
    sizes = dict(width=64, layers=2, heads=2, unit_vocabulary=160)
    model, scale, history = probe.train_latent_singer(train, held, 300, batch=8, crop=None, learning_rate=3e-3,
                                                      log_every=300, **sizes)
    error = history[-1]["sung_error"]
    assert error["told"] < 0.5 * error["hidden"], error  # one of four syllables: hidden, it can only average them
    sung = probe.sing(model, held[0], scale)
    assert sung.shape == (1, codec.config.codebook_dim, 70)
    target = held[0]["latent"].T[None]
    sung_frames = held[0]["units"][aligned.SINCE] > 0
    hidden = probe.sing(model, held[0], scale, told=False)
    assert (sung - target).abs()[..., sung_frames].mean() < (hidden - target).abs()[..., sung_frames].mean()


def test_codeword_targets_spread_the_target_over_codes_the_decoder_hears_alike():
    """Session 44's soft targets: a code keeps part of its target and its nearest codewords share the rest, the
    nearest the most; with nothing shared the loss is plain cross-entropy on the code ids."""
    import torch

    from songgen_hf import XCodecModel
    from songgen_hf.testing import tiny_xcodec_config

    probe = _recipe_script("probe_aligned_singer")
    codec = XCodecModel(tiny_xcodec_config(teacher="mel")).eval()
    generator = torch.Generator().manual_seed(0)
    for stage in codec.quantizer.quantizers:
        stage.codebook.embed.copy_(torch.randn(stage.codebook.embed.shape, generator=generator))
    first = codec.quantizer.quantizers[0].codebook.embed
    first[1] = first[0] + 0.01  # code 1 sits on code 0
    targets = probe.codeword_targets(codec.quantizer, share=0.4, neighbours=8)
    assert len(targets) == probe.CODEBOOKS and targets[0].shape == (1024, 1024)
    assert torch.allclose(targets[0].sum(-1), torch.ones(1024))
    assert targets[0][0, 0] == 0.6 and targets[0][0, 1] > 0.39 and targets[0][1, 0] > 0.39  # code 1 sits on code 0
    assert ((targets[1] > 0).sum(-1) == 9).all()  # itself and its eight nearest
    distance = torch.cdist(first[5:6], first)[0]
    distance[5] = float("inf")
    assert targets[0][5].argsort(descending=True)[1] == distance.argmin()  # the nearest gets the most of the rest

    sizes = dict(width=64, layers=1, heads=2, unit_vocabulary=160)
    model = probe.AlignedSinger(**sizes)
    codes = torch.randint(0, 1024, (2, 3, 30), generator=generator)
    batch = (codes, torch.zeros(2, 30, dtype=torch.long), torch.zeros(2, probe.UNIT_ROWS, 30, dtype=torch.long),
             torch.zeros(2, 30, dtype=torch.bool))
    model.eval()
    hard = probe.masked_loss(model, batch, torch.Generator().manual_seed(1))
    one_hot = probe.codeword_targets(codec.quantizer, share=0.0)
    sharp = probe.masked_loss(model, batch, torch.Generator().manual_seed(1), one_hot)
    soft = probe.masked_loss(model, batch, torch.Generator().manual_seed(1), targets)
    assert torch.allclose(hard, sharp, atol=1e-4) and not torch.allclose(hard, soft, atol=1e-3)


def test_causal_singer_writes_frame_by_frame_and_sings_what_the_units_decide():
    """Session 44's causal probe: the codes are shifted one frame (nothing looks ahead), and where the syllables
    decide the codes, a singer told them writes them frame by frame and hidden it cannot."""

    import torch

    probe = _recipe_script("probe_causal_singer")
    aligned = _recipe_script("probe_aligned_singer")
    codes = torch.arange(12).view(1, 3, 4)
    assert probe.shifted(codes)[0, :, 0].tolist() == [aligned.MASK] * 3
    assert torch.equal(probe.shifted(codes)[..., 1:], codes[..., :-1])

    noise = torch.Generator().manual_seed(2)

    def record(seed: int) -> dict:
        return _syllable_record(seed, noise, quiet_accompaniment=True)

    train = [aligned.sung_song(record(seed), "syllables") for seed in range(1, 33)]
    held = [aligned.sung_song(record(seed), "syllables") for seed in range(100, 104)]
    sizes = dict(width=64, layers=2, heads=2, unit_vocabulary=160)
    model = probe.CausalSinger(**sizes).eval()
    batch = aligned.collate(held[:1], None, torch.Generator())
    before = model.states(probe.shifted(batch[0]), batch[1], batch[2])
    changed = batch[0].clone()
    changed[..., 40:] = 7
    after = model.states(probe.shifted(changed), batch[1], batch[2])
    assert torch.allclose(before[:, :41], after[:, :41]) and not torch.allclose(before[:, 41:], after[:, 41:])

    model, history = probe.train_causal_singer(train, held, 300, batch=8, learning_rate=3e-3, log_every=300,
                                               noise=0.0, **sizes)
    nll = history[-1]["sung_nll"]
    # hidden, only a syllable's first frame is uncertain (the rest repeat it): told, not even that one
    assert nll["told"][0] < 0.25 * nll["hidden"][0] and nll["hidden"][0] > 0.2, nll
    sung = held[0]["units"][aligned.SINCE] > 0
    written = probe.sing(model, held[0], torch.Generator().manual_seed(0), temperature=0)[0]
    assert written.shape == (3, 70)
    assert (written[:, sung] == held[0]["codes"][:, sung]).float().mean() > 0.9
