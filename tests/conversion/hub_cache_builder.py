"""A Hugging Face Hub cache on disk, in huggingface_hub's own layout, holding tiny random checkpoints.

``models--OWNER--NAME/blobs/<hash>`` holds each file once; ``snapshots/<commit>/<path>`` links to
it (relative symlinks, as huggingface_hub writes them); ``refs/main`` names the commit.  With
``HF_HUB_OFFLINE=1`` and the cache pointed here, ``snapshot_download`` / ``hf_hub_download``
resolve these repos exactly as they would a real download.

The checkpoints reuse the builders of the converter tests (official SongGen names from
``test_songgen_official``, original X-Codec names from ``test_xcodec_original``).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from songgen_hf import SongGenForConditionalGeneration
from songgen_hf.modeling.songgen.tokenization_songgen import train_description_tokenizer, train_voicebpe_vocab
from songgen_hf.testing import (
    SAMPLE_DESCRIPTIONS,
    SAMPLE_LYRICS,
    tiny_songgen_config,
    tiny_xcodec_config,
    write_hub_repo,
)
from tests.conversion.test_songgen_official import official_config, official_state_dict
from tests.conversion.test_xcodec_original import make_source_model, original_checkpoint

SONGGEN_REPOS = {"mixed_pro": "LiuZH-19/SongGen_mixed_pro", "interleaving_A_V": "LiuZH-19/SongGen_interleaving_A_V"}
CODEC_REPO = "hf-audio/xcodec-hubert-general-balanced"
ORIGINAL_CODEC_REPO = "ZhenYe234/xcodec"
ORIGINAL_CODEC_FILE = "xcodec_hubert_general_audio_v2.pth"
MERT_REPO = "m-a-p/MERT-v1-330M"


def write_repo(cache: Path, repo_id: str, files: dict[str, bytes], revision: str = "main") -> str:
    """Add ``files`` (repo path -> bytes) as one commit of ``repo_id``; returns the commit hash."""
    return write_hub_repo(cache, repo_id, files, revision=revision)


def folder_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def _safetensors_bytes(state_dict: dict, folder: Path, name: str = "model.safetensors") -> bytes:
    path = folder / name
    save_file({k: v.contiguous() for k, v in state_dict.items()}, str(path))
    return path.read_bytes()


def transformers_codec(work: Path):
    """(tiny codec as ours, its folder in transformers' hf-audio layout, its original .pth bytes).

    The three hold the same weights: the .pth is converted by our converter, and that model is
    saved through transformers' own ``XcodecModel`` (``model_type: "xcodec"``)."""
    from transformers import XcodecModel

    from songgen_hf.conversion import load_original_xcodec

    original, _ = original_checkpoint(make_source_model(tiny_xcodec_config()))
    pth = work / ORIGINAL_CODEC_FILE
    torch.save(original, pth)
    ours = load_original_xcodec(pth, tiny_xcodec_config())  # a tiny teacher is not inferable from weights
    ours.save_pretrained(work / "ours_codec")
    folder = work / "hf_codec"
    XcodecModel.from_pretrained(work / "ours_codec").save_pretrained(folder)
    assert json.loads((folder / "config.json").read_text())["model_type"] == "xcodec"
    return ours, folder, pth.read_bytes()


def official_songgen(
    pattern: str, codec_config, work: Path, embed_mert: bool, with_vocab: bool = False, seed: int = 11
) -> tuple[dict[str, bytes], dict]:
    """An official-layout SongGen repo (config.json 4.43 schema, safetensors, T5 tokenizer files)
    whose every parameter is distinct; returns (files, official state dict)."""
    config = tiny_songgen_config(pattern)
    config.audio_encoder = codec_config
    torch.manual_seed(seed)
    model = SongGenForConditionalGeneration(config).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn_like(param))
    official = official_state_dict(model)
    if not embed_mert:
        official = {k: v for k, v in official.items() if not k.startswith("mert_model.")}
    folder = work / f"official_{pattern}"
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "config.json": json.dumps(official_config(pattern)).encode(),
        "model.safetensors": _safetensors_bytes(official, folder),
    }
    tokenizer = train_description_tokenizer(SAMPLE_DESCRIPTIONS * 4, vocab_size=200)
    tokenizer.save_pretrained(folder / "t5")
    files.update(folder_files(folder / "t5"))
    if with_vocab:
        train_voicebpe_vocab(SAMPLE_LYRICS * 4, vocab_size=120, path=folder / "vocab", min_frequency=1)
        files["vocab.json"] = (folder / "vocab" / "vocab.json").read_bytes()
    return files, {"official": official, "model": model}


def mert_repo(model, work: Path) -> dict[str, bytes]:
    """A MERT-shaped repo: MERTModel key names (legacy weight norm), config.json, pytorch_model.bin."""
    official = official_state_dict(model)
    state = {k[len("mert_model.") :]: v for k, v in official.items() if k.startswith("mert_model.")}
    folder = work / "mert"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "pytorch_model.bin")
    hubert = model.config.voice_encoder.audio_encoder_config.to_dict()
    config = {
        **{k: v for k, v in hubert.items() if not k.startswith("_")},
        "model_type": "mert_model",
        "architectures": ["MERTModel"],
        "sample_rate": 24000,
    }
    preprocessor = {
        "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        "sampling_rate": 24000,
        "feature_size": 1,
        "padding_value": 0.0,
        "do_normalize": True,
        "return_attention_mask": True,
    }
    return {
        "config.json": json.dumps(config).encode(),
        "pytorch_model.bin": (folder / "pytorch_model.bin").read_bytes(),
        "preprocessor_config.json": json.dumps(preprocessor).encode(),
    }


def build_hub_cache(root: Path) -> dict:
    """The whole cache: both SongGen repos, the codec in both layouts, MERT.  Returns what was written."""
    cache, work = root / "hub", root / "work"
    work.mkdir(parents=True, exist_ok=True)
    codec, codec_folder, pth = transformers_codec(work)
    info = {"cache": cache, "work": work, "codec": codec, "codec_folder": codec_folder, "repos": {}}
    info["codec_commit"] = write_repo(cache, CODEC_REPO, folder_files(codec_folder))
    write_repo(cache, ORIGINAL_CODEC_REPO, {ORIGINAL_CODEC_FILE: pth})
    for pattern, repo in SONGGEN_REPOS.items():
        # MERT comes from its own repo: a tiny embedded MERT would need its config.json anyway (its heads
        # and strides are in no tensor shape), which only the MERT repo has
        files, built = official_songgen(pattern, codec.config, work, embed_mert=False, with_vocab=True)
        commit = write_repo(cache, repo, files)
        info["repos"][pattern] = {"repo": repo, "commit": commit, "files": files, **built}
        if pattern == "mixed_pro":
            write_repo(cache, MERT_REPO, mert_repo(built["model"], work))
    return info
