"""A lyric-intelligibility proxy: how many of the lyric words an off-the-shelf recogniser hears.

The recogniser is pocketsphinx (the ``eval`` extra): its US-English acoustic model and the CMU
pronouncing dictionary ship inside the pip wheel, so nothing is downloaded.  It is a speech
recogniser, weak on singing, so the absolute numbers are low; what carries meaning is the
comparison of the same recogniser on two versions of a clip (clean vs codec round trip, ground
truth vs generated) and against the chance level below.

How the vocabulary is restricted: the words of every lyric in the corpus manifest (lower-cased,
``[a-z']`` tokens) that the CMU dictionary knows become a small dictionary (every listed
pronunciation of each word) and a **uniform unigram ARPA language model** over exactly those
words, both written to a temporary folder and handed to ``pocketsphinx.Decoder``.  The decoder
can output only corpus words, each equally likely a priori, so it cannot lean on English word
order and it never spends a hypothesis on a word no lyric contains.  Audio is decoded as one
utterance of 16 kHz mono int16 (resampled, DC removed, peak-normalised to 0.9).

Scores:

* ``lyric_recall`` = |lyric words recognised| / |lyric words|, counted as multisets (a word sung
  three times and heard once counts one of three); words the dictionary lacks stay in the
  denominator (no clip can score them, whatever the codec or model);
* ``lyric_recall_chance``: the same transcript scored against *another* clip's lyrics (a fixed
  derangement: clip i is scored against the next clip with lyrics, the last against the first).
  It is the recall that words common to many lyrics ("the", "you", "oh") give by themselves;
  a system is intelligible only to the extent that its recall exceeds this level.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from songgen_hf.evaluation.metrics import _library, library_versions
from songgen_hf.utils.safe_files import iter_lines

RECOGNISER_RATE = 16000
# Headroom below int16 full scale: the level itself hardly matters (the features are mean-normalised).
PEAK_LEVEL = 0.9
# Below this peak a clip is silence: nothing to transcribe (and normalising would amplify noise).
SILENT_PEAK = 1e-4
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
RECOGNISER_DESCRIPTION = (
    "pocketsphinx {version} (en-us acoustic model and CMU dictionary from the wheel), vocabulary restricted to the "
    "{size} corpus lyric words the dictionary knows by a uniform unigram language model; 16 kHz mono int16"
)


def lyric_words(text: str | None) -> list[str]:
    """The words of a lyric, lower-cased, punctuation dropped (apostrophes inside words kept)."""
    return _WORD.findall(str(text or "").lower().replace("\u2019", "'"))


def corpus_vocabulary(lyrics: Iterable[str | None]) -> list[str]:
    """Every distinct word of ``lyrics``, sorted."""
    return sorted({word for text in lyrics for word in lyric_words(text)})


def word_recall(transcript: Sequence[str], lyrics: str | None) -> float | None:
    """Multiset recall of the lyric words in ``transcript``; ``None`` when the lyric has no words."""
    wanted = Counter(lyric_words(lyrics))
    total = sum(wanted.values())
    if total == 0:
        return None
    heard = Counter(transcript)
    return sum(min(count, heard[word]) for word, count in wanted.items()) / total


def derangement(sung: Sequence[bool]) -> list[int | None]:
    """For each clip, the clip whose lyrics its chance level is scored against (``None``: none).

    Among the clips with lyrics, each takes the next one's (the last the first's), so no clip is
    ever scored against its own lyrics; fewer than two sung clips give no chance level."""
    indices = [index for index, is_sung in enumerate(sung) if is_sung]
    partner: list[int | None] = [None] * len(sung)
    if len(indices) >= 2:
        for position, index in enumerate(indices):
            partner[index] = indices[(position + 1) % len(indices)]
    return partner


def recall_with_chance(transcripts: Sequence[Sequence[str] | None], lyrics: Sequence[str | None]) -> list[dict]:
    """``{"lyric_recall", "lyric_recall_chance"}`` per clip (``None`` where a clip has no lyric or transcript)."""
    if len(transcripts) != len(lyrics):
        raise ValueError(f"{len(transcripts)} transcripts for {len(lyrics)} lyrics; pass one transcript per clip.")
    partners = derangement([bool(lyric_words(text)) for text in lyrics])
    scores = []
    for transcript, text, partner in zip(transcripts, lyrics, partners):
        if transcript is None:
            scores.append({"lyric_recall": None, "lyric_recall_chance": None})
            continue
        scores.append(
            {
                "lyric_recall": word_recall(transcript, text),
                "lyric_recall_chance": None if partner is None else word_recall(transcript, lyrics[partner]),
            }
        )
    return scores


# Recall above the chance level, per clip: (recall metric, its chance level).  `songgen evaluate` reports each
# system's mean margin with its interval (the target is that interval above zero); `songgen compare` pairs them.
LYRIC_MARGINS = {
    "lyric_margin": ("lyric_recall", "lyric_recall_chance"),
    "vocal_track_lyric_margin": ("lyric_recall_vocal_track", "lyric_recall_vocal_track_chance"),
}


def lyric_margins(scores: dict) -> dict:
    """A clip's :data:`LYRIC_MARGINS` (None where its recall or chance level is undefined)."""
    return {
        margin: None if scores.get(recall) is None or scores.get(chance) is None else scores[recall] - scores[chance]
        for margin, (recall, chance) in LYRIC_MARGINS.items()
    }


