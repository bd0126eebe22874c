"""Can the words be sung from the lyrics at all?  A bidirectional model given the true timing, as the yardstick.

    python recipes/songgen_tiny/probe_aligned_singer.py ENCODED_TRAIN [MORE_TRAIN ...] ENCODED_HELD_OUT
        --units tokens|syllables [--tell units,pitch,voice] [--processor MODEL] [--steps 1500]
        [--decode MODEL --songs 38] [--soft-targets SHARE] [--save singer.pt | --load singer.pt] [--output singer.json]

SongGen must find where it is in the lyrics, keep its place while it samples, and know what each piece of the lyrics
sounds like.  This probe takes the first two away: at every frame it is *told* which piece of the lyrics is sung
there (the records' syllable timing, as the guided lyrics attention's targets are made), and it sees the whole song
at once (a bidirectional transformer, no sampling drift).  It fills the vocal stem's first three codebooks by masked
prediction (MaskGIT-style, finest last), from the lyrics alone or also given the real first codebook, with the
accompaniment's first codebook as context; the fill is decoded by MODEL's codec and heard by ``songgen evaluate``'s
lyric recogniser (vocabulary: the songs' lyrics), as ``probe_one_step_words.py`` hears SongGen.

``--units`` is what the model is told at a sung frame: ``tokens``, the lyrics tokenizer's token being sung (with the
ones before and after it; SongGen's lyrics encoder reads these tokens), or ``syllables``, the letters of the
syllable as the synthetic corpus spelt it to its singer (espeak-ng), a near-phonetic spelling.  Either way it is
also told how many frames ago that unit's note began.

Session 43 (``docs/evaluation.md``): from the units alone the fill sings at chance, told the tokens (+0.027
[-0.012, +0.070] above chance) or the syllables (+0.020 [-0.017, +0.059]), where the real codes' first three
codebooks keep +0.14: knowing exactly where it is in the lyrics, a model of this size trained on a thousand songs
does not learn what they sound like.  A corpus, lyrics representation or codec worth a long SongGen run should
first lift that row above chance here.

Session 44: ``--tell units,pitch,voice`` also tells each sung frame the melody's note and the corpus voice, and
the same row leaves chance (+0.041 [+0.019, +0.063] on the 76 held-out sung songs; with the syllables hidden
+0.004, paired +0.037 [+0.004, +0.069]); pitch and voice without the syllables stay at chance.  ``--soft-targets``
(the nearest codewords share the target) and ``--load`` (hear a kept singer again) came with it.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from songgen_hf.processing.lyrics_alignment import frame_targets, syllable_timing, syllable_token_positions
from songgen_hf.training.songgen_data import load_encoded_datasets

CODEBOOKS, CODEBOOK_SIZE = 3, 1024
MASK = CODEBOOK_SIZE
LETTERS = 8  # letters of a syllable kept (or the token and its neighbours); then the rows below
SINCE, PITCH, VOICE = LETTERS, LETTERS + 1, LETTERS + 2  # frames since the note began, its MIDI pitch, the voice
UNIT_ROWS = LETTERS + 3
MAX_SINCE = 62
TELLABLE = ("units", "pitch", "voice")
# The corpus's singer voices (espeak-ng's "en-us+m4" ...), numbered as the songs are read (ids saved with a singer).
VOICES: dict[str, int] = {}


def frame_units(record: dict, num_frames: int, units: str, tokenizer=None, frame_rate: float = 50.0,
                tell: tuple[str, ...] = ("units",)) -> torch.Tensor:
    """``(UNIT_ROWS, num_frames)`` ids of what is sung at each frame (0: nothing).  Rows ``:LETTERS``, told where
    ``tell`` has ``units``: ``syllables``: the syllable's letters (code point + 1); ``tokens``: the lyric token
    sung, the one before and the one after (id + 1).  Row ``SINCE``, always: frames since the note began (+ 1, at
    most ``MAX_SINCE`` + 1).  Rows ``PITCH`` and ``VOICE`` where ``tell`` has them: the melody's MIDI note + 1, the
    corpus voice's number."""
    out = torch.zeros((UNIT_ROWS, num_frames), dtype=torch.long)
    lyrics = (record.get("lyrics") or "").strip()
    attributes = record.get("attributes")
    attributes = json.loads(attributes) if isinstance(attributes, str) else attributes or {}
    timing = syllable_timing(attributes) if lyrics else None
    if timing is None:
        return out
    melody = attributes.get("melody_midi") or []
    voice = VOICES.setdefault(str(attributes.get("voice")), len(VOICES) + 1) if "voice" in tell else 0
    count = len(timing["syllables"])
    number = frame_targets(list(range(count)), timing["note_onsets_s"], timing["note_durations_s"], frame_rate,
                           num_frames)
    ids, positions = None, None
    if units == "tokens":
        language = record.get("language") or "en"
        ids = tokenizer.frame_lyrics(record["lyrics"], lang=language)
        positions = syllable_token_positions(tokenizer, record["lyrics"], timing["syllables"], language)
    onsets: dict[int, int] = {}
    for frame in np.nonzero(np.isfinite(number))[0].tolist():
        syllable = int(number[frame])
        start = onsets.setdefault(syllable, frame)
        out[SINCE, frame] = min(frame - start, MAX_SINCE) + 1
        if "pitch" in tell and syllable < len(melody):
            out[PITCH, frame] = min(max(int(melody[syllable]), 0), 127) + 1
        out[VOICE, frame] = voice
        if "units" not in tell:
            continue
        if units == "syllables":
            for slot, letter in enumerate(str(timing["syllables"][syllable]).lower()[:LETTERS]):
                out[slot, frame] = min(ord(letter), 126) + 1
        else:
            if not math.isfinite(positions[syllable]):
                continue  # a syllable sung in no word of the lyrics: nothing to tell
            token = int(positions[syllable])
            for slot, neighbour in enumerate((token, token - 1, token + 1)):
                if 0 <= neighbour < len(ids):
                    out[slot, frame] = ids[neighbour] + 1
    return out


