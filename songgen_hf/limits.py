"""The documented limits on what a user may ask for, in one place.

Every surface (processor, pipeline, CLI, Space) checks its inputs against these numbers *before*
any heavy work (tokenising, decoding audio, loading weights, generating), so that no single
request can exhaust memory or stall a shared server.  The README's "Input limits" table lists
them; change them here and only here.

Why these values:

* Descriptions are a sentence or a short paragraph (SongGen's training captions are under
  ~80 words).  The description encoder attends over every token pair, so its memory grows with
  the square of the length: a 100 000-character description once drove a process to 22 GB.
  2 000 characters and 512 tokens are several times the longest caption anyone trains on.
* Lyrics are bounded in tokens by the lyrics encoder's position table (per model); the
  character cap stops a huge paste before it is even tokenised.
* A reference voice is a few seconds of singing; the voice encoder reads a fixed-length clip,
  so a long file is only ever cut.  The cap is checked from the file header, before decoding.
* Duration is bounded per model by its position table (``max_seconds``), which the pipeline
  reads from the config.
* ``songgen codec encode/decode`` read or write a whole file in memory: 20 minutes is longer
  than any song, and at 48 kHz stereo its float32 samples already take ~0.5 GB.  Longer
  recordings are refused from the file header (split them first).  Above 30 seconds the codec
  runs in chunks unless ``--chunk-seconds`` says otherwise, so its activations stay bounded
  (a one-pass encode of a few minutes needs several GB).
* A synthetic corpus or a mixing augmentation of 100 000 clips is ~280 hours of audio at 10 s a
  clip, far beyond any run here; the job list of 10**9 clips alone would exhaust memory.
* Tokenizer vocabularies above 65 536 entries make the trainers allocate tables of tens of GB
  (a lyrics vocabulary of 10**9 aborted the process); T5's own has 32 128.
* ``songgen data encode`` holds a whole shard's audio in memory: 256 clips of 30 s with two
  stems is ~1.5 GB.
* A safetensors header above 100 MB is refused by the format itself (safetensors' own limit); a header that
  claims more is a corrupt file, read no further.
* The sizes a training command builds a model of (``train-singer --hidden-size/--layers/--intermediate-size``)
  each have a range far above any model trained here (songgen-tiny's singer: 256 wide, 4 layers), and the
  model they make together is counted on the meta device first: 500 M parameters train in ~8 GB (float32
  weights, gradients and AdamW's two moments), which a 16 GB machine or GPU still holds.  A training batch
  of 1 024 songs is 16x the largest any recipe uses (64).  A model that ``songgen train`` / ``codec train`` build
  from a ``model`` config is counted the same way: 4 B parameters (65 536 tensors) is three times the released
  SongGen (1.34 B), the largest model this package describes.
"""

from __future__ import annotations

MAX_DESCRIPTION_CHARS = 2_000
MAX_DESCRIPTION_TOKENS = 512
MAX_LYRICS_CHARS = 10_000
MAX_REFERENCE_VOICE_SECONDS = 600.0
MAX_BATCH_SIZE = 64
MAX_SONGS_PER_CALL = 1_024
MAX_CODEC_AUDIO_SECONDS = 1_200.0
CODEC_AUTO_CHUNK_SECONDS = 30.0
MAX_CORPUS_CLIPS = 100_000
MAX_TOKENIZER_VOCAB_SIZE = 65_536
MAX_ENCODE_SHARD_SIZE = 256
MAX_SAFETENSORS_HEADER_BYTES = 100_000_000
MAX_MODEL_WIDTH = 4_096
MAX_MODEL_LAYERS = 64
MAX_FEED_FORWARD_WIDTH = 65_536
MAX_TRAINED_PARAMETERS = 500_000_000
MAX_TRAINING_BATCH_SIZE = 1_024
MAX_FRESH_MODEL_PARAMETERS = 4_000_000_000
MAX_FRESH_MODEL_TENSORS = 65_536

__all__ = [
    "CODEC_AUTO_CHUNK_SECONDS",
    "MAX_BATCH_SIZE",
    "MAX_CODEC_AUDIO_SECONDS",
    "MAX_CORPUS_CLIPS",
    "MAX_ENCODE_SHARD_SIZE",
    "MAX_FRESH_MODEL_PARAMETERS",
    "MAX_FRESH_MODEL_TENSORS",
    "MAX_FEED_FORWARD_WIDTH",
    "MAX_MODEL_LAYERS",
    "MAX_MODEL_WIDTH",
    "MAX_SAFETENSORS_HEADER_BYTES",
    "MAX_DESCRIPTION_CHARS",
    "MAX_DESCRIPTION_TOKENS",
    "MAX_LYRICS_CHARS",
    "MAX_REFERENCE_VOICE_SECONDS",
    "MAX_SONGS_PER_CALL",
    "MAX_TRAINED_PARAMETERS",
    "MAX_TRAINING_BATCH_SIZE",
    "MAX_TOKENIZER_VOCAB_SIZE",
]
