"""beta-NLL (``ResGenConfig.nll_beta``): each masked frame's NLL weighted by its predicted variance ** beta."""

import math

import pytest
import torch

from songgen_hf import ResGenForConditionalGeneration
from songgen_hf.modeling.resgen.mixture import ResGenMixture, mixture_nll, predicted_variance
from songgen_hf.testing import tiny_resgen_config


def _one_component(frames_sigma: list[float], dim: int = 6):
    """A single-Gaussian mixture per frame, the same sigma in every dimension of a frame; means as leaves."""
    torch.manual_seed(0)
    frames = len(frames_sigma)
    means = torch.randn(1, frames, 1, dim, requires_grad=True)
    log_scales = torch.log(torch.tensor(frames_sigma)).view(1, frames, 1, 1).expand(1, frames, 1, dim).clone()
    log_scales.requires_grad_(True)
    logits = torch.zeros(1, frames, 1)
    return ResGenMixture(logits, means, log_scales), torch.randn(1, frames, dim)


def test_beta_one_gives_every_mean_the_gradient_of_a_squared_error():
    """Plain NLL pulls a mean with (mu - z) / sigma^2: a frame with a small sigma dominates.  With beta = 1 the
    pull is (mu - z) / C whatever sigma, and the weight itself carries no gradient."""
    sigmas = [0.05, 1.0, 3.0]
    mixture, z = _one_component(sigmas)
    every = torch.ones(1, len(sigmas), dtype=torch.bool)
    dim, frames = z.shape[-1], len(sigmas)

    plain = torch.autograd.grad(mixture_nll(mixture, z, every), mixture.means)[0].squeeze(2)
    beta = torch.autograd.grad(mixture_nll(mixture, z, every, beta=1.0), mixture.means)[0].squeeze(2)
    residual = (mixture.means.detach().squeeze(2) - z) / (dim * frames)
    for f, sigma in enumerate(sigmas):
        assert torch.allclose(plain[0, f], residual[0, f] / sigma**2, rtol=1e-4)
        assert torch.allclose(beta[0, f], residual[0, f], rtol=1e-4)

    # the weight is a constant: the log-scale gradient is the plain one times sigma^(2 beta)
    plain_scale = torch.autograd.grad(mixture_nll(mixture, z, every), mixture.log_scales)[0]
    half_scale = torch.autograd.grad(mixture_nll(mixture, z, every, beta=0.5), mixture.log_scales)[0]
    for f, sigma in enumerate(sigmas):
        assert torch.allclose(half_scale[0, f], plain_scale[0, f] * sigma, rtol=1e-4)


def test_predicted_variance_is_the_responsible_components_variance():
    """Two components, one far from z: the weight is (nearly) the variance of the one that explains z."""
    dim = 4
    means = torch.stack([torch.zeros(dim), torch.full((dim,), 50.0)]).view(1, 1, 2, dim)
    log_scales = torch.stack([torch.full((dim,), math.log(0.5)), torch.zeros(dim)]).view(1, 1, 2, dim)
    mixture = ResGenMixture(torch.zeros(1, 1, 2), means, log_scales)
    variance = predicted_variance(mixture, torch.full((1, 1, dim), 0.1))
    assert variance.shape == (1, 1)
    assert variance.item() == pytest.approx(0.25, rel=1e-4)
    variance = predicted_variance(mixture, torch.full((1, 1, dim), 49.0))
    assert variance.item() == pytest.approx(1.0, rel=1e-4)


def test_the_model_loss_follows_its_config_and_zero_is_the_plain_nll():
    torch.manual_seed(0)
    plain = ResGenForConditionalGeneration(tiny_resgen_config(joint_dropout_prob=0.0)).eval()
    weighted = ResGenForConditionalGeneration(tiny_resgen_config(joint_dropout_prob=0.0, nll_beta=0.5)).eval()
    weighted.load_state_dict(plain.state_dict())
    codes = torch.randint(0, 1024, (2, 4, 12), generator=torch.Generator().manual_seed(1))
    ids, lyrics = torch.randint(3, 50, (2, 5)), torch.randint(3, 50, (2, 7))
    conditions = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "lyrics_input_ids": lyrics,
        "lyrics_attention_mask": torch.ones_like(lyrics),
    }
    ratios = torch.tensor([0.4, 0.8])
    a = plain(**conditions, audio_codes=codes, mask_ratios=ratios, generator=torch.Generator().manual_seed(0))
    b = weighted(**conditions, audio_codes=codes, mask_ratios=ratios, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.masked_audio_codes, b.masked_audio_codes)
    mask = a.masked_audio_codes == plain.mask_token_id
    from songgen_hf.modeling.resgen.transformer import masked_target

    target = masked_target(codes, mask, plain.codebooks())
    has = mask.any(1)
    assert a.loss.item() == pytest.approx(mixture_nll(a.mixture, target, has).item(), rel=1e-5)
    assert b.loss.item() == pytest.approx(mixture_nll(a.mixture, target, has, beta=0.5).item(), rel=1e-5)
    assert b.loss.item() != pytest.approx(a.loss.item(), rel=1e-3)


@pytest.mark.parametrize("value", [-0.1, 1.5, "half"])
def test_a_beta_outside_zero_one_is_refused(value):
    with pytest.raises(ValueError, match="nll_beta must be a number in \\[0, 1\\]"):
        tiny_resgen_config(nll_beta=value)
