"""Does the token model read the lyrics in order?  Where its cross-attention looks inside them, frame by frame.

    python recipes/songgen_tiny/probe_lyric_attention.py MODEL ENCODED_HELD_OUT [--songs 24] [--output probe.json]
        [--generated]

Singing the words needs an alignment: at each frame the decoder must look at the syllable being sung, so the
attention-weighted position inside the lyrics (0 = first token, 1 = last) should rise through the song.  This
runs the model teacher-forced (eager attention, so that the weights exist) on the first ``--songs`` sung songs of
an encoded held-out folder (``songgen data encode`` output, as ``validation_data`` takes it) and reports, per
decoder layer and head, the share of cross-attention spent on the lyrics segment of the memory and the Spearman
correlation between the frame index and that position.  A head that follows the words has a correlation near 1;
session 38 measured songgen-tiny v12 at 0.68 of its cross-attention on the lyrics with no head above 0.31: it
reads the lyrics as a bag, not in order, which is why its songs' words are at chance (issue #19).

``--generated`` asks the same of the model's own songs: each held-out song's caption and lyrics are sung by the
model (guided as the release samples: guidance 3, control guidance 2, top-k 50; seeded), and the probe runs on
those codes instead of the real ones.  Decoding with a cache attends exactly as this teacher-forced pass over its
own output does (the guided branches aside), so it shows whether the heads that follow real songs' lyrics also walk
through them while the model sings.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from songgen_hf import SongGenForConditionalGeneration, SongGenProcessor
from songgen_hf.modeling.songgen.generation_arguments import has_musical_controls
from songgen_hf.training.songgen_config import SongGenTrainingConfig
from songgen_hf.training.songgen_data import EncodedSongDataset, SongGenCollator, load_encoded_datasets
from songgen_hf.training.songgen_trainer import load_tokenizers


# recipes/songgen_tiny/card.yaml's release settings (songgen export --generation ...)
SAMPLING = {"do_sample": True, "top_k": 50, "guidance_scale": 3.0, "control_guidance_scale": 2.0}


def sung_by_the_model(model, processor, item: dict, seed: int) -> dict:
    """``item`` with its codes replaced by the model's own song for its caption and lyrics, as long as the real one."""
    inputs = processor(description=[item["caption"]], lyrics=[item["lyrics"]], return_tensors="pt")
    sampling = dict(SAMPLING)
    if not has_musical_controls(model.config):  # control guidance needs the controls
        sampling.pop("control_guidance_scale")
    torch.manual_seed(seed)
    with torch.no_grad():
        output = model.generate(**inputs, duration_s=item["num_frames"] / model.config.frame_rate,
                                return_dict_in_generate=True, decode_audio=False, **sampling)
    frames = int(output.frame_lengths[0])
    codes = {name: track[0, :, :frames] for name, track in output.codes.items()}
    if "mix" not in codes:  # a dual-track model sings its stems; the collator reads the mix's codes only as a fallback
        codes["mix"] = codes["vocals"]
    return {**item, "codes": codes, "num_frames": frames, "crop_start": 0}


def lyric_attention(model, collator, dataset, songs: int, processor=None) -> dict:
    """``{"songs", "layers": [{"lyrics_share", "order_rho", "effective_tokens": [per head]}]}`` averaged over songs.

    ``effective_tokens`` is how many lyric tokens a head's lyric attention spreads over (the exponential of its
    entropy, frames averaged): about 1 reads one token at a time; a head that follows the order while spreading
    over a line blends the words it is between."""
    captured: list[torch.Tensor] = []
    hooks = [layer.encoder_attn.register_forward_hook(lambda module, args, output: captured.append(output[1]))
             for layer in model.decoder.model.layers]
    shares, rhos, spreads, done = [], [], [], 0
    try:
        for index in range(len(dataset)):
            if done == songs:
                break
            item = dataset[index]
            if processor is not None:
                if len(item["lyrics"].split()) < 2:  # no song to sing along to: skip it before generating
                    continue
                item = sung_by_the_model(model, processor, item, seed=index)
            batch = collator([item])
            lyrics = batch["lyrics_attention_mask"][0].bool()
            if lyrics.sum() < 4:  # an instrumental's lyrics are empty: nothing to follow
                continue
            start = batch["attention_mask"].shape[1]  # the memory is [description, lyrics]
            captured.clear()
            with torch.no_grad():
                model(**{name: value for name, value in batch.items() if name != "vocal_labels"})
            song_shares, song_rhos, song_spreads = [], [], []
            for weights in captured:  # (1, heads, frames, memory) per layer
                on_lyrics = weights[0].float()[:, :, start:start + lyrics.numel()][:, :, lyrics]
                share = on_lyrics.sum(-1)
                position = (on_lyrics * torch.linspace(0, 1, on_lyrics.shape[-1])).sum(-1) / share.clamp_min(1e-9)
                frames = np.arange(position.shape[1])
                song_shares.append(share.mean(-1).tolist())
                song_rhos.append([float(spearmanr(frames, head.numpy()).correlation) for head in position])
                within = on_lyrics / share.clamp_min(1e-9)[..., None]
                entropy = -(within * within.clamp_min(1e-12).log()).sum(-1)
                song_spreads.append(entropy.exp().mean(-1).tolist())
            shares.append(song_shares)
            rhos.append(song_rhos)
            spreads.append(song_spreads)
            done += 1
    finally:
        for hook in hooks:
            hook.remove()
    if not done:
        raise SystemExit("No sung song in the folder: the probe needs songs with lyrics.")
    share, rho = np.mean(shares, axis=0), np.nanmean(np.asarray(rhos, dtype=float), axis=0)
    spread = np.mean(spreads, axis=0)
    return {"songs": done, "lyrics_share": float(share.mean()), "best_head_order_rho": float(rho.max()),
            "layers": [{"lyrics_share": [round(v, 4) for v in s], "order_rho": [round(v, 4) for v in r],
                        "effective_tokens": [round(v, 2) for v in e]}
                       for s, r, e in zip(share.tolist(), rho.tolist(), spread.tolist())]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a SongGen folder (the release or a training run's final/)")
    parser.add_argument("data", type=Path, help="encoded held-out songs (songgen data encode)")
    parser.add_argument("--songs", type=int, default=24)
    parser.add_argument("--max-frames", type=int, default=500, help="crop as training does (10 s)")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--generated", action="store_true", help="probe the model's own songs for those prompts")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = SongGenForConditionalGeneration.from_pretrained(args.model, attn_implementation="eager").eval()
    config = SongGenTrainingConfig(train_data=str(args.data), processor=str(args.model), init_from=str(args.model),
                                   model=None)
    description_tokenizer, lyrics_tokenizer = load_tokenizers(config)
    collator = SongGenCollator.for_model(model, description_tokenizer, lyrics_tokenizer)
    data = load_encoded_datasets(str(args.data), (model.config.sampling_rate, model.config.frame_rate))
    dataset = EncodedSongDataset(data, model.config.decoder.num_codebooks, args.max_frames, seed=0)
    processor = SongGenProcessor.from_pretrained(args.model) if args.generated else None
    report = lyric_attention(model, collator, dataset, args.songs, processor)
    report["songs_sung_by_the_model"] = bool(args.generated)
    text = json.dumps(report, indent=1)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
