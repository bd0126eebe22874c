"""Tiny configurations for offline tests and smoke tests.

Everything here builds in-process from configs, so tests (ours and users') never download a
checkpoint.  The sizes are the smallest that keep the real structure: X-Codec's hop of
8·5·4·2 = 320 samples and a HuBERT front end whose conv strides also multiply to 320.
"""

from __future__ import annotations

from typing import Any

from transformers import DacConfig, HubertConfig, T5Config, WavLMConfig

from songgen_hf.modeling import MelTeacherConfig, XCodecConfig
from songgen_hf.modeling.songgen import (
    SongGenConfig,
    SongGenDecoderConfig,
    SongGenLyricsEncoderConfig,
    SongGenVoiceEncoderConfig,
)


def tiny_voice_encoder_config(output_size: int = 32, **overrides) -> SongGenVoiceEncoderConfig:
    """A MERT-shaped but tiny config for tests: hidden 32, 2 layers, 16 conv channels.

    Keeps MERT's layout (group-norm front end, strides (5, 2, 2, 2, 2, 2, 2) -> hop 320 ->
    75 Hz at 24 kHz, pre-LN encoder, weight-normed conv positions, ``masked_spec_embed``).
    """
    encoder = HubertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        hidden_dropout=0.0,
        activation_dropout=0.0,
        attention_dropout=0.0,
        feat_proj_dropout=0.0,
        final_dropout=0.0,
        layerdrop=0.0,
        feat_extract_norm="group",
        conv_dim=[16] * 7,
        conv_stride=[5, 2, 2, 2, 2, 2, 2],
        conv_kernel=[10, 3, 3, 3, 3, 2, 2],
        conv_bias=False,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        do_stable_layer_norm=True,
        mask_time_prob=0.075,
    )
    return SongGenVoiceEncoderConfig(audio_encoder_config=encoder, output_size=output_size, **overrides)


TINY_ACOUSTIC = dict(
    encoder_hidden_size=8,
    decoder_hidden_size=32,
    hidden_size=16,
    downsampling_ratios=[8, 5, 4, 2],
    upsampling_ratios=[8, 5, 4, 2],
    n_codebooks=2,
    codebook_size=64,
    codebook_dim=8,
    sampling_rate=16000,
)

TINY_HUBERT = dict(
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=32,
    conv_dim=[16] * 7,
    conv_stride=[5, 2, 2, 2, 2, 2, 2],
    conv_kernel=[10, 3, 3, 3, 3, 2, 2],
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=4,
)


def tiny_xcodec_config(teacher: str = "hubert", **overrides: Any) -> XCodecConfig:
    """A ~0.3 M-parameter X-Codec with the real frame rate, bandwidths and codebook size.

    Args:
        teacher: ``"hubert"`` (a 2-layer random HuBERT, the structure of the real teacher),
            ``"wavlm"`` (the same for WavLM) or ``"mel"`` (the weight-free log-mel/MFCC teacher).
        **overrides: any ``XCodecConfig`` field; ``acoustic_model_config`` /
            ``semantic_model_config`` dicts are merged into the tiny defaults.
    """
    acoustic = {**TINY_ACOUSTIC, **overrides.pop("acoustic_model_config", {})}
    semantic_overrides = overrides.pop("semantic_model_config", {})
    if teacher == "hubert":
        semantic = HubertConfig(**{**TINY_HUBERT, **semantic_overrides})
    elif teacher == "wavlm":
        semantic = WavLMConfig(**{**TINY_HUBERT, "num_buckets": 32, "max_bucket_distance": 64, **semantic_overrides})
    elif teacher == "mel":
        semantic = MelTeacherConfig(**{"num_mel_bins": 24, "num_mfcc": 8, **semantic_overrides})
    else:
        raise ValueError(f"Unknown teacher {teacher!r}; use 'hubert', 'wavlm' or 'mel'.")
    return XCodecConfig(acoustic_model_config=DacConfig(**acoustic), semantic_model_config=semantic, **overrides)


