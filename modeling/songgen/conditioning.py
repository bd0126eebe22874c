"""SongGen's conditioning, shared by every token model that sings from a description and lyrics.

:class:`SongConditioningMixin` builds and runs the encoders both SongGen (autoregressive) and
ResGen (masked parallel) condition on: the description T5 and its projection, the VoiceBPE lyrics
encoder and its projection, the optional reference-voice encoder, and the X-Codec.  Their outputs
form one cross-attention memory ``[voice ; description ; lyrics]`` that every layer of the token
model attends to, plus the musical controls (tempo, key) the token model adds to its input.

Training-time condition dropout lives here too (:meth:`condition_memory`): a dropped description
or lyrics becomes zeros with its mask kept, a dropped voice is masked out, and the musical
controls drop with the description (and, with ``control_dropout_prob``, alone).  Classifier-free
guidance subtracts exactly this null memory, so both models guide the same way.

The mixin goes before ``PreTrainedModel`` in the bases; the model's config must carry the fields
of :class:`~.configuration_conditioning.SongConditioningConfig` and a ``decoder`` whose
``hidden_size`` is the memory width.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from transformers import AutoModel, AutoModelForTextEncoding

from songgen_hf.modeling.songgen.decoder import codec_frame_rate
from songgen_hf.modeling.songgen.lyrics_encoder import SongGenLyricsEncoder
from songgen_hf.modeling.songgen.musical_controls import (
    UNKNOWN_ARRANGEMENT,
    UNKNOWN_KEY,
    check_controls,
    tempo_is_known,
)
from songgen_hf.modeling.songgen.voice_encoder import SongGenVoiceEncoder


class SongConditioningMixin:
    """Description, lyrics and voice encoders, the codec, and the condition memory they make."""

    def _build_conditioning(self, config) -> None:
        """Create the encoders and the codec (call in ``__init__`` before the token model, so that
        parameter order, and with it every saved checkpoint, stays the same for both models)."""
        width = config.decoder.hidden_size
        self.text_encoder = AutoModelForTextEncoding.from_config(config.text_encoder)
        self.enc_to_dec_proj = nn.Linear(config.text_encoder.d_model, width)
        self.lyrics_encoder = SongGenLyricsEncoder(config.lyrics_encoder)
        self.lyrics_to_dec_proj = (
            nn.Linear(config.lyrics_encoder.hidden_size, width) if config.lyrics_encoder.use_encoder else None
        )
        self.voice_encoder = SongGenVoiceEncoder(config.voice_encoder) if config.voice_encoder is not None else None
        self.audio_encoder = AutoModel.from_config(config.audio_encoder)

    # ------------------------------------------------------------------ freezing
    def freeze_text_encoder(self) -> None:
        """The description encoder stays frozen in every SongGen stage."""
        self.text_encoder.requires_grad_(False)

    def freeze_audio_encoder(self) -> None:
        self.audio_encoder.requires_grad_(False)

    def freeze_conditioning(self) -> None:
        """Stage 2a: only the token model trains (T5, projections, lyrics and voice paths frozen)."""
        for module in (
            self.text_encoder,
            self.enc_to_dec_proj,
            self.lyrics_encoder,
            self.lyrics_to_dec_proj,
            self.voice_encoder,
        ):
            if module is not None:
                module.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        # frozen encoders never run dropout
        self.text_encoder.eval()
        self.audio_encoder.eval()
        return self

    def get_input_embeddings(self):
        # as MusicGen: the description encoder's token embedding (transformers' quantizers ask for it)
        return self.text_encoder.get_input_embeddings()

    # ------------------------------------------------------------------ memory
    def encode_condition_segments(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        lyrics_input_ids: torch.LongTensor | None = None,
        lyrics_attention_mask: torch.Tensor | None = None,
        voice_values: torch.Tensor | None = None,
        voice_attention_mask: torch.Tensor | None = None,
        project_description: bool = True,
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Run every conditioning encoder once: ``{name: (states (B, n, hidden), mask (B, n))}``
        in memory order ``voice`` (if given), ``description``, ``lyrics``."""
        if input_ids is None or lyrics_input_ids is None:
            raise ValueError(
                "SongGen needs a description (input_ids) and lyrics (lyrics_input_ids); use the processor."
            )
        batch = input_ids.shape[0]
        if lyrics_input_ids.shape[0] != batch:
            raise ValueError(f"{batch} descriptions but {lyrics_input_ids.shape[0]} lyrics; pass one of each per song.")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if lyrics_attention_mask is None:
            lyrics_attention_mask = torch.ones_like(lyrics_input_ids)
        if lyrics_input_ids.numel() and lyrics_input_ids.max() >= self.config.lyrics_encoder.vocab_size:
            raise ValueError(
                f"Lyrics token ids reach {int(lyrics_input_ids.max())} but the lyrics vocabulary has "
                f"{self.config.lyrics_encoder.vocab_size} entries; use the model's own lyrics tokenizer."
            )
        frozen = not any(p.requires_grad for p in self.text_encoder.parameters())
        with torch.no_grad() if frozen else contextlib.nullcontext():
            description = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        description = description * attention_mask.unsqueeze(-1).to(description.dtype)
        if project_description:
            description = self.enc_to_dec_proj(description)
        lyrics, lyrics_attention_mask = self.lyrics_encoder(lyrics_input_ids, lyrics_attention_mask)
        if self.lyrics_to_dec_proj is not None:
            lyrics = self.lyrics_to_dec_proj(lyrics)
        segments = {}
        if voice_values is not None:
            if self.voice_encoder is None:
                raise ValueError("This model has no voice encoder (config.use_voice_encoder=False); drop voice_values.")
            voice, voice_mask = self.voice_encoder(voice_values, voice_attention_mask)
            segments["voice"] = (voice.to(description.dtype), voice_mask.to(torch.long))
        segments["description"] = (description, attention_mask.to(torch.long))
        segments["lyrics"] = (lyrics.to(description.dtype), lyrics_attention_mask.to(torch.long))
        return segments

    @staticmethod
    def fuse_condition_segments(
        segments: dict[str, tuple[torch.Tensor, torch.Tensor]], drop: dict[str, torch.Tensor | bool] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Concatenate segments into the cross-attention memory ``(B, M, hidden)`` and mask ``(B, M)``.

        ``drop[name]`` (a bool or per-example bools) replaces a condition by its null version:
        description and lyrics become zeros with their mask kept (what classifier-free guidance
        subtracts), a voice is masked out, which is how the reference represents "no voice".
        """
        states, masks = [], []
        for name, (hidden, mask) in segments.items():
            dropped = (drop or {}).get(name)
            if dropped is not None and dropped is not False:
                keep = ~torch.as_tensor(dropped, device=hidden.device).expand(hidden.shape[0])
                if name == "voice":
                    mask = mask * keep.view(-1, 1).to(mask.dtype)
                else:
                    hidden = hidden * keep.view(-1, 1, 1).to(hidden.dtype)
            states.append(hidden)
            masks.append(mask)
        return torch.cat(states, dim=1), torch.cat(masks, dim=1)

    def encode_conditions(self, *args, drop: dict[str, torch.Tensor | bool] | None = None, **kwargs):
        """The cross-attention memory and mask: :meth:`encode_condition_segments` then
        :meth:`fuse_condition_segments`."""
        return self.fuse_condition_segments(self.encode_condition_segments(*args, **kwargs), drop)

    def _condition_drop_mask(self, probability: float, batch: int, device) -> torch.Tensor | None:
        if not self.training or probability <= 0:
            return None
        return torch.rand(batch, device=device) < probability

    def training_condition_drops(self, batch: int, device) -> dict[str, torch.Tensor]:
        """Per-example condition dropout for one training batch (empty outside training).

        Each condition drops with its own probability, and all of them together with
        ``joint_dropout_prob``: guidance subtracts that fully-null case, which independent drops
        alone make rare.  ``"controls"`` (the musical controls alone, ``control_dropout_prob``) is
        the case control guidance subtracts; the controls also drop with the description."""
        drop = {
            "description": self._condition_drop_mask(self.config.description_dropout_prob, batch, device),
            "lyrics": self._condition_drop_mask(self.config.lyrics_dropout_prob, batch, device),
            "voice": self._condition_drop_mask(self.config.voice_dropout_prob, batch, device),
        }
        joint = self._condition_drop_mask(self.config.joint_dropout_prob, batch, device)
        if joint is not None:
            drop = {name: joint if mask is None else mask | joint for name, mask in drop.items()}
        # drawn last, so a model trained without it draws the same numbers as before it existed
        drop["controls"] = self._condition_drop_mask(self.config.control_dropout_prob, batch, device)
        return {name: mask for name, mask in drop.items() if mask is not None}

    @staticmethod
    def _controls_dropped(drop: dict) -> torch.Tensor | None:
        """Rows whose musical controls are unknown: dropped alone or with the description."""
        masks = [mask for mask in (drop.get("description"), drop.get("controls")) if mask is not None]
        if not masks:
            return None
        return masks[0] if len(masks) == 1 else masks[0] | masks[1]

    def condition_memory(
        self,
        input_ids,
        attention_mask,
        lyrics_input_ids,
        lyrics_attention_mask,
        voice_values,
        voice_attention_mask,
        tempo_bpm=None,
        music_key_ids=None,
        arrangement_ids=None,
    ) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """The memory, its mask and the musical controls for one forward pass, with training-time
        condition dropout applied (the controls drop with the description, and alone)."""
        batch = input_ids.shape[0] if input_ids is not None else 0
        device = input_ids.device if input_ids is not None else None
        drop = self.training_condition_drops(batch, device)
        memory, memory_mask = self.encode_conditions(
            input_ids,
            attention_mask,
            lyrics_input_ids,
            lyrics_attention_mask,
            voice_values,
            voice_attention_mask,
            drop=drop,
        )
        controls = self._musical_control_inputs(
            tempo_bpm, music_key_ids, memory.shape[0], self._controls_dropped(drop), arrangement_ids
        )
        return memory, memory_mask, controls

    def _musical_control_inputs(
        self, tempo_bpm, music_key_ids, batch: int, dropped: torch.Tensor | None, arrangement_ids=None
    ) -> dict:
        """Validated controls as the token model takes them; songs whose description is dropped lose them too.

        Generation passes the same controls at every step: outside training the result is kept for the
        last values seen (compared by value, a few microseconds), so a step does not convert and validate
        them again (~0.8 ms of a ~10 ms step on a 2-core CPU).
        """
        memo_key = None
        if dropped is None and not torch.is_grad_enabled() and not torch.compiler.is_compiling():
            memo_key = _controls_key(batch, self.device, (tempo_bpm, music_key_ids, arrangement_ids))
            memo = self.__dict__.get("_controls_memo")
            if memo_key is not None and memo is not None and memo[0] == memo_key:
                return dict(memo[1])
        controls = self._convert_controls(tempo_bpm, music_key_ids, batch, dropped, arrangement_ids)
        if memo_key is not None:
            self.__dict__["_controls_memo"] = (memo_key, dict(controls))
        return controls

    def _convert_controls(self, tempo_bpm, music_key_ids, batch: int, dropped, arrangement_ids) -> dict:
        decoder_config = self.config.decoder
        if tempo_bpm is not None:
            tempo_bpm = torch.as_tensor(tempo_bpm, dtype=torch.float32, device=self.device).reshape(-1)
        if music_key_ids is not None:
            music_key_ids = torch.as_tensor(music_key_ids, dtype=torch.long, device=self.device).reshape(-1)
        if arrangement_ids is not None:
            arrangement_ids = torch.as_tensor(arrangement_ids, dtype=torch.long, device=self.device).reshape(-1)
        if not torch.compiler.is_compiling():  # the checks read values: a graph break in a compiled step
            check_controls(tempo_bpm, music_key_ids, batch, decoder_config, arrangement_ids)
        controls = {}
        if tempo_bpm is not None:
            if dropped is not None:
                tempo_bpm = torch.where(dropped.to(tempo_bpm.device), float("nan"), tempo_bpm)
            tempo_bpm = torch.where(tempo_is_known(tempo_bpm), tempo_bpm, float("nan"))
            # beats per decoder position: a position holds S frames in a multi-stream layout, half a frame
            # when two tracks interleave, so the metronome keeps the music's beat whatever the pattern
            pattern = getattr(self, "pattern", None)
            frames_per_position = pattern.frames_per_position if pattern is not None else 1.0
            controls["tempo_beats_per_frame"] = tempo_bpm * frames_per_position / (60.0 * codec_frame_rate(self.config))
        if music_key_ids is not None:
            if dropped is not None:
                music_key_ids = torch.where(dropped.to(music_key_ids.device), UNKNOWN_KEY, music_key_ids)
            controls["music_key_ids"] = music_key_ids
        if arrangement_ids is not None:
            if dropped is not None:
                arrangement_ids = torch.where(dropped.to(arrangement_ids.device), UNKNOWN_ARRANGEMENT, arrangement_ids)
            controls["arrangement_ids"] = arrangement_ids
        return controls


def _controls_key(batch: int, device, controls: tuple) -> tuple | None:
    """What identifies the controls' values (``None``: not tensors, not memoised)."""
    key = [batch, device]
    for value in controls:
        if value is None:
            key.append(None)
        elif isinstance(value, torch.Tensor) and value.device.type == "cpu":
            key.append(
                (value.dtype, tuple(value.shape), value.detach().reshape(-1).view(torch.uint8).numpy().tobytes())
            )
        else:  # lists, or tensors on an accelerator (reading them would be a device sync each step)
            return None
    return tuple(key)


__all__ = ["SongConditioningMixin"]
