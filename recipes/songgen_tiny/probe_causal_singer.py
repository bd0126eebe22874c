"""The aligned singer, one frame at a time: does sampling the codes autoregressively keep the words?

    python recipes/songgen_tiny/probe_causal_singer.py ENCODED_TRAIN [MORE_TRAIN ...] ENCODED_HELD_OUT
        --decode MODEL [--tell units,pitch,voice] [--steps 1500] [--songs 38] [--temperature 0.6] [--output out.json]

``probe_aligned_singer.py`` fills the vocal stem's first three codebooks looking both ways.  SongGen writes them
one frame after another, each frame's codebooks coarse to fine, sampling as it goes.  This probe tells a causal
transformer exactly what the aligned singer is told (the timing; ``--tell``: the syllable's letters, the melody
note, the voice; the accompaniment's first codebook) and lets it write the codes as SongGen does: frame ``t``
from the frames before it (a 256-frame window, as trained), codebook 2 given codebook 1 of the same frame and 3
given both.  Its input codes are noised as SongGen's are (``input_token_noise_prob``).  The sampled stem is decoded
and heard by ``songgen evaluate``'s recogniser beside the real codes and the same singer with what is sung hidden.

Sung above chance here but not by SongGen: the autoregressive factorisation is not what loses the words, finding
the place in the lyrics is.  At chance here while the aligned singer sings: sampling the codes one frame at a time
is.

Session 44 (2 224 training songs, 1 500 steps, told units, pitch and voice, 38 held-out songs at 0.6): the
syllables lower the sung frames' loss by 0.31 nats on the first codebook, yet the sampled stem is at chance
(+0.026 [-0.011, +0.064]; the syllables hidden +0.037), where the bidirectional fill is heard (+0.057 on the same
songs).  Colder or greedy draws are the next thing to try (``--temperature``).
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
    CODEBOOKS,
    CODEBOOK_SIZE,
    MASK,
    SINCE,
    UNIT_ROWS,
    VOICES,
    collate,
    fit,
    hide_units,
    parse_tell,
    positions,
    singer_arguments,
    sung_songs,
    training_batch,
)

WINDOW = 256


class CausalSinger(nn.Module):
    """Frame ``t``'s inputs (the codes of frame ``t - 1``, the accompaniment and the units at ``t``) through a causal
    transformer; codebook ``k`` of frame ``t`` from that state and codebooks ``< k`` of the same frame."""

    def __init__(self, width: int = 256, layers: int = 4, heads: int = 4, unit_vocabulary: int = 2048):
        super().__init__()
        self.previous = nn.ModuleList(nn.Embedding(CODEBOOK_SIZE + 1, width) for _ in range(CODEBOOKS))
        self.context = nn.Embedding(CODEBOOK_SIZE, width)
        self.units = nn.ModuleList(nn.Embedding(unit_vocabulary, width) for _ in range(UNIT_ROWS))
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.1, batch_first=True, norm_first=True,
                                           activation="gelu")
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.same_frame = nn.ModuleList(nn.Embedding(CODEBOOK_SIZE, width) for _ in range(CODEBOOKS - 1))
        self.heads = nn.ModuleList(nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, CODEBOOK_SIZE))
                                   for _ in range(CODEBOOKS))
        self.width = width

    def states(self, previous, context, units, padding=None) -> torch.Tensor:
        """``previous`` ``(B, 3, T)`` (the codes one frame back, ``MASK`` before the first), ``context`` ``(B, T)``,
        ``units`` ``(B, R, T)`` -> causal states ``(B, T, width)``."""
        frames = previous.shape[-1]
        hidden = sum(table(previous[:, k]) for k, table in enumerate(self.previous)) + self.context(context)
        hidden = hidden + sum(table(units[:, row]) for row, table in enumerate(self.units))
        hidden = hidden + positions(frames, self.width)
        causal = torch.ones((frames, frames), dtype=torch.bool).triu(1)  # True: may not look
        return self.norm(self.body(hidden, mask=causal, src_key_padding_mask=padding, is_causal=True))

    def logits(self, states: torch.Tensor, level: int, same_frame: torch.Tensor) -> torch.Tensor:
        """Codebook ``level``'s logits from the states and the frame's codes ``same_frame`` ``(B, 3, T)`` below it."""
        hidden = states + sum(self.same_frame[k](same_frame[:, k]) for k in range(level))
        return self.heads[level](hidden)


def shifted(codes: torch.Tensor) -> torch.Tensor:
    """``(B, 3, T)`` codes one frame later: position ``t`` holds frame ``t - 1``'s codes, ``MASK`` at 0."""
    return torch.cat([torch.full_like(codes[..., :1], MASK), codes[..., :-1]], dim=-1)


def causal_loss(model: CausalSinger, batch, generator: torch.Generator, noise: float) -> torch.Tensor:
    """Teacher-forced cross-entropy over the three codebooks, the input codes noised with probability ``noise``."""
    codes, context, units, padding = batch
    codes = torch.where(padding[:, None], 0, codes)
    previous = shifted(codes)
    noisy = torch.rand(previous.shape, generator=generator) < noise
    previous = torch.where(noisy & (previous != MASK), torch.randint(CODEBOOK_SIZE, previous.shape,
                                                                     generator=generator), previous)
    states = model.states(previous, context, units, padding)
    losses = [nn.functional.cross_entropy(model.logits(states, level, codes)[~padding], codes[:, level][~padding])
              for level in range(CODEBOOKS)]
    return sum(losses) / CODEBOOKS