def write_tone_dataset(folder, num_clips: int = 16, seconds: float = 1.0, sampling_rate: int = 16000, seed: int = 0):
    """Write ``num_clips`` WAV files of decaying harmonic tones over a -34 dB noise floor.

    A quick codec-training corpus: pitched content like music, and a noise floor so the
    log-magnitude losses are well defined everywhere (pure tones leave most STFT bins at the
    log floor, which rewards a silent output).  Returns the list of paths.
    """
    from pathlib import Path

    import numpy as np
    import soundfile as sf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sampling_rate)) / sampling_rate
    paths = []
    for index in range(num_clips):
        f0 = rng.uniform(110, 880)
        harmonics = sum(
            0.3 / (k + 1) * np.sin(2 * np.pi * f0 * (k + 1) * t + rng.uniform(0, 2 * np.pi)) for k in range(3)
        )
        envelope = np.minimum(1.0, t * 20) * np.exp(-t * rng.uniform(0.5, 2.0))
        audio = harmonics * envelope + 0.02 * rng.standard_normal(t.shape[0])
        path = folder / f"tone_{index:03d}.wav"
        sf.write(path, audio.astype(np.float32), sampling_rate)
        paths.append(path)
    return paths


TINY_HIDDEN = 32
# The tiny decoder's sizes, SongGen's and ResGen's alike (their configs share these fields).
TINY_DECODER = {
    "hidden_size": TINY_HIDDEN,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "ffn_dim": 64,
    "max_position_embeddings": 256,
    "dropout": 0.0,
}


def tiny_text_encoder_config(**overrides: Any) -> T5Config:
    """The tiny description encoder: a 2-layer T5 encoder stack over 256 ids; ``overrides`` are ``T5Config`` fields."""
    return T5Config(
        **{
            "vocab_size": 256,
            "d_model": TINY_HIDDEN,
            "d_kv": 8,
            "d_ff": 64,
            "num_layers": 2,
            "num_heads": 4,
            "feed_forward_proj": "gated-gelu",
            "dropout_rate": 0.0,
            "is_encoder_decoder": False,
            **overrides,
        }
    )


def tiny_lyrics_encoder_config(**overrides: Any) -> SongGenLyricsEncoderConfig:
    """The tiny lyrics encoder: 2 relative-position layers over 300 ids; ``overrides`` are its config's fields."""
    return SongGenLyricsEncoderConfig(
        **{
            "vocab_size": 300,
            "hidden_size": TINY_HIDDEN,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 64,
            "dropout": 0.0,
            "positional_dropout": 0.0,
            "max_position_embeddings": 128,
            **overrides,
        }
    )


def tiny_conditioning(use_voice_encoder: bool = True, lyrics_positions: int = 128) -> dict[str, Any]:
    """What a tiny SongGen or ResGen has around its decoder, as their configs' fields: the description T5,
    the lyrics encoder (``lyrics_positions`` tokens long), the MERT-shaped voice encoder on 1 s clips
    (optional) and the tiny mel-teacher X-Codec."""
    voice = tiny_voice_encoder_config(output_size=TINY_HIDDEN, clip_seconds=1.0) if use_voice_encoder else None
    return {
        "text_encoder": tiny_text_encoder_config(),
        "lyrics_encoder": tiny_lyrics_encoder_config(max_position_embeddings=lyrics_positions),
        "voice_encoder": voice,
        "use_voice_encoder": use_voice_encoder,
        "audio_encoder": tiny_xcodec_config(teacher="mel"),
    }


def tiny_songgen_config(
    track_pattern: str = "mixed_pro", use_voice_encoder: bool = True, **overrides: Any
) -> SongGenConfig:
    """A SongGen with every real component at toy size: a forward + backward takes well under a second.

    Description T5 (2 layers, vocab 256), lyrics encoder (2 relative-position layers, vocab 300),
    a MERT-shaped voice encoder on 1 s clips (optional), a 2-layer decoder (hidden 32, 4 heads)
    and the tiny mel-teacher X-Codec.  ``overrides`` are ``SongGenConfig`` fields; a
    ``decoder`` dict is merged into the tiny decoder.
    """
    decoder = {"track_pattern": track_pattern, **TINY_DECODER, **overrides.pop("decoder", {})}
    return SongGenConfig(**tiny_conditioning(use_voice_encoder), decoder=SongGenDecoderConfig(**decoder), **overrides)


