"""Held-out loss during SongGen training (``validation_data``): the training loss on songs it never trains on.

Why: on a corpus of a thousand songs the training loss keeps falling for epochs after what the model does with
prompts it has not seen stops improving, and a stage can even lose a control it had (a
dual-track songgen-tiny trained twelve passes over corpus v3 lost a quarter of its key exact on held-out prompts
while its training loss fell, and its held-out loss too).  A fixed held-out set, scored with exactly the loss the
optimiser sees, per codebook row, is the cheap signal for overfitting and stopping; with the control margins
below, it says which few checkpoints ``songgen evaluate`` should judge.

What makes it comparable from one step to the next:

* the same songs, the same crops (their position depends on the row, not on the epoch) and the same batches;
* the model in eval mode: no dropout, no condition dropout, no input token noise (all three are training-only);
* the codebook weights of the curriculum's end, not the step's, so a curriculum does not move the figure;
* every random stream restored afterwards, so validating changes neither the run nor an exact resume.

The loss alone misses what ``songgen evaluate`` measures.  With teacher forcing the frames in context already carry
the key and the tempo, so a model can learn to ignore *which* key or tempo it is asked for and still lower its
loss.  For models with musical controls the held-out set is therefore scored a second time with each control
moved to a wrong value, and the rise of the loss is logged as that control's *margin*:

* ``validation_key_margin``: the key moved a tritone (the furthest key, same mode);
* ``validation_tempo_margin``: the tempo times 1.5 below 120 BPM, divided by 1.5 from there (not a metrical
  multiple, and inside the corpus's range);
* ``validation_lyrics_margin``: each sung song's lyrics swapped for the next sung song's in its batch (a model
  that sings the words it is given predicts its vocal tokens worse with another song's words).  The
  words fail at the token model (the generated vocal track's words are at chance while the codec's
  round trip of the vocal stem keeps most of them), so this is the figure to watch in a run that tries.

Each margin also comes per codebook row (``validation_{control}_margin_rows``): a dual-track model's words
belong to its vocal rows, which the combined figure averages with the accompaniment's.

**Sung frames.**  Where the held-out records say when each syllable sounds (the synthetic corpus's syllable
timing, or the word timing ``songgen data prepare`` estimates), the voice is also scored where it sings:
``validation_sung_loss`` is the loss of the sung track's rows (``vocals``, or a single-track model's mix) over
the frames in which a syllable sounds, and ``validation_lyrics_margin_sung`` the lyrics margin over the same
cells, each with its ``_rows`` (None for rows of other tracks) and ``_tokens``.  The plain loss hides the voice:
for songgen-tiny the vocal track's first codebook cost 2.23 nats a token over all frames, most of them silent, and
3.58 / 3.82 (the two streams' rows) over sung frames, where a three-frame MLP on the same codes reaches 2.28 and
one that is also told the syllable 2.09.  A run that is to teach the
words must lower these two figures, and it is the first place to look when it does not.

Only songs whose caption names the control count.  A margin that shrinks while the loss falls is a model
learning to ignore the control, as on three checkpoints of a dual-track songgen-tiny
(96 held-out songs): the held-out loss fell 4.303 -> 4.231 -> 4.229 while the key margin fell 0.026 -> 0.022
-> 0.022 and the key exact of its songs 0.74 -> 0.61 -> 0.55; the tempo margin rose 0.012 -> 0.013 -> 0.013
with its tempo Acc1.  Compare margins within one run: different models
spread their loss over different tokens.  Even there it is a flag, not a measure: a continued run's
key margin fell 0.021 -> 0.018 while the key exact of its songs held (0.67 -> 0.66); judge with ``songgen evaluate``.

With several processes each scores every ``world``-th batch and the sums are reduced: the figure is the
same as one process's.
"""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch
import torch.nn.functional as F

from songgen_hf.modeling.songgen.configuration_songgen import MINOR_OFFSET, UNKNOWN_KEY
from songgen_hf.modeling.songgen.loss import combine_row_losses, row_token_counts
from songgen_hf.training.songgen_data import EncodedSongDataset

TEMPO_SHIFT = 1.5
TEMPO_SHIFT_UP_BELOW_BPM = 120.0