@torch.no_grad()
def held_out_nll(model: CausalSinger, songs: list[dict], told: bool = True) -> list[float]:
    """Per codebook, teacher-forced NLL on the held-out songs' sung frames (``told=False``: what is sung hidden),
    each song in windows of ``WINDOW`` frames."""
    model.eval()
    totals, count = torch.zeros(CODEBOOKS), 0
    for song in songs:
        codes, context, units, _ = collate([song], None, torch.Generator())
        units = units if told else hide_units(units)
        for start in range(0, codes.shape[-1], WINDOW):
            part = slice(start, start + WINDOW)
            states = model.states(shifted(codes[..., part]), context[:, part], units[..., part])
            sung = units[0, SINCE, part] > 0  # the frames where a syllable is sung
            for level in range(CODEBOOKS):
                logits = model.logits(states, level, codes[..., part])[0]
                totals[level] += nn.functional.cross_entropy(logits[sung], codes[0, level, part][sung],
                                                             reduction="sum")
            count += int(sung.sum())
    model.train()
    return [round(v, 4) for v in (totals / max(count, 1)).tolist()]


def train_causal_singer(train: list[dict], held: list[dict], steps: int, batch: int = 16, seed: int = 0,
                        learning_rate: float = 5e-4, log_every: int = 500, unit_dropout: float = 0.15,
                        noise: float = 0.2, **sizes):
    """A :class:`CausalSinger` trained ``steps`` steps on random ``WINDOW``-frame crops, what is sung hidden from
    ``unit_dropout`` of the songs; the held-out sung-frame NLL, told and hidden, every ``log_every`` steps."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed + 1)
    model = CausalSinger(**sizes)

    def step_loss() -> torch.Tensor:
        return causal_loss(model, training_batch(train, batch, WINDOW, generator, unit_dropout), generator, noise)

    def report(loss: torch.Tensor) -> dict:
        return {"train_loss": round(float(loss), 4),
                "sung_nll": {"told": held_out_nll(model, held), "hidden": held_out_nll(model, held, told=False)}}

    history = fit(model, steps, step_loss, learning_rate, log_every, report)
    return model.eval(), history


@torch.no_grad()
def sing(model: CausalSinger, song: dict, generator: torch.Generator, temperature: float = 0.6, top_k: int = 50,
         told: bool = True) -> torch.Tensor:
    """``(1, 3, T)`` codes sampled frame by frame (each over the last ``WINDOW`` frames), codebook by codebook;
    ``temperature`` 0 takes the likeliest code."""
    _, context, units, _ = collate([song], None, torch.Generator())
    units = units if told else hide_units(units)
    frames = context.shape[-1]
    codes = torch.zeros((1, CODEBOOKS, frames), dtype=torch.long)
    for frame in range(frames):
        start = max(0, frame + 1 - WINDOW)
        window = slice(start, frame + 1)
        state = model.states(shifted(codes[..., window]), context[:, window], units[..., window])[:, -1:]
        for level in range(CODEBOOKS):
            logits = model.logits(state, level, codes[..., frame:frame + 1])[0, -1]
            if temperature == 0:
                choice = int(logits.argmax())
            else:
                top = logits.topk(top_k)
                pick = torch.multinomial((top.values / temperature).softmax(-1), 1, generator=generator)
                choice = int(top.indices[pick])
            codes[0, level, frame] = choice
    return codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    singer_arguments(parser, tell="units,pitch,voice")
    parser.add_argument("--decode", type=Path, required=True, help="the SongGen folder whose codec decodes the codes")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--songs", type=int, default=38, help="held-out sung songs sampled and heard")
    parser.add_argument("--temperature", type=float, default=0.6, help="sampling temperature (0: the likeliest)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    tell = parse_tell(args.tell)
    if args.steps < 1 or args.temperature < 0:
        raise SystemExit("--steps must be at least 1 and --temperature at least 0.")
    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.evaluation.intelligibility import hear_versions

    train, held = (sung_songs(folders, "syllables", tell=tell) for folders in (args.train, [args.held_out]))
    if not train or not held:
        raise SystemExit("Both folders need songs with vocal stems (songgen data encode of a corpus with stems).")
    print(f"{len(train)} training and {len(held)} held-out songs with a vocal stem", flush=True)
    vocabulary = max(2048, 1 + max(int(song["units"].max()) for song in train + held))
    model, history = train_causal_singer(train, held, args.steps, seed=args.seed, unit_vocabulary=vocabulary)
    songgen = SongGenForConditionalGeneration.from_pretrained(args.decode).eval()
    subset = [song for song in held if len(song["lyrics"].split()) >= 2][: args.songs]
    generator = torch.Generator().manual_seed(args.seed)
    made = [(song["lyrics"], {
        "real codebooks 1-3": song["codes"][None],
        "sampled, told": sing(model, song, generator, args.temperature),
        "sampled, what is sung hidden": sing(model, song, generator, args.temperature, told=False)}) for song in subset]
    words = hear_versions(songgen.audio_encoder, songgen.config.sampling_rate, made, list(made[0][1]), verbose=True,
                          pairs=[("sampled, told", "sampled, what is sung hidden")])
    if args.output:
        args.output.write_text(json.dumps({
            "train": [str(folder) for folder in args.train], "held_out": str(args.held_out), "tell": list(tell),
            "steps": args.steps, "temperature": args.temperature, "voices": VOICES, "history": history,
            "words": words}, indent=1) + "\n")


if __name__ == "__main__":
    main()
