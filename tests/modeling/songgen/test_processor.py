"""SongGenProcessor: inputs -> model inputs, batching, reference voices, save/load, errors, decoding."""

import copy
import inspect
import json
import os

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import AutoProcessor, ProcessorMixin

from songgen_hf import SongGenConfig, SongGenForConditionalGeneration
from songgen_hf.modeling.songgen import SongGenProcessor, VoiceBpeTokenizer, VoiceFeatureExtractor
from songgen_hf.testing import save_tiny_checkpoint, tiny_songgen_config, tiny_tokenizers

DESCRIPTIONS = ["a pop song", "a melancholic piano ballad in a minor with strings and a soft male voice"]
LYRICS = ["hold me close tonight\nthe stars are shining bright", "la la"]


@pytest.fixture(scope="module")
def tokenizers():
    return tiny_tokenizers()


@pytest.fixture(scope="module")
def config():
    return tiny_songgen_config("mixed_pro")


@pytest.fixture(scope="module")
def processor(config, tokenizers):
    return SongGenProcessor.for_config(config, *tokenizers)


@pytest.fixture(scope="module")
def voice_wav(tmp_path_factory):
    """Two seconds of 44.1 kHz stereo: the reader must mix to mono and resample to 24 kHz."""
    rate = 44100
    t = np.arange(2 * rate) / rate
    stereo = np.stack([0.4 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 330 * t)], axis=1)
    path = tmp_path_factory.mktemp("voice") / "voice_44k_stereo.wav"
    sf.write(path, stereo.astype(np.float32), rate, subtype="FLOAT")
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("tiny_songgen"), "mixed_pro")


def _bos_decoder_input_ids(config, batch_size):
    rows = config.decoder.token_pattern().num_rows
    return torch.full((batch_size * rows, 1), config.decoder.bos_token_id, dtype=torch.long)


def _assert_same_outputs(first, second):
    assert list(first.keys()) == list(second.keys())
    for key in first:
        torch.testing.assert_close(first[key], second[key], rtol=0, atol=0)


# ---------------------------------------------------------------------- model inputs
def test_is_a_processor_mixin_with_the_model_input_names(processor):
    # pipeline("text-to-audio") only keeps processors that are ProcessorMixin instances
    assert isinstance(processor, ProcessorMixin)
    names = "input_ids attention_mask lyrics_input_ids lyrics_attention_mask voice_values voice_attention_mask"
    assert processor.model_input_names == names.split()
    forward_arguments = inspect.signature(SongGenForConditionalGeneration.forward).parameters
    assert set(processor.model_input_names) <= set(forward_arguments)


def test_output_runs_through_the_model(config, processor, voice_wav):
    inputs = processor(DESCRIPTIONS, LYRICS, reference_voice=[voice_wav, None])
    assert list(inputs.keys()) == processor.model_input_names
    assert inputs["voice_values"].shape == (2, config.voice_encoder.max_samples)
    model = SongGenForConditionalGeneration(config).eval()
    with torch.no_grad():
        output = model(**inputs, decoder_input_ids=_bos_decoder_input_ids(config, 2))
    rows = config.decoder.token_pattern().num_rows
    assert output.logits.shape[:2] == (2 * rows, 1)
    assert torch.isfinite(output.logits).all()


def test_without_a_voice_only_text_keys_are_returned(processor):
    for reference_voice in (None, [None, None]):
        inputs = processor(DESCRIPTIONS, LYRICS, reference_voice=reference_voice)
        assert list(inputs.keys()) == ["input_ids", "attention_mask", "lyrics_input_ids", "lyrics_attention_mask"]
        assert inputs["input_ids"].dtype == torch.long and inputs["lyrics_attention_mask"].dtype == torch.long


def test_single_strings_give_a_batch_of_one(processor, tokenizers):
    description_tokenizer, lyrics_tokenizer = tokenizers
    inputs = processor(DESCRIPTIONS[0], LYRICS[0])
    assert inputs["input_ids"].tolist() == [description_tokenizer(DESCRIPTIONS[0])["input_ids"]]
    assert inputs["lyrics_input_ids"].tolist() == [lyrics_tokenizer.frame_lyrics(LYRICS[0])]
    assert inputs["attention_mask"].all() and inputs["lyrics_attention_mask"].all()


