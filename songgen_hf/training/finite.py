"""Training stops, naming the step and the value, once its loss or weights stop being finite.

A run whose learning rate is far too high (``train-singer --learning-rate inf`` once did it) turns every weight into
NaN within a step and would go on to save them: a model of NaNs that loads and "generates" without a word.  Each
trainer checks after every optimiser step, in one device sync, and looks for the culprit only when something is
wrong; the last checkpoint written before stays as it was.
"""

from __future__ import annotations

import math

import torch


def check_finite_training(model, loss, step: int, fix: str = "lower the learning rate") -> None:
    """``ValueError`` (the step, the loss, the first non-finite weight) when ``loss`` (a tensor or a number) or
    one of ``model``'s trained parameters is NaN or infinite after optimiser step ``step`` (the frozen ones do not
    change, and may be held in a form such as int8 that has no ``isfinite``)."""
    parameters = [(name, parameter) for name, parameter in model.named_parameters() if parameter.requires_grad]
    flags = [torch.isfinite(parameter).all() for _, parameter in parameters]
    if isinstance(loss, torch.Tensor):
        flags.append(torch.isfinite(loss.detach()).all())
    elif not math.isfinite(float(loss)):
        flags.append(torch.tensor(False))
    if not flags or bool(torch.stack([flag.cpu() for flag in flags]).all()):
        return
    value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
    message = f"Training stopped at step {step}: "
    if not math.isfinite(value):
        message += f"the loss is {value}."
    else:
        name = next(name for (name, _), flag in zip(parameters, flags) if not bool(flag))
        message += f"the weight {name} holds non-finite values (loss {value:.4g})."
    raise ValueError(
        f"{message} Nothing more is saved (the last checkpoint is kept); {fix}, or resume from the last checkpoint."
    )


__all__ = ["check_finite_training"]
