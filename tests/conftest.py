"""Test-wide settings: everything runs offline, on CPU, with tiny models.

The environment variables must be set before transformers / huggingface_hub are
imported, because the hub client reads ``HF_HUB_OFFLINE`` once at import.
"""

import atexit
import os
import shutil
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
_PRIVATE_HOME = "SONGGEN_TEST_PRIVATE_HF_HOME"
# pytest-xdist workers inherit the controller's environment: a worker given the controller's private home
# makes its own, so nothing one worker caches can leak into another's tests.
if "HF_HOME" not in os.environ or (
    os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get(_PRIVATE_HOME) == os.environ["HF_HOME"]
):
    # A private, empty hub home per run (nothing cached can leak into a test); removed at exit so
    # runs do not pile folders up in the temp dir.
    os.environ["HF_HOME"] = os.environ[_PRIVATE_HOME] = tempfile.mkdtemp(prefix="songgen-hf-home-")
    atexit.register(shutil.rmtree, os.environ["HF_HOME"], ignore_errors=True)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

_TEST_THREADS = os.environ.get("SONGGEN_TEST_THREADS", "1")
torch.set_num_threads(int(_TEST_THREADS))
# The package promises one song per seed for one thread count; left to its policy, a generation picks its count
# from the machine's load at that moment, so two surfaces compared in one test could run at different counts under
# a loaded parallel run. Every generation of the suite runs at the suite's count (the policy's tests unset it).
os.environ.setdefault("SONGGEN_NUM_THREADS", _TEST_THREADS)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


# Tiny complete SongGen folders shared by the modules of a run (built once per worker): tests read them and never
# write into them; a test that edits a model folder copies it first.
@pytest.fixture(scope="session")
def mixed_pro_dir(tmp_path_factory):
    from songgen_hf.testing import save_tiny_checkpoint

    return save_tiny_checkpoint(tmp_path_factory.mktemp("mixed_pro"), track_pattern="mixed_pro")


@pytest.fixture(scope="session")
def dual_dir(tmp_path_factory):
    from songgen_hf.testing import save_tiny_checkpoint

    return save_tiny_checkpoint(tmp_path_factory.mktemp("interleaving"), track_pattern="interleaving_A_V")


# A Hub cache holding tiny official-layout SongGen checkpoints under the released ids, the codec and MERT
# (tests/conversion/hub_cache_builder.py), built once per worker for the modules that resolve those ids: they read
# its repos and never change them (a test that needs another repo adds one of its own name).
@pytest.fixture(scope="session")
def official_hub(tmp_path_factory):
    from tests.conversion.hub_cache_builder import build_hub_cache

    return build_hub_cache(tmp_path_factory.mktemp("official_hub"))


@pytest.fixture
def no_weights(monkeypatch):
    """Loading a SongGen's weights fails the test: the argument checks must come first."""
    import songgen_hf.pipelines
    from songgen_hf import SongGenForConditionalGeneration

    def refuse(*args, **kwargs):
        raise AssertionError("weights were loaded before the arguments were checked")

    monkeypatch.setattr(SongGenForConditionalGeneration, "from_pretrained", classmethod(refuse))
    monkeypatch.setattr(songgen_hf.pipelines, "load_text_to_song_pipeline", refuse)
