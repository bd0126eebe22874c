"""The released SongGen checkpoints by Hub id, through the real resolution code, offline.

A Hub cache in huggingface_hub's own layout (``hub_cache_builder``) holds tiny random checkpoints
in the official layouts; ``HF_HUB_OFFLINE=1`` (conftest) and the cache pointed at it make
``snapshot_download`` / ``hf_hub_download`` resolve them as after a real download.  Every front
door converts on its first call, loads the cached copy without converting on the next, gives the
same tensors as converting the same files from a folder, and generates.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

import huggingface_hub.constants
import numpy as np
import pytest
import torch

from songgen_hf import SongGenForConditionalGeneration, SongGenProcessor
from songgen_hf.conversion import conversion_cache, load_official_songgen
from songgen_hf.conversion.hub import HubSourceError, config_layout
from songgen_hf.testing import generate_argv

from .hub_cache_builder import (
    CODEC_REPO,
    MERT_REPO,
    ORIGINAL_CODEC_FILE,
    ORIGINAL_CODEC_REPO,
    SONGGEN_REPOS,
    write_repo,
)

MIXED = SONGGEN_REPOS["mixed_pro"]
CONVERTED = "from the official SongGen layout"  # the one line a conversion logs


@pytest.fixture(scope="module")
def hub(official_hub):
    return official_hub


@pytest.fixture(autouse=True)
def offline_cache(hub, monkeypatch, tmp_path):
    """The test cache as huggingface_hub's (read at call time from its constants), a fresh converted cache."""
    monkeypatch.setenv("HF_HUB_CACHE", str(hub["cache"]))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub["cache"]))
    monkeypatch.setenv(conversion_cache.CACHE_ENV, str(tmp_path / "songgen-cache"))
    return tmp_path / "songgen-cache"


