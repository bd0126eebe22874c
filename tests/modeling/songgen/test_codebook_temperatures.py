"""Per-track, per-codebook sampling temperatures (codebook_temperatures, SongGenCodebookTemperatureProcessor)."""

import pytest
import torch
from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.patterns import available_token_patterns, get_token_pattern
from songgen_hf.modeling.songgen.arguments_songgen import check_generation_arguments
from songgen_hf.modeling.songgen.generation_songgen import SongGenGenerationConfig
from songgen_hf.modeling.songgen.logits_process_songgen import (
    SongGenCodebookTemperatureProcessor,
    SongGenTopKDrawProcessor,
    row_temperatures,
)
from songgen_hf.testing import dummy_inputs, tiny_songgen_config

ROWS_PER_TRACK = [name for name in available_token_patterns() if get_token_pattern(name).row_tracks is not None]


@pytest.mark.parametrize("name", ROWS_PER_TRACK)
def test_row_tracks_name_the_track_and_codebook_whose_codes_each_row_holds(name):
    pattern = get_token_pattern(name, num_codebooks=3)
    frames = 6
    length = pattern.sequence_length(frames)
    # code = 100 * codebook + frame: a cell's value tells which codebook it came from
    codes = (100 * torch.arange(3)[:, None] + torch.arange(frames)[None, :])[None]
    seen = {}
    for track in pattern.track_names:
        cells = pattern.track_cells(track, codes, length)[0]
        for row in range(pattern.num_rows):
            held = cells[row][cells[row] >= 0]
            if held.numel():
                seen[row] = (track, sorted(set((held // 100).tolist())))
    expected = {row: (track, [codebook]) for row, (track, codebook) in enumerate(pattern.row_tracks)}
    assert seen == expected


def test_an_interleaving_pattern_has_no_row_per_track():
    names = [name for name in available_token_patterns() if name.startswith("interleaving")]
    assert names and all(get_token_pattern(name).row_tracks is None for name in names)


def test_the_processor_tempers_only_the_named_tracks_first_codebooks():
    pattern = get_token_pattern("parallel_stream2", num_codebooks=3)  # rows: A s0, A s1, V s0, V s1, 3 each
    processor = SongGenCodebookTemperatureProcessor.for_pattern(pattern, {"vocals": [0.5, 0.8]}, temperature=0.9)
    scores = torch.randn(2 * pattern.num_rows, 7)
    scores[4, 2:] = float("-inf")  # a forced cell, as the pattern processor leaves it
    scores[4, :2] = 0.0
    out = processor(None, scores.clone()).view(2, pattern.num_rows, 7)
    expected = scores.view(2, pattern.num_rows, 7).clone()
    for row, (track, codebook) in enumerate(pattern.row_tracks):
        if track == "vocals" and codebook < 2:
            expected[:, row] *= 0.9 / (0.5, 0.8)[codebook]
    assert torch.equal(out, expected)
    assert torch.equal(out[0, 4], scores[4])  # an accompaniment row: untouched, forced cell included
    assert SongGenCodebookTemperatureProcessor.for_pattern(pattern, {"vocals": [1.0]}, temperature=1.0) is None
    assert SongGenCodebookTemperatureProcessor.for_pattern(pattern, None, temperature=0.7) is None


def test_each_row_is_drawn_at_its_own_temperature():
    """Tempering then the top-k draw at the base temperature = the library's warpers at the row's temperature."""
    pattern = get_token_pattern("mixed", num_codebooks=2)
    torch.manual_seed(0)
    row = torch.randn(1, 30) * 2
    draws, top_k = 40_000, 8
    scores = row.expand(draws * 2, -1).clone()
    processor = SongGenCodebookTemperatureProcessor.for_pattern(pattern, {"mix": [0.5]}, temperature=1.5)
    tokens = SongGenTopKDrawProcessor(top_k, 1.5)(None, processor(None, scores)).argmax(-1).view(draws, 2)
    for codebook, temperature in ((0, 0.5), (1, 1.5)):
        warped = LogitsProcessorList([TemperatureLogitsWarper(temperature), TopKLogitsWarper(top_k)])(None, row)
        expected = warped.softmax(-1)[0].double()
        frequency = torch.bincount(tokens[:, codebook], minlength=30).double() / draws
        tolerance = 5 * (expected * (1 - expected) / draws).sqrt() + 1e-4
        assert bool(((frequency - expected).abs() <= tolerance).all()), (codebook, frequency, expected)


def _model(pattern="parallel_stream2"):
    torch.manual_seed(0)
    model = SongGenForConditionalGeneration(tiny_songgen_config(pattern, use_voice_encoder=False)).eval()
    with torch.no_grad():  # a random model's logits lie within hundredths: spread them so no two nearly tie
        for name, parameter in model.named_parameters():
            if "lm_heads" in name:
                parameter.mul_(100)
    return model


def _generate(model, **kwargs):
    inputs = dummy_inputs(model.config, batch_size=2, with_labels=False, seed=0)
    inputs.pop("decoder_input_ids")
    torch.manual_seed(1)
    return model.generate(
        **inputs, duration_s=0.4, guidance_scale=2.0, decode_audio=False, return_dict_in_generate=True, **kwargs
    ).codes


def _same(first: dict, second: dict) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[track], second[track]) for track in first)


@pytest.mark.parametrize("sampling", [dict(top_k=20), dict(top_k=0, top_p=0.95)])  # the draw; the library's warpers
def test_every_row_near_zero_temperature_samples_the_greedy_song(sampling):
    model = _model()
    k = model.config.decoder.num_codebooks
    greedy = _generate(model, do_sample=False)
    cold = {"accompaniment": [1e-3] * k, "vocals": [1e-3] * k}
    sampled = _generate(model, do_sample=True, codebook_temperatures=cold, **sampling)
    warm = _generate(model, do_sample=True, **sampling)
    assert _same(greedy, sampled)
    assert not _same(greedy, warm)  # the sampler does sample without them


def test_the_saved_generation_config_keeps_them_and_generate_reads_them(tmp_path):
    model = _model()
    k = model.config.decoder.num_codebooks
    model.generation_config.codebook_temperatures = {"accompaniment": [1e-3] * k, "vocals": [1e-3] * k}
    model.generation_config.save_pretrained(tmp_path)
    loaded = SongGenGenerationConfig.from_pretrained(tmp_path)
    assert loaded.codebook_temperatures == {"accompaniment": [1e-3] * k, "vocals": [1e-3] * k}
    assert _same(_generate(model, do_sample=True, top_k=20), _generate(model, do_sample=False))


@pytest.mark.parametrize(
    "value, message",
    [
        ([0.6], "must map a track name"),
        ({"vocals": 0.6}, "non-empty list"),
        ({"vocals": []}, "non-empty list"),
        ({"vocals": [0.6, 0.0]}, r"holds 0.0; each temperature must be a number >= 0.001"),
        ({"vocals": [float("nan")]}, "each temperature"),
        ({"vocals": ["cold"]}, "each temperature"),
    ],
)
def test_malformed_temperatures_are_refused_without_a_model(value, message):
    with pytest.raises(ValueError, match=message):
        check_generation_arguments({"codebook_temperatures": value})


def test_the_models_pattern_decides_the_tracks_and_codebooks():
    dual = tiny_songgen_config("parallel_stream2", use_voice_encoder=False)
    k = dual.decoder.num_codebooks
    check_generation_arguments({"codebook_temperatures": {"vocals": [0.6] * k}}, dual)
    with pytest.raises(ValueError, match=r"names track\(s\) \['mix'\]; .* has \['accompaniment', 'vocals'\]"):
        check_generation_arguments({"codebook_temperatures": {"mix": [0.6]}}, dual)
    with pytest.raises(ValueError, match=f"lists {k + 1} temperatures for a track of {k} codebooks"):
        check_generation_arguments({"codebook_temperatures": {"vocals": [0.6] * (k + 1)}}, dual)
    interleaving = tiny_songgen_config("interleaving_A_V", use_voice_encoder=False)
    with pytest.raises(ValueError, match="alternates its tracks within each row"):
        check_generation_arguments({"codebook_temperatures": {"vocals": [0.6]}}, interleaving)


def test_an_empty_mapping_is_none_and_turns_a_models_saved_temperatures_off():
    model = _model("interleaving_A_V")  # {} names no track: fine even where rows hold two tracks
    check_generation_arguments({"codebook_temperatures": {}}, model.config)
    model = _model()
    plain = _generate(model, do_sample=True, top_k=20)
    k = model.config.decoder.num_codebooks
    model.generation_config.codebook_temperatures = {"accompaniment": [1e-3] * k, "vocals": [1e-3] * k}
    assert not _same(_generate(model, do_sample=True, top_k=20), plain)
    assert _same(_generate(model, do_sample=True, top_k=20, codebook_temperatures={}), plain)


def test_asking_for_temperatures_without_sampling_is_refused():
    model = _model()
    with pytest.raises(ValueError, match="do_sample is False"):
        _generate(model, do_sample=False, codebook_temperatures={"vocals": [0.6]})


def test_the_draw_tempers_its_candidates_row_by_row_as_the_separate_processor_would():
    pattern = get_token_pattern("parallel_stream2", num_codebooks=2)
    settings = {"vocals": [0.5, 2.0]}
    scores = torch.randn(3 * pattern.num_rows, 40)
    temperatures = row_temperatures(pattern, settings, 0.9)
    assert torch.equal(temperatures, torch.tensor([0.9] * 4 + [0.5, 2.0] * 2))
    separate = SongGenCodebookTemperatureProcessor.for_pattern(pattern, settings, 0.9)
    torch.manual_seed(5)
    drawn = SongGenTopKDrawProcessor(6, 0.9, temperatures)(None, scores)
    torch.manual_seed(5)
    assert torch.equal(drawn, SongGenTopKDrawProcessor(6, 0.9)(None, separate(None, scores)))
    assert row_temperatures(pattern, {"vocals": [0.9]}, 0.9) is None
    with pytest.raises(ValueError, match="row_temperatures must be"):
        SongGenTopKDrawProcessor(6, 1.0, torch.tensor([1.0, 0.0]))
