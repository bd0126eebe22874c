"""Token patterns against the spec's §4 layouts, cell by cell (labels, generation masks, loss masks)."""

import pytest
import torch

from songgen_hf.modeling.patterns import (
    CodebookDelay,
    PatternTokenIds,
    get_token_pattern,
)

from .pattern_helpers import (
    ALL_PATTERNS,
    BOS,
    parse_layout,
    spec_codes,
    tracks_for,
    whole_steps,
)

# ---------------------------------------------------------------------------- §4 layouts, cell by cell
DELAY_LABELS = """
a b c E E E E
B a b c E E E
B B a b c E E
B B B a b c E
"""
DELAY_MASK_L7 = """
B . . . E E E
B B . . . E E
B B B . . . E
B B B B . . .
"""
SPEC_LABELS = {
    "mixed": DELAY_LABELS,
    "mixed_pro": DELAY_LABELS,
    "interleaving_A_V": """
a x b y c z E E E E E E E E
B B a x b y c z E E E E E E
B B B B a x b y c z E E E E
B B B B B B a x b y c z E E
""",
    "interleaving_V_A": """
x a y b z c E E E E E E E E
B B x a y b z c E E E E E E
B B B B x a y b z c E E E E
B B B B B B x a y b z c E E
""",
    "parallel_std": DELAY_LABELS
    + """
x y z E E E E
B x y z E E E
B B x y z E E
B B B x y z E
""",
    "parallel_A_V": """
a b c E E E E E
B a b c E E E E
B B a b c E E E
B B B a b c E E
B x y z E E E E
B B x y z E E E
B B B x y z E E
B B B B x y z E
""",
    "parallel_V_A": """
B a b c E E E E
B B a b c E E E
B B B a b c E E
B B B B a b c E
x y z E E E E E
B x y z E E E E
B B x y z E E E
B B B x y z E E
""",
    # frame t in stream t % S: S=2 -> stream 0 holds a c, stream 1 holds b
    "mixed_stream2": """
a c E E E E
B a c E E E
B B a c E E
B B B a c E
b E E E E E
B b E E E E
B B b E E E
B B B b E E
""",
    # S=4 -> one frame per stream, the fourth stream is empty (EOS right away)
    "mixed_stream4": """
a E E E E
B a E E E
B B a E E
B B B a E
b E E E E
B b E E E
B B b E E
B B B b E
c E E E E
B c E E E
B B c E E
B B B c E
E E E E E
B E E E E
B B E E E
B B B E E
""",
}
SPEC_LABELS["mixed_pro_stream2"] = SPEC_LABELS["mixed_stream2"]
# each track in two streams, accompaniment (a b c) above vocals (x y z)
SPEC_LABELS["parallel_stream2"] = SPEC_LABELS["mixed_stream2"] + SPEC_LABELS["mixed_stream2"].translate(
    str.maketrans("abc", "xyz")
)
INTERLEAVING_MASK = """
B . . . . . . E E E E E E
B B B . . . . . . E E E E
B B B B B . . . . . . E E
B B B B B B B . . . . . .
"""
STREAM_MASK_L6 = """
B . . E E E
B B . . E E
B B B . . E
B B B B . .
"""
STREAM_MASK_L5 = """
B . E E E
B B . E E
B B B . E
B B B B .
"""
SPEC_MASKS = {  # per-track mask length 7 (3 frames per track; 4 = whole steps for multi-stream)
    "mixed_stream2": STREAM_MASK_L6 * 2,
    "mixed_stream4": STREAM_MASK_L5 * 4,
    "mixed_pro_stream2": STREAM_MASK_L6 * 2,
    "parallel_stream2": STREAM_MASK_L6 * 4,
    "mixed": DELAY_MASK_L7,
    "mixed_pro": DELAY_MASK_L7,
    "parallel_std": DELAY_MASK_L7 + DELAY_MASK_L7,
    "interleaving_A_V": INTERLEAVING_MASK,
    "interleaving_V_A": INTERLEAVING_MASK,
    "parallel_A_V": """
B . . . E E E E
B B . . . E E E
B B B . . . E E
B B B B . . . E
B B . . . E E E
B B B . . . E E
B B B B . . . E
B B B B B . . .
""",
    "parallel_V_A": """
B B . . . E E E
B B B . . . E E
B B B B . . . E
B B B B B . . .
B . . . E E E E
B B . . . E E E
B B B . . . E E
B B B B . . . E
""",
}


@pytest.mark.parametrize("name", ALL_PATTERNS)
def test_labels_reproduce_spec_layout(name):
    pattern = get_token_pattern(name, num_codebooks=4)
    codes = {"mix": spec_codes("mix"), "accompaniment": spec_codes("accompaniment"), "vocals": spec_codes("vocals")}
    out = pattern.build_labels(*tracks_for(pattern, codes))
    expected = parse_layout(SPEC_LABELS[name])
    assert torch.equal(out.labels, expected)
    assert torch.equal(out.decoder_input_ids[..., 1:], expected[..., :-1])
    assert torch.equal(out.decoder_input_ids[..., 0], torch.full((1, pattern.num_rows), BOS))
    if pattern.has_auxiliary_vocal_targets:  # vocal labels: the mix's layout, frame-aligned with the mix
        assert torch.equal(out.vocal_labels, parse_layout(SPEC_LABELS[name].translate(str.maketrans("abc", "xyz"))))


@pytest.mark.parametrize("name", ALL_PATTERNS)
def test_generation_mask_reproduces_spec_layout(name):
    pattern = get_token_pattern(name, num_codebooks=4)
    expected = parse_layout(SPEC_MASKS[name])
    assert pattern.sequence_length(3) == expected.shape[-1]
    assert pattern.num_frames(expected.shape[-1]) == whole_steps(pattern, 3)
    assert torch.equal(pattern.generation_mask(1, expected.shape[-1]), expected)


def test_delay_mask_l10_from_spec():
    expected = parse_layout("""
B . . . . . . E E E
B B . . . . . . E E
B B B . . . . . . E
B B B B . . . . . .
""")
    assert torch.equal(get_token_pattern("mixed", 4).generation_mask(1, 10), expected)
    assert torch.equal(CodebookDelay(4, PatternTokenIds()).generation_mask(1, 10), expected)


def test_spec_loss_mask_mixed():
    out = get_token_pattern("mixed", 4).build_labels(spec_codes("mix"))
    expected = torch.tensor(
        [
            [1, 1, 1, 1, 0, 0, 0],
            [0, 1, 1, 1, 1, 0, 0],
            [0, 0, 1, 1, 1, 1, 0],
            [0, 0, 0, 1, 1, 1, 1],
        ],
        dtype=torch.bool,
    )[None]
    assert torch.equal(out.loss_mask, expected)
    assert torch.equal(out.loss_labels(), out.labels.masked_fill(~expected, -100))
