"""EMA residual VQ: k-means init, EMA updates, dead codes, straight-through gradients, dropout."""

import pytest
import torch

from songgen_hf.modeling.xcodec.modeling_xcodec import XCodecResidualVectorQuantizer, kmeans
from songgen_hf.testing import tiny_xcodec_config

from .helpers import tiny_codec


def _quantizer(**overrides) -> XCodecResidualVectorQuantizer:
    config = tiny_xcodec_config(codebook_size=1024, **overrides)
    quantizer = XCodecResidualVectorQuantizer(config)
    for layer in quantizer.quantizers:
        codebook = layer.codebook
        codebook.embed.normal_(std=0.1)
        codebook.embed_avg.copy_(codebook.embed)
        codebook.cluster_size.fill_(1.0)
        codebook.inited.fill_(0.0)
    return quantizer


def _clustered_batch(dim: int, centers: int = 8, frames: int = 64, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    means = torch.randn(centers, dim, generator=generator) * 3
    assignment = torch.randint(0, centers, (2 * frames,), generator=generator)
    vectors = means[assignment] + 0.01 * torch.randn(2 * frames, dim, generator=generator)
    return vectors.view(2, frames, dim).transpose(1, 2), means


def test_kmeans_recovers_well_separated_clusters():
    generator = torch.Generator().manual_seed(0)
    means = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = torch.cat([m + 0.1 * torch.randn(50, 2, generator=generator) for m in means])
    torch.manual_seed(3)
    found, counts = kmeans(points, 3, num_iters=20)
    distances = torch.cdist(means, found).min(dim=1).values
    assert (distances < 0.2).all()
    assert sorted(counts.tolist()) == [50.0, 50.0, 50.0]


def test_first_training_batch_initialises_codebooks_with_kmeans():
    quantizer = _quantizer(kmeans_iters=10).train()
    batch, means = _clustered_batch(quantizer.config.codebook_dim)
    quantizer(batch, num_quantizers=1)
    codebook = quantizer.quantizers[0].codebook
    assert codebook.inited.item() == 1.0
    # every true centre now has a codeword right next to it
    assert (torch.cdist(means, codebook.embed).min(dim=1).values < 0.1).all()


def test_ema_moves_used_codewords_towards_their_data():
    quantizer = _quantizer(kmeans_init=False, threshold_ema_dead_code=0.0).train()
    codebook = quantizer.quantizers[0].codebook
    codebook.inited.fill_(1.0)
    target = torch.full((quantizer.config.codebook_dim,), 0.5)
    batch = target.view(1, -1, 1).expand(1, -1, 40).clone()
    chosen = int(codebook.quantize(batch[0, :, :1].t()))
    before = (codebook.embed[chosen] - target).norm()
    for _ in range(50):
        quantizer(batch, num_quantizers=1)
    after = (codebook.embed[chosen] - target).norm()
    assert after < 0.5 * before
    assert codebook.cluster_size[chosen] > 10  # 40 vectors a step, EMA 0.99 over 50 steps


def test_dead_codes_are_reseeded_from_the_batch():
    quantizer = _quantizer(kmeans_init=False, threshold_ema_dead_code=2.0).train()
    codebook = quantizer.quantizers[0].codebook
    codebook.inited.fill_(1.0)
    codebook.cluster_size.fill_(100.0)
    codebook.cluster_size[:10] = 0.0  # ten codes nobody used
    batch, _ = _clustered_batch(quantizer.config.codebook_dim, centers=4)
    vectors = batch.transpose(1, 2).reshape(-1, batch.shape[1])
    old = codebook.embed.clone()
    replaced = codebook.replace_dead_codes(vectors)
    assert replaced == 10
    assert torch.equal(codebook.embed[10:], old[10:])
    for row in codebook.embed[:10]:
        assert torch.isclose(row.unsqueeze(0), vectors).all(dim=1).any()


def test_straight_through_gradient_and_commitment_loss():
    quantizer = _quantizer(kmeans_init=False).eval()
    for layer in quantizer.quantizers:
        layer.codebook.inited.fill_(1.0)
    embeddings = torch.randn(2, quantizer.config.codebook_dim, 10, requires_grad=True)
    out = quantizer(embeddings, num_quantizers=4)
    # forward value is the sum of codewords the inference path selects
    codes = quantizer.encode(embeddings.detach(), 4)
    assert torch.equal(out["codes"], codes)
    torch.testing.assert_close(out["quantized"], quantizer.decode(codes), rtol=1e-5, atol=1e-5)
    # gradient passes straight through quantisation
    (out["quantized"] * 3.0).sum().backward()
    torch.testing.assert_close(embeddings.grad, torch.full_like(embeddings, 3.0))
    assert out["commitment_loss"].item() > 0


def test_eval_mode_never_touches_codebook_statistics():
    quantizer = _quantizer(kmeans_init=True).eval()
    state = {k: v.clone() for k, v in quantizer.state_dict().items()}
    quantizer(torch.randn(2, quantizer.config.codebook_dim, 12))
    for key, value in quantizer.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_quantizer_dropout_draws_only_configured_depths():
    model = tiny_codec("mel").train()
    depths = {model._training_num_quantizers(None) for _ in range(200)}
    assert depths == {1, 2, 3, 4, 8}
    assert model._training_num_quantizers(2.0) == 4
    model.eval()
    assert model._training_num_quantizers(None) == 8


def test_training_forward_returns_losses_and_backpropagates():
    model = tiny_codec("mel").train()
    audio = torch.randn(2, 1, 8000) * 0.3
    out = model(audio, bandwidth=4.0)
    assert out.audio_values.shape == audio.shape
    assert out.audio_codes.shape == (2, 8, 25)
    assert out.num_quantizers == 8
    loss = (out.audio_values - audio).pow(2).mean() + out.commitment_loss + out.semantic_loss
    loss.backward()
    assert model.acoustic_encoder.conv1.weight.grad.abs().sum() > 0
    assert model.encoder_semantic.conv.weight.grad.abs().sum() > 0
    assert model.decoder_semantic.conv1.weight.grad.abs().sum() > 0
    assert all(layer.codebook.inited.item() == 1.0 for layer in model.quantizer.quantizers)


@pytest.mark.parametrize("teacher", ["mel", "hubert"])
def test_teacher_stays_frozen_and_in_eval_mode(teacher):
    model = tiny_codec(teacher).train()
    assert not model.semantic_model.training
    assert not any(p.requires_grad for p in model.semantic_model.parameters())
