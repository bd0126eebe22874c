"""A fixed tiny model and seed give the codes recorded before SongGen's model files were split by concept.

``data/codes_before_split.json`` holds the codes the branch point wrote: SongGen on a one-track, a dual-track and a
multi-stream pattern, the told singer's fill, and ResGen's masked decoding with and without guidance.  Moving code
between files changes no song; a change that means to change songs records the file anew with ``record()``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

RECORDED = Path(__file__).parent / "data" / "codes_before_split.json"
PATTERNS = ("mixed_pro", "interleaving_A_V", "parallel_stream2")


def songgen_codes(pattern: str) -> list:
    from songgen_hf.testing import dummy_generation_inputs, tiny_songgen_model

    model = tiny_songgen_model(pattern, seed=0)
    torch.manual_seed(1)
    inputs = dummy_generation_inputs(model)
    out = model.generate(**inputs, max_new_tokens=20, return_dict_in_generate=True, decode_audio=False)
    return out.sequences.tolist()


def singer_codes() -> list:
    from songgen_hf.modeling.songgen import SongGenSinger, SongGenSingerConfig

    torch.manual_seed(0)
    config = SongGenSingerConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, codebook_size=64)
    singer = SongGenSinger(config).eval()
    context = torch.randint(0, 64, (2, 30))
    units = torch.randint(0, 5, (2, config.unit_rows, 30))
    return singer.fill(context, units, temperature=1.0, generator=torch.Generator().manual_seed(3)).tolist()


def resgen_codes(guidance_scale: float | None) -> list:
    from songgen_hf import ResGenForConditionalGeneration
    from songgen_hf.testing import dummy_resgen_inputs, tiny_resgen_config

    torch.manual_seed(0)
    model = ResGenForConditionalGeneration(tiny_resgen_config()).eval()
    out = model.generate(
        **dummy_resgen_inputs(),
        num_inference_steps=4,
        duration_s=0.5,
        guidance_scale=guidance_scale,
        generator=torch.Generator().manual_seed(0),
        decode_audio=False,
    )
    return out.sequences.tolist()


CASES = {
    **{f"songgen {pattern}": (songgen_codes, pattern) for pattern in PATTERNS},
    "singer": (singer_codes,),
    "resgen": (resgen_codes, None),
    "resgen guided": (resgen_codes, 3.0),
}


def record() -> None:
    """Write the codes of the installed package (run on the commit whose songs the file is to hold)."""
    codes = {name: function(*args) for name, (function, *args) in CASES.items()}
    RECORDED.write_text(json.dumps(codes, separators=(",", ":")) + "\n", encoding="utf-8")


@pytest.mark.parametrize("name", list(CASES))
def test_the_codes_are_the_ones_recorded(name):
    function, *args = CASES[name]
    assert function(*args) == json.loads(RECORDED.read_text(encoding="utf-8"))[name]
