"""Sung words by regression: the aligned singer predicting the codec's latent instead of its codes.

    python recipes/songgen_tiny/probe_latent_singer.py ENCODED_TRAIN [MORE_TRAIN ...] ENCODED_HELD_OUT
        --decode MODEL [--tell units,pitch,voice] [--codebooks 8] [--steps 1500] [--songs 38] [--output latent.json]

``probe_syllable_lookup.py`` shows that a syllable's codes, pasted from another song, are heard as well as the real
ones, while ``probe_aligned_singer.py`` (told the same timing) cannot predict them: on sung frames its second and
third codebooks cost 5.6 and 6.2 nats, next to uniform (6.9).  Cross-entropy over code ids treats every wrong code
alike, and the residual codebooks hold many near-equal ways to say one sound.  This probe keeps everything the
aligned singer is told (the timing; ``--tell``: the syllable's letters, the melody note, the voice) and the
accompaniment's first codebook, but regresses the quantiser's output instead, the sum of the first ``--codebooks``
codewords (what the codec's decoder reads), with an L1 loss, as speech synthesis regresses mel frames given
durations.  Its prediction is decoded straight through the codec's decoder and, re-quantised by the codec's RVQ,
as codes, and heard by ``songgen evaluate``'s lyric recogniser (vocabulary: the songs' lyrics).

Heard above chance, the latent is learnable where the code ids are not, and a token model needs a loss that
knows which codes are near each other (ResGen's cumulative embeddings) or a head that regresses them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe_aligned_singer import (  # noqa: E402
    LETTERS, UNIT_ROWS, VOICES, fit, hide_units, parse_tell, positions, singer_arguments, sung_songs)


class LatentSinger(nn.Module):
    """The accompaniment's first codebook + what is sung at each frame -> the vocal stem's quantised latent."""

    def __init__(self, latent: int, width: int = 256, layers: int = 4, heads: int = 4, unit_vocabulary: int = 2048):
        super().__init__()
        self.context = nn.Embedding(1024, width)
        self.units = nn.ModuleList(nn.Embedding(unit_vocabulary, width) for _ in range(UNIT_ROWS))
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.1, batch_first=True, norm_first=True,
                                           activation="gelu")
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, latent))
        self.width = width

    def forward(self, context: torch.Tensor, units: torch.Tensor, padding=None) -> torch.Tensor:
        """``context`` ``(B, T)``, ``units`` ``(B, UNIT_ROWS, T)`` -> the latent ``(B, T, latent)`` (normalised)."""
        hidden = self.context(context) + positions(context.shape[-1], self.width)
        hidden = hidden + sum(table(units[:, row]) for row, table in enumerate(self.units))
        return self.out(self.body(hidden, src_key_padding_mask=padding))


def with_latents(songs: list[dict], quantizer, codebooks: int) -> None:
    """Adds each song's ``latent`` ``(T, D)``: the sum of its first ``codebooks`` codewords."""
    with torch.no_grad():
        for song in songs:
            song["latent"] = quantizer.decode(song["codes"][:codebooks, None])[0].T.contiguous()


def batch_of(songs: list[dict], crop: int | None, generator: torch.Generator):
    """``context (B, T)``, ``units (B, R, T)``, ``latent (B, T, D)``, ``padding (B, T)`` of random crops."""
    parts = []
    for song in songs:
        frames = song["latent"].shape[0]
        start = int(torch.randint(max(1, frames - crop + 1), (1,), generator=generator)) if crop else 0
        end = start + crop if crop else frames
        parts.append((song["context"][start:end], song["units"][:, start:end], song["latent"][start:end]))
    length = max(part[0].shape[-1] for part in parts)
    context = torch.zeros((len(parts), length), dtype=torch.long)
    units = torch.zeros((len(parts), UNIT_ROWS, length), dtype=torch.long)
    latent = torch.zeros((len(parts), length, parts[0][2].shape[-1]))
    padding = torch.ones((len(parts), length), dtype=torch.bool)
    for row, (part_context, part_units, part_latent) in enumerate(parts):
        frames = part_context.shape[-1]
        context[row, :frames], units[row, :, :frames], latent[row, :frames] = part_context, part_units, part_latent
        padding[row, :frames] = False
    return context, units, latent, padding


