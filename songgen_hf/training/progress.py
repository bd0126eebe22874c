"""A training run's progress as transformers' Trainer shows it: the step, the loss, steps per second and the time
left; a bar on a terminal, one line per logged step elsewhere (a log file, a CI job, a notebook's captured output).

The bar and the lines are the main process's alone; the records themselves go to ``train_log.jsonl`` as before.
"""

from __future__ import annotations

import sys
import time

# what each trainer's record calls its loss, in order of preference
LOSS_KEYS = ("loss", "generator_loss")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class TrainingProgress:
    """``update(step, record)`` after each optimisation step; ``close()`` at the end of the run.

    Args:
        total: the run's last step (``max_steps``).
        start: the step the run starts from (a resumed run's checkpoint).
        desc: the bar's label (``"finetune-lora"``, ``"train"``, ``"codec train"``).
        enabled: False for every process but the main one.
        lines: one line per logged step instead of a bar; by default when stderr is no terminal.
        file: where it is written (stderr).
    """

    def __init__(
        self,
        total: int,
        start: int = 0,
        desc: str = "training",
        enabled: bool = True,
        lines: bool | None = None,
        file=None,
    ):
        self.total, self.start, self.desc, self.enabled = total, start, desc, enabled
        self.file = file or sys.stderr
        self.lines = (not self.file.isatty()) if lines is None else lines
        self._began = time.perf_counter()
        self._bar = None
        self.printed: list[str] = []
        if enabled and not self.lines:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=start, desc=desc, unit="step", file=self.file, dynamic_ncols=True)

    def update(self, step: int, record: dict | None = None, logged: bool = True) -> None:
        """Step ``step`` is done; ``record`` its log record (its loss shown); ``logged``: it is a logging step (a
        line is printed only then)."""
        if not self.enabled:
            return
        loss = next((record[key] for key in LOSS_KEYS if record and record.get(key) is not None), None)
        if self._bar is not None:
            self._bar.update(step - self._bar.n)
            if loss is not None:
                self._bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            return
        if not logged:
            return
        elapsed = time.perf_counter() - self._began
        done = step - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.desc}: step {step}/{self.total}"]
        if loss is not None:
            parts.append(f"loss {loss:.4f}")
        parts.append(f"{rate:.2f} steps/s")
        if rate > 0:
            parts.append(f"{_duration((self.total - step) / rate)} left")
        line = " | ".join(parts)
        self.printed.append(line)
        print(line, file=self.file, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


__all__ = ["TrainingProgress"]
