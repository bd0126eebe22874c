"""Token patterns: round trips, lengths, masks, targeted cases and input checks (§4 layouts:
test_pattern_layouts.py)."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from songgen_hf.modeling.patterns import (
    CodebookDelay,
    PatternTokenIds,
    get_token_pattern,
)

from .pattern_helpers import (
    ALL_PATTERNS,
    BOS,
    CODEBOOK_SIZE,
    DUAL_TRACK,
    FAST,
    FREE,
    MULTI_STREAM,
    PAD,
    build,
    is_code,
    random_tracks,
    whole_steps,
)


# ---------------------------------------------------------------------------- lengths (§5.3)
def test_duration_is_in_frames_per_track():
    assert get_token_pattern("mixed").sequence_length(1492) == 1500
    assert get_token_pattern("parallel_std").sequence_length(1492) == 1500
    assert get_token_pattern("parallel_A_V").sequence_length(1492) == 1501
    interleaving = get_token_pattern("interleaving_A_V")
    assert interleaving.sequence_length(1492) == 2999
    assert interleaving.num_frames(3000) == 1492
    assert interleaving.num_frames(1500) == 742  # what a combined budget of 1500 holds (≈ 15 s, §5.3)
    # multi-stream: S frames per step, so 30 s takes 1500 / S steps plus the codebook delay
    assert get_token_pattern("mixed_stream2").sequence_length(1500) == 1 + 750 + 7
    assert get_token_pattern("mixed_stream4").sequence_length(1500) == 1 + 375 + 7
    assert get_token_pattern("mixed_stream4").num_frames(383) == 1500
    assert get_token_pattern("mixed_stream2").sequence_length(1499) == get_token_pattern(
        "mixed_stream2"
    ).sequence_length(1500)


# ---------------------------------------------------------------------------- properties
@st.composite
def pattern_batches(draw, max_frames=10):
    name = draw(st.sampled_from(ALL_PATTERNS))
    k = draw(st.sampled_from([1, 2, 4, 8]))
    batch = draw(st.integers(1, 3))
    frames = draw(st.integers(0, max_frames))
    lengths = draw(st.lists(st.integers(0, frames), min_size=batch, max_size=batch))
    seed = draw(st.integers(0, 2**16))
    return get_token_pattern(name, num_codebooks=k), batch, frames, lengths, seed


def _built(case):
    """A drawn case's random codes and the labels built from them, each item cut at its drawn frame length."""
    pattern, batch, frames, lengths, seed = case
    codes = random_tracks(pattern, batch, frames, seed)
    return codes, build(pattern, codes, frame_lengths=lengths)


@FAST
@given(pattern_batches())
def test_build_then_revert_is_identity(case):
    pattern, batch, frames, lengths, _ = case
    codes, out = _built(case)
    reverted = pattern.revert(out.sequence)
    assert set(reverted.codes) == set(pattern.track_names)
    for name in pattern.track_names:
        got, n = reverted.codes[name], reverted.frame_lengths[name]
        assert n.tolist() == lengths
        # + the all-EOS frame (a whole step of them for multi-stream)
        assert got.shape == (batch, pattern.num_codebooks, whole_steps(pattern, frames) + pattern.frames_per_step)
        assert is_code(got).all()  # no special id survives
        for b, length in enumerate(lengths):
            assert torch.equal(got[b, :, :length], codes[name][b, :, :length])
            assert (got[b, :, length:] == 0).all()


@FAST
@given(pattern_batches())
def test_lengths_match_formulas(case):
    pattern, batch, frames, lengths, seed = case
    out = build(pattern, random_tracks(pattern, batch, frames, seed))
    width = pattern.training_sequence_length(frames) - 1
    assert out.labels.shape == out.decoder_input_ids.shape == out.loss_mask.shape == (batch, pattern.num_rows, width)
    step = pattern.frames_per_step
    assert pattern.num_frames(pattern.sequence_length(frames)) == whole_steps(pattern, frames)
    assert pattern.num_frames(pattern.training_sequence_length(frames)) == whole_steps(pattern, frames) + step
    if frames:  # sequence_length = one past the last column holding a real code
        code_columns = is_code(out.sequence).any(dim=(0, 1)).nonzero()
        assert int(code_columns.max()) + 1 == pattern.sequence_length(frames)
    if pattern.name.startswith("interleaving"):
        assert pattern.sequence_length(frames) == 2 * (frames + pattern.num_codebooks) - 1
    if pattern.name in MULTI_STREAM:  # about T / S decoding steps for T frames
        assert pattern.sequence_length(frames) == whole_steps(pattern, frames) // step + pattern.num_codebooks


