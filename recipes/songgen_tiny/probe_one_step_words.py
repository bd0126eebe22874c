"""Does the model predict the words one frame ahead?  Teacher-forced predictions of the sung codes, heard.

    python recipes/songgen_tiny/probe_one_step_words.py MODEL ENCODED_HELD_OUT [--codebooks 3] [--songs 38]
        [--output one_step.json]

Free generation can lose the words in many places: the alignment, the sampling, the drift of a long sequence.  This
probe removes all of them.  Each held-out sung song runs teacher-forced (the true past at every frame, as in
training), and only the sung track's first ``--codebooks`` codebooks are replaced by the model's own prediction for
that frame (``argmax``, and one draw at temperature 1); every other code stays the real one.  The sung track
(``vocals`` for a dual-track model, else the mix) is decoded by the model's codec and heard by ``songgen evaluate``'s
lyric recogniser (its vocabulary: the folder's lyrics), against the same decode of the real codes and of the real
codes' predicted codebooks alone (the codec decodes any first codebooks).  Reported: recall above the
mismatched-lyrics chance level, with bootstrap 95 % intervals.  Session 42: the real codes' first three codebooks
alone keep all the words the codec keeps (+0.148 against +0.120 with all eight, 38 songs).

If the one-step predictions already lose the words, no sampling setting or decoding trick can bring them back:
the model does not know what the next frame of the word sounds like (session 41: songgen-tiny v12's argmax over
the vocal track's first three codebooks keeps +0.005 of the real codes' +0.123; its first codebook alone +0.040).
Nothing is generated, so this is cheap enough to score training checkpoints with.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.evaluation.intelligibility import hear_versions
from songgen_hf.training.songgen_config import SongGenTrainingConfig
from songgen_hf.training import songgen_data
from songgen_hf.training.songgen_data import EncodedSongDataset, SongGenCollator, load_encoded_datasets
from songgen_hf.training.songgen_trainer import load_tokenizers

VERSIONS = ("real codes", "argmax", "drawn at temperature 1")
PREFIX = "real codes, predicted codebooks only"


def sung_track(model) -> str:
    return songgen_data.sung_track(model.pattern)


def one_step_tracks(model, batch: dict, codebooks: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The sung track's codes ``(1, K, frames)`` for one collated song: real, and with its first ``codebooks``
    codebooks replaced by the teacher-forced argmax / a temperature-1 draw."""
    pattern = model.pattern
    track = sung_track(model)
    rows = [row for row, (name, codebook) in enumerate(pattern.row_tracks) if name == track and codebook < codebooks]
    inputs = {name: value for name, value in batch.items()
              if name not in ("labels", "vocal_labels") and not name.startswith("lyrics_alignment")}
    with torch.no_grad():
        logits = model(**inputs).logits
    count = pattern.num_rows
    labels = batch["labels"].view(-1, count, batch["labels"].shape[-1])[0]
    first = batch["decoder_input_ids"].view(-1, count, batch["decoder_input_ids"].shape[-1])[0][:, :1]
    # ignored label cells (after an item's end) read as padding, which ends a frame where `revert` meets it
    real = torch.cat([first, labels.masked_fill(labels < 0, model.pattern.token_ids.pad_token_id)], dim=-1)
    codebook_size = model.pattern.token_ids.codebook_size
    scores = logits.view(-1, count, *logits.shape[-2:])[0][rows, :, :codebook_size].float()
    predicted = {
        VERSIONS[1]: scores.argmax(-1),
        VERSIONS[2]: torch.multinomial(scores.softmax(-1).flatten(0, 1), 1, generator=generator).view(scores.shape[:2]),
    }
    def track_codes(sequence: torch.Tensor) -> torch.Tensor:
        reverted = pattern.revert(sequence[None])
        return reverted.codes[track][..., :int(reverted.frame_lengths[track][0])]

    out = {VERSIONS[0]: track_codes(real)}
    for name, codes in predicted.items():
        sequence = real.clone()
        is_code = (labels[rows] >= 0) & (labels[rows] < codebook_size)  # EOS / padding cells stay as they are
        sequence[rows, 1:] = torch.where(is_code, codes, sequence[rows, 1:])
        out[name] = track_codes(sequence)
    return out


def probe_songs(model, collator, songs: list[dict], codebooks: int, seed: int = 0) -> dict:
    """Recall above chance of the real codes and of the one-step predictions, over ``songs`` (collator items)."""
    generator = torch.Generator().manual_seed(seed)
    made = []
    for song in songs:
        tracks = one_step_tracks(model, collator([song]), codebooks, generator)
        # what the predicted codebooks carry on their own: the real codes decoded from those codebooks alone
        tracks[PREFIX] = tracks[VERSIONS[0]][:, :codebooks]
        made.append((song["lyrics"], tracks))
    report = {"track": sung_track(model), "codebooks_predicted": codebooks, "songs": len(songs)}
    report.update(hear_versions(model.audio_encoder, model.config.sampling_rate, made, (*VERSIONS, PREFIX),
                                verbose=True))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a SongGen folder (a training run's final/ or a release)")
    parser.add_argument("data", type=Path, help="encoded held-out songs (songgen data encode)")
    parser.add_argument("--codebooks", type=int, default=3, help="how many of the first codebooks are predicted")
    parser.add_argument("--songs", type=int, default=38, help="sung songs probed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    model = SongGenForConditionalGeneration.from_pretrained(args.model).eval()
    if not 1 <= args.codebooks <= model.config.decoder.num_codebooks:
        raise SystemExit(f"--codebooks must be between 1 and {model.config.decoder.num_codebooks}.")
    config = SongGenTrainingConfig(train_data=str(args.data), processor=str(args.model), init_from=str(args.model),
                                   model=None)
    collator = SongGenCollator.for_model(model, *load_tokenizers(config))
    data = load_encoded_datasets(str(args.data), (model.config.sampling_rate, model.config.frame_rate))
    dataset = EncodedSongDataset(data, model.config.decoder.num_codebooks, None, seed=args.seed)
    songs = [dataset[index] for index in range(len(dataset))]
    songs = [song for song in songs if len((song["lyrics"] or "").split()) >= 2][:args.songs]
    if not songs:
        raise SystemExit(f"No sung song in {args.data}: the probe needs songs with lyrics.")
    report = {"model": str(args.model), "data": str(args.data),
              **probe_songs(model, collator, songs, args.codebooks, args.seed)}
    if args.output:
        args.output.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
