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
"""

from __future__ import annotations

MAX_DESCRIPTION_CHARS = 2_000
MAX_DESCRIPTION_TOKENS = 512
MAX_LYRICS_CHARS = 10_000
MAX_REFERENCE_VOICE_SECONDS = 600.0
MAX_BATCH_SIZE = 64
MAX_SONGS_PER_CALL = 1_024

__all__ = [
    "MAX_BATCH_SIZE",
    "MAX_DESCRIPTION_CHARS",
    "MAX_DESCRIPTION_TOKENS",
    "MAX_LYRICS_CHARS",
    "MAX_REFERENCE_VOICE_SECONDS",
    "MAX_SONGS_PER_CALL",
]
