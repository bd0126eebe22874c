"""Pre-encoding: dataset schema, exact codes, frame alignment, resume, mixing augmentation."""

import argparse
import json
import math

import datasets
import numpy as np
import pytest
import torch

from songgen_hf import XCodecModel
from songgen_hf.commands.data import add_encode_arguments, run_encode
from songgen_hf.data.audio import load_audio
from songgen_hf.data.encode import INFO_FILE, EncodeOptions, ManifestEncoder, best_voice_start, encode_manifest
from songgen_hf.data.mixing import MixingOptions, join_captions, max_offset, mix_tracks, plan_mixes, rms

from .tone_songs import ACCOMPANIMENT_SHORTFALL, save_tiny_codec, write_tone_songs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("encode")
    return write_tone_songs(root / "songs"), save_tiny_codec(root / "codec")


def _codes(row, column):
    return np.asarray(row[column], dtype=np.int64)


def test_encoded_dataset_schema_alignment_and_exact_codes(corpus, tmp_path):
    manifest, codec_dir = corpus
    output = encode_manifest(manifest, codec_dir, tmp_path / "encoded", EncodeOptions(batch_size=3, shard_size=3))
    dataset = datasets.load_from_disk(str(output))
    assert len(dataset) == 4 and not (tmp_path / "encoded.partial").exists()
    assert dataset.features["codes_mix"].feature.feature.dtype == "int16"
    codec = XCodecModel.from_pretrained(codec_dir).eval()
    hop, frame_rate = codec.config.hop_length, codec.config.frame_rate
    for row, record in zip(dataset, (json.loads(line) for line in manifest.read_text().splitlines())):
        mix, vocals, accompaniment = (_codes(row, c) for c in ("codes_mix", "codes_vocals", "codes_accompaniment"))
        assert mix.shape == vocals.shape == accompaniment.shape == (8, row["num_frames"])
        # the accompaniment stem is short by 700 samples: everything is trimmed to its frame count
        audio = load_audio(manifest.parent / record["audio_path"], 16000)
        assert row["num_frames"] == codec.config.num_frames(audio.shape[0] - ACCOMPANIMENT_SHORTFALL)
        assert row["trimmed_frames"] == codec.config.num_frames(audio.shape[0]) - row["num_frames"] >= 2
        assert row["duration"] == pytest.approx(row["num_frames"] / frame_rate)
        # batched encoding with a padding mask equals encoding the clip alone
        alone = codec.encode(torch.from_numpy(audio)[None, None]).audio_codes[0, :, : row["num_frames"]]
        assert np.array_equal(mix, alone.numpy())
        assert row["caption"] == record["caption"] and row["lyrics"] == record["lyrics"]
        assert row["vocal_energy"] == pytest.approx(record["vocal_energy"])
        assert json.loads(row["attributes"])["clap_score"] == pytest.approx(record["clap_score"])
        assert row["vocal_path"].endswith(record["vocal_path"]) and not row["augmented"]
        assert row["source_ids"] == [record["id"]]
    info = json.loads((output / INFO_FILE).read_text())
    assert info["num_rows"] == 4 and info["frame_rate"] == frame_rate and info["validation"]["ok"] == 4
    assert hop == 320


def test_stems_left_out_are_not_encoded(corpus, tmp_path):
    manifest, codec_dir = corpus
    full = datasets.load_from_disk(str(encode_manifest(manifest, codec_dir, tmp_path / "all", EncodeOptions())))
    vocals_only = encode_manifest(manifest, codec_dir, tmp_path / "vocals", EncodeOptions(stems=("vocals",)))
    for row, reference in zip(datasets.load_from_disk(str(vocals_only)), full):
        assert row["codes_accompaniment"] is None
        # without the short accompaniment stem nothing trims the mix to its length
        assert row["num_frames"] > reference["num_frames"]
        assert np.array_equal(
            _codes(row, "codes_vocals")[:, : reference["num_frames"]], _codes(reference, "codes_vocals")
        )
    with pytest.raises(ValueError, match="Unknown stem"):
        EncodeOptions(stems=("drums",))