@FAST
@given(pattern_batches(max_frames=6), st.integers(1, 40))
def test_num_frames_inverts_sequence_length(case, length):
    pattern = case[0]
    frames = pattern.num_frames(length)
    if length >= pattern.sequence_length(0):
        assert pattern.sequence_length(frames) <= length < pattern.sequence_length(frames + 1)
    else:
        assert frames == 0


@FAST
@given(pattern_batches())
def test_loss_mask_supervises_codes_and_one_eos_per_row(case):
    _, out = _built(case)
    labels, mask = out.labels, out.loss_mask
    assert not (mask & (labels == BOS)).any()
    assert (mask | ~is_code(labels)).all()  # every real code is supervised
    eos_per_row = (mask & (labels == PAD)).sum(dim=-1)
    assert (eos_per_row == 1).all()
    codes_per_row = is_code(labels).sum(dim=-1)
    assert torch.equal(mask.sum(dim=-1), codes_per_row + 1)
    if out.vocal_labels is not None:
        assert out.vocal_labels.shape == labels.shape
        assert torch.equal(out.vocal_labels == BOS, labels == BOS)


@FAST
@given(pattern_batches())
def test_generation_mask_matches_training_layout(case):
    """Free cells at L = sequence_length(T) are exactly the labels' code cells; forced cells agree."""
    pattern, batch, frames, _, seed = case
    frames -= frames % pattern.frames_per_step  # generation fills whole steps
    codes = random_tracks(pattern, batch, frames, seed)
    sequence = build(pattern, codes).sequence
    length = pattern.sequence_length(frames)
    visible = sequence[..., :length]
    expected_mask = torch.where(is_code(visible), FREE, visible)
    mask = pattern.generation_mask(batch, length)
    assert torch.equal(mask, expected_mask)
    # the whole clip as a prompt forces every cell: the mask *is* the sequence
    prompt = {name: codes[name] for name in pattern.track_names}
    assert torch.equal(pattern.generation_mask(batch, length, prompt=prompt), visible)


@FAST
@given(pattern_batches(), st.integers(1, 40))
def test_generation_mask_any_length_has_room_for_num_frames(case, length):
    pattern, batch, _, _, seed = case
    mask = pattern.generation_mask(batch, length)
    assert mask.shape == (batch, pattern.num_rows, length)
    assert (mask[..., 0] == BOS).all()
    capacity = pattern.num_frames(length)
    free_per_item = (mask == FREE).sum(dim=(1, 2))
    assert (free_per_item == pattern.num_tracks * pattern.num_codebooks * capacity).all()
    gen = torch.Generator().manual_seed(seed)
    sampled = pattern.apply_mask(torch.randint(0, CODEBOOK_SIZE, mask.shape, generator=gen), mask)
    reverted = pattern.revert(sampled)
    for name in pattern.track_names:
        assert (reverted.frame_lengths[name] == capacity).all()


