"""``input_token_noise_prob`` as a training option: written into the model a stage trains, refused where it means
nothing."""

import pytest

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.training.resgen_trainer import ResGenTrainer
from songgen_hf.training.songgen_config import SongGenTrainingConfig
from songgen_hf.training.songgen_trainer import LOG_FILE, train_songgen

from .test_vocal_heads import _stage, _start


def test_a_stage_trains_with_the_noise_and_saves_it(assets, tmp_path):
    start = _start(tmp_path, "mixed_stream2")
    assert SongGenForConditionalGeneration.from_pretrained(start).config.decoder.input_token_noise_prob == 0.0
    final = train_songgen(_stage(assets, start, tmp_path / "noisy", input_token_noise_prob=0.2))
    assert SongGenForConditionalGeneration.from_pretrained(final).config.decoder.input_token_noise_prob == 0.2
    assert (tmp_path / "noisy" / LOG_FILE).read_text().count('"loss"') == 2


def test_bad_or_meaningless_noise_is_refused():
    with pytest.raises(ValueError, match="input_token_noise_prob must be a probability"):
        SongGenTrainingConfig(train_data="x", init_from="y", input_token_noise_prob=1.5)
    with pytest.raises(ValueError, match="SongGen training option"):
        ResGenTrainer(SongGenTrainingConfig(train_data="x", model={"preset": "tiny"}, input_token_noise_prob=0.1))
