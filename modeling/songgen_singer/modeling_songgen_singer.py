"""The told singer: a second model that fills a dual-track song's vocal track from a score, told at every frame the
syllable sung there, its note and the voice."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

from songgen_hf.modeling.songgen_singer.configuration_songgen_singer import SongGenSingerConfig

# ----------------------------------------------------------------------------------------------------
# The told singer: a vocal track's codes filled in parallel from a score.
#
# SongGen's decoder writes the vocal track frame by frame and must find its place in the lyrics while it samples; at
# songgen-tiny's size its words stay at the recogniser's chance level.  Told *which* syllable is sung at every frame,
# on which note and in which voice, a small bidirectional transformer fills the vocal track's first codebooks so that
# the words are heard: the same split as speech synthesis's duration model +
# acoustic model, and SoundStorm's and ResGen's parallel fill, MaskGIT-style (every cell masked, then the most
# confident cells kept pass after pass, coarsest codebook first).
#
# The score comes from outside (``vocal_score_songgen.compose_vocal_score`` for a request; a corpus
# record's syllable timing in training): anything with ``syllables``, ``onsets_s``, ``durations_s``, ``midi`` and
# ``voice``.  The accompaniment's first codebook, which the decoder wrote, is the singer's context, so what it sings
# sits on the song's beat and harmony.


def score_units(config: SongGenSingerConfig, score: Any, num_frames: int) -> torch.Tensor:
    """``(config.unit_rows, num_frames)`` ids of the score at each frame, 0 where nothing is sung.

    Rows ``:letters``: the sung syllable's letters (code point + 1, lower case); then frames since its note began
    (+ 1, at most ``max_since`` + 1), its MIDI note + 1 and the voice's number.  A syllable covers the frames from
    its onset to its end (frame ``k`` is ``[k, k + 1) / frame_rate``); a later syllable overwrites an overlap."""
    out = torch.zeros((config.unit_rows, num_frames), dtype=torch.long)
    if score is None:
        return out
    since, pitch, voice_row = config.letters, config.letters + 1, config.letters + 2
    voice = config.voices.index(score.voice) + 1 if score.voice in config.voices else 0
    rate = config.frame_rate
    for syllable, onset, duration, midi in zip(score.syllables, score.onsets_s, score.durations_s, score.midi):
        first = max(int(math.floor(float(onset) * rate + 1e-6)), 0)  # the tolerance: 0.3 s * 50 is 15, not 16
        last = min(int(math.ceil((float(onset) + float(duration)) * rate - 1e-6)), num_frames)
        if first >= last:
            continue
        letters = [min(ord(letter), 126) + 1 for letter in str(syllable).lower()[: config.letters]]
        out[: config.letters, first:last] = 0
        if letters:
            out[: len(letters), first:last] = torch.tensor(letters)[:, None]
        out[since, first:last] = torch.arange(last - first).clamp(max=config.max_since) + 1
        out[pitch, first:last] = min(max(int(midi), 0), 127) + 1
        out[voice_row, first:last] = voice
    return out


def sinusoidal_positions(frames: int, width: int, device=None) -> torch.Tensor:
    """``(frames, width)`` sinusoidal positions: a singer trained on crops fills a whole song."""
    where = torch.arange(frames, dtype=torch.float, device=device)[:, None]
    scale = torch.exp(-math.log(10000.0) * torch.arange(0, width, 2, dtype=torch.float, device=device) / width)
    return torch.cat([torch.sin(where * scale), torch.cos(where * scale)], dim=-1)


class SongGenSinger(PreTrainedModel):
    """Vocal codes (some masked) + the accompaniment's first codebook + the score -> one codebook's logits."""

    config_class = SongGenSingerConfig
    base_model_prefix = "singer"
    main_input_name = "codes"
    _supports_sdpa = True

    def __init__(self, config: SongGenSingerConfig):
        super().__init__(config)
        width, size = config.hidden_size, config.codebook_size
        self.codes = nn.ModuleList(nn.Embedding(size + 1, width) for _ in range(config.num_codebooks))
        self.context = nn.Embedding(size, width)
        self.units = nn.ModuleList(nn.Embedding(config.unit_vocabulary, width) for _ in range(config.unit_rows))
        self.level = nn.Embedding(config.num_codebooks, width)
        layer = nn.TransformerEncoderLayer(
            width,
            config.num_attention_heads,
            config.intermediate_size,
            dropout=config.dropout,
            batch_first=True,
            norm_first=True,
            activation="gelu",
        )
        self.body = nn.TransformerEncoder(layer, config.num_hidden_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.heads = nn.ModuleList(nn.Linear(width, size) for _ in range(config.num_codebooks))
        self.post_init()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """transformers' ``from_pretrained``, refusing a folder that holds another model (a SongGen folder would
        load as a singer with every weight missing) or a config its weights' header does not bear out."""
        from songgen_hf.modeling.weight_bounds import check_pretrained

        check_pretrained(cls, pretrained_model_name_or_path, kwargs)
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)

    @property
    def mask_id(self) -> int:
        return self.config.codebook_size

    def _init_weights(self, module):
        # Embeddings at unit scale: a frame's input is the sum of its codes', context's and score rows' embeddings
        # plus sinusoidal positions of amplitude 1; embeddings at initializer_range would start drowned by the
        # positions (what is sung was then learnt several times slower: held-out NLL 5.8 against 3.6 at step 500).
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=1.0)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(
        self,
        codes: torch.Tensor,
        context: torch.Tensor,
        units: torch.Tensor,
        level: int,
        padding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``codes`` ``(B, num_codebooks, T)`` (``mask_id`` where unknown), ``context`` ``(B, T)``, ``units``
        ``(B, unit_rows, T)``, ``padding`` ``(B, T)`` True past a song's end: ``(B, T, codebook_size)`` logits of
        codebook ``level``."""
        positions = sinusoidal_positions(codes.shape[-1], self.config.hidden_size, codes.device)
        hidden = self._frame_inputs(codes, self.context(context), self._unit_sum(units), positions, level)
        return self._logits(hidden, level, padding)

    # The input of a frame is its own codes', context's and score's embeddings, its position and the level, added in
    # one fixed order: a fill computes the parts that do not change between passes (the context, the score, the
    # positions) once and, after each pass, only the frames whose codes it kept, and gets the same floats as
    # ``forward`` over the whole window.
    def _unit_sum(self, units: torch.Tensor) -> torch.Tensor:
        return sum(table(units[..., row, :]) for row, table in enumerate(self.units))

    def _frame_inputs(self, codes, context_embedded, unit_sum, positions, level: int) -> torch.Tensor:
        hidden = sum(table(codes[..., k, :]) for k, table in enumerate(self.codes)) + context_embedded
        hidden = hidden + unit_sum
        hidden = hidden + positions.to(hidden.dtype)
        return hidden + self.level.weight[level]

    def _logits(self, hidden: torch.Tensor, level: int, padding: torch.Tensor | None) -> torch.Tensor:
        if self.training or not _plain_layers(self.body):
            hidden = self.body(hidden, src_key_padding_mask=padding)
        else:
            heads = self.config.num_attention_heads
            attend = None if padding is None else ~padding[:, None, None, :]
            for layer in self.body.layers:
                hidden = _encoder_layer(layer, hidden, heads, attend)
        return self.heads[level](self.norm(hidden))

    @torch.no_grad()
    def fill(
        self,
        context: torch.Tensor,
        units: torch.Tensor,
        temperature: float = 0.0,
        top_k: int = 50,
        generator: torch.Generator | None = None,
        iterations: int | None = None,
        padding: torch.Tensor | None = None,
        known: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(B, num_codebooks, T)`` vocal codes for ``context`` ``(B, T)`` and ``units`` ``(B, unit_rows, T)``:
        codebook by codebook, every cell masked, then in ``iterations`` passes (the config's by default) the most
        confident cells kept (a cosine schedule of how many stay masked).  A cell takes its likeliest code at
        ``temperature`` 0, else one drawn from its ``top_k`` likeliest at that temperature (confidence: the drawn
        code's probability).  ``padding`` ``(B, T)``: True past each song's end (not attended to; filled all the
        same).  ``known`` ``(B, num_codebooks, T)``: codes already sung (``mask_id`` elsewhere), kept as they are
        and read like the cells the fill has kept (how a long song's window continues the previous one)."""
        if temperature < 0 or not math.isfinite(temperature):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}.")
        iterations = iterations or self.config.fill_iterations
        batch, frames = context.shape
        codes = torch.full(
            (batch, self.config.num_codebooks, frames), self.mask_id, dtype=torch.long, device=context.device
        )
        if known is not None:
            codes = known.to(device=context.device, dtype=torch.long).clone()
        context_embedded = self.context(context)
        unit_sum = self._unit_sum(units)
        positions = sinusoidal_positions(frames, self.config.hidden_size, context.device)
        # one autocast region for the whole fill: the weights are cast to bfloat16 once, not once a pass
        with torch.autocast(context.device.type, dtype=torch.bfloat16, enabled=self.fills_in_bfloat16(context.device)):
            self._fill_codebooks(
                codes, context_embedded, unit_sum, positions, iterations, temperature, top_k, generator, padding
            )
        return codes

    def fills_in_bfloat16(self, device: torch.device | str) -> bool:
        """Whether a fill on ``device`` computes its transformer in bfloat16 (the config's ``fill_dtype``, where the
        device computes bfloat16 natively; emulated, it would cost more than float32)."""
        if self.config.fill_dtype != "bfloat16":
            return False
        device = torch.device(device)
        if device.type == "cpu":
            return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
        if device.type == "cuda":
            return torch.cuda.is_bf16_supported()
        return False

    def _fill_codebooks(
        self, codes, context_embedded, unit_sum, positions, iterations, temperature, top_k, generator, padding
    ) -> None:
        batch, _, frames = codes.shape
        for level in range(self.config.num_codebooks):
            # the schedule runs over the cells open when this codebook starts (every frame without known codes)
            open_at_start = (codes[:, level] == self.mask_id).sum(-1).tolist()
            hidden = self._frame_inputs(codes, context_embedded, unit_sum, positions, level)
            for step in range(iterations):
                logits = self._logits(hidden, level, padding).float()
                if temperature == 0:
                    confidence, choice = logits.softmax(-1).max(-1)
                else:
                    top = logits.topk(min(top_k, logits.shape[-1]), dim=-1)
                    weights = (top.values / temperature).softmax(-1)
                    pick = torch.multinomial(weights.flatten(0, 1), 1, generator=generator).view(batch, frames, 1)
                    choice, confidence = top.indices.gather(-1, pick)[..., 0], weights.gather(-1, pick)[..., 0]
                masked = codes[:, level] == self.mask_id
                last = step == iterations - 1
                for row in range(batch):
                    open_cells = int(masked[row].sum())
                    if open_cells == 0:
                        continue
                    keep_masked = int(open_at_start[row] * math.cos(math.pi / 2 * (step + 1) / iterations))
                    ranked = torch.where(masked[row], confidence[row], -1.0)
                    chosen = ranked.topk(max(1, open_cells - keep_masked)).indices
                    codes[row, level, chosen] = choice[row, chosen]
                    if not last:  # the next pass reads the kept cells: only their frames' inputs change
                        hidden[row, chosen] = self._frame_inputs(
                            codes[row][:, chosen],
                            context_embedded[row, chosen],
                            unit_sum[row, chosen],
                            positions[chosen],
                            level,
                        )

    def checked_scores(self, model, vocal_scores, streamer=None) -> list:
        """``vocal_scores`` for re-singing ``model``'s songs, checked against the model (and an audio ``streamer``,
        which cannot play a vocal track sung after the decoder ends)."""
        if streamer is not None and hasattr(streamer, "frame_limit"):  # a SongGenStreamer, not a progress bar
            raise ValueError(
                "A singer re-sings the vocal track once the decoder has written the whole song, so an audio "
                "stream cannot play it: stream without singer/vocal_scores, or generate without streaming."
            )
        tracks = model.config.decoder.token_pattern().track_names
        if tuple(tracks) != ("accompaniment", "vocals"):
            raise ValueError(
                f"A singer fills a dual-track model's vocal track; this model's tracks are {list(tracks)}."
            )
        if self.config.codebook_size != model.config.audio_encoder.codebook_size:
            raise ValueError(
                f"The singer's codebook_size {self.config.codebook_size} is not the codec's "
                f"{model.config.audio_encoder.codebook_size}: it was trained on another codec's codes."
            )
        if isinstance(vocal_scores, (str, bytes)) or not hasattr(vocal_scores, "__len__"):
            raise ValueError("vocal_scores must be a list with one score (or None) per song.")
        for score in vocal_scores:
            if score is not None and not all(hasattr(score, name) for name in SCORE_FIELDS):
                raise ValueError(
                    f"Each vocal score needs {', '.join(SCORE_FIELDS)} (a VocalScore); got {type(score).__name__}."
                )
        return list(vocal_scores)

    @torch.no_grad()
    def sing(
        self,
        scores: list,
        codes: dict[str, torch.Tensor],
        lengths: dict[str, torch.Tensor],
        window: tuple[int, int] | None = None,
        progress=None,
    ) -> torch.Tensor:
        """The vocal track's codes ``(B, singer codebooks, T)`` sung from ``scores`` over the accompaniment the
        decoder wrote (``codes``/``lengths`` per track, as generate reverts them).  A song whose score is None keeps
        the decoder's coarsest codebooks (an instrumental's silence stays silence).

        ``window``: ``(frames, context)`` for a song longer than the decoder's window, sung window after window as
        it was generated: each window over ``frames`` frames, its first ``context`` frames the previous window's
        sung codes, kept.  Every pass attends over the whole of what it fills, so a song in one pass would cost
        the square of its length; by windows the cost grows with the song's length, and each window hears the
        end of the one before it, so the voice carries on across the edges.  ``progress(window, windows)`` is
        called as each window starts (a progress bar's "singing: window 3/6").

        Songs of one length (``lengths["vocals"]``) are sung together, each length apart and only up to its end:
        a song gets the same codes alone as beside any others, and the frames past its end keep the decoder's."""
        accompaniment, vocals = codes["accompaniment"], codes["vocals"]
        batch, _, frames = vocals.shape
        if len(scores) != batch:
            raise ValueError(
                f"vocal_scores holds {len(scores)} scores for {batch} songs; give one per song (None to "
                "leave a song's vocal track to the decoder)."
            )
        config = self.config
        out = vocals[:, : config.num_codebooks].clone()
        rows = [row for row, score in enumerate(scores) if score is not None]
        if not rows or frames == 0:
            return out
        if window is not None and not 0 <= window[1] < window[0]:
            raise ValueError(f"window must be (frames, context) with 0 <= context < frames, got {window!r}.")
        device = next(self.parameters()).device
        # Songs of one length are sung together, each group over its own frames and no further, so no pass attends
        # with a padding mask (torch's attention without one is the fused kernel, and a masked fill costs ~1.6x)
        # and a song sung alone or beside any others gets the same codes bit for bit.  Frames past a song's end
        # keep the decoder's codes (the codec decodes a song up to its length).
        ends = lengths["vocals"][rows].clamp(0, frames).tolist()
        groups = {}
        for row, end in zip(rows, ends):
            if end > 0:
                groups.setdefault(int(end), []).append(row)
        plans = [(end, group, _window_starts(end, window)) for end, group in sorted(groups.items(), reverse=True)]
        windows, index = sum(len(starts) for *_, starts in plans), 0
        for end, group, starts in plans:
            context = accompaniment[group, 0, :end].clamp(0, config.codebook_size - 1).to(device)
            units = torch.stack([score_units(config, scores[row], end) for row in group]).to(device)
            sung = torch.full((len(group), config.num_codebooks, end), self.mask_id, dtype=torch.long, device=device)
            for start in starts:
                index += 1
                if progress is not None:
                    progress(index, windows)
                stop = end if window is None else min(start + window[0], end)
                sung[..., start:stop] = self.fill(
                    context[:, start:stop], units[..., start:stop], known=sung[..., start:stop]
                )
            out[group, :, :end] = sung.to(out.device, out.dtype)
        return out


