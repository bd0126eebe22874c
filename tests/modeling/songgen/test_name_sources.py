"""One registry answers what a name stands for (``songgen_hf.modeling.weight_bounds``, beside the bounds of the folder
it names): the folder of a model's name (an embedded model, an official checkpoint) for ``from_pretrained``, and the
base of a LoRA adapter folder for the processor.  A fresh interpreter that imports the modeling modules alone
resolves every name as one that imported the package's public API first does."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from songgen_hf.pipelines import loading

_PROBE = """
import json, sys
if {alone!r}:  # the modeling modules alone (Python runs the package's __init__ first, as for any of its modules)
    from songgen_hf.modeling.songgen.modeling_songgen import SongGenForConditionalGeneration
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor
else:
    from songgen_hf import SongGenForConditionalGeneration, SongGenProcessor
from songgen_hf.modeling import weight_bounds

answers = {{
    "name": str(weight_bounds.resolve_pretrained_source("songgen-tiny", {{}})[0]),
    "adapter_base": weight_bounds.adapter_base({adapter!r}),
    "unchanged": weight_bounds.resolve_pretrained_source({other!r}, {{}})[0] == {other!r},
    "converters_asked": "songgen_hf.conversion.conversion_cache" in sys.modules,  # asked about the folder above
    "model": SongGenForConditionalGeneration.from_pretrained("songgen-tiny").name_or_path,
    "lyrics_limit": SongGenProcessor.from_pretrained({adapter!r}).model_max_lyrics_length,  # its base's
}}
print(json.dumps(answers))
"""


def _answers(alone: bool, adapter: str, other: str) -> dict:
    code = _PROBE.format(alone=alone, adapter=adapter, other=other)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("name_sources")
    adapter = root / "adapter"  # an adapter of the embedded default, as its record names it (no weights needed here)
    adapter.mkdir()
    record = {"peft_type": "LORA", "base_model_name_or_path": loading.DEFAULT_MODEL_NAME, "target_modules": ["x"]}
    (adapter / loading.ADAPTER_CONFIG_FILE).write_text(json.dumps(record), encoding="utf-8")
    other = root / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "musicgen"}), encoding="utf-8")
    return str(adapter), str(other)


def test_a_name_resolves_alike_whatever_was_imported(folders):
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor

    alone = _answers(True, *folders)
    assert alone == _answers(False, *folders)
    default = str(loading.default_model_path())
    assert alone["name"] == alone["model"] == alone["adapter_base"] == default
    assert alone["unchanged"] and alone["converters_asked"]  # the converters were asked too
    assert alone["lyrics_limit"] == SongGenProcessor.from_pretrained(default).model_max_lyrics_length


def test_one_registry_answers_both_questions():
    from songgen_hf.modeling import weight_bounds
    from songgen_hf.modeling.songgen import modeling_songgen, processing_songgen

    assert modeling_songgen.resolve_pretrained_source is weight_bounds.resolve_pretrained_source
    assert processing_songgen.adapter_base is weight_bounds.adapter_base
    for module in (modeling_songgen, processing_songgen):
        assert not [name for name in vars(module) if name.endswith("_RESOLVERS")]