@pytest.fixture
def conversions(monkeypatch):
    """Counts real conversions (the hub-side loader that every conversion goes through)."""
    calls = []
    original = conversion_cache.load_official_songgen_from_hub

    def counted(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(conversion_cache, "load_official_songgen_from_hub", counted)
    return calls


def _snapshot(hub, pattern):
    return (
        hub["cache"]
        / ("models--" + SONGGEN_REPOS[pattern].replace("/", "--"))
        / "snapshots"
        / hub["repos"][pattern]["commit"]
    )


def _plain_folder(hub, pattern, target: Path) -> Path:
    """The same official files as a plain folder (not in any Hub cache)."""
    shutil.copytree(_snapshot(hub, pattern), target, symlinks=False)
    return target


def _mert_folder(hub):
    storage = hub["cache"] / ("models--" + MERT_REPO.replace("/", "--"))
    return next((storage / "snapshots").iterdir())


def _assert_same_tensors(a, b):
    ours, theirs = a.state_dict(), b.state_dict()
    assert set(ours) == set(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


# ------------------------------------------------------------------------------ one call
@pytest.mark.parametrize("pattern", list(SONGGEN_REPOS))
def test_from_pretrained_by_repo_id_converts_once_and_matches_the_folder(pattern, hub, conversions, caplog, tmp_path):
    repo = SONGGEN_REPOS[pattern]
    with caplog.at_level(logging.INFO, logger="songgen_hf.conversion"):
        model = SongGenForConditionalGeneration.from_pretrained(repo)
    assert conversions == [repo]
    lines = [r.getMessage() for r in caplog.records if CONVERTED in r.getMessage()]
    assert len(lines) == 1 and repo in lines[0] and hub["repos"][pattern]["commit"][:10] in lines[0]
    cached = Path(model.name_or_path)
    assert cached.parent.name == "models--" + repo.replace("/", "--")
    assert cached.name.startswith(hub["repos"][pattern]["commit"])  # keyed by the resolved commit

    # the same files converted directly from a folder, with the parts the resolver picked
    direct = load_official_songgen(
        _snapshot(hub, pattern), codec=str(hub["codec_folder"]), mert_folder=str(_mert_folder(hub))
    )
    _assert_same_tensors(model, direct)
    assert model.config.track_pattern == pattern

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="songgen_hf.conversion"):
        again = SongGenForConditionalGeneration.from_pretrained(repo)
    assert conversions == [repo]  # no second conversion
    assert not any(CONVERTED in r.getMessage() for r in caplog.records)
    assert again.name_or_path == model.name_or_path
    _assert_same_tensors(again, model)

    # a plain folder holding the same files works like the repo id (its own cache entry)
    folder = _plain_folder(hub, pattern, tmp_path / "official")
    from_folder = SongGenForConditionalGeneration.from_pretrained(folder)
    assert len(conversions) == 2 and Path(from_folder.name_or_path) != cached
    _assert_same_tensors(from_folder, model)


def test_offline_resolution_reads_the_cache_without_asking_the_hub(hub, conversions, monkeypatch):
    """HF_HUB_OFFLINE=1 reaches every hub call as local_files_only: huggingface_hub 1.x (which transformers
    accepts) otherwise lists the repo tree for allow_patterns first, and that request fails offline."""
    import huggingface_hub

    calls = []

    def spy(original):
        def wrapped(*args, **kwargs):
            calls.append((original.__name__, kwargs.get("local_files_only")))
            return original(*args, **kwargs)

        return wrapped

    for name in ("snapshot_download", "hf_hub_download"):
        monkeypatch.setattr(huggingface_hub, name, spy(getattr(huggingface_hub, name)))
    assert huggingface_hub.constants.HF_HUB_OFFLINE  # conftest's setting, which users set the same way
    model = SongGenForConditionalGeneration.from_pretrained(MIXED)
    assert conversions == [MIXED] and model.config.track_pattern == "mixed_pro"
    assert calls and all(local for _, local in calls), calls


def test_processor_by_repo_id_uses_the_converted_folder(hub, conversions):
    processor = SongGenProcessor.from_pretrained(MIXED)
    assert conversions == [MIXED]
    assert processor.feature_extractor is not None  # the voice encoder's clip settings
    batch = processor(description="a calm piano song", lyrics="la la love", return_tensors="pt")
    assert (
        batch["input_ids"].shape[0] == 1
        and batch["lyrics_input_ids"][0, 0] == processor.lyrics_tokenizer.start_token_id
    )
    SongGenForConditionalGeneration.from_pretrained(MIXED)
    assert conversions == [MIXED]  # model and processor share one conversion


@pytest.mark.parametrize("door", ["load_text_to_song_pipeline", "transformers.pipeline"])
def test_pipeline_by_repo_id_generates(door, hub, conversions):
    from transformers import pipeline

    from songgen_hf.pipelines import load_text_to_song_pipeline

    repo = SONGGEN_REPOS["interleaving_A_V"]
    make = (
        load_text_to_song_pipeline
        if door == "load_text_to_song_pipeline"
        else (lambda m: pipeline("text-to-song", model=m))
    )
    pipe = make(repo)
    song = pipe({"description": "a calm song", "lyrics": "la la"}, duration_s=0.2, seed=0)
    assert song["sampling_rate"] == 16000 and song["audio"].ndim == 2 and song["audio"].shape[-1] > 0
    assert np.isfinite(song["audio"]).all() and "vocals" in song  # dual-track: stems come back
    make(repo)
    assert conversions == [repo]


def test_cli_generate_and_convert_by_repo_id(hub, conversions, tmp_path, capsys):
    from songgen_hf.commands.cli import main

    output = tmp_path / "song.wav"
    args = generate_argv(MIXED, output, "--duration", "0.2")
    assert main(args) == 0 and output.is_file()
    assert main(args) == 0
    assert conversions == [MIXED]
    capsys.readouterr()

    out = tmp_path / "converted"
    assert main(["convert", "songgen", MIXED, str(out), "--local-files-only"]) == 0
    assert f"converted {MIXED} -> {out}" in capsys.readouterr().out
    _assert_same_tensors(
        SongGenForConditionalGeneration.from_pretrained(out), SongGenForConditionalGeneration.from_pretrained(MIXED)
    )
    assert SongGenProcessor.from_pretrained(out).lyrics_tokenizer is not None


def test_space_model_setting_accepts_a_repo_id(hub, conversions):
    from tests.space.test_app import _import_app

    pytest.importorskip("gradio")
    app = _import_app("songgen_space_hub", MIXED, "0")
    assert app.INFO.error is None, app.INFO.error
    assert app.INFO.name == MIXED and app.INFO.has_voice and not app.INFO.dual_track
    assert conversions == [MIXED]
    model, _ = app.load_model()
    assert model.name_or_path == app.INFO.path


def test_original_codec_by_repo_and_filename_equals_the_transformers_layout(hub):
    """The codec named as ``repo_id:file.pth`` (original layout) gives the tensors of the hf-audio folder."""
    from songgen_hf.conversion import load_official_songgen_from_hub

    via_pth, _ = load_official_songgen_from_hub(
        MIXED, codec=f"{ORIGINAL_CODEC_REPO}:{ORIGINAL_CODEC_FILE}", codec_config=hub["codec"].config
    )
    via_folder, _ = load_official_songgen_from_hub(MIXED, codec=CODEC_REPO)
    _assert_same_tensors(via_pth, via_folder)


# ------------------------------------------------------------------------------ the cache
@pytest.mark.parametrize(
    "damage",
    [
        "flip a byte",
        "flip a byte, keep its time",
        "truncate",
        "delete the weights",
        "delete the manifest",
        "an older converter's entry",
    ],
)
def test_a_damaged_conversion_cache_is_rebuilt_not_loaded(damage, hub, conversions, caplog, monkeypatch):
    first = Path(SongGenForConditionalGeneration.from_pretrained(MIXED).name_or_path)
    monkeypatch.setattr(conversion_cache, "_VERIFIED", {})  # a new process
    weights = first / "model.safetensors"
    if damage.startswith("flip a byte"):
        stat = weights.stat()
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0xFF
        weights.write_bytes(bytes(data))
        if damage.endswith("keep its time"):  # bit rot: same size, same modification time
            os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            assert weights.stat().st_mtime_ns == stat.st_mtime_ns
    elif damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:-100])
    elif damage == "delete the weights":
        weights.unlink()
    elif damage == "an older converter's entry":  # e.g. one written before the released window was recorded
        manifest_path = first / conversion_cache.MANIFEST_NAME
        manifest = json.loads(manifest_path.read_text())
        manifest["converter_version"] = conversion_cache.CONVERTER_VERSION - 1
        manifest_path.write_text(json.dumps(manifest))
    else:
        (first / conversion_cache.MANIFEST_NAME).unlink()
    with caplog.at_level(logging.WARNING, logger="songgen_hf.conversion"):
        model = SongGenForConditionalGeneration.from_pretrained(MIXED)
    assert len(conversions) == 2
    assert any("is not usable" in r.getMessage() for r in caplog.records)
    assert conversion_cache.cache_problem(first) is None  # rebuilt in place, intact again
    assert model.config.decoder.window_frames == 1500  # the released models' 30 s window
    direct = load_official_songgen(
        _snapshot(hub, "mixed_pro"), codec=str(hub["codec_folder"]), mert_folder=str(_mert_folder(hub))
    )
    _assert_same_tensors(model, direct)