def test_instrumentals_get_a_silent_vocal_stem_and_sung_songs_without_a_stem_get_none(corpus, tmp_path):
    manifest, codec_dir = corpus
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    records[0].update(vocal_path=None, lyrics="")  # a declared instrumental
    records[1].update(vocal_path=None)  # sung, but its stem is missing
    edited = manifest.parent / "edited.jsonl"
    edited.write_text("".join(json.dumps(record) + "\n" for record in records))
    options = dict(stems=("vocals",), batch_size=4)
    rows = list(
        datasets.load_from_disk(str(encode_manifest(edited, codec_dir, tmp_path / "on", EncodeOptions(**options))))
    )
    codec = XCodecModel.from_pretrained(codec_dir).eval()
    frames = rows[0]["num_frames"]
    silence = codec.encode(torch.zeros(1, 1, frames * codec.config.hop_length)).audio_codes[0, :, :frames].numpy()
    assert np.array_equal(_codes(rows[0], "codes_vocals"), silence)
    assert rows[0]["vocal_path"] is None and rows[0]["voice_start"] is None  # no reference voice in silence
    assert rows[1]["codes_vocals"] is None and rows[2]["codes_vocals"] is not None
    off = encode_manifest(
        edited, codec_dir, tmp_path / "off", EncodeOptions(silent_vocals_for_instrumentals=False, **options)
    )
    assert datasets.load_from_disk(str(off))[0]["codes_vocals"] is None


def test_interrupted_encode_resumes_with_the_done_shards(corpus, tmp_path, monkeypatch):
    manifest, codec_dir = corpus
    options = EncodeOptions(shard_size=1, mixing=MixingOptions(num_mixes=2, seed=3))
    original = ManifestEncoder._encode_shard
    encoded = []

    def crash_on_third(self, shard, *args):
        if len(encoded) == 2:
            raise RuntimeError("simulated crash")
        encoded.append(shard["name"])
        return original(self, shard, *args)

    monkeypatch.setattr(ManifestEncoder, "_encode_shard", crash_on_third)
    with pytest.raises(RuntimeError, match="simulated crash"):
        encode_manifest(manifest, codec_dir, tmp_path / "out", options)
    assert sorted(p.name for p in (tmp_path / "out.partial" / "shards").iterdir()) == ["records_00000", "records_00001"]
    assert not (tmp_path / "out").exists()

    with pytest.raises(ValueError, match=r"other settings \(changed: \['bandwidth'\]\)"):
        encode_manifest(
            manifest, codec_dir, tmp_path / "out", EncodeOptions(shard_size=1, bandwidth=2.0, mixing=options.mixing)
        )

    def count(self, shard, *args):
        encoded.append(shard["name"])
        return original(self, shard, *args)

    encoded.clear()
    monkeypatch.setattr(ManifestEncoder, "_encode_shard", count)
    resumed = datasets.load_from_disk(str(encode_manifest(manifest, codec_dir, tmp_path / "out", options)))
    assert encoded == ["records_00002", "records_00003", "mixes_00000", "mixes_00001"]
    fresh = datasets.load_from_disk(str(encode_manifest(manifest, codec_dir, tmp_path / "fresh", options)))
    assert resumed.to_list() == fresh.to_list()

    with pytest.raises(ValueError, match="--overwrite"):
        encode_manifest(manifest, codec_dir, tmp_path / "out", options)


def test_mixing_augmentation_rows(corpus, tmp_path):
    manifest, codec_dir = corpus
    parser = add_encode_arguments(argparse.ArgumentParser())
    args = parser.parse_args(
        [str(manifest), "--codec", str(codec_dir), "--output", str(tmp_path / "mixed"), "--mix", "3"]
    )
    assert run_encode(args) == 0
    dataset = datasets.load_from_disk(str(tmp_path / "mixed"))
    mixes = [row for row in dataset if row["augmented"]]
    records = {row["id"]: row for row in dataset if not row["augmented"]}
    assert len(mixes) == 3 and len(records) == 4
    for row in mixes:
        details = json.loads(row["attributes"])["mix"]
        primary, secondary = records[details["primary"]], records[details["secondary"]]
        assert row["source_ids"] == [primary["id"], secondary["id"]]
        assert row["caption"] == f"{primary['caption']} and {secondary['caption']}"
        louder = primary if details["louder"] == "primary" else secondary
        assert row["lyrics"] == louder["lyrics"] and row["vocal_path"] == louder["vocal_path"]
        assert -5 <= details["snr_db"] <= 5 and details["overlap_fraction"] >= 0.5
        assert row["num_frames"] <= primary["num_frames"] + primary["trimmed_frames"]
        assert row["vocal_energy"] is None and _codes(row, "codes_vocals").shape == (8, row["num_frames"])


