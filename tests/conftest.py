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

torch.set_num_threads(int(os.environ.get("SONGGEN_TEST_THREADS", "1")))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