# ---------------------------------------------------------------------- batching
def test_batch_is_right_padded_and_matches_unbatched_calls(processor, tokenizers):
    description_tokenizer, lyrics_tokenizer = tokenizers
    batch = processor(DESCRIPTIONS, LYRICS)
    assert batch["input_ids"].shape[0] == batch["lyrics_input_ids"].shape[0] == 2
    for key, mask_key, pad_id in (
        ("input_ids", "attention_mask", description_tokenizer.pad_token_id),
        ("lyrics_input_ids", "lyrics_attention_mask", lyrics_tokenizer.pad_token_id),
    ):
        lengths = []
        for row in range(2):
            single = processor(DESCRIPTIONS[row], LYRICS[row])[key][0]
            mask = batch[mask_key][row]
            length = int(mask.sum())
            lengths.append(length)
            assert length == single.shape[0]
            assert mask[:length].all() and not mask[length:].any()  # ones then zeros: right padding
            assert batch[key][row, :length].tolist() == single.tolist()
            assert (batch[key][row, length:] == pad_id).all()
        assert lengths[0] != lengths[1]  # the two rows really are padded differently
        assert max(lengths) == batch[key].shape[1]


def test_description_is_right_padded_even_if_the_tokenizer_pads_left(tokenizers):
    left_padding = copy.deepcopy(tokenizers[0])
    left_padding.padding_side = "left"
    processor = SongGenProcessor(left_padding, tokenizers[1])
    mask = processor(DESCRIPTIONS, LYRICS)["attention_mask"]
    assert mask[:, 0].all() and not mask[0, -1]


def test_empty_or_missing_lyrics_are_start_stop(processor, tokenizers):
    lyrics_tokenizer = tokenizers[1]
    start_stop = [lyrics_tokenizer.start_token_id, lyrics_tokenizer.stop_token_id]
    assert processor("a calm ambient track", "")["lyrics_input_ids"].tolist() == [start_stop]
    assert processor("a calm ambient track", "  \n ")["lyrics_input_ids"].tolist() == [start_stop]
    assert processor(DESCRIPTIONS)["lyrics_input_ids"].tolist() == [start_stop, start_stop]


def test_numpy_and_list_outputs(processor):
    as_numpy = processor(
        DESCRIPTIONS, LYRICS, reference_voice=[None, np.full(16000, 0.1)], sampling_rate=16000, return_tensors="np"
    )
    assert isinstance(as_numpy["input_ids"], np.ndarray) and as_numpy["voice_values"].dtype == np.float32
    as_lists = processor(DESCRIPTIONS, LYRICS, return_tensors=None)
    assert isinstance(as_lists["lyrics_input_ids"], list)
    assert as_lists["lyrics_input_ids"] == as_numpy["lyrics_input_ids"].tolist()


# ---------------------------------------------------------------------- reference voice
def test_voice_file_and_none_in_one_batch(processor, voice_wav):
    inputs = processor(DESCRIPTIONS, LYRICS, reference_voice=[voice_wav, None], voice_start=0.5)
    alone = processor.feature_extractor(str(voice_wav), start=0.5)
    torch.testing.assert_close(inputs["voice_values"][0], alone["input_values"][0])
    assert inputs["voice_attention_mask"][0].all()
    assert not inputs["voice_values"][1].any() and not inputs["voice_attention_mask"][1].any()


def test_voice_arrays_with_rates(processor):
    rng = np.random.default_rng(0)
    voice = (0.1 * rng.standard_normal(32000)).astype(np.float32)
    expected = processor.feature_extractor(voice, sampling_rate=32000)["input_values"][0]
    as_pair = processor(DESCRIPTIONS[0], LYRICS[0], reference_voice=(voice, 32000))
    with_rate = processor(DESCRIPTIONS[0], LYRICS[0], reference_voice=voice, sampling_rate=32000)
    per_song = processor(DESCRIPTIONS, LYRICS, reference_voice=[(voice, 32000), voice], sampling_rate=[None, 32000])
    for values in (as_pair["voice_values"][0], with_rate["voice_values"][0], *per_song["voice_values"]):
        torch.testing.assert_close(values, expected)


# ---------------------------------------------------------------------- save / load
def test_save_load_round_trip(processor, tmp_path, voice_wav):
    written = processor.save_pretrained(tmp_path)
    names = sorted(os.listdir(tmp_path))
    assert {"tokenizer_config.json", "vocab.json", "preprocessor_config.json", "processor_config.json"} <= set(names)
    assert {os.path.basename(path) for path in written} == set(names)
    saved = json.loads((tmp_path / "processor_config.json").read_text())
    assert saved["processor_class"] == "SongGenProcessor"
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["processor_class"] == "SongGenProcessor"

    loaded = SongGenProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded.lyrics_tokenizer, VoiceBpeTokenizer)
    assert isinstance(loaded.feature_extractor, VoiceFeatureExtractor)
    assert loaded.feature_extractor.to_dict() == processor.feature_extractor.to_dict()
    arguments = dict(reference_voice=[voice_wav, None], voice_start=[0.25, 0.0])
    _assert_same_outputs(processor(DESCRIPTIONS, LYRICS, **arguments), loaded(DESCRIPTIONS, LYRICS, **arguments))


