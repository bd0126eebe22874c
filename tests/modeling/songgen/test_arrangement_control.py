"""The arrangement control (vocals / drums with, without, not said): ids, what reaches which song, dropout,
guidance, the processor and the training collator reading it from the text, ResGen, saving, errors."""

import pytest
import torch

from songgen_hf import ResGenForConditionalGeneration, SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.configuration_songgen import (
    NUM_ARRANGEMENTS,
    UNKNOWN_ARRANGEMENT,
    arrangement_id,
    arrangement_parts,
)
from songgen_hf.testing import dummy_training_items, tiny_resgen_config, tiny_songgen_config

from .test_musical_controls import _logits, _model, _seeded_song

ARRANGEMENT = {"use_arrangement_control": True}


@pytest.fixture(scope="module")
def model():
    return _model(controls=ARRANGEMENT)


def test_ids_cover_every_combination_and_invert():
    combos = [(v, d) for v in (False, True, None) for d in (False, True, None)]
    ids = [arrangement_id(v, d) for v, d in combos]
    assert sorted(ids) == list(range(NUM_ARRANGEMENTS)) and arrangement_id(None, None) == UNKNOWN_ARRANGEMENT
    assert [arrangement_parts(i) for i in ids] == combos
    with pytest.raises(ValueError, match="0..8"):
        arrangement_parts(9)


def test_an_arrangement_reaches_only_its_own_song(model, batch):
    base = _logits(
        model, batch, arrangement_ids=torch.tensor([arrangement_id(False, True), arrangement_id(True, True)])
    )
    other = _logits(
        model, batch, arrangement_ids=torch.tensor([arrangement_id(True, True), arrangement_id(True, True)])
    )
    assert (base[0] - other[0]).abs().max() > 1e-3 and torch.equal(base[1], other[1])


def test_not_said_equals_no_ids(model, batch):
    unknown = _logits(model, batch, arrangement_ids=torch.tensor([UNKNOWN_ARRANGEMENT] * 2))
    torch.testing.assert_close(unknown, _logits(model, batch), rtol=0, atol=0)


def test_a_dropped_description_drops_the_arrangement(batch):
    model = _model(controls=ARRANGEMENT, description_dropout_prob=1.0).train()
    with torch.no_grad():
        without = model(**batch, arrangement_ids=torch.tensor([0, 0])).loss
        with_both = model(**batch, arrangement_ids=torch.tensor([4, 4])).loss
    assert without.item() == with_both.item()


def test_guidance_nulls_the_arrangement_in_the_unconditional_half(model, batch):
    kwargs = {"arrangement_ids": torch.tensor([0, 4])}
    SongGenForConditionalGeneration._repeat_musical_controls(kwargs, [False, True])
    assert kwargs["arrangement_ids"].tolist() == [0, 4, UNKNOWN_ARRANGEMENT, UNKNOWN_ARRANGEMENT]

    def generate(ids):
        return _seeded_song(model, batch, arrangement_ids=torch.tensor(ids), duration_s=0.3, guidance_scale=3.0)

    first = generate([0, 4])
    assert torch.equal(first, generate([0, 4])) and not torch.equal(first, generate([4, 4]))


def test_the_processor_and_the_collator_read_it_from_the_text(model, tmp_path):
    from songgen_hf import SongGenProcessor
    from songgen_hf.testing import tiny_tokenizers
    from songgen_hf.training.songgen_data import SongGenCollator

    description, lyrics = tiny_tokenizers()
    processor = SongGenProcessor.for_config(model.config, description, lyrics)
    texts = ["instrumental, no drums", "female vocals over a drum beat", "a pop song"]
    inputs = processor(description=texts, lyrics=["", "la la", "la"])
    assert inputs["arrangement_ids"].tolist() == [0, 4, UNKNOWN_ARRANGEMENT]
    assert "arrangement_ids" in processor.model_input_names
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    assert SongGenProcessor.from_pretrained(tmp_path).use_arrangement_control  # follows the saved config
    items = dummy_training_items(texts)
    collated = SongGenCollator(model.pattern, description, lyrics, use_arrangement_control=True)(items)
    assert collated["arrangement_ids"].tolist() == [0, 4, UNKNOWN_ARRANGEMENT]
    assert "arrangement_ids" not in SongGenCollator(model.pattern, description, lyrics)(items)


def test_resgen_takes_the_same_control():
    torch.manual_seed(0)
    model = ResGenForConditionalGeneration(tiny_resgen_config(decoder=dict(ARRANGEMENT))).eval()
    codes = torch.randint(0, 1024, (2, model.config.decoder.num_codebooks, 12))
    inputs = {
        "input_ids": torch.randint(0, 200, (2, 5)),
        "lyrics_input_ids": torch.randint(5, 200, (2, 6)),
        "audio_codes": codes,
        "mask_ratios": torch.tensor([0.5, 0.5]),
    }

    def loss(ids):
        with torch.no_grad():
            return model(**inputs, arrangement_ids=torch.tensor(ids), generator=torch.Generator().manual_seed(0)).loss

    assert loss([0, 0]).item() != loss([4, 4]).item()
    out = model.generate(
        input_ids=inputs["input_ids"],
        lyrics_input_ids=inputs["lyrics_input_ids"],
        arrangement_ids=torch.tensor([0, 4]),
        num_inference_steps=2,
        duration_s=0.2,
        guidance_scale=2.0,
        generator=torch.Generator().manual_seed(0),
        decode_audio=False,
    )
    assert out.sequences.shape[:2] == (2, model.config.decoder.num_codebooks)


def test_bad_arrangements_are_clear_errors(model, batch):
    plain = SongGenForConditionalGeneration(tiny_songgen_config("mixed", use_voice_encoder=False)).eval()
    with pytest.raises(ValueError, match="no arrangement control"):
        plain(**batch, arrangement_ids=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="one id per song"):
        model(**batch, arrangement_ids=torch.tensor([0]))
    with pytest.raises(ValueError, match=r"0\.\.8"):
        model(**batch, arrangement_ids=torch.tensor([0, 9]))


def test_the_control_survives_save_and_reload(model, batch, tmp_path):
    model.save_pretrained(tmp_path)
    reloaded = SongGenForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert reloaded.config.decoder.use_arrangement_control
    ids = {"arrangement_ids": torch.tensor([0, 5])}
    torch.testing.assert_close(_logits(reloaded, batch, **ids), _logits(model, batch, **ids))