def sung_song(record: dict, units: str, tokenizer=None, max_frames: int = 640, tell: tuple[str, ...] = ("units",),
              codebooks: int = CODEBOOKS) -> dict | None:
    """A record with a vocal stem as the probe reads it: the stem's first ``codebooks``, the accompaniment's first,
    the units, the lyrics; None without a vocal stem."""
    if record.get("codes_vocals") is None:
        return None
    codes = torch.as_tensor(np.asarray(record["codes_vocals"]), dtype=torch.long)[:codebooks, :max_frames]
    frames = codes.shape[-1]
    context = torch.zeros(frames, dtype=torch.long)
    if record.get("codes_accompaniment") is not None:
        accompaniment = torch.as_tensor(np.asarray(record["codes_accompaniment"]), dtype=torch.long)[0, :frames]
        context[: len(accompaniment)] = accompaniment
    return {"codes": codes, "context": context, "units": frame_units(record, frames, units, tokenizer, tell=tell),
            "lyrics": record.get("lyrics") or ""}


def sung_songs(folders: list[Path], units: str, tokenizer=None, tell: tuple[str, ...] = ("units",),
               codebooks: int = CODEBOOKS) -> list[dict]:
    records = load_encoded_datasets([str(folder) for folder in folders], (16000, 50))
    songs = (sung_song(record, units, tokenizer, tell=tell, codebooks=codebooks) for record in records)
    return [song for song in songs if song is not None]


def positions(frames: int, width: int) -> torch.Tensor:
    """``(frames, width)`` sinusoidal positions, so a whole song can be filled after training on crops."""
    where = torch.arange(frames, dtype=torch.float)[:, None]
    scale = torch.exp(-math.log(10000.0) * torch.arange(0, width, 2, dtype=torch.float) / width)
    return torch.cat([torch.sin(where * scale), torch.cos(where * scale)], dim=-1)