# Inference runs the encoder's layers through ``scaled_dot_product_attention``: torch's fused encoder path
# materialises every window's (frames x frames) attention weights and, under bfloat16 autocast, gives up its fused
# kernel altogether, where SDPA's CPU flash kernel streams them (a 1 584-frame window: 0.6x the time in float32,
# about 0.3x in bfloat16).  The layers' own modules and weights are used, so it is the same function as the layer's
# forward in eval mode; an adapter or hook on a layer keeps the layer's own forward.
def _plain_layers(body: nn.TransformerEncoder) -> bool:
    for layer in body.layers:
        if type(layer) is not nn.TransformerEncoderLayer or type(layer.self_attn) is not nn.MultiheadAttention:
            return False
        if not layer.norm_first or layer.activation_relu_or_gelu != 2 or not layer.self_attn.batch_first:
            return False
        if layer._forward_hooks or layer._forward_pre_hooks or layer.self_attn._forward_hooks:
            return False
    return True


def _encoder_layer(layer: nn.TransformerEncoderLayer, hidden: torch.Tensor, heads: int, attend) -> torch.Tensor:
    """A pre-norm GELU encoder layer in eval mode; ``attend`` ``(B, 1, 1, T)`` True where a key may be read."""
    batch, frames, width = hidden.shape
    attention = layer.self_attn
    qkv = nn.functional.linear(layer.norm1(hidden), attention.in_proj_weight, attention.in_proj_bias)
    query, key, value = qkv.view(batch, frames, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
    mixed = nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=attend)
    hidden = hidden + attention.out_proj(mixed.transpose(1, 2).reshape(batch, frames, width))
    return hidden + layer.linear2(nn.functional.gelu(layer.linear1(layer.norm2(hidden))))


def _window_starts(frames: int, window: tuple[int, int] | None) -> list[int]:
    """Where each window of a song of ``frames`` frames starts when sung by ``(frames, context)`` windows."""
    if window is None or frames <= window[0]:
        return [0]
    size, overlap = window
    starts = [0]
    while starts[-1] + size < frames:
        starts.append(starts[-1] + size - overlap)
    return starts


SCORE_FIELDS = ("syllables", "onsets_s", "durations_s", "midi", "voice")


__all__ = ["SCORE_FIELDS", "score_units", "sinusoidal_positions", "SongGenSinger"]
