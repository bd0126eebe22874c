"""Here: the codec and the training audio that train_codec.sh reads, small enough for the 64 MiB upload.

    python pack_codec_upload.py CORPUS_V3/train.jsonl START_CODEC UPLOAD [--seconds 1.25] [--clips 750]

Writes UPLOAD/codec (the start codec stored in float16: 20 MB instead of 41) and UPLOAD/excerpts: for each of
the first CLIPS training records, one excerpt of SECONDS from a seeded random offset of its vocal and
accompaniment stems, as 16-bit FLAC (about 18 kB a second), and excerpts.json naming them.  The mix is not
packed: a corpus mix is exactly the sum of its stems, so the GPU machine writes it (half the upload saved).
750 clips of 1.25 s are 30 MiB; with the codec, site.tar.xz, the wheels and the repository's code (without
its weights and docs/) the upload is 60 MiB.  Crops of `segment_seconds: 1.0` then start anywhere in the
first 0.25 s of an excerpt.
"""
import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from safetensors.torch import load_file, save_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("codec", type=Path, help="codec folder (config.json + model.safetensors) to start from")
    parser.add_argument("upload", type=Path)
    parser.add_argument("--seconds", type=float, default=1.25)
    parser.add_argument("--clips", type=int, default=750)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    codec_out = args.upload / "codec"
    codec_out.mkdir(parents=True, exist_ok=True)
    state = load_file(args.codec / "model.safetensors")
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    save_file(half, str(codec_out / "model.safetensors"), metadata={"format": "pt"})
    (codec_out / "config.json").write_bytes((args.codec / "config.json").read_bytes())

    out = args.upload / "excerpts"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    root = args.manifest.parent
    length = int(round(args.seconds * 16000))
    records, size = [], 0
    for line in args.manifest.read_text().splitlines()[: args.clips]:
        record = json.loads(line)
        stems = {}
        for name, field in (("accompaniment", "accompaniment_path"), ("vocals", "vocal_path")):
            path = root / record[field] if record.get(field) else None
            if path is not None and path.is_file():  # instrumentals have no vocal stem
                audio, rate = sf.read(path, dtype="int16")
                if rate != 16000:
                    raise SystemExit(f"{path}: {rate} Hz; the codec trains on 16 kHz audio")
                stems[name] = audio
        start = int(rng.integers(0, max(1, len(stems["accompaniment"]) - length)))
        entry = {"id": record["id"]}
        for name, audio in stems.items():
            target = out / f"{record['id']}_{name}.flac"
            sf.write(target, audio[start : start + length], 16000, subtype="PCM_16")
            size += target.stat().st_size
            entry[name] = target.name
        records.append(entry)
    (out / "excerpts.json").write_text(json.dumps(records))
    print(f"{len(records)} clips, {size / 2**20:.1f} MiB of FLAC; codec {codec_out} in float16")


if __name__ == "__main__":
    main()