def test_an_intact_cache_is_hashed_once_per_process_and_kept(hub, conversions, monkeypatch):
    """A new process reads every file of an entry through SHA-256 before loading it (new file times or not), and
    keeps an intact entry; later loads in the same process do not read it again."""
    first = Path(SongGenForConditionalGeneration.from_pretrained(MIXED).name_or_path)
    hashed = []
    monkeypatch.setattr(
        conversion_cache, "_file_hash", lambda path, real=conversion_cache._file_hash: hashed.append(path) or real(path)
    )
    monkeypatch.setattr(conversion_cache, "_VERIFIED", {})  # a new process
    weights = first / "model.safetensors"
    assert conversion_cache.cache_problem(first) is None and weights in hashed
    hashed.clear()
    assert conversion_cache.cache_problem(first) is None and hashed == []
    monkeypatch.setattr(conversion_cache, "_VERIFIED", {})
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))  # e.g. copied with new times
    assert conversion_cache.cache_problem(first) is None and weights in hashed
    SongGenForConditionalGeneration.from_pretrained(MIXED)
    assert len(conversions) == 1


def test_an_interrupted_conversion_leaves_no_entry(hub, monkeypatch, offline_cache):
    from songgen_hf.conversion import songgen_official

    def broken(model, folder, **kwargs):
        (Path(folder) / "half.bin").write_bytes(b"x")
        raise KeyboardInterrupt

    monkeypatch.setattr(songgen_official, "save_converted_songgen", broken)
    with pytest.raises(KeyboardInterrupt):
        SongGenForConditionalGeneration.from_pretrained(MIXED)
    entries = list((offline_cache / "converted").rglob(conversion_cache.MANIFEST_NAME))
    assert entries == [] and not list((offline_cache / "converted").rglob("half.bin"))