class AlignedSinger(nn.Module):
    """Codes (masked or not) + the accompaniment + the units at each frame -> the masked codebook's logits."""

    def __init__(self, width: int = 256, layers: int = 4, heads: int = 4, unit_vocabulary: int = 2048):
        super().__init__()
        self.codes = nn.ModuleList(nn.Embedding(CODEBOOK_SIZE + 1, width) for _ in range(CODEBOOKS))
        self.context = nn.Embedding(CODEBOOK_SIZE, width)
        self.units = nn.ModuleList(nn.Embedding(unit_vocabulary, width) for _ in range(UNIT_ROWS))
        self.level = nn.Embedding(CODEBOOKS, width)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.1, batch_first=True, norm_first=True,
                                           activation="gelu")
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.heads = nn.ModuleList(nn.Linear(width, CODEBOOK_SIZE) for _ in range(CODEBOOKS))
        self.width = width

    def forward(self, codes, context, units, level: int, padding=None) -> torch.Tensor:
        """``codes`` ``(B, 3, T)`` with ``MASK`` where unknown, ``context`` ``(B, T)``, ``units`` ``(B, 9, T)``:
        the logits ``(B, T, 1024)`` of codebook ``level``."""
        hidden = sum(table(codes[:, k]) for k, table in enumerate(self.codes)) + self.context(context)
        hidden = hidden + sum(table(units[:, row]) for row, table in enumerate(self.units))
        hidden = hidden + positions(codes.shape[-1], self.width) + self.level.weight[level]
        return self.heads[level](self.norm(self.body(hidden, src_key_padding_mask=padding)))


def collate(songs: list[dict], crop: int | None, generator: torch.Generator):
    """Songs (random crops of ``crop`` frames) padded into ``codes``, ``context``, ``units``, ``padding``: the told
    singer's own batching (songgen_hf/training/singer.py), with this probe's mask id."""
    from songgen_hf.training.singer import collate as singer_collate

    return singer_collate(songs, crop, generator, MASK)


def codeword_targets(quantizer, share: float = 0.5, neighbours: int = 8) -> list[torch.Tensor]:
    """Per codebook, ``(1024, 1024)`` soft targets: row ``c`` keeps ``1 - share`` on code ``c`` and spreads
    ``share`` over the ``neighbours`` codes whose codewords lie nearest ``c``'s (weights ``exp(-d^2 / d_1^2)``,
    ``d_1`` the nearest one's distance).  Cross-entropy on code ids calls a near-identical codeword as wrong as a
    far one; these targets tell the model which codes the decoder hears alike."""
    targets = []
    for stage in quantizer.quantizers[:CODEBOOKS]:
        embed = stage.codebook.embed.float()
        squared = torch.cdist(embed, embed).pow(2).fill_diagonal_(float("inf"))
        near, index = squared.topk(neighbours, dim=-1, largest=False)
        weights = torch.softmax(-near / near[:, :1].clamp_min(1e-12), dim=-1) * share
        target = torch.zeros_like(squared).scatter_(1, index, weights)
        targets.append(target + torch.eye(len(embed)) * (1 - share))
    return targets


def masked_loss(model: AlignedSinger, batch, generator: torch.Generator,
                soft_targets: list[torch.Tensor] | None = None) -> torch.Tensor:
    """One codebook per batch: the ones before it given, it masked at a cosine-drawn ratio, the ones after hidden;
    ``soft_targets`` (:func:`codeword_targets`): cross-entropy against them instead of the code ids."""
    codes, context, units, padding = batch
    level = int(torch.randint(CODEBOOKS, (1,), generator=generator))
    ratio = torch.cos(torch.rand(len(codes), 1, generator=generator) * math.pi / 2)
    masked = (torch.rand(codes[:, 0].shape, generator=generator) < ratio) & ~padding
    inputs = codes.clone()
    inputs[:, level + 1:] = MASK
    inputs[:, level] = torch.where(masked, MASK, codes[:, level])
    logits = model(inputs, context, units, level, padding)
    if not masked.any():
        return logits.sum() * 0
    if soft_targets is not None:
        target = soft_targets[level][codes[:, level][masked]]
        return -(target * logits[masked].log_softmax(-1)).sum(-1).mean()
    return nn.functional.cross_entropy(logits[masked], codes[:, level][masked])


