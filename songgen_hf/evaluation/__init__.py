"""``songgen evaluate``: a weight-free controllability benchmark for text-to-song.

No pretrained metric model (FAD, CLAP, phoneme recognisers) is needed: held-out prompts of the
synthetic corpus carry their ground truth (tempo, key, drums, vocals, syllables), and each
system's audio is measured against it with signal analysis and small probes fit on the corpus.

* :mod:`.metrics` - tempo, key, syllable onsets, codec damage and token statistics (numpy);
* :mod:`.probes` - vocal / drum logistic-regression probes fit on the training split's stems;
* :mod:`.prompts` - manifest rows to prompts with targets;
* :mod:`.systems` - ground truth, codec round trip, guided, no-guidance and unconditioned songs;
* :mod:`.runner` - the loop and ``evaluation.json``; :mod:`.report` / :mod:`.plots` - Markdown and figures;
* ``songgen_hf.commands.evaluate`` - the ``evaluate`` and ``compare`` commands.
"""

__all__ = ["EvaluationSettings", "run_evaluation"]


def __getattr__(name: str):
    # Lazy: `songgen --help` builds the evaluate parser without importing torch and transformers.
    if name in __all__:
        from songgen_hf.evaluation import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
