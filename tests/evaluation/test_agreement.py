"""``python -m songgen_hf.evaluation.agreement``: hand-written vs library estimators against ground truth."""

import json

from songgen_hf.evaluation.agreement import agreement_table, main, measure

from .tiny_corpus import write_tiny_corpus


def test_agreement_table_on_a_tiny_corpus(tmp_path, capsys):
    train, _ = write_tiny_corpus(tmp_path, num_train=4, num_test=1, seconds=6.0)
    measured = measure(train, max_clips=None, max_duration=6.0)
    assert [clip["id"] for clip in measured] == [json.loads(line)["id"] for line in train.read_text().splitlines()]
    for clip in measured:
        for family in ("hand_written", "library"):
            scores = clip[family]
            assert scores["key_mirex"] >= scores["key_exact"]  # an exact key scores 1 under MIREX too
            assert scores["tempo_acc2"] >= scores["tempo_acc1"]
        # the agreement row compares the two families' estimates, not each with the truth
        same_key = clip["hand_written"]["key"] == clip["library"]["key"]
        assert clip["agree"]["key_exact"] == float(same_key)
    assert main([str(train), "--max-clips", "2", "--max-duration", "6"]) == 0
    table = capsys.readouterr().out
    assert "| library vs ground truth |" in table and "2 clips" in table
    assert agreement_table(measured).count("\n| ") == 3  # three rows under the header


def test_agreement_bad_input_is_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "absent.jsonl")]) == 2
    assert main([str(tmp_path / "absent.jsonl"), "--max-clips", "0"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(
        line.startswith("python -m songgen_hf.evaluation.agreement: error:") for line in errors
    )


def test_agreement_splits_tempo_acc1_at_the_slow_songs():
    """Doubling slow songs is the failure to see, so the table gives Acc1 below 90 BPM on its own."""

    def clip(reference_bpm, hand_acc1, library_acc1):
        scores = {"tempo_abs_error_bpm": 0.0, "tempo_acc2": 1.0, "key_exact": 1.0, "key_mirex": 1.0}
        return {
            "tempo_bpm": reference_bpm,
            "hand_written": {**scores, "tempo_acc1": hand_acc1},
            "library": {**scores, "tempo_acc1": library_acc1},
            "agree": {"tempo_acc1": 1.0, "key_exact": 1.0},
        }

    table = agreement_table([clip(66, 0.0, 1.0), clip(80, 0.0, 0.0), clip(90, 1.0, 1.0), clip(150, 1.0, 0.0)])
    assert "4 clips (2 below 90 BPM)" in table
    assert "hand-written 0.00 / 1.00; library 0.50 / 0.50." in table
    assert "library 1.00 / n/a" in agreement_table([clip(66, 0.0, 1.0)])