def hide_units(units: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
    """``units`` with what is sung (rows ``:LETTERS``) blanked, in every song or where ``rows`` is True; the timing,
    pitch and voice stay."""
    hidden = units.clone()
    hidden[(slice(None) if rows is None else rows), :LETTERS] = 0
    return hidden


@torch.no_grad()
def held_out_nll(model: AlignedSinger, songs: list[dict], told: bool = True, sung_only: bool = False) -> list[float]:
    """Per codebook: NLL with it and the later ones fully masked, over every held-out frame (``sung_only``: the
    frames where a unit is sung; ``told=False``: what is sung hidden, :func:`hide_units`)."""
    model.eval()
    totals, count = torch.zeros(CODEBOOKS), 0
    for start in range(0, len(songs), 8):
        codes, context, units, padding = collate(songs[start:start + 8], None, torch.Generator())
        scored = ~padding & (units[:, SINCE] > 0) if sung_only else ~padding
        units = units if told else hide_units(units)
        for level in range(CODEBOOKS):
            inputs = codes.clone()
            inputs[:, level:] = MASK
            logits = model(inputs, context, units, level, padding)
            totals[level] += nn.functional.cross_entropy(logits[scored], codes[:, level][scored], reduction="sum")
        count += int(scored.sum())
    model.train()
    return (totals / max(count, 1)).tolist()


def sung_nll(model: AlignedSinger, songs: list[dict]) -> dict:
    """Held-out NLL per codebook on the sung frames, told what is sung and with it hidden: how much of the sung
    codes the syllables explain (zero gap: the model has not tied what is sung to how it sounds)."""
    return {name: [round(v, 4) for v in held_out_nll(model, songs, told=told, sung_only=True)]
            for name, told in (("told", True), ("hidden", False))}


def training_batch(train: list[dict], batch: int, crop: int | None, generator: torch.Generator,
                   unit_dropout: float):
    """``batch`` songs drawn from ``train``, cropped and collated (:func:`collate`), what is sung hidden from each
    with probability ``unit_dropout`` (so a singer also knows the song without it)."""
    chosen = torch.randint(len(train), (batch,), generator=generator).tolist()
    codes, context, units, padding = collate([train[i] for i in chosen], crop, generator)
    return codes, context, hide_units(units, torch.rand(batch, generator=generator) < unit_dropout), padding


def fit(model: nn.Module, steps: int, step_loss, learning_rate: float = 5e-4, log_every: int = 500,
        report=None) -> list[dict]:
    """Trains ``model`` for ``steps`` AdamW steps (100 warm-up steps, then a cosine decay; gradients clipped at 1),
    ``step_loss()`` giving each step's loss.  Every ``log_every`` steps and at the last, ``report(loss)``'s dict is
    printed and kept: the history returned."""
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.05, betas=(0.9, 0.98))
    history = []
    for step in range(steps):
        warm = min(1.0, (step + 1) / 100)
        for group in optimiser.param_groups:
            group["lr"] = learning_rate * warm * 0.5 * (1 + math.cos(math.pi * step / steps))
        loss = step_loss()
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        if (step + 1) % log_every == 0 or step + 1 == steps:
            history.append({"step": step + 1, **(report(loss.detach()) if report else {})})
            print(history[-1], flush=True)
    return history