# ---------------------------------------------------------------------------------- mixing math
def _song(rng, samples, level):
    vocals = level * rng.standard_normal(samples) * np.hanning(samples)
    accompaniment = 0.5 * level * rng.standard_normal(samples)
    return {"mix": vocals + accompaniment, "vocals": vocals, "accompaniment": accompaniment}


@pytest.mark.parametrize("lengths", [(16000, 16000), (16000, 40000), (40000, 9000)])
def test_snr_overlap_and_levels_of_a_mix(lengths):
    rng = np.random.default_rng(0)
    for trial, plan in enumerate(plan_mixes(2, MixingOptions(num_mixes=25, seed=7))):
        primary, secondary = _song(rng, lengths[0], 0.3), _song(rng, lengths[1], 0.01)
        result = mix_tracks(primary, secondary, plan.snr_db, plan.offset_fraction, plan.output_rms_db)
        # the drawn SNR is the level ratio of the two scaled songs over their full clips
        measured = 20 * math.log10(
            rms(result.primary_gain * primary["mix"]) / rms(result.secondary_gain * secondary["mix"])
        )
        assert measured == pytest.approx(plan.snr_db, abs=1e-6) and -5 <= plan.snr_db <= 5
        # what was added beyond the primary is the secondary, at the offset, over the overlap
        added = result.tracks["mix"].astype(np.float64) - result.primary_gain * primary["mix"]
        window = slice(result.offset, result.offset + result.overlap)
        assert np.allclose(added[window], result.secondary_gain * secondary["mix"][: result.overlap], atol=1e-6)
        assert np.abs(np.delete(added, np.arange(window.start, window.stop))).max() < 1e-6
        assert result.overlap == min(lengths[1], lengths[0] - result.offset)
        assert result.overlap_fraction >= 0.5 and result.offset <= max_offset(*lengths, 0.5)
        # output level: the drawn RMS unless the peak limit pulled it down
        peak = max(np.abs(t).max() for t in result.tracks.values())
        assert peak <= 0.99 + 1e-6
        level_db = 20 * math.log10(rms(result.tracks["mix"]))
        assert level_db == pytest.approx(plan.output_rms_db, abs=1e-3) or peak == pytest.approx(0.99, abs=1e-5)
        # stems stay consistent with the mixture
        assert np.allclose(result.tracks["vocals"] + result.tracks["accompaniment"], result.tracks["mix"], atol=1e-6)
        assert result.tracks["mix"].shape == (lengths[0],)


def test_offset_bound_keeps_half_of_the_shorter_clip():
    assert max_offset(100, 100, 0.5) == 50  # secondary starts at most half-way through
    assert max_offset(100, 300, 0.5) == 50  # a longer secondary still covers half the primary
    assert max_offset(100, 30, 0.5) == 85  # a shorter one keeps 15 of its 30 samples inside
    offsets = [
        mix_tracks(
            _song(np.random.default_rng(1), 100, 0.1), _song(np.random.default_rng(2), 100, 0.1), 0.0, u, -20
        ).offset
        for u in (0.0, 0.5, 0.999999)
    ]
    assert offsets == [0, 25, 50]


def test_captions_lyrics_and_silence():
    assert join_captions("a pop song", "a rock song") == "a pop song and a rock song"
    assert join_captions("A pop song. Upbeat.", "A rock song.") == "A pop song. Upbeat; A rock song."
    assert join_captions("same", "same") == "same"
    silent = {"mix": np.zeros(100)}
    with pytest.raises(ValueError, match="silent"):
        mix_tracks(silent, {"mix": np.ones(100)}, 0.0, 0.0, -20)


def test_voice_start_is_the_loudest_window():
    vocals = np.zeros(16000 * 5, dtype=np.float32)
    vocals[16000 * 2 : 16000 * 3] = 1.0
    assert best_voice_start(vocals, 16000, 1.0, 320) == pytest.approx(2.0)
    assert best_voice_start(vocals[:8000], 16000, 1.0, 320) == 0.0


