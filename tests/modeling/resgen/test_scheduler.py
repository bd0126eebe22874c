"""ResGenScheduler: config round trip, coarse-to-fine unmasking with balanced frame counts, prompt frames
kept, every token filled."""

import pytest
import torch

from songgen_hf.modeling.resgen import ResGenMixture, ResGenScheduler
from songgen_hf.modeling.resgen.mixture import (
    mixture_log_prob,
    residual_quantize,
    top_p_filter,
)

DEPTH, VOCAB, DIM, FRAMES, K = 3, 16, 5, 12, 2


def _codebooks():
    return torch.randn(DEPTH, VOCAB, DIM, generator=torch.Generator().manual_seed(0))


def _mixture(batch=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return ResGenMixture(
        torch.randn(batch, FRAMES, K, generator=g),
        torch.randn(batch, FRAMES, K, DIM, generator=g),
        torch.randn(batch, FRAMES, K, DIM, generator=g) * 0.1 - 1,
    )


def test_config_round_trip(tmp_path):
    scheduler = ResGenScheduler(mask_schedule="linear", latent_noise_scale=0.5)
    scheduler.save_pretrained(tmp_path)
    loaded = ResGenScheduler.from_pretrained(tmp_path)
    assert loaded.config.mask_schedule == "linear" and loaded.config.latent_noise_scale == 0.5
    assert (tmp_path / "scheduler_config.json").is_file()


@pytest.mark.parametrize("kwargs", [{"mask_schedule": "zigzag"}, {"latent_noise_scale": -1}])
def test_bad_config_is_refused(kwargs):
    with pytest.raises(ValueError):
        ResGenScheduler(**kwargs)


@pytest.mark.parametrize("steps", [0, -1, 2.5, True])
def test_set_timesteps_refuses_bad_counts(steps):
    with pytest.raises(ValueError, match="num_inference_steps"):
        ResGenScheduler().set_timesteps(steps)


@pytest.mark.parametrize("steps", [1, 4, 9])
def test_steps_reveal_coarse_first_keep_the_prompt_and_fill_everything(steps):
    scheduler = ResGenScheduler()
    scheduler.set_timesteps(steps)
    codebooks, prompt = _codebooks(), 3
    tokens = torch.full((2, DEPTH, FRAMES), VOCAB)
    tokens[..., :prompt] = torch.randint(0, VOCAB, (2, DEPTH, prompt))
    frame_mask = torch.arange(FRAMES).expand(2, FRAMES) >= prompt
    start = tokens.clone()
    masked_counts = []
    for t in scheduler.timesteps:
        tokens = scheduler.step(
            _mixture(seed=int(t)), t, tokens, codebooks, torch.Generator().manual_seed(int(t)), frame_mask=frame_mask
        ).prev_sample
        masked = tokens == VOCAB
        assert (masked[:, 1:] >= masked[:, :-1]).all(), "masked depths stay the finest ones at every frame"
        masked_counts.append(int(masked.sum()))
    assert masked_counts[-1] == 0 and masked_counts == sorted(masked_counts, reverse=True)
    assert torch.equal(tokens[..., :prompt], start[..., :prompt])
    assert tokens.min() >= 0 and tokens.max() < VOCAB


@pytest.mark.parametrize("steps", [2, 5, 9])
def test_steps_keep_the_frames_masked_counts_balanced(steps):
    """Training masks spread the masked tokens evenly over frames, finest first; the sampler reveals the
    coarsest masked depth over all frames first, so no fully known frame sits beside a fully masked one."""
    scheduler = ResGenScheduler()
    scheduler.set_timesteps(steps)
    tokens = torch.full((2, DEPTH, FRAMES), VOCAB)
    for t in scheduler.timesteps:
        tokens = scheduler.step(
            _mixture(seed=int(t)), t, tokens, _codebooks(), torch.Generator().manual_seed(int(t))
        ).prev_sample
        counts = (tokens == VOCAB).sum(dim=1)
        assert (counts.max(dim=1).values - counts.min(dim=1).values <= 1).all(), counts


def test_residual_quantize_is_the_codecs_greedy_rvq():
    from songgen_hf.modeling.xcodec.modeling_xcodec import XCodecResidualVectorQuantizer
    from songgen_hf.testing import tiny_xcodec_config

    config = tiny_xcodec_config(teacher="mel")
    quantizer = XCodecResidualVectorQuantizer(config)
    for layer in quantizer.quantizers:
        layer.codebook.embed.normal_()
    z = torch.randn(2, 7, config.codebook_dim)
    codebooks = torch.stack([layer.codebook.embed for layer in quantizer.quantizers])
    tokens, quantized = residual_quantize(z, codebooks, torch.zeros(2, 7, dtype=torch.long), config.codebook_size)
    assert torch.equal(tokens, quantizer.encode(z.transpose(1, 2)).permute(1, 0, 2))
    torch.testing.assert_close(quantized, quantizer.decode(tokens.permute(1, 0, 2)).transpose(1, 2))
    # starting at depth 2: depths 0-1 are left masked, depth 2 quantizes z itself
    partial, _ = residual_quantize(z, codebooks, torch.full((2, 7), 2), config.codebook_size)
    assert (partial[:, :2] == config.codebook_size).all()
    assert torch.equal(
        partial[:, 2], residual_quantize(z, codebooks[2:], torch.zeros(2, 7, dtype=torch.long), 0)[0][:, 0]
    )


def test_mixture_log_prob_matches_torch_distributions():
    mixture = _mixture(batch=1)
    z = torch.randn(1, FRAMES, DIM)
    components = torch.distributions.Independent(torch.distributions.Normal(mixture.means, mixture.log_scales.exp()), 1)
    reference = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=mixture.logits), components
    )
    torch.testing.assert_close(mixture_log_prob(mixture, z), reference.log_prob(z))


def test_top_p_keeps_the_smallest_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(top_p_filter(logits, 0.7))
    assert kept.tolist() == [[True, True, False, False]]
    assert torch.isfinite(top_p_filter(logits, 1.0)).all()
    assert torch.isfinite(top_p_filter(logits, 1e-6)).sum() == 1
