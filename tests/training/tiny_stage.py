"""The training config the SongGen training tests share: a tiny model on the tone songs of ``tests/data/tone_songs``
(``assets`` holds ``encoded/`` and the two tokenizers), one log line per step, no checkpoint unless asked."""

from songgen_hf.training.songgen_config import SongGenTrainingConfig


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
