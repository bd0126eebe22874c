"""The output marker proves what it claims: ``--overwrite`` replaces a folder only when every entry in it, subfolders
included, is what the package wrote there (name, kind, size, SHA-256); the marker itself is read as a plain file of
bounded size, never through a link, a FIFO or a device, and a marker of the user's own making proves nothing."""

import json
import os
import threading

import pytest

from songgen_hf.utils.atomic import MARKER_FILE, OutputError, atomic_directory, check_replaceable


def _earlier_result(folder):
    with atomic_directory(folder, mark="test") as staging:
        (staging / "config.json").write_text('{"a": 1}')
        (staging / "shards").mkdir()
        (staging / "shards" / "part-0.bin").write_bytes(b"\0" * 1000)
    return folder


def _refused(folder, match):
    with pytest.raises(OutputError, match=match):
        check_replaceable(folder, True)


def test_an_earlier_result_as_written_is_replaceable_and_nothing_else(tmp_path):
    folder = _earlier_result(tmp_path / "out")
    check_replaceable(folder, True)
    with atomic_directory(folder, mark="test") as staging:  # replaced: the marker now proves the new content
        (staging / "config.json").write_text("{}")
    check_replaceable(folder, True)


@pytest.mark.parametrize(
    "change, named",
    [
        (lambda f: (f / "mine.txt").write_text("my notes"), "mine.txt"),
        (lambda f: (f / "shards" / "mine.bin").write_bytes(b"x"), "shards/mine.bin"),  # inside a subfolder too
        (lambda f: (f / "shards" / "part-0.bin").write_bytes(b"\1" * 1000), "shards/part-0.bin"),  # same size
        (lambda f: (f / "config.json").write_text('{"a": 2, "b": 3}'), "config.json"),
        (lambda f: (f / "my-folder").mkdir(), "my-folder"),
        (lambda f: os.symlink("/etc", f / "link"), "link"),
    ],
    ids=["added file", "added in a subfolder", "same size other bytes", "edited", "added folder", "added link"],
)
def test_a_changed_or_added_entry_is_named_and_nothing_is_replaced(tmp_path, change, named):
    folder = _earlier_result(tmp_path / "out")
    change(folder)
    _refused(folder, rf"holds files songgen did not write there, or changed since \({named}")
    with pytest.raises(OutputError):
        with atomic_directory(folder, mark="test") as staging:  # the write proves it again right before replacing
            (staging / "config.json").write_text("{}")
    assert folder.is_dir() and (folder / "config.json").exists()


def test_a_marker_of_the_users_making_proves_nothing(tmp_path):
    """A marker that lists the user's own names (copied, unpacked or written by hand) without their digests, or in
    the older name-only format, replaces nothing."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "songs").mkdir()
    (folder / "songs" / "mine.wav").write_bytes(b"RIFF")
    (folder / MARKER_FILE).write_text(json.dumps({"written_by": "songgen", "kind": "x", "entries": ["songs"]}))
    _refused(folder, "not a marker of this version")
    forged = {
        "written_by": "songgen",
        "format": 2,
        "kind": "x",
        "write_id": "0" * 32,
        "entries": {"songs": {"type": "dir"}, "songs/mine.wav": {"type": "file", "size": 4, "sha256": "0" * 64}},
    }
    (folder / MARKER_FILE).write_text(json.dumps(forged))
    _refused(folder, r"songs/mine.wav")
    assert (folder / "songs" / "mine.wav").read_bytes() == b"RIFF"


@pytest.mark.parametrize("kind", ["symlink to a marker", "symlink to /dev/zero", "fifo", "huge", "not json", "list"])
def test_a_marker_that_is_no_plain_marker_is_refused_at_once(tmp_path, kind):
    folder = _earlier_result(tmp_path / "out")
    marker = folder / MARKER_FILE
    real = marker.read_text()
    marker.unlink()
    if kind == "symlink to a marker":
        (tmp_path / "elsewhere.json").write_text(real)
        os.symlink(tmp_path / "elsewhere.json", marker)
    elif kind == "symlink to /dev/zero":
        os.symlink("/dev/zero", marker)
    elif kind == "fifo":
        os.mkfifo(marker)
    elif kind == "huge":
        with open(marker, "wb") as handle:
            handle.truncate(64 * 2**20)  # sparse: 64 MB of zeros that cost no disk
    elif kind == "not json":
        marker.write_text("{not json")
    else:
        marker.write_text("[1, 2]")
    done = []

    def check():
        try:
            check_replaceable(folder, True)
        except OutputError as error:
            done.append(str(error))

    worker = threading.Thread(target=check, daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "reading the marker hung"
    assert done and "songgen did not write" in done[0] and MARKER_FILE in done[0], done
    assert (folder / "config.json").exists()


def test_a_growing_log_is_proved_without_rereading_and_a_change_behind_its_back_fails_closed(tmp_path, monkeypatch):
    from songgen_hf.utils import atomic
    from songgen_hf.utils.atomic import GrowingFileProof, check_owned, claim_entries, file_proof

    log = tmp_path / "train_log.jsonl"
    log.write_text('{"step": 0}\n')  # an earlier stretch of the run: read once, at the first append
    proof = GrowingFileProof(log)
    reads = []
    real_pread = os.pread
    monkeypatch.setattr(atomic.os, "pread", lambda *args: reads.append(args) or real_pread(*args))
    for step in range(1, 50):
        latest = proof.append(json.dumps({"step": step}) + "\n")
        claim_entries(tmp_path, "training run", ["train_log.jsonl"], {"train_log.jsonl": latest})
    assert len(reads) == 1  # the earlier bytes, once; each append hashes only what it adds
    assert latest == file_proof(log)  # the running proof is the file's
    check_owned(tmp_path, ["train_log.jsonl"])  # and the marker vouches for the log as it is

    edited = log.read_bytes().replace(b'"step": 7', b'"step": 8')  # same size, other bytes
    log.write_bytes(edited)
    claim_entries(tmp_path, "training run", ["train_log.jsonl"], {"train_log.jsonl": proof.append('{"step": 50}\n')})
    with pytest.raises(OutputError, match="train_log.jsonl"):
        check_owned(tmp_path, ["train_log.jsonl"])


def test_a_growing_log_refuses_a_fifo_or_a_link_in_its_place_without_hanging(tmp_path):
    from songgen_hf.utils.atomic import GrowingFileProof

    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="not a regular file"):
        GrowingFileProof(fifo).append("{}\n")
    (tmp_path / "elsewhere.jsonl").write_text("")
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "elsewhere.jsonl")
    with pytest.raises(OutputError, match="is a link"):
        GrowingFileProof(tmp_path / "link.jsonl").append("{}\n")
    assert (tmp_path / "elsewhere.jsonl").read_text() == ""