def recall_summary(transcripts: Sequence[Sequence[str] | None], lyrics: Sequence[str | None]) -> dict:
    """``{"recall", "above_chance"}`` over clips, each a mean with its bootstrap 95 % interval
    (:func:`recall_with_chance` per clip; clips without a lyric, transcript or partner left out), and
    ``"per_clip_above_chance"``: each clip's recall above its chance (None where left out), for paired comparisons
    (:func:`paired_above_chance`)."""
    from songgen_hf.evaluation.statistics import mean_with_ci

    scores = recall_with_chance(transcripts, lyrics)
    per_clip = [
        None if s["lyric_recall_chance"] is None else s["lyric_recall"] - s["lyric_recall_chance"] for s in scores
    ]
    return {
        "recall": mean_with_ci([s["lyric_recall"] for s in scores if s["lyric_recall"] is not None]),
        "above_chance": mean_with_ci([value for value in per_clip if value is not None]),
        "per_clip_above_chance": per_clip,
    }


def paired_above_chance(first: dict, second: dict) -> dict:
    """Mean and bootstrap 95 % interval of ``first`` minus ``second`` clip by clip (two :func:`recall_summary` of
    versions of the same clips): the clips' own difficulty cancels, so the interval is narrower than either's."""
    from songgen_hf.evaluation.statistics import mean_with_ci

    pairs = zip(first["per_clip_above_chance"], second["per_clip_above_chance"], strict=True)
    return mean_with_ci([a - b for a, b in pairs if a is not None and b is not None])


def describe_recall(name: str, summary: dict) -> str:
    """One line for a :func:`recall_summary`: its recall and the recall above chance with the interval."""
    above = summary["above_chance"]
    return (
        f"{name:>28}: recall {summary['recall']['mean']:.3f}  above chance {above['mean']:+.3f} "
        f"[{above['ci95'][0]:+.3f}, {above['ci95'][1]:+.3f}]"
    )


def _model_files() -> tuple[Path, Path]:
    """The acoustic model folder and the CMU dictionary inside the pocketsphinx wheel."""
    pocketsphinx = _library("pocketsphinx")
    root = Path(pocketsphinx.get_model_path()) / "en-us"
    acoustic, dictionary = root / "en-us", root / "cmudict-en-us.dict"
    if not (acoustic / "mdef").is_file() or not dictionary.is_file():
        raise ValueError(
            f"pocketsphinx is installed but its English model is not in {root}; reinstall it "
            "(pip install --force-reinstall pocketsphinx)."
        )
    return acoustic, dictionary


def read_pronunciations(dictionary: Path, words: Iterable[str]) -> dict[str, list[str]]:
    """``{word: [pronunciation, ...]}`` for the ``words`` the CMU dictionary lists (alternates ``word(2)`` too)."""
    wanted = set(words)
    found: dict[str, list[str]] = {}
    # the CMU dictionary is some 3.6 MB of 134 000 short lines
    for _, line in iter_lines(dictionary, "the pronouncing dictionary", max_line_bytes=4096, max_bytes=64 * 2**20):
        entry, _, pronunciation = line.strip().partition(" ")
        word = entry.split("(", 1)[0]
        if word in wanted and pronunciation.strip():
            found.setdefault(word, []).append(pronunciation.strip())
    return found


def unigram_arpa(words: Sequence[str]) -> str:
    """A uniform unigram language model in ARPA format over ``words`` (sentence markers included)."""
    log_probability = -np.log10(len(words))
    lines = [
        "\\data\\",
        f"ngram 1={len(words) + 2}",
        "",
        "\\1-grams:",
        "-99.0 <s>",  # a sentence never emits its start marker
        f"{log_probability:.6f} </s>",
    ]
    lines += [f"{log_probability:.6f} {word}" for word in words]
    return "\n".join(lines + ["", "\\end\\", ""])


def prepare_audio(audio: np.ndarray, sampling_rate: int) -> bytes | None:
    """16 kHz mono int16 bytes for the decoder, or ``None`` for silence."""
    from songgen_hf.data.audio import resample

    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1:
        raise ValueError(f"The recogniser takes mono audio (samples,), got shape {audio.shape}.")
    if len(audio) == 0 or not np.isfinite(audio).all():
        return None
    audio = resample(audio - audio.mean(), sampling_rate, RECOGNISER_RATE)
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak < SILENT_PEAK:
        return None
    return (np.clip(audio * (PEAK_LEVEL / peak), -1.0, 1.0) * 32767).astype("<i2").tobytes()