def test_max_lyrics_length_is_saved_and_can_be_overridden(tokenizers, tmp_path):
    SongGenProcessor(*tokenizers, max_lyrics_length=8).save_pretrained(tmp_path)
    assert SongGenProcessor.from_pretrained(tmp_path).max_lyrics_length == 8
    assert SongGenProcessor.from_pretrained(tmp_path, max_lyrics_length=64).max_lyrics_length == 64


def test_tiny_checkpoint_loads_model_and_processor(checkpoint, voice_wav):
    model = SongGenForConditionalGeneration.from_pretrained(checkpoint).eval()
    processor = SongGenProcessor.from_pretrained(checkpoint)
    inputs = processor(DESCRIPTIONS, LYRICS, reference_voice=[None, voice_wav])
    with torch.no_grad():
        output = model(**inputs, decoder_input_ids=_bos_decoder_input_ids(model.config, 2))
    assert torch.isfinite(output.logits).all()


def test_auto_processor_once_registered(checkpoint):
    # the same call songgen_hf's auto registration is meant to make; exist_ok keeps it idempotent
    AutoProcessor.register(SongGenConfig, SongGenProcessor, exist_ok=True)
    loaded = AutoProcessor.from_pretrained(checkpoint)
    assert isinstance(loaded, SongGenProcessor)
    _assert_same_outputs(
        loaded(DESCRIPTIONS, LYRICS), SongGenProcessor.from_pretrained(checkpoint)(DESCRIPTIONS, LYRICS)
    )


def test_model_without_voice_encoder(tokenizers, tmp_path):
    processor = SongGenProcessor.for_config(tiny_songgen_config("mixed", use_voice_encoder=False), *tokenizers)
    assert processor.feature_extractor is None
    assert "voice_values" not in processor.model_input_names
    processor.save_pretrained(tmp_path)
    assert not (tmp_path / "preprocessor_config.json").exists()
    assert json.loads((tmp_path / "processor_config.json").read_text())["voice_feature_extractor_file"] is None
    loaded = SongGenProcessor.from_pretrained(tmp_path)
    assert loaded.feature_extractor is None
    assert list(loaded(DESCRIPTIONS, LYRICS, reference_voice=[None, None]).keys()) == loaded.model_input_names
    with pytest.raises(ValueError, match="no voice encoder"):
        loaded(DESCRIPTIONS, LYRICS, reference_voice=[np.zeros(100), None], sampling_rate=16000)


def test_lyrics_vocab_moves_aside_if_the_description_tokenizer_writes_vocab_json(tokenizers, tmp_path, monkeypatch):
    description_tokenizer = copy.deepcopy(tokenizers[0])
    original_save = description_tokenizer.save_pretrained

    def save_with_vocab_json(folder, **kwargs):  # what a vocab.json-writing tokenizer class would do
        files = original_save(folder, **kwargs)
        extra = os.path.join(folder, "vocab.json")
        with open(extra, "w", encoding="utf-8") as handle:
            json.dump({"<pad>": 0}, handle)
        return (*files, extra)

    monkeypatch.setattr(description_tokenizer, "save_pretrained", save_with_vocab_json)
    processor = SongGenProcessor(description_tokenizer, tokenizers[1])
    processor.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "vocab.json").read_text()) == {"<pad>": 0}
    assert (
        json.loads((tmp_path / "processor_config.json").read_text())["lyrics_vocab_file"]
        == "lyrics_tokenizer/vocab.json"
    )
    _assert_same_outputs(
        SongGenProcessor.from_pretrained(tmp_path)(DESCRIPTIONS, LYRICS), processor(DESCRIPTIONS, LYRICS)
    )


@pytest.mark.parametrize(
    "missing", ["processor_config.json", "vocab.json", "preprocessor_config.json", "tokenizer_config.json"]
)
def test_loading_a_folder_without_a_component_names_the_file(processor, tmp_path, missing):
    processor.save_pretrained(tmp_path)
    os.remove(tmp_path / missing)
    if missing == "tokenizer_config.json":
        os.remove(tmp_path / "tokenizer.json")
    with pytest.raises(OSError, match=missing):
        SongGenProcessor.from_pretrained(tmp_path)


def test_processor_config_cannot_point_outside_the_folder(processor, tmp_path):
    processor.save_pretrained(tmp_path)
    config_path = tmp_path / "processor_config.json"
    config = json.loads(config_path.read_text())
    config["lyrics_vocab_file"] = "../vocab.json"
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="inside the checkpoint folder"):
        SongGenProcessor.from_pretrained(tmp_path)


