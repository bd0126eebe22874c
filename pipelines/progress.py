"""A progress bar for ``generate()``: one tick per decoder step.

``GenerationProgress`` is a transformers ``BaseStreamer``, so it plugs into any ``generate`` call
(``model.generate(..., streamer=bar)``, or ``pipe(..., streamer=bar)`` for the text-to-song
pipeline).  The library hands a streamer the forced prefix once, then the tokens of every step;
the bar counts steps only, which is what a song's length is made of, whatever the track pattern.

``expected_decoder_steps`` turns a duration into the number of steps SongGen will take at most,
for the bar's total; a song that ends early just leaves the bar short of it.
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm
from transformers.generation.streamers import BaseStreamer


class GenerationProgress(BaseStreamer):
    """Counts decoder steps of ``generate`` on a tqdm bar.

    Args:
        total: expected number of steps (see :func:`expected_decoder_steps`); ``None`` shows a
            counter without a percentage.  When generation runs longer the total grows with it.
        desc: the bar's label.
        disable: hide the bar (the step count is still kept in :attr:`steps`).
        file: where the bar is drawn (default stderr, so stdout stays parseable).
        **tqdm_kwargs: anything else tqdm accepts (``leave``, ``mininterval``, ...).

    One instance can serve several ``generate`` calls: ``end()`` closes the bar and the next
    call opens a fresh one.
    """

    def __init__(
        self, total: int | None = None, desc: str = "generating", disable: bool = False, file=None, **tqdm_kwargs
    ):
        if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 0):
            raise ValueError(f"total must be a non-negative int or None, got {total!r}.")
        self.total = total
        self.desc = desc
        self.disable = disable
        self.file = file
        self.tqdm_kwargs = {"unit": "step", "dynamic_ncols": True, **tqdm_kwargs}
        self.steps = 0
        self._bar = None
        self._prefix_seen = False

    def put(self, value) -> None:
        # generate() first pushes the whole forced prefix (BOS column, audio prompt); that is
        # not a step of work, so the first push only opens the bar.
        if not self._prefix_seen:
            self._prefix_seen = True
            self.steps = 0
            self._bar = tqdm(
                total=self.total, desc=self.desc, disable=self.disable, file=self.file or sys.stderr, **self.tqdm_kwargs
            )
            return
        self.steps += 1
        if self._bar is not None:
            if self._bar.total is not None and self.steps > self._bar.total:
                self._bar.total = self.steps
            self._bar.update(1)

    def end(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar = None
        self._prefix_seen = False


def expected_decoder_steps(model, duration_s: float | None = None, max_new_tokens: int | None = None) -> int:
    """Upper bound on the decoder steps ``model.generate`` takes for this request.

    Mirrors how SongGen's ``generate`` picks its length: ``duration_s`` (argument, else the
    model's ``generation_config.duration_s``), else ``max_new_tokens``, else the default
    duration (at most the model's longest song).  Only a bar's total depends on it, so an estimate
    that is off does no harm.
    """
    from songgen_hf.modeling.songgen.generation import DEFAULT_DURATION_S
    from songgen_hf.modeling.songgen.generation_arguments import max_duration_s

    pattern = model.pattern
    prefix = pattern.forced_prefix_length(pattern.generation_mask(1, 1))
    generation_config = getattr(model, "generation_config", None)
    if duration_s is None:
        duration_s = getattr(generation_config, "duration_s", None)
    if duration_s is None:
        if max_new_tokens is None:
            max_new_tokens = getattr(generation_config, "max_new_tokens", None)
        if max_new_tokens is not None:
            return int(max_new_tokens)
        duration_s = min(DEFAULT_DURATION_S, max_duration_s(model.config))
    frames = max(1, int(round(float(duration_s) * model.config.frame_rate)))
    return max(0, pattern.sequence_length(frames) - max(1, prefix))


__all__ = ["GenerationProgress", "expected_decoder_steps"]
