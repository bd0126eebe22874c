"""``--codebook-temperatures TRACK=T1,T2,...`` as `songgen generate` and `songgen evaluate` read it."""

import pytest

from songgen_hf.commands.cli import parse_codebook_temperatures


@pytest.mark.parametrize(
    "values, expected",
    [
        (None, None),
        (["none"], {}),
        ([" None "], {}),
        (["vocals=0.6,0.6,0.6"], {"vocals": [0.6, 0.6, 0.6]}),
        (["accompaniment=1.2", "vocals= 0.5 ,0.7"], {"accompaniment": [1.2], "vocals": [0.5, 0.7]}),
    ],
)
def test_the_flag_reads_tracks_and_their_codebooks_temperatures(values, expected):
    assert parse_codebook_temperatures("--codebook-temperatures", values) == expected


@pytest.mark.parametrize(
    "values, message",
    [
        (["vocals"], "must look like TRACK=T1,T2"),
        (["=0.6"], "must look like TRACK=T1,T2"),
        (["vocals="], "must look like TRACK=T1,T2"),
        (["vocals=0.6,,0.7"], "numbers separated by commas"),
        (["vocals=cold"], "numbers separated by commas"),
        (["vocals=0.6", "vocals=0.7"], "names 'vocals' twice"),
        (["none", "vocals=0.6"], "must look like TRACK=T1,T2"),
    ],
)
def test_malformed_flags_are_refused_naming_the_flag(values, message):
    with pytest.raises(ValueError, match=message) as error:
        parse_codebook_temperatures("--codebook-temperatures", values)
    assert str(error.value).startswith("--codebook-temperatures")