# ---------------------------------------------------------------------- input errors
@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(description=["a", "b"], lyrics=["x"]), "2 descriptions but 1 lyric string"),
        (dict(description="a", lyrics=["x", "y"]), "1 description but 2 lyric strings"),
        (dict(description=None, lyrics="x"), "needs a description"),
        (dict(description=["ok", 3], lyrics=["x", "y"]), "description item 1 is a int"),
        (dict(description=["ok", "fine"], lyrics=["x", None]), "lyrics item 1 is a NoneType"),
        (dict(description=7), "description must be a str or a list of str"),
        (dict(description=[]), "empty list"),
        (dict(description="a", return_tensors="tf"), "return_tensors"),
        (dict(description="a", max_lyrics_length=1), "max_lyrics_length must be an int >= 2"),
    ],
)
def test_bad_text_inputs(processor, arguments, message):
    with pytest.raises(ValueError, match=message):
        processor(**arguments)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(reference_voice="voice.wav"), "one reference voice for 2 songs"),
        (dict(reference_voice=["voice.wav"]), "1 reference voice for 2 songs"),
        (dict(reference_voice=[np.zeros(100), None]), "pass its rate"),
        (dict(reference_voice=[np.zeros(100), None], sampling_rate=[16000]), "sampling_rate has 1 entry for 2 songs"),
        (dict(reference_voice=["/no/such/voice.wav", None]), "does not exist"),
    ],
)
def test_bad_voice_inputs(processor, arguments, message):
    with pytest.raises(ValueError, match=message):
        processor(DESCRIPTIONS, LYRICS, **arguments)


def test_over_long_lyrics_raise_unless_truncated(processor, tokenizers):
    lyrics_tokenizer = tokenizers[1]
    count = len(lyrics_tokenizer.frame_lyrics(LYRICS[0]))
    with pytest.raises(ValueError, match=rf"Lyrics item 0 is {count} tokens long .* limit is 6"):
        processor(DESCRIPTIONS, LYRICS, max_lyrics_length=6)
    cut = processor(DESCRIPTIONS, LYRICS, max_lyrics_length=6, truncation=True)["lyrics_input_ids"]
    assert cut.shape == (2, 6) and cut[0, -1] == lyrics_tokenizer.stop_token_id
    assert cut[0, :5].tolist() == lyrics_tokenizer.frame_lyrics(LYRICS[0])[:5]
    limited = SongGenProcessor(*tokenizers, max_lyrics_length=6)  # the processor's own default applies
    with pytest.raises(ValueError, match="limit is 6"):
        limited(DESCRIPTIONS, LYRICS)
    assert limited(DESCRIPTIONS, LYRICS, max_lyrics_length=count)["lyrics_input_ids"].shape == (2, count)


def test_components_are_type_checked(tokenizers):
    description_tokenizer, lyrics_tokenizer = tokenizers
    with pytest.raises(TypeError, match="VoiceBpeTokenizer"):
        SongGenProcessor(description_tokenizer, description_tokenizer)
    with pytest.raises(TypeError, match="VoiceFeatureExtractor"):
        SongGenProcessor(description_tokenizer, lyrics_tokenizer, feature_extractor=object())
    with pytest.raises(TypeError):
        SongGenProcessor(lyrics_tokenizer, lyrics_tokenizer)


# ---------------------------------------------------------------------- decoding
def test_batch_decode_trims_each_item(processor):
    audio = torch.randn(3, 1, 50)
    decoded = processor.batch_decode(audio, torch.tensor([50, 20, 0]))
    assert [item.shape for item in decoded] == [(50,), (20,), (0,)]
    assert all(item.dtype == np.float32 for item in decoded)
    np.testing.assert_array_equal(decoded[1], audio[1, 0, :20].numpy())
    assert [item.shape for item in processor.batch_decode(audio)] == [(50,)] * 3


def test_batch_decode_lists_stereo_and_half_precision(processor):
    items = [torch.randn(1, 30), np.random.default_rng(0).standard_normal(10)]
    assert [item.shape for item in processor.batch_decode(items, [25, 10])] == [(25,), (10,)]
    stereo = processor.batch_decode(torch.randn(2, 2, 40, dtype=torch.bfloat16), [40, 15])
    assert [item.shape for item in stereo] == [(2, 40), (2, 15)] and stereo[0].dtype == np.float32
    assert processor.decode(torch.randn(1, 1, 40), 12).shape == (12,)


@pytest.mark.parametrize(
    "audio, lengths, message",
    [
        (torch.randn(2, 1, 10), [10], "one length per waveform"),
        (torch.randn(2, 1, 10), [11, 3], "exceeds the 10 samples"),
        (torch.randn(2, 1, 10), [-1, 3], "non-negative int"),
        (torch.zeros(2, 8, 10, dtype=torch.long), None, "not codec token ids"),
        (torch.randn(10), None, "batch, channels, samples"),
    ],
)
def test_batch_decode_errors(processor, audio, lengths, message):
    with pytest.raises(ValueError, match=message):
        processor.batch_decode(audio, lengths)
