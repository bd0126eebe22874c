"""SongGen model: every pattern trains, reloads bit-identically, caches agree, bad input is refused."""

import pytest
import torch
from transformers import AutoModel

from songgen_hf import CodebookCurriculum, SongGenConfig, SongGenForConditionalGeneration
from songgen_hf.modeling.patterns import available_token_patterns
from songgen_hf.modeling.songgen.preallocated_cache import cache_of
from songgen_hf.testing import dummy_inputs, tiny_songgen_config

PATTERNS = sorted(available_token_patterns())
# encode_conditions' inputs, in its order
CONDITIONS = "input_ids attention_mask lyrics_input_ids lyrics_attention_mask voice_values voice_attention_mask".split()


def _model(pattern="mixed_pro", seed=0, **overrides):
    torch.manual_seed(seed)
    return SongGenForConditionalGeneration(tiny_songgen_config(pattern, **overrides))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_pattern_learns_a_fixed_batch(pattern):
    model = _model(pattern).train()
    inputs = dummy_inputs(model.config, batch_size=2, num_frames=12)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=3e-3)
    losses = []
    for _ in range(25):
        loss = model(**inputs).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], (pattern, losses[0], losses[-1])
    # frozen parts stay frozen
    assert not any(p.requires_grad for p in model.text_encoder.parameters())
    assert not any(p.requires_grad for p in model.audio_encoder.parameters())


@pytest.mark.parametrize("pattern", ["mixed_pro", "interleaving_A_V", "parallel_A_V"])
def test_save_and_reload_is_bit_identical(pattern, tmp_path):
    model = _model(pattern).eval()
    inputs = dummy_inputs(model.config)
    model.save_pretrained(tmp_path)
    reloaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(reloaded, SongGenForConditionalGeneration)
    with torch.no_grad():
        expected, got = model(**inputs), reloaded(**inputs)
    assert torch.equal(expected.logits, got.logits)
    assert torch.equal(expected.loss, got.loss)


def test_loss_shapes_and_vocal_auxiliary_weight():
    model = _model("mixed_pro").eval()
    inputs = dummy_inputs(model.config)
    with torch.no_grad():
        out = model(**inputs)
    rows = model.config.decoder.num_codebooks
    assert out.codebook_losses.shape == (rows,) and out.vocal_codebook_losses.shape == (rows,)
    expected = out.codebook_losses.mean() + 0.1 * out.vocal_codebook_losses.mean()
    torch.testing.assert_close(out.loss, expected)
    torch.testing.assert_close(out.codebook_losses, out.codebook_loss_sums / out.codebook_token_counts)
    # every real frame code plus one EOS per row is supervised
    labels = inputs["labels"]
    assert out.codebook_token_counts.sum() == (labels != -100).sum()


def test_parallel_loss_averages_the_two_tracks():
    model = _model("parallel_std").eval()
    with torch.no_grad():
        out = model(**dummy_inputs(model.config))
    k = model.config.decoder.num_codebooks
    accompaniment, vocals = out.codebook_losses[:k].mean(), out.codebook_losses[k:].mean()
    torch.testing.assert_close(out.loss, 0.5 * accompaniment + 0.5 * vocals)


def test_curriculum_weights_follow_the_songgen_schedule():
    curriculum = CodebookCurriculum(SongGenConfig().initial_codebook_weights)
    for progress, first, rest in [(0.1, 0.25, 0.05), (0.5, 0.2125, 0.0725), (0.7, 0.175, 0.095), (0.95, 0.15, 0.11)]:
        weights = curriculum.weights(progress)
        torch.testing.assert_close(weights[:3], torch.full((3,), first))
        torch.testing.assert_close(weights[3:], torch.full((5,), rest))
        torch.testing.assert_close(weights.sum(), torch.tensor(1.0))


def test_codebook_weights_change_the_loss():
    model = _model("mixed").eval()
    inputs = dummy_inputs(model.config)
    with torch.no_grad():
        out = model(**inputs)
        weights = torch.zeros(8)
        weights[0] = 1.0
        first_only = model(**inputs, codebook_weights=weights)
    torch.testing.assert_close(first_only.loss, out.codebook_losses[0])


def test_kv_cache_logits_equal_full_recompute():
    model = _model("mixed_pro").eval()
    inputs = dummy_inputs(model.config, batch_size=2, num_frames=6)
    with torch.no_grad():
        memory, memory_mask = model.encode_conditions(*(inputs[key] for key in CONDITIONS))
        ids = inputs["decoder_input_ids"]
        full = model.decoder(
            ids, encoder_hidden_states=memory, encoder_attention_mask=memory_mask, use_cache=False
        ).logits
        cache, steps = None, []
        for t in range(ids.shape[-1]):
            out = model.decoder(
                ids[..., t : t + 1],
                encoder_hidden_states=memory,
                encoder_attention_mask=memory_mask,
                cache=cache,
                use_cache=True,
            )
            cache = cache_of(out)
            steps.append(out.logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)