def test_a_clip_that_fails_to_encode_is_skipped_and_reported(corpus, tmp_path):
    manifest, codec_dir = corpus
    import soundfile as sf

    sf.write(tmp_path / "tiny.wav", np.zeros(100, dtype=np.float32), 16000)  # less than one codec frame
    records = manifest.read_text() + json.dumps(
        {"id": "tiny", "caption": "x", "audio_path": str(tmp_path / "tiny.wav")}
    )
    bad_manifest = manifest.parent / "with_tiny.jsonl"
    bad_manifest.write_text(records + "\n")
    output = encode_manifest(bad_manifest, codec_dir, tmp_path / "out", EncodeOptions(shard_size=8))
    info = json.loads((output / INFO_FILE).read_text())
    assert info["num_rows"] == 4 and len(info["encode_failures"]) == 1
    assert "shorter than one codec frame" in info["encode_failures"][0]["error"]
    with pytest.raises(ValueError, match="shorter than one codec frame"):
        encode_manifest(bad_manifest, codec_dir, tmp_path / "strict", EncodeOptions(on_error="raise"))


@pytest.mark.skipif(torch.accelerator.is_available(), reason="the CPU-only launch path")
def test_torchrun_on_a_cpu_machine_shares_the_shards_between_processes(corpus, tmp_path):
    """`torchrun --nproc_per_node 2 ... data encode` without ACCELERATE_USE_CPU: accelerate alone would
    leave both processes believing they are alone, encoding every shard and deleting each other's work."""
    import os
    import re
    import subprocess
    import sys

    manifest, codec_dir = corpus
    env = {key: value for key, value in os.environ.items() if key != "ACCELERATE_USE_CPU"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "songgen_hf.cli",
        "--verbose",
        "data",
        "encode",
        str(manifest),
        "--codec",
        str(codec_dir),
        "--output",
        str(tmp_path / "encoded"),
        "--shard-size",
        "1",
    ]
    result = subprocess.run(command, env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    encoded = re.findall(r"encoding (records_\d+)", result.stderr)
    assert sorted(encoded) == [f"records_{i:05d}" for i in range(4)]  # each shard once, by one of the two
    assert len(datasets.load_from_disk(str(tmp_path / "encoded"))) == 4
    assert not (tmp_path / "encoded.partial").exists()


def test_a_songgen_folder_as_codec_encodes_with_its_own_codec(corpus, tmp_path):
    """`data encode --codec SONGGEN_DIR` gives the codes of the codec inside that model, bit for bit."""
    from songgen_hf import SongGenForConditionalGeneration
    from songgen_hf.testing import save_tiny_checkpoint

    manifest, _ = corpus
    songgen_dir = save_tiny_checkpoint(tmp_path / "songgen", use_voice_encoder=False)
    codec_dir = tmp_path / "its_codec"
    SongGenForConditionalGeneration.from_pretrained(songgen_dir).audio_encoder.save_pretrained(codec_dir)
    parser = argparse.ArgumentParser()
    add_encode_arguments(parser)
    outputs = {}
    for name, codec in (("songgen", songgen_dir), ("codec", codec_dir)):
        outputs[name] = tmp_path / f"encoded_{name}"
        assert (
            run_encode(
                parser.parse_args(
                    [str(manifest), "--codec", str(codec), "--output", str(outputs[name]), "--stems", "vocals"]
                )
            )
            == 0
        )
    via_songgen, via_codec = (datasets.load_from_disk(str(outputs[name])) for name in ("songgen", "codec"))
    assert len(via_songgen) == len(via_codec) == 4
    for a, b in zip(via_songgen, via_codec):
        assert np.array_equal(_codes(a, "codes_mix"), _codes(b, "codes_mix"))


def test_an_output_that_holds_the_corpus_or_the_codec_is_refused(corpus, capsys):
    """The encoded dataset replaces --output whole, so a folder holding the manifest or the codec is refused."""
    from songgen_hf.commands.cli import main

    manifest, codec = corpus
    before = sorted(path.name for path in manifest.parent.rglob("*"))
    for output in (manifest.parent, manifest.parent.parent, codec):
        assert (
            main(["data", "encode", str(manifest), "--codec", str(codec), "--output", str(output), "--overwrite"]) == 2
        )
        assert "which writing --output would replace" in capsys.readouterr().err
    assert sorted(path.name for path in manifest.parent.rglob("*")) == before and (codec / "config.json").is_file()
