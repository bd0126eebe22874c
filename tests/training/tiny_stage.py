"""The training configs the training tests share: one log line per step, no checkpoint unless asked.

SongGen: a tiny model on the tone songs of ``tests/data/tone_songs`` (``assets`` holds ``encoded/`` and the two
tokenizers), fresh or continued from a saved stage.  X-Codec: a tiny codec with small codebooks on any audio
folder or manifest."""

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
from songgen_hf.testing import save_tiny_checkpoint
from songgen_hf.training.codec_config import CodecTrainingConfig
from songgen_hf.training.songgen_config import SongGenTrainingConfig

from ..data.tone_songs import save_tiny_tokenizers

# 64-entry codebooks (6 bits; bandwidths scaled so 8 codebooks remain) keep k-means and
# dead-code bookkeeping proportionate to a few hundred training frames.
SMALL_CODEBOOK = {
    "preset": "tiny",
    "teacher": "mel",
    "codebook_size": 64,
    "target_bandwidths": [0.3, 0.6, 0.9, 1.2, 2.4],
}


def tiny_stage_config(assets, output_dir, **overrides) -> SongGenTrainingConfig:
    options = dict(
        train_data=str(assets / "encoded"),
        output_dir=str(output_dir),
        model={"preset": "tiny", "track_pattern": "mixed_pro"},
        description_tokenizer=str(assets / "description_tokenizer"),
        lyrics_tokenizer=str(assets / "lyrics_tokenizer"),
        batch_size=2,
        learning_rate=3e-3,
        log_steps=1,
        save_steps=1000,
        seed=0,
    )
    options.update(overrides)
    return SongGenTrainingConfig(**options)


def save_tiny_start(folder, track_pattern: str = "mixed_pro", **overrides):
    """A tiny SongGen folder as a finished stage leaves it, tokenizers and processor saved alongside: what a next
    stage's ``init_from`` names (``overrides`` as for :func:`songgen_hf.testing.save_tiny_checkpoint`)."""
    start = save_tiny_checkpoint(folder, track_pattern=track_pattern, **overrides)
    description, lyrics = save_tiny_tokenizers(start, start)
    config = SongGenForConditionalGeneration.from_pretrained(start).config
    SongGenProcessor.for_config(config, description, lyrics).save_pretrained(start)
    return start


def next_stage_config(assets, init_from, output_dir, **overrides) -> SongGenTrainingConfig:
    """Two steps on the tone songs continuing the model saved in ``init_from`` (``overrides`` win)."""
    options = dict(
        train_data=str(assets / "encoded"),
        init_from=str(init_from),
        output_dir=str(output_dir),
        max_steps=2,
        batch_size=2,
        learning_rate=1e-3,
        log_steps=1,
        seed=0,
    )
    options.update(overrides)
    return SongGenTrainingConfig(**options)


def tiny_codec_options(train_data, output_dir, **overrides) -> dict:
    """The fields of a quick X-Codec run without the discriminator (``overrides`` win), as a config file holds them."""
    options = dict(
        train_data=str(train_data),
        output_dir=str(output_dir),
        model=dict(SMALL_CODEBOOK),
        segment_seconds=0.3,
        batch_size=4,
        learning_rate=3e-3,
        semantic_weight=10.0,
        use_discriminator=False,
        log_steps=1,
        eval_steps=1000,
        save_steps=1000,
        seed=0,
    )
    options.update(overrides)
    return options


def tiny_codec_config(train_data, output_dir, **overrides) -> CodecTrainingConfig:
    return CodecTrainingConfig(**tiny_codec_options(train_data, output_dir, **overrides))