# ------------------------------------------------------------------------------ bad input
def _partial_repo(hub, name):
    files = dict(hub["repos"]["mixed_pro"]["files"])
    del files["model.safetensors"]
    return write_repo(hub["cache"], name, files)


def _codec_repo_named(hub, name):
    return write_repo(hub["cache"], name, {"config.json": (hub["codec_folder"] / "config.json").read_bytes()})


BAD_SOURCES = {
    "a codec repo": (
        lambda hub: _codec_repo_named(hub, "someone/a-codec") and "someone/a-codec",
        r"someone/a-codec@\w+ is not a SongGen checkpoint: its config.json holds an X-Codec codec",
    ),
    "another model": (
        lambda hub: (
            write_repo(hub["cache"], "someone/gpt", {"config.json": b'{"model_type": "gpt2"}'}) and "someone/gpt"
        ),
        r"is not a SongGen checkpoint: .*model_type 'gpt2'.*LiuZH-19/SongGen_mixed_pro",
    ),
    "nothing cached": (
        lambda hub: "LiuZH-19/SongGen_not_downloaded",
        r"not \(completely\) in the local Hub cache \(nothing of it is cached\).*"
        r"`hf download LiuZH-19/SongGen_not_downloaded`.*local_files_only",
    ),
    "partial snapshot": (
        lambda hub: _partial_repo(hub, "someone/partial") and "someone/partial",
        r"someone/partial@\w+ is incomplete: model.safetensors \(or pytorch_model.bin\) missing.*"
        r"`hf download someone/partial --revision \w+`",
    ),
}


@pytest.mark.parametrize("case", list(BAD_SOURCES))
@pytest.mark.parametrize("door", ["model", "processor", "cli"])
def test_bad_sources_say_what_is_missing_and_how_to_fix_it(case, door, hub, capsys):
    make, message = BAD_SOURCES[case]
    source = make(hub)
    if door == "cli":
        from songgen_hf.commands.cli import main

        assert main(["generate", "--description", "pop", "--lyrics", "", "--model", source]) == 2
        err = capsys.readouterr().err
        assert err.startswith("songgen: error: --model ") and "Traceback" not in err
        assert re.search(message, err, re.S), err
        return
    loader = SongGenForConditionalGeneration if door == "model" else SongGenProcessor
    with pytest.raises(HubSourceError, match=message):
        loader.from_pretrained(source)


def test_a_revision_that_does_not_exist(hub):
    with pytest.raises(
        HubSourceError,
        match=r"revision 'v9' is not in the local Hub cache \(only revisions main.*"
        r"`hf download LiuZH-19/SongGen_mixed_pro --revision v9`",
    ):
        SongGenForConditionalGeneration.from_pretrained(MIXED, revision="v9")


def test_missing_parts_offline_name_the_download(hub, tmp_path):
    """A checkpoint whose codec / lyrics vocabulary are not cached: the command that fetches each."""
    from songgen_hf.conversion import load_official_songgen_from_hub

    files = {k: v for k, v in hub["repos"]["mixed_pro"]["files"].items() if k != "vocab.json"}
    write_repo(hub["cache"], "someone/no-vocab", files)
    with pytest.raises(
        HubSourceError,
        match=r"lyrics vocabulary .* downloads are off; download it to where every "
        r"loader looks for it: `curl -L https://raw.githubusercontent.com/"
        r"LiuZH-19/SongGen/.* -o .*voicebpe-vocab-.*--lyrics-vocab",
    ):
        load_official_songgen_from_hub("someone/no-vocab")
    with pytest.raises(
        HubSourceError, match=r"The X-Codec repo someone/missing-codec .*`hf download someone/missing-codec`"
    ):
        load_official_songgen_from_hub(MIXED, codec="someone/missing-codec")
    with pytest.raises(
        HubSourceError, match=r"codec someone/gpt is not an X-Codec repo .*codec='someone/gpt:FILE.pth'"
    ):
        load_official_songgen_from_hub(MIXED, codec="someone/gpt")


