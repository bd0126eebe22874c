"""Grow a trained SongGen's decoder without changing what it does: more layers (function-preserving depth growth),
or an input convolution (``input_convolution.py``, which starts at zero for the same reason).

Why: songgen-tiny's decoder is three layers of width 256, and several measurements (issue #19) point at its
capacity: following the beat competed with the key and the voice, and guided lyrics attention taught its heads to
read the words in order while the teacher-forced gain from the right lyrics stopped growing after 1 000 steps.
Training a deeper model from nothing throws away everything the small one learnt, so new layers are appended
after the trained ones and start as the identity:

* every decoder layer is pre-norm with residual connections, ``x + attn(norm(x))`` and ``x + ffn(norm(x))``;
  with the output projections of its self-attention, its cross-attention and its feed-forward block at zero, a
  layer adds nothing, and the model computes exactly what it computed before (up to float rounding);
* the other weights of a new layer start random as ``_init_weights`` gives them, so the first optimiser step sees
  non-zero gradients on the zeroed projections (their inputs are not zero) and the layer starts learning at once.

Appending (rather than interleaving) keeps the trained layers' inputs unchanged, so whatever they learnt to
read (the guided heads' lyric positions, the tempo) stays where it was, and the new layers start from the
richest state the model has.  Their cross-attention reads the same memory, so they can look up the lyrics too
(with guided lyrics attention on, their first heads are guided like every layer's).
"""

from __future__ import annotations

import copy

import torch

from songgen_hf.modeling.songgen.configuration_songgen import check_input_conv_kernel


def _rebuilt(model, change_decoder_config, is_new_weight):
    """A copy of ``model`` built from its config after ``change_decoder_config(config.decoder)``, every trained weight
    carried over; only weights for which ``is_new_weight(key)`` holds may be missing (they keep their init)."""
    config = copy.deepcopy(model.config)
    change_decoder_config(config.decoder)
    new = type(model)(config).to(dtype=model.dtype, device=model.device)
    missing, unexpected = new.load_state_dict(model.state_dict(), strict=False)
    moved = [key for key in missing if not is_new_weight(key)] + list(unexpected)
    if moved:
        raise RuntimeError(f"growing the decoder moved {moved[:3]}")
    new.generation_config = model.generation_config
    new.train(model.training)
    return new


def with_decoder_layers(model, num_layers: int):
    """A copy of ``model`` (a SongGen) whose decoder has ``num_layers`` layers, the new ones appended as identities.

    ``num_layers`` equal to the model's own returns it as is; fewer is refused (dropping trained layers changes
    the model)."""
    decoder_config = model.config.decoder
    current = decoder_config.num_hidden_layers
    if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
        raise ValueError(f"decoder_layers must be a positive whole number of layers, got {num_layers!r}.")
    if num_layers < current:
        raise ValueError(
            f"decoder_layers={num_layers} is fewer than the model's {current} layers; layers are only added "
            f"(appended as identities). Use {current} or more, or null to keep the model's depth."
        )
    if num_layers == current:
        return model
    added = tuple(f"decoder.model.layers.{index}." for index in range(current, num_layers))
    new = _rebuilt(model, lambda decoder: setattr(decoder, "num_hidden_layers", num_layers),
                   lambda key: key.startswith(added))
    with torch.no_grad():
        for layer in new.decoder.model.layers[current:]:
            for projection in (layer.self_attn.out_proj, layer.encoder_attn.out_proj, layer.fc2):
                projection.weight.zero_()
                if projection.bias is not None:
                    projection.bias.zero_()
    return new


def with_input_convolution(model, kernel_size: int):
    """A copy of ``model`` (a SongGen) whose decoder adds an input convolution over ``kernel_size`` steps, at zero.

    The model's own ``input_conv_kernel`` returns it as is; changing or removing a convolution it has is refused
    (either would change the model)."""
    check_input_conv_kernel(kernel_size)
    current = model.config.decoder.input_conv_kernel
    if kernel_size == current:
        return model
    if current:
        raise ValueError(f"input_conv_kernel={kernel_size}: this model already has an input convolution over {current} "
                         f"steps, which a run continues as it is; use {current}, or null to keep it.")
    new = _rebuilt(model, lambda decoder: setattr(decoder, "input_conv_kernel", kernel_size),
                   lambda key: key == "decoder.model.input_convolution.weight")
    with torch.no_grad():
        new.decoder.model.input_convolution.weight.zero_()  # _init_weights does too; the identity rests on it
    return new


__all__ = ["with_decoder_layers", "with_input_convolution"]