def train_singer(train: list[dict], held: list[dict], steps: int, batch: int = 16, crop: int = 256, seed: int = 0,
                 learning_rate: float = 5e-4, log_every: int = 500, unit_dropout: float = 0.15,
                 soft_targets: list[torch.Tensor] | None = None, **sizes):
    """An :class:`AlignedSinger` (``sizes``: its width, layers, heads) trained ``steps`` steps (on ``soft_targets``
    where given), what is sung hidden from ``unit_dropout`` of the songs (so the singer also knows the song
    without it); the held-out NLL every ``log_every``."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed + 1)
    model = AlignedSinger(**sizes)

    def step_loss() -> torch.Tensor:
        return masked_loss(model, training_batch(train, batch, crop, generator, unit_dropout), generator, soft_targets)

    def report(_) -> dict:
        return {"held_out_nll": [round(v, 4) for v in held_out_nll(model, held)], "sung_nll": sung_nll(model, held)}

    return model.eval(), fit(model, steps, step_loss, learning_rate, log_every, report)


@torch.no_grad()
def fill(model: AlignedSinger, song: dict, given: int, iterations: int = 8, units: bool = True,
         temperature: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """``(1, 3, T)``: the song's first ``given`` codebooks kept, the rest filled codebook by codebook, each in
    ``iterations`` passes that keep the most confident cells (a cosine schedule of what stays masked): the likeliest
    code at ``temperature`` 0, else one drawn from the 50 likeliest at that temperature (confidence: its
    probability), as SongGen draws."""
    codes, context, unit_ids, _ = collate([song], None, torch.Generator())
    codes[:, given:] = MASK
    unit_ids = unit_ids if units else hide_units(unit_ids)
    frames = codes.shape[-1]
    for level in range(given, CODEBOOKS):
        for step in range(iterations):
            logits = model(codes, context, unit_ids, level)[0]
            if temperature == 0:
                confidence, choice = logits.softmax(-1).max(-1)
            else:
                top = logits.topk(50, dim=-1)
                weights = (top.values / temperature).softmax(-1)
                pick = torch.multinomial(weights, 1, generator=generator)
                choice, confidence = top.indices.gather(-1, pick)[:, 0], weights.gather(-1, pick)[:, 0]
            masked = codes[0, level] == MASK
            still_masked = int(frames * math.cos(math.pi / 2 * (step + 1) / iterations))
            chosen = torch.where(masked, confidence, -1.0).topk(max(1, int(masked.sum()) - still_masked)).indices
            codes[0, level, chosen] = choice[chosen]
    return codes


def decoded_words(model: AlignedSinger, songs: list[dict], codec, sampling_rate: int,
                  temperature: float | None = None) -> dict:
    """Recall above chance of the real first three codebooks and of the fills (``temperature``: also the fills
    from the units alone and hidden, drawn at it)."""
    from songgen_hf.evaluation.intelligibility import hear_versions

    generator = torch.Generator().manual_seed(0)
    drawn = {} if temperature is None else {
        f"1-3 filled from the units alone, drawn at {temperature}":
            lambda song: fill(model, song, 0, temperature=temperature, generator=generator),
        f"1-3 filled, what is sung hidden, drawn at {temperature}":
            lambda song: fill(model, song, 0, units=False, temperature=temperature, generator=generator)}
    versions = {
        "real codebooks 1-3": lambda song: song["codes"][None],
        "real codebook 1 alone": lambda song: song["codes"][None, :1],
        "real codebook 1, 2-3 filled, told the units": lambda song: fill(model, song, 1),
        "real codebook 1, 2-3 filled, not told": lambda song: fill(model, song, 1, units=False),
        "1-3 filled from the units alone": lambda song: fill(model, song, 0),
        "1-3 filled, what is sung hidden": lambda song: fill(model, song, 0, units=False),
        **drawn,
    }
    made = [(song["lyrics"], {name: make(song) for name, make in versions.items()}) for song in songs]
    pairs = [("1-3 filled from the units alone", "1-3 filled, what is sung hidden"),
             ("real codebook 1, 2-3 filled, told the units", "real codebook 1, 2-3 filled, not told"),
             *([tuple(drawn)] if drawn else [])]
    return hear_versions(codec, sampling_rate, made, list(versions), verbose=True, pairs=pairs)


def singer_arguments(parser: argparse.ArgumentParser, tell: str) -> None:
    """The arguments every singer probe takes: the training and held-out folders, and ``--tell`` (default ``tell``)."""
    parser.add_argument("train", type=Path, nargs="+",
                        help="encoded training songs (songgen data encode, with vocal stems; folders of one codec)")
    parser.add_argument("held_out", type=Path, help="encoded held-out songs, same codec")
    parser.add_argument("--tell", default=tell,
                        help="comma-separated, of units,pitch,voice: what the singer is told besides the timing")


def parse_tell(text: str) -> tuple[str, ...]:
    """``--tell``'s value as a tuple of ``TELLABLE`` names, or a SystemExit naming the choices."""
    tell = tuple(part.strip() for part in text.split(",") if part.strip())
    if not tell or set(tell) - set(TELLABLE):
        raise SystemExit(f"--tell takes a comma-separated choice of {', '.join(TELLABLE)}; got {text!r}.")
    return tell


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    singer_arguments(parser, tell="units")
    parser.add_argument("--units", choices=("tokens", "syllables"), required=True, help="what a sung frame is told")
    parser.add_argument("--processor", type=Path, help="a SongGen folder whose lyrics tokenizer gives --units tokens")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--decode", type=Path, help="a SongGen folder whose codec decodes the held-out fills")
    parser.add_argument("--songs", type=int, default=38, help="held-out sung songs decoded with --decode")
    parser.add_argument("--fill-temperature", type=float,
                        help="also hear the fills from the units drawn at this temperature (top 50), as SongGen draws")
    parser.add_argument("--soft-targets", type=float, metavar="SHARE",
                        help="train on soft targets giving this share to the 8 nearest codewords (needs --decode)")
    parser.add_argument("--width", type=int, default=256, help="the singer's width (heads of 64 channels)")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--save", type=Path, help="where to keep the trained singer's weights (torch.save)")
    parser.add_argument("--load", type=Path,
                        help="a singer kept with --save: no training (the training folders are not read), only heard")
    args = parser.parse_args()
    if args.fill_temperature is not None and (args.fill_temperature <= 0 or args.decode is None):
        raise SystemExit("--fill-temperature needs a positive temperature and --decode MODEL to hear the fills.")
    if args.steps < 1 or args.layers < 1 or args.width < 64 or args.width % 64:
        raise SystemExit("--steps and --layers must be at least 1, --width a multiple of 64.")
    tell = parse_tell(args.tell)
    tokenizer = None
    if args.units == "tokens":
        folder = args.processor or args.decode
        if folder is None:
            raise SystemExit("--units tokens needs the lyrics tokenizer: pass --processor MODEL (or --decode MODEL).")
        from songgen_hf import SongGenProcessor

        tokenizer = SongGenProcessor.from_pretrained(folder).lyrics_tokenizer
    kept = None
    if args.load and (args.save or args.soft_targets is not None):
        raise SystemExit("--load hears a kept singer without training it: drop --save and --soft-targets.")
    if args.load:
        kept = torch.load(args.load, weights_only=True)
        if tuple(kept["tell"]) != tell:
            raise SystemExit(f"{args.load} was told {','.join(kept['tell'])}; pass --tell {','.join(kept['tell'])}.")
        VOICES.update(kept["voices"])  # the voices numbered as in training
    train = [] if kept else sung_songs(args.train, args.units, tokenizer, tell)
    held = sung_songs([args.held_out], args.units, tokenizer, tell)
    if (not train and not kept) or not held:
        raise SystemExit("Both folders need songs with vocal stems (songgen data encode of a corpus with stems).")
    print(f"{len(train)} training and {len(held)} held-out songs with a vocal stem", flush=True)
    # token ids reach the tokenizer's vocabulary (6 681 for the released SongGen's), letters and offsets stay < 128
    vocabulary = max(2048, 1 + max(int(song["units"].max()) for song in train + held))
    sizes = dict(width=args.width, layers=args.layers, heads=args.width // 64, unit_vocabulary=vocabulary)
    if kept:
        sizes = kept["sizes"]
    soft_targets = None
    if args.soft_targets is not None:
        if args.decode is None or not 0 < args.soft_targets < 1:
            raise SystemExit("--soft-targets needs a share in (0, 1) and --decode MODEL (whose codebooks it reads).")
        from songgen_hf import SongGenForConditionalGeneration

        codec = SongGenForConditionalGeneration.from_pretrained(args.decode).audio_encoder
        soft_targets = codeword_targets(codec.quantizer, args.soft_targets)
    if kept:
        model, history = AlignedSinger(**sizes), []
        model.load_state_dict(kept["state"])
        model.eval()
    else:
        model, history = train_singer(train, held, args.steps, seed=args.seed, soft_targets=soft_targets, **sizes)
    if args.save:
        partial = args.save.with_name(args.save.name + ".partial")  # a crash never leaves half a singer
        torch.save({"sizes": sizes, "tell": tell, "voices": VOICES, "state": model.state_dict()}, partial)
        partial.replace(args.save)
    report = {"train": [str(folder) for folder in args.train], "held_out": str(args.held_out), "units": args.units,
              "tell": list(tell), "soft_targets": args.soft_targets, "steps": args.steps, "sizes": sizes,
              "loaded": str(args.load) if args.load else None, "history": history}
    if args.decode:
        from songgen_hf import SongGenForConditionalGeneration

        songgen = SongGenForConditionalGeneration.from_pretrained(args.decode).eval()
        subset = [song for song in held if len(song["lyrics"].split()) >= 2][: args.songs]
        report["words"] = decoded_words(model, subset, songgen.audio_encoder, songgen.config.sampling_rate,
                                        args.fill_temperature)
    if args.output:
        args.output.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
