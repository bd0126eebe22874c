"""What could a model know about the next sung frame?  A small local predictor as the yardstick for SongGen.

    python recipes/songgen_tiny/probe_local_predictor.py ENCODED_TRAIN ENCODED_HELD_OUT [--syllables]
        [--lags 3] [--epochs 2] [--decode MODEL --songs 38] [--output local.json]

An MLP sees only the previous ``--lags`` frames of the vocal stem's first three codebooks (their embeddings side by
side) and where the frame lies in its sung note (frames since the onset, frames to the end: the records' syllable
timing); with ``--syllables`` also which syllable is sung there.  It predicts the frame's first three codebooks,
each also seeing the codebooks before it in the same frame (as a delay pattern's rows do).  Trained on the sung
frames of ``ENCODED_TRAIN`` and scored on those of ``ENCODED_HELD_OUT``: the held-out NLL per codebook is directly
comparable to a SongGen run's ``validation_sung_loss_rows`` (its vocal rows; the same codes and sung frames, but
the first ``--lags`` of each song).

Session 42: this predictor reaches 2.28 / 4.05 / 5.41 nats without the syllable and 2.09 / 3.89 / 5.32 with it,
where songgen-tiny v12 scores 4.34 on the first codebook and session 39's guided model 3.58.  With ``--decode``,
the held-out songs' vocal codes are decoded by MODEL's codec with the predictor's argmax in place of the first
three codebooks (the true past at every frame, as ``probe_one_step_words.py`` does for SongGen) and heard by the
evaluation's recogniser: such a local prediction keeps +0.092 of the real codes' +0.123 above chance (SongGen
ga5's: +0.014), so the codes themselves are learnable.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from songgen_hf.processing.lyrics_alignment import frame_targets, syllable_timing
from songgen_hf.training.songgen_data import load_encoded_datasets

CODEBOOKS = 3
MAX_OFFSET = 31  # frames since the onset / to the end, clipped


def sung_song(record: dict, frame_rate: float) -> dict | None:
    """One record's vocal codes (all, and the first three ``(3, T)``), sung-frame mask and per-frame note offsets
    and syllables, or None."""
    if record.get("codes_vocals") is None:
        return None
    full_codes = torch.as_tensor(record["codes_vocals"])
    codes = full_codes[:CODEBOOKS]
    timing = syllable_timing(record["attributes"]) if (record.get("lyrics") or "").strip() else None
    if timing is None:
        return None
    # which syllable sounds at each frame, by the rule the guided attention's targets use (NaN: none)
    number = frame_targets(list(range(len(timing["syllables"]))), timing["note_onsets_s"],
                           timing["note_durations_s"], frame_rate, codes.shape[-1])
    sung = np.isfinite(number)
    if not sung.any():
        return None
    since, until = np.zeros(len(sung), np.int64), np.zeros(len(sung), np.int64)
    syllable = np.full(len(sung), "", dtype=object)
    for index, text in enumerate(timing["syllables"]):
        frames = np.nonzero(number == index)[0]
        if len(frames):
            since[frames] = np.minimum(frames - frames[0], MAX_OFFSET)
            until[frames] = np.minimum(frames[-1] - frames, MAX_OFFSET)
            syllable[frames] = text
    return {"codes": codes, "full_codes": full_codes, "sung": sung, "since": since, "until": until,
            "syllable": syllable, "lyrics": record["lyrics"]}


class LocalPredictor(nn.Module):
    """Previous frames' codes (side by side) + the note offsets (+ the syllable) -> the next frame's codebooks."""

    def __init__(self, lags: int, num_syllables: int, width: int = 256, hidden: int = 1024, codebook_size: int = 1024):
        super().__init__()
        self.lags, self.use_syllables = lags, num_syllables > 0
        self.codes = nn.ModuleList(nn.Embedding(codebook_size, width) for _ in range(CODEBOOKS))
        self.since, self.until = nn.Embedding(MAX_OFFSET + 1, width), nn.Embedding(MAX_OFFSET + 1, width)
        self.syllables = nn.Embedding(num_syllables + 1, width) if self.use_syllables else None  # 0: unseen
        self.body = nn.Sequential(nn.Linear(width * (lags + 1), hidden), nn.GELU(),
                                  nn.Linear(hidden, hidden), nn.GELU())
        self.heads = nn.ModuleList(nn.Linear(hidden + width, codebook_size) for _ in range(CODEBOOKS))

    def forward(self, past: torch.Tensor, since, until, syllables, target: torch.Tensor) -> list[torch.Tensor]:
        """``past`` ``(N, lags, 3)``, ``target`` ``(N, 3)`` (the codebooks before each head, teacher-forced):
        the logits of each codebook."""
        frames = [sum(table(past[:, lag, k]) for k, table in enumerate(self.codes)) for lag in range(self.lags)]
        where = self.since(since) + self.until(until)
        if self.use_syllables:
            where = where + self.syllables(syllables)
        hidden = self.body(torch.cat([*frames, where], dim=-1))
        earlier, logits = torch.zeros_like(where), []
        for k, head in enumerate(self.heads):
            logits.append(head(torch.cat([hidden, earlier], dim=-1)))
            earlier = earlier + self.codes[k](target[:, k])
        return logits


def frame_examples(songs: list[dict], lags: int, vocabulary: dict[str, int]) -> dict[str, torch.Tensor]:
    """The sung frames with a full past of ``lags`` frames, as tensors."""
    parts: dict[str, list] = {"past": [], "since": [], "until": [], "syllables": [], "target": [], "song": []}
    for number, song in enumerate(songs):
        frames = np.nonzero(song["sung"])[0]
        frames = torch.as_tensor(frames[frames >= lags])
        codes = song["codes"]
        parts["past"].append(torch.stack([codes[:, frames - lag - 1].T for lag in range(lags)], dim=1))
        parts["since"].append(torch.as_tensor(song["since"])[frames])
        parts["until"].append(torch.as_tensor(song["until"])[frames])
        parts["syllables"].append(torch.tensor([vocabulary.get(song["syllable"][f], 0) for f in frames.tolist()]))
        parts["target"].append(codes[:, frames].T)
        parts["song"].append(torch.full((len(frames),), number))
    return {name: torch.cat(values) for name, values in parts.items()}


def nll_per_codebook(model: LocalPredictor, examples: dict, batch: int = 4096) -> list[float]:
    total = torch.zeros(CODEBOOKS)
    with torch.no_grad():
        for start in range(0, len(examples["target"]), batch):
            part = {name: value[start : start + batch] for name, value in examples.items()}
            logits = model(part["past"], part["since"], part["until"], part["syllables"], part["target"])
            total += torch.stack([nn.functional.cross_entropy(l, part["target"][:, k], reduction="sum")
                                  for k, l in enumerate(logits)])
    return (total / len(examples["target"])).tolist()


def train_predictor(train: dict, held_out: dict, lags: int, num_syllables: int, epochs: int, seed: int):
    torch.manual_seed(seed)
    model = LocalPredictor(lags, num_syllables)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    history = []
    for epoch in range(epochs):
        model.train()
        for batch in torch.randperm(len(train["target"])).split(512):
            logits = model(train["past"][batch], train["since"][batch], train["until"][batch],
                           train["syllables"][batch], train["target"][batch])
            loss = sum(nn.functional.cross_entropy(l, train["target"][batch][:, k]) for k, l in enumerate(logits))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        model.eval()
        history.append([round(v, 4) for v in nll_per_codebook(model, held_out)])
        print(f"epoch {epoch + 1}: held-out sung-frame NLL per codebook {history[-1]}", flush=True)
    return model, history


def decoded_words(model: LocalPredictor, songs: list[dict], examples: dict, codec, sampling_rate: int) -> dict:
    """Recall above chance of each song's vocal codes decoded as they are and with the predictor's argmax for
    the first three codebooks at its sung frames."""
    from songgen_hf.evaluation.intelligibility import hear_versions

    made = []
    for number, song in enumerate(songs):
        part = {name: value[examples["song"] == number] for name, value in examples.items()}
        with torch.no_grad():
            logits = model(part["past"], part["since"], part["until"], part["syllables"], part["target"])
        frames = np.nonzero(song["sung"])[0]
        frames = frames[frames >= model.lags]
        predicted = song["full_codes"].clone()
        predicted[:CODEBOOKS, frames] = torch.stack([l.argmax(-1) for l in logits])
        made.append((song["lyrics"], {"real codes": song["full_codes"][None], "local argmax": predicted[None]}))
    return hear_versions(codec, sampling_rate, made, ["real codes", "local argmax"], verbose=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("train", type=Path, help="encoded training songs (songgen data encode, with vocal stems)")
    parser.add_argument("held_out", type=Path, help="encoded held-out songs, same codec")
    parser.add_argument("--syllables", action="store_true", help="also tell the predictor which syllable is sung")
    parser.add_argument("--lags", type=int, default=3, help="previous frames seen")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--decode", type=Path, help="a SongGen folder whose codec decodes the held-out songs")
    parser.add_argument("--songs", type=int, default=38, help="held-out sung songs decoded with --decode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.lags < 1 or args.epochs < 1:
        raise SystemExit("--lags and --epochs must be at least 1.")
    folders = [load_encoded_datasets(str(folder), (16000, 50)) for folder in (args.train, args.held_out)]
    train_songs, held_songs = ([song for song in map(lambda r: sung_song(r, 50.0), data) if song] for data in folders)
    if not train_songs or not held_songs:
        raise SystemExit("Both folders need sung songs with vocal stems and syllable timing (the synthetic corpus).")
    vocabulary = {}
    if args.syllables:
        names = sorted({s for song in train_songs for s in song["syllable"] if s})
        vocabulary = {name: index + 1 for index, name in enumerate(names)}
    train, held_out = (frame_examples(songs, args.lags, vocabulary) for songs in (train_songs, held_songs))
    print(f"{len(train['target'])} training and {len(held_out['target'])} held-out sung frames", flush=True)
    model, history = train_predictor(train, held_out, args.lags, len(vocabulary), args.epochs, args.seed)
    report = {"train": str(args.train), "held_out": str(args.held_out), "syllables": args.syllables,
              "lags": args.lags, "epochs": args.epochs, "held_out_nll_per_codebook": history}
    if args.decode:
        from songgen_hf import SongGenForConditionalGeneration

        songgen = SongGenForConditionalGeneration.from_pretrained(args.decode).eval()
        subset = [song for song in held_songs if len(song["lyrics"].split()) >= 2][: args.songs]
        examples = frame_examples(subset, args.lags, vocabulary)
        report["words"] = decoded_words(model, subset, examples, songgen.audio_encoder, songgen.config.sampling_rate)
    if args.output:
        args.output.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
