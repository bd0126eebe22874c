"""Do these codes say a syllable the same way twice?  Held-out songs sung with codes pasted from other songs.

    python recipes/songgen_tiny/probe_syllable_lookup.py ENCODED_TRAIN [MORE_TRAIN ...] ENCODED_HELD_OUT
        --decode MODEL [--songs 38] [--output lookup.json]

``probe_aligned_singer.py`` asks whether a model *learns* what a syllable sounds like in the codec's codes; this
probe asks whether there is anything consistent to learn, with no model at all.  Every sung syllable of a held-out
song (the records' syllable timing) is replaced by the vocal-stem codes of the same syllable sung in a training
song, the instance nearest in voice, pitch and length, stretched or squeezed to the held-out note's frames; frames
where nothing is sung get the training stems' most common silent frame.  The pasted stem is decoded by MODEL's
codec and heard by ``songgen evaluate``'s lyric recogniser, beside the real codes and a control pasted the same way
from a *different* syllable (same timing, pitch and voice: what the recogniser makes of any sung syllables).

If the paste is heard above chance, the codes of a syllable carry its identity across songs, voices and pitches,
and a singer that fails to learn it (``probe_aligned_singer.py``) lacks steps, width or songs.  If the paste is at
chance, a syllable's codes depend on what surrounds it more than on the syllable, and no amount of training on
these codes will sing words one syllable at a time.

Session 44 (2 224 training songs, 218 distinct syllables, the 76 held-out sung songs): pasted, all 8 codebooks,
+0.132 [+0.100, +0.166] above chance, the real codes +0.098 (paired +0.035 [+0.002, +0.072]); from any instance
of the syllable +0.114; from another syllable -0.013.  The codes hold the words; the models fail to learn them.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch

from songgen_hf.processing.lyrics_alignment import frame_targets, syllable_timing
from songgen_hf.training.songgen_data import load_encoded_datasets

FRAME_RATE = 50.0
# How an instance's distance is weighed: another voice costs as much as this many semitones, a length twice or half
# the held-out note's as much as this many.
OTHER_VOICE_COST, LENGTH_COST = 12.0, 6.0


def sung_spans(record: dict, num_frames: int) -> list[dict]:
    """The syllables sung in ``record``, each ``{"text", "start", "end", "pitch", "voice"}`` (frames ``[start,
    end)``, the melody's MIDI note, the corpus voice), in order; empty for an instrumental or a record without
    timing."""
    attributes = record.get("attributes")
    if isinstance(attributes, str):
        attributes = json.loads(attributes)
    timing = syllable_timing(attributes) if (record.get("lyrics") or "").strip() else None
    if timing is None:
        return []
    melody = attributes.get("melody_midi") or []
    number = frame_targets(list(range(len(timing["syllables"]))), timing["note_onsets_s"], timing["note_durations_s"],
                           FRAME_RATE, num_frames)
    spans = []
    for index, text in enumerate(timing["syllables"]):
        frames = np.nonzero(number == index)[0]
        if len(frames):
            pitch = float(melody[index]) if index < len(melody) else float("nan")
            spans.append({"text": str(text).lower(), "start": int(frames[0]), "end": int(frames[-1]) + 1,
                          "pitch": pitch, "voice": attributes.get("voice")})
    return spans


def vocal_songs(folders: list[Path]) -> list[dict]:
    """Encoded records with a vocal stem: ``{"codes" (8, T), "spans", "lyrics"}``."""
    songs = []
    for record in load_encoded_datasets([str(folder) for folder in folders], (16000, 50)):
        if record.get("codes_vocals") is None:
            continue
        codes = torch.as_tensor(np.asarray(record["codes_vocals"]), dtype=torch.long)
        songs.append({"codes": codes, "spans": sung_spans(record, codes.shape[-1]),
                      "lyrics": record.get("lyrics") or ""})
    return songs


class SyllableLibrary:
    """Every sung syllable of the training songs, by its text, with the codes it was sung with."""

    def __init__(self, songs: list[dict]):
        self.instances: dict[str, list[tuple[dict, torch.Tensor]]] = defaultdict(list)
        silent: Counter = Counter()
        for song in songs:
            sung = torch.zeros(song["codes"].shape[-1], dtype=torch.bool)
            for span in song["spans"]:
                self.instances[span["text"]].append((span, song["codes"][:, span["start"]:span["end"]]))
                sung[span["start"]:span["end"]] = True
            silent.update(tuple(column) for column in song["codes"][:, ~sung].T.tolist())
        if not silent:
            raise ValueError("The training songs have no frame without singing to take silence from.")
        self.silence = torch.tensor(silent.most_common(1)[0][0], dtype=torch.long)

    def nearest(self, span: dict, text: str | None = None, anyone: random.Random | None = None) -> torch.Tensor | None:
        """Codes of the instance of ``text`` (default: the span's own syllable) nearest the span in voice, pitch and
        length (``anyone``: one drawn at random), resampled to the span's frames; None where no training song sings
        it."""
        candidates = self.instances.get(text or span["text"])
        if not candidates:
            return None
        frames = span["end"] - span["start"]

        def distance(item) -> float:
            other, codes = item
            pitch = abs(other["pitch"] - span["pitch"]) if np.isfinite([other["pitch"], span["pitch"]]).all() else 6.0
            return (OTHER_VOICE_COST * (other["voice"] != span["voice"]) + pitch
                    + LENGTH_COST * abs(np.log2(codes.shape[-1] / frames)))

        _, codes = anyone.choice(candidates) if anyone is not None else min(candidates, key=distance)
        return codes[:, (torch.arange(frames) * codes.shape[-1]) // frames]

    def paste(self, song: dict, wrong: random.Random | None = None,
              anyone: random.Random | None = None) -> tuple[torch.Tensor, int]:
        """``(codes (8, T), syllables found)``: the song sung with pasted codes; ``wrong``: each syllable taken from a
        different syllable drawn at random (the control); ``anyone``: from any instance of the right syllable, not
        the nearest in voice, pitch and length."""
        out = self.silence[:, None].repeat(1, song["codes"].shape[-1])
        texts = sorted(self.instances)
        found = 0
        for span in song["spans"]:
            text = None
            if wrong is not None:
                text = wrong.choice([other for other in texts if other != span["text"]] or texts)
            codes = self.nearest(span, text, anyone)
            if codes is not None:
                out[:, span["start"]:span["end"]] = codes
                found += 1
        return out, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("train", type=Path, nargs="+", help="encoded training songs with vocal stems (one codec)")
    parser.add_argument("held_out", type=Path, help="encoded held-out songs, same codec")
    parser.add_argument("--decode", type=Path, required=True, help="a SongGen folder whose codec decodes the codes")
    parser.add_argument("--songs", type=int, default=38, help="held-out sung songs heard")
    parser.add_argument("--seed", type=int, default=0, help="the draws of wrong syllables and of any instance")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.evaluation.intelligibility import hear_versions

    library = SyllableLibrary(vocal_songs(args.train))
    held = [song for song in vocal_songs([args.held_out]) if song["spans"] and len(song["lyrics"].split()) >= 2]
    held = held[: args.songs]
    if not held:
        raise SystemExit(f"{args.held_out} has no sung held-out song with syllable timing.")
    wrong, draw = random.Random(args.seed), random.Random(args.seed + 1)
    made, found, total = [], 0, 0
    for song in held:
        pasted, count = library.paste(song)
        control, _ = library.paste(song, wrong)
        anyone, _ = library.paste(song, anyone=draw)
        found, total = found + count, total + len(song["spans"])
        made.append((song["lyrics"], {
            "real codebooks 1-3": song["codes"][None, :3], "real, all 8": song["codes"][None],
            "pasted, codebooks 1-3": pasted[None, :3], "pasted, all 8": pasted[None],
            "pasted from any instance, all 8": anyone[None],
            "pasted from other syllables, all 8": control[None]}))
    print(f"{len(library.instances)} syllables in the library; {found} of {total} held-out sung syllables found",
          flush=True)
    songgen = SongGenForConditionalGeneration.from_pretrained(args.decode).eval()
    names = list(made[0][1])
    report = {"train": [str(folder) for folder in args.train], "held_out": str(args.held_out), "songs": len(held),
              "syllables_found": found, "syllables": total,
              "words": hear_versions(songgen.audio_encoder, songgen.config.sampling_rate, made, names, verbose=True,
                                     pairs=[("pasted, all 8", "pasted from other syllables, all 8"),
                                            ("pasted, all 8", "real, all 8")])}
    if args.output:
        args.output.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
