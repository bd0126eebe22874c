"""Tiny random-weight models for every model-driven stage, built in-process and saved offline.

For tests, benchmarks and a first look at the pipeline without downloads.  Their outputs are
meaningless (random weights) but have the real shapes, types and code paths: a Demucs separator
in demucs's folder layout, a Whisper speech recogniser and a CLAP model with working (byte-level,
merge-free) tokenizers, all loadable by the same code as the real models.
"""

from __future__ import annotations

import json
from pathlib import Path


def _byte_bpe(folder: str | Path, specials: list[str], first: bool) -> tuple[Path, dict[str, int], tuple[str, str]]:
    """``folder`` created with a merge-free byte-level BPE in it (``specials`` before or after the 256 byte
    tokens): ``(folder, vocabulary, (vocab.json, merges.txt))``, the files as a slow BPE tokenizer takes them."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chars = sorted(set(bytes_to_unicode().values()))
    tokens = specials + chars if first else chars + specials
    vocab = {token: index for index, token in enumerate(tokens)}
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return folder, vocab, (str(folder / "vocab.json"), str(folder / "merges.txt"))


def _small_demucs(sources, audio_channels: int, channels: int, depth: int, **options):
    """A time-domain Demucs at 16 kHz without the LSTM, the rewrite convolutions or the internal resampling."""
    from demucs.demucs import Demucs

    return Demucs(
        sources=list(sources),
        audio_channels=audio_channels,
        channels=channels,
        depth=depth,
        samplerate=16000,
        segment=4,
        lstm_layers=0,
        rewrite=False,
        resample=False,
        **options,
    )


def save_tiny_demucs(folder: str | Path, seed: int = 0, sources=("drums", "bass", "other", "vocals")) -> Path:
    """A ~1k-parameter time-domain Demucs at 16 kHz, stereo, saved as ``tiny.yaml`` + ``tiny.safetensors``."""
    import torch

    from songgen_hf.data.prepare.separation import save_demucs_folder

    torch.manual_seed(seed)
    model = _small_demucs(sources, audio_channels=2, channels=4, depth=2)
    return save_demucs_folder(model, folder, "tiny")


def save_passthrough_demucs(folder: str | Path) -> Path:
    """A Demucs with hand-set weights whose "vocals" are the mix itself and "accompaniment" silence.

    Not a separator: it isolates the pipeline's own handling of a separation model (resampling to
    the model's rate, channel folding, demucs's chunked ``apply_model``, trimming back to the mix)
    from any model's quality, so tests can require sample-exact alignment of stems and mix, and
    VAD/lyrics checks run on known vocals.  The encoder splits each of the 4 stride phases into
    positive and negative parts (GELU(x) - GELU(-x) = x); the decoder adds them back.
    """
    import torch

    from songgen_hf.data.prepare.separation import save_demucs_folder

    model = _small_demucs(
        ["vocals", "accompaniment"], audio_channels=1, channels=8, depth=1, dconv_mode=0, kernel_size=8, stride=4
    )
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        encoder, decoder = model.encoder[0][0], model.decoder[0][0]
        for phase in range(4):
            for index, sign in enumerate((1.0, -1.0)):
                encoder.weight[2 * phase + index, 0, phase] = sign
                decoder.weight[2 * phase + index, 0, phase] = sign * 0.5  # the decoder sees encoding + skip = 2x
    return save_demucs_folder(model, folder, "passthrough")


def save_tiny_whisper(folder: str | Path, seed: int = 0, max_new_tokens: int = 12) -> Path:
    """A 1-layer Whisper with a byte-level tokenizer; the ASR pipeline loads it from ``folder`` offline."""
    import torch
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    specials = [
        "<|endoftext|>",
        "<|startoftranscript|>",
        "<|en|>",
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nocaptions|>",
        "<|notimestamps|>",
    ]
    folder, vocab, files = _byte_bpe(folder, specials, first=False)
    eos = vocab["<|endoftext|>"]
    tokenizer = WhisperTokenizer(
        *files, unk_token="<|endoftext|>", bos_token="<|endoftext|>", eos_token="<|endoftext|>"
    )
    tokenizer.add_special_tokens({"additional_special_tokens": specials[1:]})
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=16,
        encoder_layers=1,
        decoder_layers=1,
        d_model=16,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_target_positions=64,
        pad_token_id=eos,
        bos_token_id=eos,
        eos_token_id=eos,
        decoder_start_token_id=vocab["<|startoftranscript|>"],
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config.forced_decoder_ids = None
    model.generation_config.max_new_tokens = max_new_tokens
    model.save_pretrained(folder)
    WhisperProcessor(WhisperFeatureExtractor(feature_size=16), tokenizer).save_pretrained(folder)
    return folder


def save_tiny_clap(folder: str | Path, seed: int = 0) -> Path:
    """A 2-stage HTSAT audio tower and a 1-layer RoBERTa text tower, 16 kHz input up to 30 s."""
    import torch
    from transformers import (
        ClapAudioConfig,
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapProcessor,
        ClapTextConfig,
        RobertaTokenizer,
    )

    folder, vocab, files = _byte_bpe(folder, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], first=True)
    tokenizer = RobertaTokenizer(*files)
    # spec_size 256 with 64 mel bins gives a 1024-frame window: 30 s at a 480-sample hop
    extractor = ClapFeatureExtractor(
        feature_size=64,
        sampling_rate=16000,
        hop_length=480,
        fft_window_size=1024,
        max_length_s=30,
        truncation="rand_trunc",
    )
    text = ClapTextConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        projection_dim=16,
        max_position_embeddings=130,
        pad_token_id=vocab["<pad>"],
    )
    audio = ClapAudioConfig(
        spec_size=256,
        num_mel_bins=64,
        window_size=8,
        depths=[1, 1],
        num_attention_heads=[1, 2],
        patch_embeds_hidden_size=8,
        hidden_size=16,
        projection_dim=16,
        enable_fusion=False,
    )
    torch.manual_seed(seed)
    ClapModel(ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=16)).save_pretrained(
        folder
    )
    ClapProcessor(extractor, tokenizer).save_pretrained(folder)
    return folder


def save_tiny_models(folder: str | Path, seed: int = 0) -> dict[str, str]:
    """All three under ``folder`` (demucs/, whisper/, whisper2/, clap/); returns the paths by role."""
    folder = Path(folder)
    return {
        "separation_model": str(save_tiny_demucs(folder / "demucs", seed)),
        "asr_model": str(save_tiny_whisper(folder / "whisper", seed)),
        "second_asr_model": str(save_tiny_whisper(folder / "whisper2", seed + 1)),
        "clap_model": str(save_tiny_clap(folder / "clap", seed)),
    }


__all__ = ["save_passthrough_demucs", "save_tiny_clap", "save_tiny_demucs", "save_tiny_models", "save_tiny_whisper"]


def main(argv: list[str] | None = None) -> int:
    """``python -m songgen_hf.data.prepare.tiny FOLDER``: save the tiny models (and the pass-through separator)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m songgen_hf.data.prepare.tiny", description=main.__doc__)
    parser.add_argument("folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    paths = save_tiny_models(args.folder, args.seed)
    paths["passthrough"] = str(save_passthrough_demucs(Path(args.folder) / "passthrough"))
    for role, path in paths.items():
        print(f"{role}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