def dummy_inputs(
    config: SongGenConfig,
    batch_size: int = 2,
    num_frames: int = 20,
    with_labels: bool = True,
    with_voice: bool | None = None,
    seed: int = 0,
) -> dict:
    """Random but well-formed inputs that ``SongGenForConditionalGeneration(config)(**inputs)`` accepts.

    The second item's description, lyrics and frames are shorter than the first's, so padding
    paths are exercised; with a voice encoder, the last item has no voice (an all-zero clip).
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    decoder = config.decoder
    pattern = decoder.token_pattern()

    def ids(high: int, length: int) -> torch.Tensor:
        return torch.randint(1, high, (batch_size, length), generator=generator)

    def mask(length: int) -> torch.Tensor:
        m = torch.ones(batch_size, length, dtype=torch.long)
        for row in range(1, batch_size):
            m[row, max(1, length - 2 * row) :] = 0
        return m

    inputs = {
        "input_ids": ids(config.text_encoder.vocab_size, 7),
        "attention_mask": mask(7),
        "lyrics_input_ids": ids(config.lyrics_encoder.vocab_size, 11),
        "lyrics_attention_mask": mask(11),
    }
    if with_voice is None:
        with_voice = config.voice_encoder is not None
    if with_voice:
        samples = config.voice_encoder.max_samples
        voice = torch.randn(batch_size, samples, generator=generator) * 0.1
        if batch_size > 1:
            voice[-1] = 0.0
        inputs["voice_values"] = voice
        inputs["voice_attention_mask"] = torch.ones(batch_size, samples, dtype=torch.long)
    if with_labels:
        tracks = {
            name: torch.randint(
                0, decoder.codebook_size, (batch_size, decoder.num_codebooks, num_frames), generator=generator
            )
            for name in pattern.track_names
        }
        lengths = [max(1, num_frames - 3 * row) for row in range(batch_size)]
        if pattern.has_auxiliary_vocal_targets:
            vocals = torch.randint(
                0, decoder.codebook_size, (batch_size, decoder.num_codebooks, num_frames), generator=generator
            )
            built = pattern.build_labels(tracks["mix"], vocals, frame_lengths=lengths)
            inputs["vocal_labels"] = built.vocal_loss_labels()
        else:
            built = pattern.build_labels(tracks, frame_lengths=lengths)
        inputs["decoder_input_ids"] = built.decoder_input_ids
        inputs["labels"] = built.loss_labels()
    else:
        inputs["decoder_input_ids"] = torch.full(
            (batch_size * pattern.num_rows, 1), decoder.bos_token_id, dtype=torch.long
        )
    return inputs


def dummy_generation_inputs(model, batch_size: int = 2, seed: int = 0) -> dict:
    """The conditions of :func:`dummy_inputs` alone (no labels, no decoder ids): what ``generate()`` takes.

    ``model`` is a SongGen model or its config.
    """
    config = getattr(model, "config", model)
    inputs = dummy_inputs(config, batch_size=batch_size, with_labels=False, seed=seed)
    inputs.pop("decoder_input_ids")
    return inputs


def solo_inputs(batch: dict, row: int) -> dict:
    """Row ``row`` of the generation inputs ``batch`` as a batch of one, its texts cut to their unpadded length: the
    song a batched call makes in that row, asked alone."""
    solo = {}
    for key, value in batch.items():
        item = value[row : row + 1]
        if key in ("input_ids", "lyrics_input_ids"):
            mask_key = "attention_mask" if key == "input_ids" else "lyrics_attention_mask"
            item = item[:, : int(batch[mask_key][row].sum())]
        elif key in ("attention_mask", "lyrics_attention_mask"):
            item = item[:, : int(value[row].sum())]
        solo[key] = item
    return solo


def tiny_songgen_model(track_pattern: str = "mixed_pro", seed: int = 0, **overrides: Any):
    """A freshly initialised :func:`tiny_songgen_config` model in eval mode, its weights drawn from ``seed``."""
    import torch

    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration

    torch.manual_seed(seed)
    return SongGenForConditionalGeneration(tiny_songgen_config(track_pattern, **overrides)).eval()


def generate_argv(
    model, output, *extra: str, description: str = "a pop song", lyrics: str | None = "la la"
) -> list[str]:
    """``songgen generate`` arguments for one song of ``model`` (None: the default model) into ``output``.

    ``extra`` options come last, so they win over the ones given here (argparse keeps the last); ``lyrics=None``
    leaves ``--lyrics`` out (for ``--lyrics-file``).
    """
    argv = ["generate", "--description", description]
    if lyrics is not None:
        argv += ["--lyrics", lyrics]
    if model is not None:
        argv += ["--model", str(model)]
    return [*argv, "--output", str(output), "--no-progress", *extra]


def streamed_generation(model, streamer, **kwargs) -> tuple[list, Any]:
    """``model.generate(streamer=streamer, **kwargs)`` in a thread, as the pipeline's streaming runs it.

    Returns the chunks the streamer handed out and what ``generate()`` returned; an error in ``generate()`` fails
    the streamer (so the consumer does not block) and is raised here.
    """
    import threading

    box = {}

    def run():
        try:
            box["output"] = model.generate(streamer=streamer, **kwargs)
        except BaseException as error:  # noqa: BLE001 - re-raised below, in the caller's thread
            box["error"] = error
            streamer.fail(error)

    thread = threading.Thread(target=run)
    thread.start()
    chunks = list(streamer)
    thread.join()
    if "error" in box:
        raise box["error"]
    return chunks, box["output"]


def dummy_training_items(captions, num_frames: int = 10) -> list[dict]:
    """One encoded training row per caption, as the SongGen collator takes them: random codes of the tiny codec
    (8 codebooks of 1024) for a one-track model, the lyrics "la la", no reference voice."""
    import torch

    return [
        {
            "caption": caption,
            "lyrics": "la la",
            "language": "en",
            "num_frames": num_frames,
            "codes": {"mix": torch.randint(0, 1024, (8, num_frames))},
            "vocal_path": "",
            "voice_start": 0.0,
        }
        for caption in captions
    ]


def write_reference_voices(folder, sampling_rate: int = 24000) -> dict:
    """Reference-voice files, good and bad, for the tiny voice encoder's 1 s clips: ``{name: path}`` of ``good``
    (1.5 s of a 220 Hz tone), ``silent`` (all zeros), ``short`` (0.5 s), ``nan`` (a NaN sample in a float WAV) and
    ``text`` (a .wav file that holds text)."""
    from pathlib import Path

    import numpy as np
    import soundfile as sf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rate = sampling_rate
    tone = (0.2 * np.sin(2 * np.pi * 220 * np.arange(int(1.5 * rate)) / rate)).astype(np.float32)
    with_nan = tone.copy()
    with_nan[100] = np.nan
    paths = {name: folder / f"{name}.wav" for name in ("good", "silent", "short", "nan", "text")}
    sf.write(paths["good"], tone, rate)
    sf.write(paths["silent"], np.zeros_like(tone), rate)
    sf.write(paths["short"], tone[: rate // 2], rate)
    sf.write(paths["nan"], with_nan, rate, subtype="FLOAT")
    paths["text"].write_text("these are lyrics, not audio")
    return paths


def save_tiny_checkpoint(path, track_pattern: str = "mixed_pro", seed: int = 0, **overrides: Any):
    """Write a complete tiny SongGen folder and return its path.

    The folder holds the model (``config.json``, weights) and a matching processor: the
    :func:`tiny_tokenizers` pair plus, when the config has a voice encoder, a voice feature
    extractor with its clip length.  Both ``SongGenForConditionalGeneration.from_pretrained(path)``
    and ``SongGenProcessor.from_pretrained(path)`` load from it.
    """
    import torch

    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor

    torch.manual_seed(seed)
    model = SongGenForConditionalGeneration(tiny_songgen_config(track_pattern, **overrides))
    model.save_pretrained(path)
    SongGenProcessor.for_config(model.config, *tiny_tokenizers()).save_pretrained(path)
    return path


SAMPLE_DESCRIPTIONS = [
    "a melancholic piano ballad in a minor at 72 bpm with strings and a male voice",
    "an upbeat pop song in c major at 120 bpm with drums, bass and a female voice",
    "a slow folk tune in d major with acoustic guitar and a soft female voice",
    "energetic rock in e minor at 140 bpm with electric guitar, drums and a male voice",
    "a dreamy jazz piece in f major at 96 bpm with saxophone and a female singer",
    "a calm ambient track with pads and no drums",
]
SAMPLE_LYRICS = [
    "we run across the night\nand sing until the light",
    "hold me close tonight\nthe stars are shining bright",
    "walking down the road alone\nfinding my way home",
    "la la la, 1, 2, 3 we go\ndancing in the snow",
]


def greedy_reference(folder) -> tuple[Any, dict, Any]:
    """The float32 model of a saved SongGen ``folder``, its processed inputs for one short request and the ids of
    its greedy 1 s song, one row per codebook stream: what a reduced-precision model is teacher-forced against."""
    import torch

    from songgen_hf.modeling.songgen import SongGenForConditionalGeneration
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor

    model = SongGenForConditionalGeneration.from_pretrained(folder).eval()
    inputs = dict(SongGenProcessor.from_pretrained(folder)(description="a calm piano song", lyrics="la la la"))
    with torch.no_grad():
        song = model.generate(
            **inputs,
            duration_s=1.0,
            min_duration_s=1.0,
            do_sample=False,
            return_dict_in_generate=True,
            decode_audio=False,
        ).sequences
    return model, inputs, song.reshape(-1, song.shape[-1])


def tiny_tokenizers(description_vocab_size: int = 200, lyrics_vocab_size: int = 120):
    """Small description (T5-style Unigram) and lyrics (VoiceBPE) tokenizers trained in-process.

    Their vocabularies fit :func:`tiny_songgen_config` (256 description ids, 300 lyrics ids).
    Returns ``(description_tokenizer, lyrics_tokenizer)``.
    """
    import tempfile

    from songgen_hf.modeling.songgen.tokenization_songgen import train_description_tokenizer, train_voicebpe_vocab

    description = train_description_tokenizer(SAMPLE_DESCRIPTIONS * 4, vocab_size=description_vocab_size)
    with tempfile.TemporaryDirectory() as folder:
        lyrics = train_voicebpe_vocab(SAMPLE_LYRICS * 4, vocab_size=lyrics_vocab_size, path=folder, min_frequency=1)
    return description, lyrics


# The encoder half of google/flan-t5-large, SongGen's frozen description encoder (about 341 M parameters).
FLAN_T5_LARGE_ENCODER = dict(
    vocab_size=32128,
    d_model=1024,
    d_kv=64,
    d_ff=2816,
    num_layers=24,
    num_heads=16,
    relative_attention_num_buckets=32,
    relative_attention_max_distance=128,
    feed_forward_proj="gated-gelu",
    layer_norm_epsilon=1e-6,
    dropout_rate=0.1,
)


def released_songgen_config(track_pattern: str = "mixed_pro", **overrides: Any) -> SongGenConfig:
    """A SongGen of the released checkpoints' sizes, for random-weight benchmarks (nothing is downloaded).

    FLAN-T5-large encoder (24 x 1024), lyrics encoder (6 x 1024, vocabulary 7000), MERT-v1-330M-shaped
    voice encoder, 24 x 1024 decoder with 8 codebooks and the released X-Codec (HuBERT-base teacher):
    about 1.3 B parameters with the codec.  ``overrides`` are ``SongGenConfig`` fields.
    """
    from transformers import T5Config

    from songgen_hf.modeling.songgen import SongGenVoiceEncoderConfig

    use_voice = overrides.pop("use_voice_encoder", True)
    return SongGenConfig(
        text_encoder=T5Config(**FLAN_T5_LARGE_ENCODER, is_encoder_decoder=False),
        lyrics_encoder=SongGenLyricsEncoderConfig(),  # its defaults are the released sizes
        voice_encoder=SongGenVoiceEncoderConfig() if use_voice else None,
        use_voice_encoder=use_voice,
        decoder=SongGenDecoderConfig(track_pattern=track_pattern),
        audio_encoder=XCodecConfig(),
        **overrides,
    )


def write_hub_repo(cache, repo_id: str, files: dict, revision: str = "main", move: bool = False) -> str:
    """Add ``files`` (repo path -> ``bytes`` or a file path) to a Hub cache as one commit of ``repo_id``.

    The layout is huggingface_hub's own: ``models--OWNER--NAME/blobs/<hash>`` holds each file once,
    ``snapshots/<commit>/<path>`` links to it (relative symlinks), ``refs/<revision>`` names the
    commit; with ``HF_HUB_OFFLINE=1`` and ``HF_HUB_CACHE`` pointing at ``cache``,
    ``snapshot_download`` / ``hf_hub_download`` resolve the repo as after a real download.  Files
    given by path are hashed in blocks and, with ``move=True``, moved rather than copied, so a
    checkpoint of several GB is never held in memory.  Returns the commit hash.
    """
    import hashlib
    import os
    import shutil
    from pathlib import Path

    storage = Path(cache) / ("models--" + repo_id.replace("/", "--"))
    digests = {}
    for name, data in files.items():
        digest = hashlib.sha256()
        if isinstance(data, (bytes, bytearray)):
            digest.update(data)
        else:
            with open(data, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 22), b""):
                    digest.update(block)
        digests[name] = digest.hexdigest()
    commit = hashlib.sha1(b"".join(name.encode() + bytes.fromhex(digests[name]) for name in sorted(files))).hexdigest()
    for name, data in files.items():
        blob = storage / "blobs" / digests[name]
        blob.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, (bytes, bytearray)):
            blob.write_bytes(data)
        elif move:
            shutil.move(os.fspath(data), blob)
        else:
            shutil.copyfile(data, blob)
        link = storage / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
    (storage / "refs").mkdir(parents=True, exist_ok=True)
    (storage / "refs" / revision).write_text(commit)
    return commit


RELEASED_SONGGEN_REPOS = {
    "mixed_pro": "LiuZH-19/SongGen_mixed_pro",
    "interleaving_A_V": "LiuZH-19/SongGen_interleaving_A_V",
}
RELEASED_CODEC_REPO = "hf-audio/xcodec-hubert-general-balanced"
RELEASED_MERT_REPO = "m-a-p/MERT-v1-330M"


def write_official_hub_repos(model, processor, cache, work, repo_id: str | None = None) -> dict:
    """Publish ``model`` into the Hub cache ``cache`` the way the released SongGen is published.

    Three repos, each written by :func:`write_hub_repo`: the SongGen repo in the official layout
    (``config.json``, ``model.safetensors`` without codec and MERT, the processor's tokenizer files
    and ``vocab.json``), the codec in transformers' layout under ``hf-audio/xcodec-hubert-general-balanced``
    and the voice encoder's network as a MERT repo (``config.json``, ``model.safetensors``).  Tensors
    are written from the model's own storage (no copy), and ``work`` holds the folders until their
    files are moved into the cache.  Returns ``{repo id: commit}``.  The codec must have a HuBERT
    teacher (transformers' ``XcodecModel`` has no other); ``model`` has a voice encoder.
    """
    import json
    from pathlib import Path

    from safetensors.torch import save_file
    from transformers import XcodecModel

    from songgen_hf.conversion.official_export import official_config_dict, official_state_dict

    work = Path(work)
    repo_id = repo_id or RELEASED_SONGGEN_REPOS[model.config.track_pattern]
    tensors = official_state_dict(model, embed_codec=False)
    mert = {key[len("mert_model.") :]: tensors.pop(key) for key in list(tensors) if key.startswith("mert_model.")}
    songgen, codec, mert_dir = work / "songgen", work / "codec", work / "mert"
    for folder in (songgen, codec, mert_dir):
        folder.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous() for k, v in tensors.items()}, str(songgen / "model.safetensors"), metadata={"format": "pt"}
    )
    del tensors
    (songgen / "config.json").write_text(json.dumps(official_config_dict(model.config), indent=1))
    decoder = model.config.decoder
    generation = {
        "decoder_start_token_id": decoder.bos_token_id,
        "bos_token_id": decoder.bos_token_id,
        "pad_token_id": decoder.pad_token_id,
        "eos_token_id": decoder.eos_token_id,
        "do_sample": True,
    }
    (songgen / "generation_config.json").write_text(json.dumps(generation))
    processor.tokenizer.save_pretrained(songgen)
    processor.lyrics_tokenizer.save_pretrained(songgen)

    model.audio_encoder.save_pretrained(work / "codec_ours")  # ours -> transformers' XcodecModel layout
    XcodecModel.from_pretrained(work / "codec_ours").save_pretrained(codec)

    save_file(
        {k: v.contiguous() for k, v in mert.items()}, str(mert_dir / "model.safetensors"), metadata={"format": "pt"}
    )
    hubert = model.config.voice_encoder.audio_encoder_config.to_dict()
    mert_config = {
        **{k: v for k, v in hubert.items() if not k.startswith("_")},
        "model_type": "mert_model",
        "architectures": ["MERTModel"],
        "sample_rate": model.config.voice_encoder.sampling_rate,
    }
    (mert_dir / "config.json").write_text(json.dumps(mert_config, indent=1))

    def files(folder: Path) -> dict:
        return {str(p.relative_to(folder)): p for p in sorted(folder.rglob("*")) if p.is_file()}

    return {
        repo: write_hub_repo(cache, repo, files(folder), move=True)
        for repo, folder in ((repo_id, songgen), (RELEASED_CODEC_REPO, codec), (RELEASED_MERT_REPO, mert_dir))
    }


__all__ = [
    "SAMPLE_DESCRIPTIONS",
    "SAMPLE_LYRICS",
    "FLAN_T5_LARGE_ENCODER",
    "RELEASED_CODEC_REPO",
    "RELEASED_MERT_REPO",
    "RELEASED_SONGGEN_REPOS",
    "dummy_generation_inputs",
    "dummy_inputs",
    "dummy_training_items",
    "generate_argv",
    "greedy_reference",
    "released_songgen_config",
    "save_tiny_checkpoint",
    "streamed_generation",
    "tiny_conditioning",
    "tiny_lyrics_encoder_config",
    "tiny_songgen_config",
    "tiny_songgen_model",
    "tiny_text_encoder_config",
    "tiny_tokenizers",
    "tiny_xcodec_config",
    "write_hub_repo",
    "write_official_hub_repos",
    "write_reference_voices",
    "write_tone_dataset",
]


def tiny_resgen_config(use_voice_encoder: bool = False, **overrides: Any):
    """A ResGen with SongGen's tiny conditioning (:func:`tiny_conditioning`) and a 2-layer
    bidirectional transformer (hidden 32, 4 heads) over the first 4 depths of the tiny codec,
    2 mixture components.  ``overrides`` are ``ResGenConfig`` fields; a ``decoder`` dict is merged."""
    from songgen_hf.modeling.resgen import ResGenConfig, ResGenDecoderConfig

    parts = tiny_conditioning(use_voice_encoder)
    decoder = {
        "num_codebooks": 4,
        "codebook_size": parts["audio_encoder"].codebook_size,
        "num_mixtures": 2,
        **TINY_DECODER,
        **overrides.pop("decoder", {}),
    }
    return ResGenConfig(**parts, decoder=ResGenDecoderConfig(**decoder), **overrides)


def dummy_resgen_inputs(batch: int = 2, seed: int = 0) -> dict:
    """Description and lyrics ids and masks that :func:`tiny_resgen_config`'s model takes; later items are
    shorter (padded), so padding paths are exercised."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, 7, dtype=torch.long)
    lyrics_mask = torch.ones(batch, 9, dtype=torch.long)
    for row in range(1, batch):
        mask[row, 7 - 2 * row :] = 0
        lyrics_mask[row, 9 - 3 * row :] = 0
    return {
        "input_ids": torch.randint(1, 200, (batch, 7), generator=generator),
        "attention_mask": mask,
        "lyrics_input_ids": torch.randint(1, 120, (batch, 9), generator=generator),
        "lyrics_attention_mask": lyrics_mask,
    }


def save_tiny_resgen_checkpoint(path, seed: int = 0, **overrides: Any):
    """Write a complete tiny ResGen pipeline folder (diffusers layout: ``model_index.json``,
    ``transformer/``, ``scheduler/``, ``processor/``) and return its path.  ``ResGenPipeline.from_pretrained``,
    ``pipeline("text-to-song", model=path)`` and ``songgen generate --model path`` all load it."""
    import torch

    from songgen_hf.modeling.resgen import ResGenForConditionalGeneration, ResGenScheduler
    from songgen_hf.modeling.resgen.pipeline_resgen import ResGenPipeline
    from songgen_hf.modeling.songgen.processing_songgen import SongGenProcessor

    torch.manual_seed(seed)
    model = ResGenForConditionalGeneration(tiny_resgen_config(**overrides)).eval()
    processor = SongGenProcessor.for_config(model.config, *tiny_tokenizers())
    ResGenPipeline(transformer=model, scheduler=ResGenScheduler(), processor=processor).save_pretrained(path)
    return path
