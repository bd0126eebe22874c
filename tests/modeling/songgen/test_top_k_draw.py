"""Temperature + top-k sampling drawn among the k candidates (SongGenTopKDrawProcessor) instead of torch.multinomial."""

import pytest
import torch
from transformers import GenerationConfig, LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.logits_process_songgen import SongGenTopKDrawProcessor, top_k_draw_settings
from songgen_hf.testing import dummy_generation_inputs, tiny_songgen_config


def test_draws_follow_the_librarys_tempered_top_k_distribution():
    torch.manual_seed(0)
    row = torch.randn(1, 40) * 2
    top_k, temperature, draws = 6, 0.7, 60_000
    warped = LogitsProcessorList([TemperatureLogitsWarper(temperature), TopKLogitsWarper(top_k)])(None, row)
    expected = warped.softmax(-1)[0]
    out = SongGenTopKDrawProcessor(top_k, temperature)(None, row.expand(draws, -1))
    assert torch.equal(torch.isfinite(out).sum(-1), torch.ones(draws, dtype=torch.long))  # one drawn id per row
    assert bool((out.max(-1).values == 0).all())
    tokens = out.argmax(-1)
    frequency = torch.bincount(tokens, minlength=40).double() / draws
    assert bool((frequency[expected == 0] == 0).all())  # never outside the top k
    tolerance = 5 * (expected * (1 - expected) / draws).sqrt() + 1e-4  # 5 standard errors
    assert bool(((frequency - expected.double()).abs() <= tolerance).all()), (frequency, expected)


def test_a_forced_cell_keeps_its_only_token_and_the_seed_reproduces_draws():
    scores = torch.randn(4, 30)
    scores[1] = float("-inf")
    scores[1, 7] = 0.0  # what the pattern processor leaves at a forced cell
    processor = SongGenTopKDrawProcessor(5, 1.3)
    torch.manual_seed(3)
    first = processor(None, scores).argmax(-1)
    torch.manual_seed(3)
    assert torch.equal(processor(None, scores).argmax(-1), first)
    assert first[1].item() == 7
    assert processor.top_k == 5 and SongGenTopKDrawProcessor(50)(None, scores).shape == scores.shape  # k > vocab


@pytest.mark.parametrize("top_k, temperature", [(0, 1.0), (True, 1.0), (3, 0.0), (3, float("nan"))])
def test_bad_settings_are_refused(top_k, temperature):
    with pytest.raises(ValueError, match="top_k|temperature"):
        SongGenTopKDrawProcessor(top_k, temperature)


@pytest.mark.parametrize(
    "settings, expected",
    [
        (dict(do_sample=True, top_k=50, temperature=0.8), (50, 0.8)),
        (dict(do_sample=True, top_k=50), (50, 1.0)),
        (dict(do_sample=True, top_k=50, top_p=1.0), (50, 1.0)),
        (dict(do_sample=True, top_k=50, temperature=0.8, output_scores=True), None),  # scores to return: the library's
        (dict(do_sample=True, top_k=50, output_logits=True), None),
        (dict(do_sample=False, top_k=50), None),
        (dict(do_sample=True, top_k=None), None),  # the whole vocabulary: nothing to gain
        (dict(do_sample=True, top_k=0), None),
        (dict(do_sample=True, top_k=50, top_p=0.9), None),
        (dict(do_sample=True, top_k=50, min_p=0.1), None),
        (dict(do_sample=True, top_k=50, typical_p=0.5), None),
        (dict(do_sample=True, top_k=50, epsilon_cutoff=0.01), None),
        (dict(do_sample=True, top_k=50, renormalize_logits=True), None),
    ],
)
def test_the_draw_applies_exactly_where_the_library_would_sample_with_temperature_and_top_k(settings, expected):
    assert top_k_draw_settings(GenerationConfig(**settings)) == expected


def _model():
    torch.manual_seed(0)
    return SongGenForConditionalGeneration(tiny_songgen_config("mixed", use_voice_encoder=False)).eval()


def _generate(model, conditions, **settings):
    return model.generate(
        **conditions, duration_s=0.2, min_duration_s=0.2, decode_audio=False, return_dict_in_generate=True, **settings
    )


def test_generate_draws_with_the_processor_unless_another_warper_or_the_scores_are_asked(monkeypatch):
    model, calls = _model(), []
    conditions = dummy_generation_inputs(model)
    original = SongGenTopKDrawProcessor.__call__
    monkeypatch.setattr(
        SongGenTopKDrawProcessor, "__call__", lambda self, ids, scores: calls.append(1) or original(self, ids, scores)
    )
    out = _generate(model, conditions, do_sample=True, top_k=20, temperature=0.9)
    assert len(calls) == out.sequences.shape[-1] - 1  # every step after the forced BOS column
    calls.clear()
    _generate(model, conditions, do_sample=True, top_k=20, top_p=0.9)
    assert not calls  # top-p after top-k: the library's warpers and draw
    scored = _generate(model, conditions, do_sample=True, top_k=3, output_scores=True)
    assert not calls
    finite = torch.stack([torch.isfinite(s).sum(-1) for s in scored.scores])
    assert int(finite.max()) == 3  # the library's warped scores, not a one-hot draw


def test_top_k_one_draws_the_greedy_song():
    model = _model()
    conditions = dummy_generation_inputs(model)
    greedy = _generate(model, conditions, do_sample=False).sequences
    torch.manual_seed(5)
    drawn = _generate(model, conditions, do_sample=True, top_k=1, temperature=0.7).sequences
    torch.manual_seed(5)
    library = _generate(model, conditions, do_sample=True, top_k=1, temperature=0.7, output_scores=True).sequences
    assert torch.equal(drawn, greedy) and torch.equal(library, greedy)