def wrong_key(key_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each known key moved a tritone in its own mode; returns the new ids and which songs had a key."""
    known = key_ids < UNKNOWN_KEY
    minor = key_ids >= MINOR_OFFSET
    moved = (key_ids % MINOR_OFFSET + 6) % MINOR_OFFSET + MINOR_OFFSET * minor
    return torch.where(known, moved, key_ids), known


def wrong_tempo(tempo_bpm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each known tempo times 1.5 (below 120 BPM) or divided by 1.5; returns the new tempi and which songs had one."""
    known = ~torch.isnan(tempo_bpm)
    moved = torch.where(tempo_bpm < TEMPO_SHIFT_UP_BELOW_BPM, tempo_bpm * TEMPO_SHIFT, tempo_bpm / TEMPO_SHIFT)
    return torch.where(known, moved, tempo_bpm), known


def wrong_lyrics(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each sung song's lyrics (ids and mask) replaced by the next sung song's, cyclically; returns the new ids,
    mask and which songs had lyrics.  Instrumentals (``[START, STOP]`` only) keep theirs and count as unknown, and
    so does a lone sung song, which has no other lyrics to take."""
    known = mask.sum(dim=1) > 2
    rows = known.nonzero().flatten()
    if len(rows) < 2:
        return ids, mask, torch.zeros_like(known)
    source = rows.roll(-1)
    moved_ids, moved_mask = ids.clone(), mask.clone()
    moved_ids[rows], moved_mask[rows] = ids[source], mask[source]
    return moved_ids, moved_mask, known


#: control name in the margin's key -> (the batch entries it lives in, how they are made wrong: entries in,
#: the moved entries and which songs had the control out)
CONTROL_MARGINS = {
    "key": (("music_key_ids",), wrong_key),
    "tempo": (("tempo_bpm",), wrong_tempo),
    "lyrics": (("lyrics_input_ids", "lyrics_attention_mask"), wrong_lyrics),
}


@contextlib.contextmanager
def preserved_random_state():
    """Run a block without moving torch's (CPU and CUDA), numpy's or Python's global random streams."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def sung_row_sums(logits: torch.Tensor, labels: torch.Tensor, cells: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy summed per row over the ``cells`` mask only (unweighted), and the cell counts, each ``(rows,)``.

    ``labels`` and ``cells`` are ``(batch, rows, length)``; ``logits`` ``(batch * rows, length, vocab)`` as the model
    returns them.  Only the selected cells' logits are gathered, so the cost follows the sung frames, not the
    vocabulary times the whole batch."""
    rows = labels.shape[1]
    logits = logits.view(-1, rows, *logits.shape[-2:])
    row_of_cell = torch.arange(rows, device=labels.device).view(1, rows, 1).expand_as(labels)[cells]
    losses = F.cross_entropy(logits[cells].float(), labels[cells], reduction="none")
    sums = torch.zeros(rows, device=labels.device).index_add_(0, row_of_cell, losses)
    return sums, torch.bincount(row_of_cell, minlength=rows)


class HeldOutLoss:
    """The teacher-forced loss of a model on a fixed set of encoded songs.

    ``dataset`` is an :class:`EncodedSongDataset` (its crops are fixed by row); ``collator`` the training
    collator; ``batch_size`` songs per forward."""

    def __init__(self, dataset: EncodedSongDataset, collator, batch_size: int):
        if len(dataset) == 0:
            raise ValueError("validation_data has no rows the model can be scored on.")
        self.dataset = dataset
        self.collator = collator
        self.batches = [
            list(range(start, min(start + batch_size, len(dataset)))) for start in range(0, len(dataset), batch_size)
        ]

    def _batch_sums(self, model, indices: list[int], device, autocast) -> dict[str, torch.Tensor]:
        """Per-row loss sums and token counts of one batch, and each control's wrong-value sums and known counts."""
        items = [self.dataset[i] for i in indices]
        batch = self.collator(items)
        batch = {name: value.to(device) for name, value in batch.items()}
        batch.pop("vocal_labels", None)  # the auxiliary vocal heads are training's business, not the song's loss
        sung = self.collator.sung_cells(items).to(device)
        with autocast():
            output = model(**batch)
        sums = {"loss": output.codebook_loss_sums.detach().float(), "tokens": output.codebook_token_counts}
        sums["sung_loss"], sums["sung_tokens"] = sung_row_sums(output.logits.detach(), batch["labels"], sung)
        for control, (entries, make_wrong) in CONTROL_MARGINS.items():
            if not all(entry in batch for entry in entries):
                continue
            *moved, known = make_wrong(*(batch[entry] for entry in entries))
            sums[f"{control}_tokens"] = row_token_counts(batch["labels"][known])
            sums[f"{control}_rise"] = torch.zeros_like(sums["loss"])
            if control == "lyrics":  # the words can only matter where they are sung
                known_sung = sung & known.view(-1, 1, 1)
                sums["lyrics_sung_tokens"] = known_sung.sum(dim=(0, 2))
                sums["lyrics_sung_rise"] = torch.zeros_like(sums["loss"])
            if known.any():  # songs without the control score the same both times: they add nothing to the margin
                with autocast():
                    wrong = model(**{**batch, **dict(zip(entries, moved))})
                sums[f"{control}_rise"] = wrong.codebook_loss_sums.detach().float() - sums["loss"]
                if control == "lyrics":
                    right_sums, _ = sung_row_sums(output.logits.detach(), batch["labels"], known_sung)
                    wrong_sums, _ = sung_row_sums(wrong.logits.detach(), batch["labels"], known_sung)
                    sums["lyrics_sung_rise"] = wrong_sums - right_sums
        return sums

    @torch.no_grad()
    def __call__(
        self,
        model,
        codebook_weights: torch.Tensor,
        num_codebooks: int,
        rank: int = 0,
        world: int = 1,
        reduce=None,
        autocast=contextlib.nullcontext,
    ) -> dict:
        """``{"validation_loss", "validation_codebook_losses", "validation_tokens", "validation_songs"}``, plus
        ``validation_key_margin`` / ``validation_tempo_margin`` for a model with those controls and
        ``validation_lyrics_margin`` where sung songs share a batch, each with its ``_rows``; where songs have
        syllable timing, ``validation_sung_loss`` and (sung songs sharing a batch) ``validation_lyrics_margin_sung``,
        each with ``_rows`` and ``_tokens``.

        ``model`` is the bare (unwrapped) model; ``reduce(tensor)`` sums a tensor over processes (identity
        for one).  The model's train/eval mode is restored afterwards."""
        device = next(model.parameters()).device
        was_training = model.training
        totals: dict[str, torch.Tensor] = {}
        model.eval()
        try:
            with preserved_random_state():
                for number, indices in enumerate(self.batches):
                    if number % world != rank:
                        continue
                    for name, value in self._batch_sums(model, indices, device, autocast).items():
                        totals[name] = totals[name] + value if name in totals else value
                if not totals:  # more processes than batches: this one scored nothing but still joins the reductions
                    shapes = self._batch_sums(model, self.batches[0], device, autocast)
                    totals = {name: torch.zeros_like(value) for name, value in shapes.items()}
        finally:
            model.train(was_training)
        if reduce is not None:
            totals = {name: reduce(totals[name]) for name in sorted(totals)}  # the same order on every process
        weights = codebook_weights.to(totals["loss"])
        means = totals["loss"] / totals["tokens"].clamp(min=1)
        record = {
            "validation_loss": combine_row_losses(means, weights, num_codebooks).item(),
            "validation_codebook_losses": [round(v, 6) for v in means.tolist()],
            "validation_tokens": int(totals["tokens"].sum()),
            "validation_songs": len(self.dataset),
        }
        for control in CONTROL_MARGINS:
            if f"{control}_rise" in totals and totals[f"{control}_tokens"].sum() > 0:
                rise = totals[f"{control}_rise"] / totals[f"{control}_tokens"].clamp(min=1)
                record[f"validation_{control}_margin"] = combine_row_losses(rise, weights, num_codebooks).item()
                record[f"validation_{control}_margin_rows"] = [round(v, 6) for v in rise.tolist()]
        record.update(_sung_record(totals, "sung_loss", "sung_tokens", "validation_sung_loss"))
        record.update(_sung_record(totals, "lyrics_sung_rise", "lyrics_sung_tokens", "validation_lyrics_margin_sung"))
        return record


def _sung_record(totals: dict[str, torch.Tensor], sums: str, counts: str, name: str) -> dict:
    """A per-row figure over sung cells: ``name`` (the mean over the rows that have sung cells, each row equal) and
    ``name_rows`` (None for rows without: another track's, or a song without timing); nothing where no cell is sung."""
    if counts not in totals or totals[counts].sum() == 0:
        return {}
    has = totals[counts] > 0
    means = totals[sums] / totals[counts].clamp(min=1)
    rows = [round(v, 6) if present else None for v, present in zip(means.tolist(), has.tolist())]
    return {name: means[has].mean().item(), f"{name}_rows": rows, f"{name}_tokens": int(totals[counts].sum())}


__all__ = [
    "CONTROL_MARGINS",
    "HeldOutLoss",
    "preserved_random_state",
    "sung_row_sums",
    "wrong_key",
    "wrong_lyrics",
    "wrong_tempo",
]
