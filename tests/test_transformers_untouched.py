"""Importing songgen_hf changes nothing of transformers but the registries its public register calls fill.

A fresh interpreter imports every submodule of ``transformers.pipelines`` and ``transformers.models.auto``,
records each module attribute's identity, then imports the package (its pipelines, CLI parser and lazy
exports too) and records again.  Every attribute that existed must be the same object afterwards; the
registries (the pipeline task registry, the Auto classes' mappings) may only have gained entries.
"""

import json
import subprocess
import sys

_PROBE = r"""
import importlib, json, pkgutil, sys
import transformers
import transformers.pipelines
import transformers.models.auto

def submodules(package):
    names = [package.__name__]
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        names.append(info.name)
    return names

modules = []
for package in (transformers.pipelines, transformers.models.auto):
    for name in submodules(package):
        try:
            importlib.import_module(name)
        except Exception:  # optional back ends this environment lacks
            continue
        modules.append(name)

def snapshot():
    return {name: {key: id(value) for key, value in list(vars(sys.modules[name]).items())} for name in modules}

def registries():
    from transformers.models.auto import configuration_auto, modeling_auto, processing_auto
    from transformers.pipelines import PIPELINE_REGISTRY
    found = {"tasks": {task: id(entry) for task, entry in PIPELINE_REGISTRY.supported_tasks.items()}}
    found["configs"] = sorted(configuration_auto.CONFIG_MAPPING._extra_content)
    for module in (modeling_auto, processing_auto):
        for name, value in vars(module).items():
            extra = getattr(value, "_extra_content", None)
            if isinstance(extra, dict):
                found[name] = sorted(getattr(key, "__name__", str(key)) for key in extra)
    return found

keep = {name: dict(vars(sys.modules[name])) for name in modules}  # holds the objects, so ids stay unique
before, registry_before = snapshot(), registries()

import songgen_hf
import songgen_hf.pipelines
from songgen_hf.pipelines.text_to_song import register_text_to_song_pipeline
from songgen_hf.commands.cli import build_parser
register_text_to_song_pipeline()
build_parser()
songgen_hf.ResGenPipeline, songgen_hf.load_text_to_song_pipeline

after, registry_after = snapshot(), registries()
changed = sorted(f"{name}.{key}" for name in modules for key, ident in before[name].items()
                 if after[name].get(key) != ident)
print(json.dumps({"modules": len(modules), "changed": changed,
                  "before": registry_before, "after": registry_after}))
"""


def test_import_replaces_nothing_in_transformers():
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["modules"] > 20  # the walk reached the submodules, not just the packages
    assert report["changed"] == [], f"importing songgen_hf replaced {report['changed']}"
    before, after = report["before"], report["after"]
    # tasks: transformers' own entries untouched, ours added
    assert {task: ident for task, ident in after["tasks"].items() if task in before["tasks"]} == before["tasks"]
    assert set(after["tasks"]) - set(before["tasks"]) == {"text-to-song"}
    # the Auto mappings only gained this package's classes
    assert "songgen" in set(after["configs"]) - set(before["configs"])
    for name, entries in before.items():
        if name != "tasks":
            assert set(entries) <= set(after[name]), name
    gained = {name for name in after if name != "tasks" and set(after[name]) - set(before.get(name, []))}
    assert "MODEL_FOR_TEXT_TO_WAVEFORM_MAPPING" in gained
