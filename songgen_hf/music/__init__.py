"""What the singer's score and the synthetic corpus share: keys, scales, chords, melody and rhythm rules
(:mod:`.theory`), the lyric lexicon with its sung syllables (:mod:`.lexicon`) and the genre, mood and voice tables
(:mod:`.styles`).

Neutral ground: these modules import nothing of this package, so inference (``processing.vocal_score``) and the
corpus generator (``data.synth``) both build on them without either importing the other.
"""
