"""Training loops (codec, SongGen stages, LoRA) built on accelerate, with their configs and checkpointing."""
