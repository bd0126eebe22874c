"""Give a trained SongGen model the tempo's value (``tempo_control_rate``) without changing what it generates.

    python recipes/songgen_tiny/add_tempo_rate.py SOURCE_FOLDER OUTPUT_FOLDER

The rate is one more input of the tempo control's linear layer (``modeling/songgen/musical_controls.py``).
Its weight column starts at zero here, so the copy computes exactly what SOURCE computes (checked on a
random batch before anything is written) and fine-tuning starts from the trained model rather than from
nothing: a model trained from scratch on another corpus lost an eighth of its keys in session 24, a model
fine-tuned from v10 kept them.  Fine-tune the copy with ``songgen_v10_corpus_v3.yaml --set init_from=OUTPUT``.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch

from songgen_hf import SongGenForConditionalGeneration, SongGenProcessor
from songgen_hf.testing import dummy_inputs

TEMPO_WEIGHT = "decoder.model.musical_controls.tempo_projection.weight"


def with_tempo_rate(model: SongGenForConditionalGeneration) -> SongGenForConditionalGeneration:
    """A float32 copy of ``model`` whose tempo control also reads the rate, through a zero column."""
    decoder = model.config.decoder
    if not decoder.use_tempo_control:
        raise ValueError("The model has no tempo control (decoder.use_tempo_control=False); there is nothing to extend.")
    if getattr(decoder, "tempo_control_rate", False):
        raise ValueError("The model's tempo control already reads the rate (decoder.tempo_control_rate=True).")
    config = copy.deepcopy(model.config)
    config.decoder.tempo_control_rate = True
    extended = SongGenForConditionalGeneration(config).float().eval()
    state = {name: tensor.float() for name, tensor in model.state_dict().items()}
    weight = state[TEMPO_WEIGHT]
    state[TEMPO_WEIGHT] = torch.cat([weight, torch.zeros(weight.shape[0], 1)], dim=1)
    extended.load_state_dict(state, strict=True)
    extended.generation_config = copy.deepcopy(model.generation_config)
    return extended


def check_same_logits(source, extended, seed: int = 0) -> None:
    """Both models give the same logits on random well-formed inputs with a known and an unknown tempo."""
    batch = dummy_inputs(source.config, batch_size=2, seed=seed)  # whole sequences: the phase moves along them
    batch.pop("labels", None)
    batch["tempo_bpm"] = torch.tensor([66.0, float("nan")])
    with torch.no_grad():
        expected = source.float().eval()(**batch).logits
        got = extended(**batch).logits
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="a SongGen folder with a tempo control (e.g. songgen_hf/assets/songgen-tiny)")
    parser.add_argument("output", help="new folder for the copy (model and processor)")
    args = parser.parse_args(argv)
    output = Path(args.output)
    if output.exists() and any(output.iterdir()):
        parser.error(f"{output} is not empty; choose a new folder.")
    source = SongGenForConditionalGeneration.from_pretrained(args.source, dtype=torch.float32).eval()
    extended = with_tempo_rate(source)
    check_same_logits(source, extended)
    extended.save_pretrained(output)
    SongGenProcessor.from_pretrained(args.source).save_pretrained(output)
    print(f"wrote {output}: {args.source} with tempo_control_rate, same logits")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
