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
if "HF_HOME" not in os.environ:
    # A private, empty hub home per run (nothing cached can leak into a test); removed at exit so
    # runs do not pile folders up in the temp dir.
    os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="songgen-hf-home-")
    atexit.register(shutil.rmtree, os.environ["HF_HOME"], ignore_errors=True)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(int(os.environ.get("SONGGEN_TEST_THREADS", "1")))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
