"""``songgen data prepare``: a folder of your own songs -> a training manifest, with the ecosystem's models.

SongGen's data pipeline (paper section 3; never released), stage by stage, each resumable:

1. ``decode``    decode.py      any audio -> 16 kHz mono, loudness-normalised (pyloudnorm, BS.1770)
2. ``separate``  separation.py  vocals + accompaniment with a Demucs-family model (Hub name or folder)
3. ``slice``     slicing.py     silero-vad on the vocal stem, 10-30 s clips cut only between voiced stretches,
                                vocal-energy threshold
4. ``lyrics``    lyrics.py      the user's lyrics aligned to clips, or two ASR models (transformers pipeline)
                                and the edit-distance filter
5. ``describe``  describe.py    tempo and key (librosa), instruments from the stems, tags -> caption; CLAP filter;
                                HQ flag
runner.py runs them (markers, fingerprints, summary), plan.py checks models and prints ``--dry-run`` plans,
``songgen_hf.commands.data`` holds the command.  Optional libraries come from the ``prepare`` extra and are
imported lazily.
"""

from songgen_hf.data.prepare.options import PrepareOptions

__all__ = ["PrepareOptions", "prepare_songs"]


def prepare_songs(songs, output, options=None, **kwargs):
    """Run the pipeline on the folder ``songs``; see :class:`songgen_hf.data.prepare.runner.PrepareRunner`."""
    from songgen_hf.data.prepare.runner import prepare_songs as run

    return run(songs, output, options, **kwargs)