class LyricRecogniser:
    """pocketsphinx with its vocabulary restricted to ``vocabulary`` (see the module docstring)."""

    def __init__(self, vocabulary: Iterable[str]):
        pocketsphinx = _library("pocketsphinx")
        acoustic, dictionary = _model_files()
        words = sorted(set(vocabulary))
        pronunciations = read_pronunciations(dictionary, words)
        self.vocabulary = sorted(pronunciations)
        self.unknown_words = sorted(set(words) - set(pronunciations))
        if not self.vocabulary:
            raise ValueError(
                f"None of the {len(words)} lyric words is in pocketsphinx's English dictionary "
                f"(e.g. {', '.join(words[:5]) or 'no words at all'}); the intelligibility proxy needs English lyrics."
            )
        self.description = RECOGNISER_DESCRIPTION.format(
            version=library_versions()["pocketsphinx"] or "?", size=len(self.vocabulary)
        )
        with tempfile.TemporaryDirectory(prefix="songgen-asr-") as folder:
            dictionary_path, model_path = Path(folder) / "lyrics.dict", Path(folder) / "lyrics.arpa"
            dictionary_path.write_text(
                "".join(
                    f"{word if index == 0 else f'{word}({index + 1})'} {pronunciation}\n"
                    for word in self.vocabulary
                    for index, pronunciation in enumerate(pronunciations[word])
                ),
                encoding="utf-8",
            )
            model_path.write_text(unigram_arpa(self.vocabulary), encoding="utf-8")
            # The decoder reads both files while it is built; afterwards the folder may go.
            self._decoder = pocketsphinx.Decoder(
                hmm=os.fspath(acoustic),
                dict=os.fspath(dictionary_path),
                lm=os.fspath(model_path),
                samprate=RECOGNISER_RATE,
                loglevel="FATAL",
            )
        self._known = set(self.vocabulary)

    @classmethod
    def for_lyrics(cls, lyrics: Iterable[str | None]) -> LyricRecogniser:
        return cls(corpus_vocabulary(lyrics))

    def transcribe(self, audio: np.ndarray, sampling_rate: int) -> list[str]:
        """The recognised words of one clip (filler and silence tokens dropped); ``[]`` for silence."""
        pcm = prepare_audio(audio, sampling_rate)
        if pcm is None:
            return []
        self._decoder.start_utt()
        self._decoder.process_raw(pcm, full_utt=True)
        self._decoder.end_utt()
        hypothesis = self._decoder.hyp()
        if hypothesis is None:
            return []
        return [word for word in hypothesis.hypstr.split() if word in self._known]

    def info(self) -> dict:
        return {
            "recogniser": self.description,
            "vocabulary_size": len(self.vocabulary),
            "words_not_in_dictionary": self.unknown_words,
        }


def hear_versions(
    codec,
    sampling_rate: int,
    songs: Sequence[tuple[str, dict]],
    names: Sequence[str],
    verbose: bool = False,
    pairs: Sequence[tuple[str, str]] = (),
) -> dict:
    """Recall above chance of several versions of the same songs' codes, as the probes in ``recipes/`` report it.

    ``songs``: ``(lyrics, {name: codes (1, codebooks, frames)})`` per song; each version is decoded by ``codec`` and
    heard by one recogniser whose vocabulary is all the songs' lyrics, so the versions differ only in their codes.
    Returns ``{name: recall_summary}``, and under ``"paired"`` ``{"A - B": paired_above_chance}`` for each of
    ``pairs``; ``verbose`` also prints a line each (:func:`describe_recall`)."""
    import torch

    recogniser = LyricRecogniser.for_lyrics(lyrics for lyrics, _ in songs)
    heard: dict[str, list] = {name: [] for name in names}
    for _, versions in songs:
        for name in names:
            with torch.no_grad():
                audio = codec.decode(versions[name]).audio_values[0, 0].float().cpu().numpy()
            heard[name].append(recogniser.transcribe(audio, sampling_rate))
    lyrics = [lyrics for lyrics, _ in songs]
    report = {name: recall_summary(transcripts, lyrics) for name, transcripts in heard.items()}
    if verbose:
        for name, summary in report.items():
            print(describe_recall(name, summary), flush=True)
    paired = {f"{first} - {second}": paired_above_chance(report[first], report[second]) for first, second in pairs}
    if verbose:
        for name, difference in paired.items():
            low, high = difference["ci95"]
            print(f"paired, {name}: {difference['mean']:+.3f} [{low:+.3f}, {high:+.3f}]", flush=True)
    return {**report, "paired": paired} if pairs else report


__all__ = [
    "LYRIC_MARGINS",
    "lyric_margins",
    "RECOGNISER_RATE",
    "LyricRecogniser",
    "corpus_vocabulary",
    "derangement",
    "describe_recall",
    "hear_versions",
    "lyric_words",
    "prepare_audio",
    "read_pronunciations",
    "paired_above_chance",
    "recall_summary",
    "recall_with_chance",
    "unigram_arpa",
    "word_recall",
]
