"""What the guidance tests compare generate() against: its first greedy step, and the condition memories of the
guided branches, so that a test can recompute the guided logits by hand."""

import torch


def greedy_first_step(model, conditions, **generate_kwargs):
    """generate() run greedily for one step (0.06 s) on ``conditions`` (codes only), and the fused condition
    memories ``(memory, mask)`` with everything and with the description and lyrics dropped (guidance's
    unconditional branch)."""
    out = model.generate(
        **conditions,
        duration_s=0.06,
        do_sample=False,
        return_dict_in_generate=True,
        decode_audio=False,
        **generate_kwargs,
    )
    with torch.no_grad():
        segments = model.encode_condition_segments(**conditions)  # the keys are its argument names
        conditional = model.fuse_condition_segments(segments)
        unconditional = model.fuse_condition_segments(segments, drop={"description": True, "lyrics": True})
    return out, conditional, unconditional