def test_converted_repo_ids_and_folders_are_left_to_transformers(hub, tmp_path, conversions):
    """A songgen-hf folder (already converted) is not touched by the hook."""
    from songgen_hf.testing import save_tiny_checkpoint

    folder = save_tiny_checkpoint(tmp_path / "ours")
    model = SongGenForConditionalGeneration.from_pretrained(folder)
    assert model.name_or_path == str(folder) and conversions == []
    assert config_layout(json.loads((Path(folder) / "config.json").read_text())) == "songgen-hf"
    assert (
        config_layout(
            hub["repos"]["mixed_pro"]["files"]["config.json"]
            and json.loads(hub["repos"]["mixed_pro"]["files"]["config.json"])
        )
        == "official"
    )


@pytest.mark.parametrize("door", ["model", "pipeline", "info"])
def test_the_lyrics_vocabulary_fix_the_offline_error_names_works_for_every_door_by_id(door, hub, monkeypatch, capsys):
    """No by-id front door takes a lyrics vocabulary option, so the message names the file every loader reads:
    putting the vocabulary there (what its curl command does) makes the same call work."""
    from songgen_hf.commands.cli import main
    from songgen_hf.conversion import hub as hub_module
    from songgen_hf.pipelines import load_text_to_song_pipeline
    from songgen_hf.utils.digests import file_sha256

    files = {k: v for k, v in hub["repos"]["mixed_pro"]["files"].items() if k != "vocab.json"}
    write_repo(hub["cache"], "someone/no-vocab", files)
    # the pinned checksum is the reference file's; a test vocabulary stands in for it (no download)
    vocab = hub["work"] / "official_mixed_pro" / "vocab" / "vocab.json"
    monkeypatch.setattr(hub_module, "REFERENCE_LYRICS_VOCAB_SHA256", file_sha256(vocab))
    call = {
        "model": lambda: SongGenForConditionalGeneration.from_pretrained("someone/no-vocab"),
        "pipeline": lambda: load_text_to_song_pipeline("someone/no-vocab"),
        "info": lambda: main(["info", "someone/no-vocab"]),
    }[door]
    if door == "info":
        assert call() == 2
        message = capsys.readouterr().err
    else:
        with pytest.raises(HubSourceError) as caught:
            call()
        message = str(caught.value)
    target = Path(re.search(r"--create-dirs -o (\S+)`", message).group(1))
    assert not target.exists()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(vocab, target)
    result = call()
    if door == "info":
        assert result == 0 and "track_pattern: mixed_pro" in capsys.readouterr().out
    else:
        model = result if door == "model" else result.model
        assert model.config.track_pattern == "mixed_pro"


def test_songgen_info_and_export_take_a_repo_id(hub, conversions, tmp_path, capsys):
    """A Hub id wherever a folder is accepted: info and export read the converted copy (converted once), and the
    official export gives back the repo's own config.json."""
    from songgen_hf.commands.cli import main

    assert main(["info", MIXED]) == 0
    assert "track_pattern: mixed_pro" in capsys.readouterr().out
    assert main(["export", "--format", "official", MIXED, str(tmp_path / "official")]) == 0
    assert conversions == [MIXED]
    assert json.loads((tmp_path / "official" / "config.json").read_text()) == json.loads(
        hub["repos"]["mixed_pro"]["files"]["config.json"]
    )
    assert main(["export", MIXED, str(tmp_path / "release"), "--no-card"]) == 0
    assert SongGenForConditionalGeneration.from_pretrained(tmp_path / "release").config.track_pattern == "mixed_pro"
