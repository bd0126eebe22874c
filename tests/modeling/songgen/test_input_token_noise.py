"""Input token noise: codes in the decoder's input replaced in training only, special ids kept, targets clean."""

import pytest
import torch

from songgen_hf import SongGenDecoderConfig, SongGenForConditionalGeneration
from songgen_hf.testing import tiny_songgen_config


def _model(noise):
    torch.manual_seed(0)
    config = tiny_songgen_config("mixed", use_voice_encoder=False, decoder={"input_token_noise_prob": noise})
    return SongGenForConditionalGeneration(config)


def _batch(model):
    torch.manual_seed(1)
    built = model.pattern.build_labels(torch.randint(0, 1024, (2, 8, 40)))
    return {
        "input_ids": torch.randint(0, 200, (2, 7)),
        "lyrics_input_ids": torch.randint(5, 200, (2, 9)),
        "decoder_input_ids": built.decoder_input_ids,
        "labels": built.loss_labels(),
    }


def test_noise_replaces_codes_at_the_asked_rate_and_keeps_special_ids():
    model = _model(0.3)
    ids = _batch(model)["decoder_input_ids"]
    torch.manual_seed(2)
    noisy = model.decoder.train()._noisy_inputs(ids)
    special = ids >= 1024
    assert torch.equal(noisy[special], ids[special]) and special.any()
    changed = (noisy != ids)[~special].float().mean().item()
    assert 0.25 < changed < 0.35  # 0.3, less the 1/1024 of draws that hit the same code
    assert (noisy[~special] < 1024).all()
    assert torch.equal(model.decoder.eval()._noisy_inputs(ids), ids)  # never at inference


def test_noise_changes_the_training_loss_only():
    clean, noisy = _model(0.0), _model(0.5)
    noisy.load_state_dict(clean.state_dict())
    batch = _batch(clean)
    with torch.no_grad():
        torch.manual_seed(3)
        clean_loss = clean.train()(**batch).loss
        torch.manual_seed(3)
        noisy_loss = noisy.train()(**batch).loss
        assert noisy_loss.item() != clean_loss.item()
        torch.testing.assert_close(noisy.eval()(**batch).logits, clean.eval()(**batch).logits, rtol=0, atol=0)


def test_bad_noise_is_a_clear_error():
    for bad in (1.0, -0.1, True, "0.1"):
        with pytest.raises(ValueError, match="input_token_noise_prob must be a probability"):
            SongGenDecoderConfig(input_token_noise_prob=bad)