def test_condition_dropout_nulls_the_description_and_masks_the_voice():
    model = _model("mixed_pro").eval()
    inputs = dummy_inputs(model.config)
    batch = inputs["input_ids"].shape[0]
    drop = torch.ones(batch, dtype=torch.bool)
    with torch.no_grad():
        memory, mask = model.encode_conditions(
            *(inputs[key] for key in CONDITIONS), drop={"description": drop, "voice": drop}
        )
    voice_frames = model.config.voice_encoder.num_frames()
    description = slice(voice_frames, voice_frames + inputs["input_ids"].shape[1])
    assert (memory[:, description] == 0).all()
    assert (mask[:, :voice_frames] == 0).all()
    assert (memory[:, description.stop :].abs().sum(-1) > 0).any()  # lyrics kept


def test_training_applies_configured_condition_dropout():
    model = _model("mixed", description_dropout_prob=1.0, lyrics_dropout_prob=1.0).train()
    inputs = dummy_inputs(model.config, with_voice=False)
    out = model(**inputs)
    assert (out.encoder_last_hidden_state == 0).all()
    model.eval()
    assert (model(**inputs).encoder_last_hidden_state != 0).any()  # never at inference


def test_joint_dropout_nulls_description_and_lyrics_together():
    model = _model("mixed", joint_dropout_prob=0.5, use_voice_encoder=False).train()
    inputs = dummy_inputs(model.config, batch_size=64, with_voice=False)
    description_length = inputs["input_ids"].shape[1]
    torch.manual_seed(0)
    memory = model(**inputs).encoder_last_hidden_state
    description_null = (memory[:, :description_length] == 0).flatten(1).all(1)
    lyrics_null = (memory[:, description_length:] == 0).flatten(1).all(1)
    assert torch.equal(description_null, lyrics_null)  # never one without the other
    assert 10 < int(description_null.sum()) < 54  # about half of the 64 examples
    with pytest.raises(ValueError, match="joint_dropout_prob must be a probability"):
        tiny_songgen_config(joint_dropout_prob=1.5)


def test_model_without_voice_encoder_refuses_voice_inputs():
    model = _model("mixed", use_voice_encoder=False)
    assert model.voice_encoder is None
    inputs = dummy_inputs(model.config, with_voice=False)
    model(**inputs)
    inputs["voice_values"] = torch.zeros(2, 24000)
    with pytest.raises(ValueError, match="no voice encoder"):
        model(**inputs)


def test_bad_inputs_are_refused_clearly():
    with pytest.raises(ValueError, match="Unknown track_pattern"):
        tiny_songgen_config("mixed_plus")
    model = _model("mixed").eval()
    inputs = dummy_inputs(model.config)
    bad = dict(inputs, labels=inputs["labels"][..., :-1])
    with pytest.raises(ValueError, match="must match"):
        model(**bad)
    flat = inputs["decoder_input_ids"].flatten(0, 1)
    bad = dict(inputs, decoder_input_ids=flat, labels=inputs["labels"][:, :-1])
    with pytest.raises(ValueError, match="labels must have shape"):
        model(**bad)
    bad = dict(inputs, decoder_input_ids=inputs["decoder_input_ids"].clone().fill_(5000))
    with pytest.raises(ValueError, match=r"Decoder token ids must lie in \[0, 1088\)"):
        model(**bad)
    bad = dict(inputs, lyrics_input_ids=inputs["lyrics_input_ids"] + 1000)
    with pytest.raises(ValueError, match="lyrics vocabulary"):
        model(**bad)
    bad = dict(inputs)
    bad.pop("decoder_input_ids")
    with pytest.raises(ValueError, match="build_labels"):
        model(**bad)


def test_full_size_parameter_counts_match_the_paper():
    config = SongGenConfig(decoder={"track_pattern": "mixed_pro"})
    with torch.device("meta"):
        model = SongGenForConditionalGeneration(config)
    decoder = sum(p.numel() for p in model.decoder.parameters())
    lyrics = sum(p.numel() for p in model.lyrics_encoder.parameters()) + sum(
        p.numel() for p in model.lyrics_to_dec_proj.parameters()
    )
    # spec: mixed-pro decoder with vocal heads ~429.5 M (positions are not parameters here), lyrics path ~91.2 M
    assert 420e6 < decoder < 432e6, decoder
    assert 90e6 < lyrics < 92.5e6, lyrics
