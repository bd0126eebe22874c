"""benchmarks/lora_memory.py's settings: what a setting's name asks of finetune-lora, the defaults per size and
device (the GPU's 30 s clips), and bad settings refused by name before anything is built or trained."""

from __future__ import annotations

import runpy

import pytest

from .run_script import BENCHMARKS, run_benchmark


@pytest.fixture(scope="module")
def script():
    return runpy.run_path(str(BENCHMARKS / "lora_memory.py"), run_name="lora_memory")


def test_a_setting_names_the_batch_the_crop_and_the_memory_savers(script):
    assert script["parse_setting"]("b4x30+gc+int8") == {
        "batch_size": 4,
        "seconds": 30.0,
        "gradient_checkpointing": True,
        "base_int8": True,
    }
    assert script["parse_setting"]("b8x10") == {
        "batch_size": 8,
        "seconds": 10.0,
        "gradient_checkpointing": False,
        "base_int8": False,
    }
    # the GPU recipe measures 30 s clips at the released size, with checkpointing and the int8 base among them
    gpu = [script["parse_setting"](text) for text in script["DEFAULT_SETTINGS"][("released", "cuda")]]
    assert {s["seconds"] for s in gpu} == {30.0} and any(s["gradient_checkpointing"] and s["base_int8"] for s in gpu)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--settings", "b4"], "A setting reads bBATCHxSECONDS"),
        (["--settings", "b4x30+fp8"], "A setting reads bBATCHxSECONDS"),
        (["--steps", "1"], "--steps must be at least 2"),
    ],
)
def test_bad_settings_are_refused_before_anything_runs(tmp_path, capsys, arguments, message):
    code, _ = run_benchmark("lora_memory", "--work", str(tmp_path / "work"), *arguments)
    assert code == 2 and message in capsys.readouterr().err and not (tmp_path / "work").exists()
