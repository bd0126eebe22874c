"""Fixtures the training tests share."""

import pytest

from songgen_hf.data.encode import EncodeOptions, encode_manifest

from ..data.tone_songs import save_tiny_codec, save_tiny_tokenizers, write_tone_songs


@pytest.fixture(scope="session")
def assets(tmp_path_factory):
    """Tone songs encoded by a tiny codec (``encoded/``, ``codec/``) and the two tiny tokenizers: what
    :func:`tests.training.tiny_stage.tiny_stage_config` trains on.  Built once per worker; tests only read it."""
    root = tmp_path_factory.mktemp("training_assets")
    manifest = write_tone_songs(root / "songs")
    encode_manifest(manifest, save_tiny_codec(root / "codec"), root / "encoded", EncodeOptions())
    save_tiny_tokenizers(root / "description_tokenizer", root / "lyrics_tokenizer")
    return root