@FAST
@given(pattern_batches())
def test_prompt_frames_are_forced(case):
    pattern, batch, frames, prompt_lengths, seed = case
    codes = random_tracks(pattern, batch, frames, seed)
    length = pattern.sequence_length(frames + 2)
    room = pattern.num_frames(length)  # frames + 2, rounded up to whole steps
    mask = pattern.generation_mask(batch, length, prompt=codes, prompt_frame_lengths=prompt_lengths)
    free_per_item = (mask == FREE).sum(dim=(1, 2))
    cells_per_frame = pattern.num_tracks * pattern.num_codebooks
    assert free_per_item.tolist() == [cells_per_frame * (room - p) for p in prompt_lengths]
    sampled = pattern.apply_mask(torch.randint(0, CODEBOOK_SIZE, mask.shape), mask)
    reverted = pattern.revert(sampled)
    for name in pattern.track_names:
        for b, p in enumerate(prompt_lengths):
            assert torch.equal(reverted.codes[name][b, :, :p], codes[name][b, :, :p])
    # the decoder may start after the prompt: 1 + the steps the prompt frames fill completely
    shortest = min(prompt_lengths)
    complete = shortest - shortest % pattern.frames_per_step
    expected_prefix = pattern.sequence_length(complete) - pattern.sequence_length(0) + 1
    assert pattern.forced_prefix_length(mask) == expected_prefix


@FAST
@given(pattern_batches(max_frames=8), st.integers(1, 30))
def test_revert_of_arbitrary_ids_never_leaks_special_ids(case, length):
    pattern, batch, _, _, seed = case
    gen = torch.Generator().manual_seed(seed)
    # codes are drawn 4x as often as specials so valid stretches actually occur
    ids = torch.randint(0, CODEBOOK_SIZE + 256, (batch, pattern.num_rows, length), generator=gen)
    ids = torch.where(ids >= CODEBOOK_SIZE, BOS + (ids % 2) - 1, ids)
    for mode in ("truncate", "drop"):
        reverted = pattern.revert(ids, invalid_frames=mode)
        for name in pattern.track_names:
            codes, n = reverted.codes[name], reverted.frame_lengths[name]
            assert codes.shape[-1] == pattern.num_frames(length)
            assert is_code(codes).all()
            assert ((n >= 0) & (n <= codes.shape[-1])).all()


