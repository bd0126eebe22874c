"""A progress bar for SongGen's ``generate()``, and the stages that generation reports to it.

``GenerationProgress`` counts decoder steps and follows the job's later stages on the same bar; ``report_stage`` is
how generation tells any streamer which stage runs.  Nothing here knows the model, so every part of generation may
report to it.
"""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm
from transformers.generation.streamers import BaseStreamer

# A progress bar for ``generate()``: one tick per decoder step.
#
# ``GenerationProgress`` is a transformers ``BaseStreamer``, so it plugs into any ``generate`` call
# (``model.generate(..., streamer=bar)``, or ``pipe(..., streamer=bar)`` for the text-to-song
# pipeline).  The library hands a streamer the forced prefix once, then the tokens of every step;
# the bar counts steps only, which is what a song's length is made of, whatever the track pattern.
#
# ``expected_decoder_steps`` (beside ``generate``, in ``generation_songgen``) turns a duration into the number of
# steps SongGen will take at most, for the bar's total; a song that ends early just leaves the bar short of it.


class GenerationProgress(BaseStreamer):
    """Counts decoder steps of ``generate`` on a tqdm bar, and follows the rest of the job on the same bar.

    Args:
        total: expected number of steps (see :func:`expected_decoder_steps`); ``None`` shows a
            counter without a percentage.  When generation runs longer the total grows with it.
        desc: the bar's label.
        disable: hide the bar (the step count is still kept in :attr:`steps`).
        file: where the bar is drawn (default stderr, so stdout stays parseable).
        lines: instead of a bar, one line per stage (``generating: window 2/6``, ``singing: window 3/6``,
            ``decoding audio``...): for logs and terminals that do not redraw a bar.
        keep_open: the bar outlives ``end()`` (the decoder's end), so that the stages after it (the told singer,
            the codec's decode, the caller's own ``stage("writing")``) show on it; the caller calls :meth:`close`.
        **tqdm_kwargs: anything else tqdm accepts (``leave``, ``mininterval``, ...).

    ``generate`` reports its stages through :meth:`stage` (``report_stage``): a song longer than the window
    shows ``generating: window i/n`` while its steps count, then ``singing: window i/n`` (the bar counts the
    singer's windows), then ``decoding audio``.  Without ``keep_open`` one instance can serve several
    ``generate`` calls: ``end()`` closes the bar and the next call opens a fresh one.
    """

    def __init__(
        self,
        total: int | None = None,
        desc: str = "generating",
        disable: bool = False,
        file=None,
        lines: bool = False,
        keep_open: bool = False,
        **tqdm_kwargs,
    ):
        if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 0):
            raise ValueError(f"total must be a non-negative int or None, got {total!r}.")
        self.total = total
        self.desc = desc
        self.disable = disable
        self.file = file
        self.lines = lines
        self.keep_open = keep_open
        self.tqdm_kwargs = {"unit": "step", "dynamic_ncols": True, **tqdm_kwargs}
        self.steps = 0
        self.stages: list[str] = []  # every stage reported, in order ("generating: window 1/6", ...)
        self._bar = None
        self._prefix_seen = False
        self._stage = None

    def _open(self) -> None:
        if self._bar is None and not self.lines:
            self._bar = tqdm(
                total=self.total, desc=self.desc, disable=self.disable, file=self.file or sys.stderr, **self.tqdm_kwargs
            )

    def put(self, value) -> None:
        # generate() first pushes the whole forced prefix (BOS column, audio prompt); that is
        # not a step of work, so the first push only opens the bar.
        if not self._prefix_seen:
            self._prefix_seen = True
            if self._bar is None:
                self.steps = 0
            self._open()
            return
        self.steps += 1
        if self._bar is not None and self._stage in (None, "generating"):
            if self._bar.total is not None and self.steps > self._bar.total:
                self._bar.total = self.steps
            self._bar.update(1)

    def stage(self, name: str, index: int = 1, total: int = 1) -> None:
        """The job's stage: ``name`` (``"generating"``, ``"singing"``, ``"decoding audio"``, ``"writing"``...),
        window ``index`` of ``total`` where it runs window by window."""
        label = f"{name}: window {index}/{total}" if total > 1 else name
        self.stages.append(label)
        self._stage = name
        if self.disable:
            return
        if self.lines:
            print(label, file=self.file or sys.stderr, flush=True)
            return
        self._open()
        if self._bar.disable:  # tqdm's own choice (disable=None where stderr is no terminal)
            return
        self._bar.set_description(label, refresh=False)
        if name == "singing":  # the bar counts the singer's windows from here
            if self._bar.unit != "window":
                self._bar.unit = "window"
                self._bar.reset(total=total)
            self._bar.n = index - 1
        elif name != "generating" and self._bar.total is not None:
            self._bar.n = self._bar.total  # what came before is done
        self._bar.refresh()

    def end(self) -> None:
        self._prefix_seen = False
        if not self.keep_open:
            self.close()

    def close(self) -> None:
        """Close the bar (the job is done)."""
        if self._bar is not None:
            if not self._bar.disable and self._stage not in (None, "generating") and self._bar.total is not None:
                self._bar.n = self._bar.total
                self._bar.refresh()
            self._bar.close()
        self._bar = None
        self._stage = None


def report_stage(streamer: Any, name: str, index: int = 1, total: int = 1) -> None:
    """Tell a streamer that follows the whole job (``GenerationProgress``: one bar from the first window to the
    written file) which stage runs: ``stage(name, index, total)``, e.g. ``("singing", 3, 6)``, where it has one."""
    stage = getattr(streamer, "stage", None)
    if callable(stage):
        stage(name, index, total)


__all__ = [
    "report_stage",
    "GenerationProgress",
]
