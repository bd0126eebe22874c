"""``songgen evaluate`` on a ResGen pipeline folder: the same systems and report, by parallel decoding."""

import json
import math

import numpy as np
import pytest
import torch

from songgen_hf.commands.cli import main
from songgen_hf.evaluation.prompts import load_prompts
from songgen_hf.evaluation.runner import load_model_and_processor
from songgen_hf.evaluation.systems import SYSTEMS, SamplingOptions, generate_batch
from songgen_hf.testing import save_tiny_resgen_checkpoint

from .tiny_corpus import evaluate_argv, write_tiny_corpus


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("resgen_evaluate")
    train, test = write_tiny_corpus(root / "corpus", num_train=8, num_test=3)
    model = save_tiny_resgen_checkpoint(root / "resgen")
    return {"root": root, "train": train, "test": test, "model": model}


def test_resgen_unconditioned_songs_do_not_depend_on_the_prompt(workspace):
    model, processor = load_model_and_processor(workspace["model"], "cpu")
    prompts = load_prompts(workspace["test"], 3, 0.5)
    sampling = SamplingOptions(seed=1, num_inference_steps=3)
    first = generate_batch(model, processor, prompts[:1], "unconditioned", sampling, batch_seed=1)
    second = generate_batch(model, processor, prompts[1:2], "unconditioned", sampling, batch_seed=1)
    assert np.array_equal(first[0].codes["mix"], second[0].codes["mix"])
    # the same seed, prompt and steps reproduce a guided song exactly
    guided = [generate_batch(model, processor, prompts[:1], "guided", sampling, batch_seed=1)[0] for _ in range(2)]
    assert np.array_equal(guided[0].codes["mix"], guided[1].codes["mix"])
    frames = int(0.5 * model.config.frame_rate)
    assert first[0].codes["mix"].shape == (model.config.decoder.num_codebooks, frames)
    assert len(first[0].audio) == int(0.5 * model.config.sampling_rate)


def test_resgen_generate_refuses_guidance_on_a_precomputed_memory(workspace):
    model, _ = load_model_and_processor(workspace["model"], "cpu")
    memory = torch.zeros(1, 3, model.config.decoder.hidden_size)
    with pytest.raises(ValueError, match="encoder_outputs cannot be guided"):
        model.generate(encoder_outputs=memory, guidance_scale=3.0, num_inference_steps=2, duration_s=0.2)


def test_evaluate_cli_scores_a_resgen_folder_with_its_steps(workspace, capsys):
    output = workspace["root"] / "run"
    assert main(evaluate_argv(workspace, output, "--steps", "4")) == 0
    result = json.loads((output / "evaluation.json").read_text())
    assert result["settings"]["sampling"]["num_inference_steps"] == 4
    assert "--steps 4" in result["settings"]["command"]
    for system in SYSTEMS:
        assert math.isfinite(result["aggregate"][system]["tempo_bpm"]["mean"]), system
    capsys.readouterr()
    # the other decoder's knobs are refused by name, before anything loads
    assert main(evaluate_argv(workspace, output, "--top-k", "5")) == 2
    assert "--top-k is SongGen's token sampling" in capsys.readouterr().err