@FAST
@given(pattern_batches())
def test_labels_follow_the_common_dual_track_procedure(case):
    """delay each track → drop its BOS column → combine → one shared BOS column."""
    pattern, _, frames, lengths, _ = case
    codes, out = _built(case)
    delay = CodebookDelay(pattern.num_codebooks, PatternTokenIds())
    if pattern.has_auxiliary_vocal_targets:  # the vocals are laid out exactly as the mix would be
        vocals = codes["mix"].flip(-1)  # what build() passes
        without_vocal_heads = get_token_pattern(pattern.name.replace("_pro", ""), num_codebooks=pattern.num_codebooks)
        as_mix = without_vocal_heads.build_labels(vocals, frame_lengths=lengths)
        assert torch.equal(out.vocal_labels, as_mix.labels)
    if pattern.name in MULTI_STREAM:  # each track's frames dealt round-robin to S streams, each delayed
        s, rows = pattern.frames_per_step, []
        per_stream = -(-frames // s)
        stream_lengths = [torch.tensor([len(range(j, n, s)) for n in lengths]) for j in range(s)]
        for name in pattern.track_names:  # tracks one after the other, their streams in order
            track = codes[name]
            streams = [
                torch.nn.functional.pad(track[..., j::s], (0, per_stream - track[..., j::s].shape[-1]))
                for j in range(s)
            ]
            rows += [delay.delay(c, n) for c, n in zip(streams, stream_lengths)]
        assert torch.equal(out.labels, torch.cat(rows, dim=-2))
        return
    rows = [delay.delay(codes[name], torch.tensor(lengths)) for name in pattern.track_names]
    combined = pattern.combine(*rows) if pattern.name in DUAL_TRACK else rows[0]
    assert torch.equal(out.labels, combined)
    if pattern.name in DUAL_TRACK:
        split = pattern.split(out.labels)
        assert all(torch.equal(a, b) for a, b in zip(split, rows))


@FAST
@given(
    st.sampled_from(DUAL_TRACK),
    st.sampled_from([1, 2, 4, 8]),
    st.integers(0, 12),
    st.booleans(),
    st.integers(0, 2**16),
)
def test_split_inverts_combine(name, k, width, batched, seed):
    pattern = get_token_pattern(name, num_codebooks=k)
    gen = torch.Generator().manual_seed(seed)
    shape = (2, k, width) if batched else (k, width)
    a, v = (torch.randint(-5, 2000, shape, generator=gen) for _ in range(2))
    combined = pattern.combine(a, v)
    assert combined.shape[-2] == pattern.num_rows
    split_a, split_v = pattern.split(combined)
    assert torch.equal(split_a, a) and torch.equal(split_v, v)


# ---------------------------------------------------------------------------- targeted cases
def test_per_item_lengths_end_with_eos_then_pad():
    pattern = get_token_pattern("mixed", num_codebooks=2)
    codes = torch.tensor([[[1, 2, 3], [4, 5, 6]], [[7, 8, 9999], [10, 11, -3]]])  # item 1: garbage past length 2
    out = pattern.build_labels(codes, frame_lengths=[3, 1])
    assert out.labels.tolist() == [
        [[1, 2, 3, PAD, PAD], [BOS, 4, 5, 6, PAD]],
        [[7, PAD, PAD, PAD, PAD], [BOS, 10, PAD, PAD, PAD]],
    ]
    assert out.loss_mask[1].tolist() == [[True, True, False, False, False], [False, True, True, False, False]]


def test_mixed_pro_vocals_are_frame_aligned_with_the_mix():
    pattern = get_token_pattern("mixed_pro", num_codebooks=2)
    mix = torch.randint(0, 1024, (2, 2, 5))
    short_vocals = torch.randint(0, 1024, (2, 2, 3))
    out = pattern.build_labels({"mix": mix, "vocals": short_vocals}, frame_lengths=[5, 2])
    assert out.vocal_labels.shape == out.labels.shape
    back = get_token_pattern("mixed", 2).revert(torch.cat((out.decoder_input_ids[..., :1], out.vocal_labels), -1))
    assert back.frame_lengths["mix"].tolist() == [3, 2]  # min(vocal, mix) per item
    assert torch.equal(back.codes["mix"][0, :, :3], short_vocals[0])
    long_vocals = torch.randint(0, 1024, (2, 2, 9))
    out = pattern.build_labels(mix, long_vocals)
    back = get_token_pattern("mixed", 2).revert(torch.cat((out.decoder_input_ids[..., :1], out.vocal_labels), -1))
    assert torch.equal(back.codes["mix"][..., :5], long_vocals[..., :5])
    assert torch.equal(out.vocal_loss_labels(), out.vocal_labels.masked_fill(~out.loss_mask, -100))


def test_revert_stops_at_a_stray_special_id_or_drops_it_like_the_reference():
    pattern = get_token_pattern("mixed", num_codebooks=2)
    codes = torch.arange(10).view(1, 2, 5)
    sequence = pattern.build_labels(codes).sequence.clone()
    sequence[0, 1, 1 + 2 + 1] = 1030  # codebook 1 of frame 2 → a stray special id
    truncated = pattern.revert(sequence)
    assert truncated.frame_lengths["mix"].tolist() == [2]
    assert torch.equal(truncated.codes["mix"][0, :, :2], codes[0, :, :2])
    dropped = pattern.revert(sequence, invalid_frames="drop")
    assert dropped.frame_lengths["mix"].tolist() == [4]
    assert torch.equal(dropped.codes["mix"][0, :, :4], codes[0][:, [0, 1, 3, 4]])


def test_custom_ids_and_distinct_eos():
    pattern = get_token_pattern(
        "parallel_A_V", 2, bos_token_id=17, pad_token_id=16, eos_token_id=18, codebook_size=16, vocab_size=20
    )
    a, v = torch.tensor([[[1, 2], [3, 4]]]), torch.tensor([[[5, 6], [7, 8]]])
    out = pattern.build_labels(a, v)
    assert out.labels[0].tolist() == [
        [1, 2, 18, 16, 16],
        [17, 3, 4, 18, 16],
        [17, 5, 6, 18, 16],
        [17, 17, 7, 8, 18],
    ]
    assert ((out.labels == 18) == (out.loss_mask & (out.labels >= 16))).all()
    reverted = pattern.revert(out.sequence)
    assert torch.equal(reverted.codes["vocals"][..., :2], v)
    assert pattern.generation_mask(1, 5)[0, 0].tolist() == [17, FREE, FREE, 16, 16]


def test_apply_mask_and_forced_prefix():
    pattern = get_token_pattern("mixed", num_codebooks=2)
    mask = pattern.generation_mask(2, 5, prompt=torch.tensor([[[3], [4]], [[5], [6]]]))
    ids = torch.full((2, 2, 3), 7)
    assert pattern.apply_mask(ids, mask)[0].tolist() == [[BOS, 3, 7], [BOS, BOS, 4]]
    flat = pattern.apply_mask(ids.view(4, 3), mask)
    assert torch.equal(flat.view(2, 2, 3), pattern.apply_mask(ids, mask))
    assert pattern.forced_prefix_length(mask) == 2
    assert pattern.forced_prefix_length(pattern.generation_mask(1, 5)) == 1
    with pytest.raises(ValueError, match="do not fit"):
        pattern.apply_mask(torch.zeros(2, 2, 6, dtype=torch.long), mask)


def test_attributes():
    mixed, pro = get_token_pattern("mixed"), get_token_pattern("mixed_pro")
    inter, par = get_token_pattern("interleaving_V_A"), get_token_pattern("parallel_std")
    assert (mixed.num_rows, mixed.num_tracks, mixed.track_names) == (8, 1, ("mix",))
    assert not mixed.has_auxiliary_vocal_targets and pro.has_auxiliary_vocal_targets
    assert (inter.num_rows, inter.num_tracks, inter.track_names) == (8, 2, ("accompaniment", "vocals"))
    assert par.num_rows == 16 and par.row_groups == (tuple(range(8)), tuple(range(8, 16)))
    assert inter.row_groups == (tuple(range(8)),)
    assert {p.name for p in (mixed, pro, inter, par)} == {"mixed", "mixed_pro", "interleaving_V_A", "parallel_std"}


@pytest.mark.parametrize("name, streams", [("mixed_stream2", 2), ("mixed_stream4", 4), ("mixed_pro_stream2", 2)])
def test_multi_stream_attributes_and_audiogen_layout(name, streams):
    pattern = get_token_pattern(name, num_codebooks=2)
    assert (pattern.num_rows, pattern.num_tracks, pattern.num_streams) == (2 * streams, 1, streams)
    assert pattern.frames_per_step == streams and pattern.track_names == ("mix",)
    assert pattern.row_groups == tuple(tuple(range(2 * g, 2 * g + 2)) for g in range(streams))
    assert get_token_pattern("parallel_std").frames_per_step == get_token_pattern("mixed").frames_per_step == 1
    # one step = S frames: frame t sits in stream t % S at column t // S + k (after the BOS column)
    codes = torch.arange(2 * 8).view(1, 2, 8)
    labels = build(pattern, {"mix": codes}).labels[0]
    for t in range(8):
        for k in range(2):
            assert labels[(t % streams) * 2 + k, t // streams + k] == codes[0, k, t]
    assert labels.shape[-1] == 8 // streams + 2


def test_parallel_stream2_is_each_track_as_mixed_stream2():
    """Dual-track in two streams: the accompaniment's rows are what mixed_stream2 makes of it alone, the
    vocals' rows likewise below them; a step completes two frames of both tracks, as mixed_stream2's does."""
    pattern, single = (
        get_token_pattern("parallel_stream2", num_codebooks=3),
        get_token_pattern("mixed_stream2", num_codebooks=3),
    )
    assert (pattern.num_rows, pattern.num_tracks, pattern.num_streams) == (12, 2, 4)
    assert pattern.track_names == ("accompaniment", "vocals") and pattern.frames_per_step == 2
    assert pattern.row_groups == tuple(tuple(range(3 * g, 3 * g + 3)) for g in range(4))
    generator = torch.Generator().manual_seed(3)
    a, v = (torch.randint(0, 1024, (2, 3, 9), generator=generator) for _ in range(2))
    out = pattern.build_labels({"accompaniment": a, "vocals": v}, frame_lengths=[9, 6])
    for rows, track in ((slice(0, 6), a), (slice(6, 12), v)):
        alone = single.build_labels(track, frame_lengths=[9, 6])
        assert torch.equal(out.labels[:, rows], alone.labels) and torch.equal(out.loss_mask[:, rows], alone.loss_mask)
    for frames in (0, 1, 7, 250):
        assert pattern.sequence_length(frames) == single.sequence_length(frames)
    reverted = pattern.revert(out.sequence)
    assert torch.equal(reverted.codes["vocals"][1, :, :6], v[1, :, :6]) and reverted.frame_lengths[
        "accompaniment"
    ].tolist() == [9, 6]


# ---------------------------------------------------------------------------- bad input
def test_unknown_pattern_lists_valid_names():
    with pytest.raises(ValueError, match="unknown token pattern 'delay'.*interleaving_A_V"):
        get_token_pattern("delay")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(bos_token_id=1024), "bos_token_id.*must differ"),
        (dict(bos_token_id=5), r"bos_token_id=5 must lie in \[codebook_size"),
        (dict(pad_token_id=2000), "pad_token_id=2000"),
        (dict(num_codebooks=0), "num_codebooks must be a positive int"),
    ],
)
def test_bad_configuration(kwargs, message):
    with pytest.raises(ValueError, match=message):
        get_token_pattern("mixed", **kwargs)


