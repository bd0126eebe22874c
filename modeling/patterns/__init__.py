"""Token patterns: the single source of truth for SongGen's decoder token layouts.

>>> pattern = get_token_pattern("interleaving_A_V", num_codebooks=8)
>>> pattern.sequence_length(1492)   # 1492 frames per track ≈ 29.84 s
2999

See :mod:`.base` for the conventions (shapes, lengths, BOS column) and
:mod:`.delay`, :mod:`.single_track`, :mod:`.dual_track`, :mod:`.multi_stream` for the layouts and
:mod:`.vocal_targets` for mixed pro's training-only vocal labels.
"""

from songgen_hf.modeling.patterns.base import IGNORE_INDEX, PatternLabels, RevertedCodes, TokenPattern
from songgen_hf.modeling.patterns.delay import FREE, CodebookDelay
from songgen_hf.modeling.patterns.dual_track import (
    DualTrackPattern,
    InterleavingAVPattern,
    InterleavingPattern,
    InterleavingVAPattern,
    ParallelAVPattern,
    ParallelPattern,
    ParallelStdPattern,
    ParallelVAPattern,
)
from songgen_hf.modeling.patterns.multi_stream import (
    MixedProStream2Pattern,
    MixedStream2Pattern,
    MixedStream4Pattern,
    MultiStreamPattern,
    ParallelStream2Pattern,
)
from songgen_hf.modeling.patterns.registry import TOKEN_PATTERNS, available_token_patterns, get_token_pattern
from songgen_hf.modeling.patterns.single_track import MixedPattern, MixedProPattern
from songgen_hf.modeling.patterns.token_ids import PatternTokenIds
from songgen_hf.modeling.patterns.vocal_targets import AuxiliaryVocalTargets

__all__ = [
    "AuxiliaryVocalTargets",
    "FREE",
    "IGNORE_INDEX",
    "TOKEN_PATTERNS",
    "CodebookDelay",
    "DualTrackPattern",
    "InterleavingAVPattern",
    "InterleavingPattern",
    "InterleavingVAPattern",
    "MixedPattern",
    "MixedProPattern",
    "MixedProStream2Pattern",
    "MixedStream2Pattern",
    "MixedStream4Pattern",
    "MultiStreamPattern",
    "ParallelAVPattern",
    "ParallelPattern",
    "ParallelStdPattern",
    "ParallelStream2Pattern",
    "ParallelVAPattern",
    "PatternLabels",
    "PatternTokenIds",
    "RevertedCodes",
    "TokenPattern",
    "available_token_patterns",
    "get_token_pattern",
]