@torch.no_grad()
def held_out_error(model: LatentSinger, songs: list[dict], scale: float, told: bool = True) -> float:
    """Mean absolute error of the latent (in units of ``scale``) on the held-out songs' sung frames; ``told=False``:
    what is sung hidden (:func:`hide_units`)."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(songs), 8):
        context, units, latent, padding = batch_of(songs[start:start + 8], None, torch.Generator())
        sung = ~padding & (units[:, LETTERS] > 0)
        predicted = model(context, units if told else hide_units(units), padding)
        total += float((predicted - latent / scale).abs()[sung].mean(-1).sum())
        count += int(sung.sum())
    model.train()
    return total / max(count, 1)


def train_latent_singer(train: list[dict], held: list[dict], steps: int, batch: int = 16, crop: int = 256,
                        seed: int = 0, learning_rate: float = 5e-4, log_every: int = 500, unit_dropout: float = 0.15,
                        **sizes):
    """A :class:`LatentSinger` trained ``steps`` steps (L1 on the latent over ``scale``, the training latents'
    standard deviation), what is sung hidden from ``unit_dropout`` of the songs; returns ``(model, scale,
    history)``, the history holding the held-out sung-frame error told and hidden every ``log_every`` steps."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed + 1)
    scale = float(torch.cat([song["latent"] for song in train]).std())
    model = LatentSinger(train[0]["latent"].shape[-1], **sizes)

    def step_loss() -> torch.Tensor:
        chosen = torch.randint(len(train), (batch,), generator=generator).tolist()
        context, units, latent, padding = batch_of([train[i] for i in chosen], crop, generator)
        units = hide_units(units, torch.rand(len(chosen), generator=generator) < unit_dropout)
        return (model(context, units, padding) - latent / scale).abs()[~padding].mean()

    def report(loss: torch.Tensor) -> dict:
        return {"train_l1": round(float(loss), 4),
                "sung_error": {"told": round(held_out_error(model, held, scale), 4),
                               "hidden": round(held_out_error(model, held, scale, told=False), 4)}}

    history = fit(model, steps, step_loss, learning_rate, log_every, report)
    return model.eval(), scale, history


@torch.no_grad()
def sing(model: LatentSinger, song: dict, scale: float, told: bool = True) -> torch.Tensor:
    """The predicted latent ``(1, D, T)`` of one song, in the codec's units."""
    context, units, _, _ = batch_of([song], None, torch.Generator())
    return (model(context, units if told else hide_units(units)) * scale).transpose(1, 2)


def decode_latent(codec, latent: torch.Tensor) -> torch.Tensor:
    """Audio ``(1, 1, samples)`` from a quantised-latent ``(1, D, T)``, through the codec's decoder alone."""
    with torch.no_grad():
        return codec.acoustic_decoder(codec.fc2(latent.transpose(1, 2)).transpose(1, 2))


class _LatentCodec:
    """What ``hear_versions`` decodes with: codes through the codec, a float latent through its decoder only."""

    def __init__(self, codec):
        self.codec = codec

    def decode(self, values: torch.Tensor):
        if values.is_floating_point():
            return type("Decoded", (), {"audio_values": decode_latent(self.codec, values)})()
        return self.codec.decode(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    singer_arguments(parser, tell="units,pitch,voice")
    parser.add_argument("--decode", type=Path, required=True, help="the SongGen folder whose codec made the codes")
    parser.add_argument("--codebooks", type=int, default=8, help="codewords summed into the latent regressed")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--songs", type=int, default=38, help="held-out sung songs heard")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    tell = parse_tell(args.tell)
    if not 1 <= args.codebooks <= 8 or args.steps < 1:
        raise SystemExit("--codebooks must be in 1..8 and --steps at least 1.")
    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.evaluation.intelligibility import hear_versions

    codec = SongGenForConditionalGeneration.from_pretrained(args.decode).eval()
    sampling_rate, codec = codec.config.sampling_rate, codec.audio_encoder
    train, held = (sung_songs(folders, "syllables", tell=tell, codebooks=8)
                   for folders in (args.train, [args.held_out]))
    if not train or not held:
        raise SystemExit("Both folders need songs with vocal stems (songgen data encode of a corpus with stems).")
    for songs in (train, held):
        with_latents(songs, codec.quantizer, args.codebooks)
    print(f"{len(train)} training and {len(held)} held-out songs with a vocal stem", flush=True)
    model, scale, history = train_latent_singer(train, held, args.steps, seed=args.seed)
    subset = [song for song in held if len(song["lyrics"].split()) >= 2][: args.songs]

    def requantised(latent: torch.Tensor, codebooks: int) -> torch.Tensor:
        return codec.quantizer.encode(latent, codebooks).transpose(0, 1)

    made = []
    for song in subset:
        latent, hidden = sing(model, song, scale), sing(model, song, scale, told=False)
        made.append((song["lyrics"], {
            f"real codebooks 1-{args.codebooks}": song["codes"][None, :args.codebooks],
            "predicted latent, decoded": latent, "predicted latent as 3 codes": requantised(latent, 3),
            "predicted latent as 8 codes": requantised(latent, 8), "what is sung hidden, decoded": hidden}))
    words = hear_versions(_LatentCodec(codec), sampling_rate, made, list(made[0][1]), verbose=True,
                          pairs=[("predicted latent, decoded", "what is sung hidden, decoded")])
    if args.output:
        args.output.write_text(json.dumps({
            "train": [str(folder) for folder in args.train], "held_out": str(args.held_out), "tell": list(tell),
            "codebooks": args.codebooks, "steps": args.steps, "voices": VOICES, "history": history, "words": words},
            indent=1) + "\n")


if __name__ == "__main__":
    main()