@pytest.mark.parametrize("name", ["mixed", "interleaving_A_V"])
def test_bad_codes(name):
    pattern = get_token_pattern(name, num_codebooks=4)
    good = torch.zeros(2, 4, 3, dtype=torch.long)
    args = lambda c: (c,) * pattern.num_tracks  # noqa: E731
    with pytest.raises(ValueError, match="has 2 codebooks.*num_codebooks=4"):
        pattern.build_labels(*args(torch.zeros(2, 2, 3, dtype=torch.long)))
    with pytest.raises(ValueError, match="got rank 2"):
        pattern.build_labels(*args(torch.zeros(4, 3, dtype=torch.long)))
    with pytest.raises(ValueError, match="integer codes"):
        pattern.build_labels(*args(good.float()))
    for bad_value in (1024, -1):
        bad = good.clone()
        bad[1, 2, 0] = bad_value
        with pytest.raises(ValueError, match=f"holds {bad_value} at .*item 1, codebook 2, frame 0"):
            pattern.build_labels(*args(bad))
    with pytest.raises(ValueError, match=r"frame_lengths must lie in \[0, 3\]"):
        pattern.build_labels(*args(good), frame_lengths=[1, 4])
    with pytest.raises(ValueError, match=r"frame_lengths must have shape \(2,\)"):
        pattern.build_labels(*args(good), frame_lengths=[1])
    with pytest.raises(ValueError, match="expects"):
        pattern.build_labels({"drums": good})
    with pytest.raises(ValueError, match="does not fit"):
        pattern.generation_mask(2, pattern.sequence_length(2), prompt=args(good))
    with pytest.raises(ValueError, match="sequence has 3 rows"):
        pattern.revert(torch.zeros(2, 3, 10, dtype=torch.long))
    with pytest.raises(ValueError, match="sequence_length must be an int >= 1"):
        pattern.generation_mask(2, 0)


def test_dual_track_input_checks():
    pattern = get_token_pattern("parallel_A_V", num_codebooks=4)
    with pytest.raises(ValueError, match="tracks must share"):
        pattern.build_labels(torch.zeros(1, 4, 3, dtype=torch.long), torch.zeros(1, 4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="must match"):
        pattern.combine(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="combined rows must be"):
        pattern.split(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="expects 2 track"):
        pattern.build_labels(torch.zeros(1, 4, 3, dtype=torch.long))
    pro = get_token_pattern("mixed_pro", num_codebooks=4)
    with pytest.raises(ValueError, match=r"expects tracks \['mix', 'vocals'\]"):
        pro.build_labels({"mix": torch.zeros(1, 4, 3, dtype=torch.long)})
    with pytest.raises(ValueError, match="special id"):
        pro.revert(torch.zeros(1, 4, 8, dtype=torch.long), fill_value=PAD)
