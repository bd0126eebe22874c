"""``songgen convert``: official X-Codec and SongGen checkpoints -> ``save_pretrained`` folders; each command's
options and its handler (the conversion itself is :mod:`songgen_hf.conversion`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _check_convert_output(text: str, overwrite: bool, inputs: dict) -> None:
    """Refused before the (slow) conversion: no name, a file in the way, a folder without --overwrite, or one
    that holds an input (the checkpoint would be deleted by its own conversion)."""
    from songgen_hf.commands.cli import check_output_spares_inputs, check_path_given

    check_path_given("OUTPUT", text)  # "" would be the current folder, replaced with --overwrite
    output = Path(text)
    if output.exists() and not output.is_dir():
        raise ValueError(f"OUTPUT {output} is a file; give the name of a folder to create.")
    if output.exists() and not overwrite:
        raise ValueError(f"OUTPUT {output} already exists; pass --overwrite to replace it, or pick another folder.")
    check_output_spares_inputs("OUTPUT", output, inputs)
    from songgen_hf.utils.atomic import check_replaceable

    check_replaceable(output, overwrite, "OUTPUT")  # --overwrite replaces only an earlier conversion, as written


def convert_xcodec(args: argparse.Namespace) -> int:
    from songgen_hf.conversion.xcodec_original import load_original_xcodec, save_converted

    _check_convert_output(args.output, args.overwrite, {"CHECKPOINT": args.checkpoint, "--config": args.config})
    model = load_original_xcodec(args.checkpoint, config=args.config, num_quantizers=args.num_quantizers)
    target = save_converted(model, args.output, overwrite=args.overwrite)
    print(f"converted {args.checkpoint} -> {target}")
    return 0


def convert_songgen(args: argparse.Namespace) -> int:
    from songgen_hf.conversion.conversion_cache import convert_official_songgen
    from songgen_hf.conversion.hub import looks_like_repo_id

    source = Path(args.source)
    if not source.exists() and not looks_like_repo_id(args.source):
        raise ValueError(
            f"{source} does not exist; pass the SongGen Hub id (e.g. LiuZH-19/SongGen_mixed_pro) or the "
            "downloaded official SongGen folder."
        )
    if source.is_file():
        raise ValueError(
            f"{source} is a file; songgen convert songgen takes the downloaded official SongGen folder "
            "(config.json + model.safetensors) or its Hub id. To convert an X-Codec .pth use songgen convert xcodec."
        )
    _check_convert_output(
        args.output,
        args.overwrite,
        {
            "SOURCE": args.source,
            "--codec": args.codec,
            "--mert-folder": args.mert_folder,
            "--mert": args.mert,
            "--lyrics-vocab": args.lyrics_vocab,
            "--cache-dir": args.cache_dir,
        },
    )
    if args.mert_folder is not None and not Path(args.mert_folder).is_dir():
        raise ValueError(f"--mert-folder {args.mert_folder} is not a folder; pass a local copy of m-a-p/MERT-v1-330M.")
    target = convert_official_songgen(
        args.source,
        args.output,
        overwrite=args.overwrite,
        revision=args.revision,
        cache_dir=args.cache_dir,
        token=args.token,
        local_files_only=args.local_files_only,
        codec=args.codec,
        mert=args.mert_folder or args.mert,
        voice=not args.no_voice,
        lyrics_vocab=args.lyrics_vocab,
        allow_unknown_keys=args.allow_unknown_keys,
    )
    print(f"converted {args.source} -> {target}")
    return 0


# ---------------------------------------------------------------------- each command's options
def add_xcodec_arguments(xcodec: argparse.ArgumentParser) -> None:
    xcodec.add_argument("checkpoint", metavar="CHECKPOINT", help="the original X-Codec checkpoint (.pth)")
    xcodec.add_argument("output", metavar="OUTPUT", help="the folder to create")
    xcodec.add_argument("--config", help="the original YAML config (else inferred from the weights)")
    xcodec.add_argument(
        "--num-quantizers",
        type=int,
        help="codebook count; required when inferring a layout other than the released 8 or 12",
    )
    xcodec.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    xcodec.set_defaults(handler=convert_xcodec)


def add_songgen_arguments(songgen: argparse.ArgumentParser) -> None:
    songgen.add_argument(
        "source", help="Hub id (LiuZH-19/SongGen_mixed_pro) or official folder (config.json + weights)"
    )
    songgen.add_argument("output", metavar="OUTPUT", help="the folder to create")
    songgen.add_argument(
        "--codec",
        help="X-Codec: folder, Hub id, original .pth or REPO_ID:FILE.pth "
        "(default: the embedded one, else hf-audio/xcodec-hubert-general-balanced)",
    )
    songgen.add_argument("--mert", help="MERT folder or Hub id (default: embedded, else m-a-p/MERT-v1-330M)")
    songgen.add_argument("--mert-folder", help="local MERT-v1-330M folder (same as --mert with a folder)")
    songgen.add_argument(
        "--lyrics-vocab",
        help="VoiceBPE vocab.json, path or REPO_ID:FILE (default: the checkpoint's, "
        "else the reference code's, downloaded once)",
    )
    songgen.add_argument("--revision", help="branch, tag or commit of the SongGen repo (default: main)")
    songgen.add_argument("--cache-dir", help="Hugging Face Hub cache folder (default: HF_HUB_CACHE)")
    songgen.add_argument("--token", help="Hub token (default: the one `hf auth login` saved)")
    songgen.add_argument("--local-files-only", action="store_true", help="use the Hub cache only, download nothing")
    songgen.add_argument("--no-voice", action="store_true", help="build without the reference-voice encoder")
    songgen.add_argument("--allow-unknown-keys", action="store_true", help="ignore unexpected config keys")
    songgen.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    songgen.set_defaults(handler=convert_songgen)


# the group -> its commands, each with its help and options (songgen_hf.commands.cli lists it)
COMMANDS = {
    "convert": {
        "xcodec": ("original X-Codec .pth -> save_pretrained folder", add_xcodec_arguments),
        "songgen": ("official SongGen Hub id or folder -> save_pretrained folder", add_songgen_arguments),
    }
}


__all__ = ["convert_songgen", "convert_xcodec"]
