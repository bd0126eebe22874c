"""``ResGenPipeline``: text-to-song with ResGen, as a diffusers ``DiffusionPipeline``.

Usage::

    from songgen_hf.pipelines.resgen_pipeline import ResGenPipeline

    pipe = ResGenPipeline.from_pretrained("path/to/resgen")
    out = pipe("an upbeat pop song with a female voice", lyrics="hold me close tonight",
               num_inference_steps=16, guidance_scale=3.0, duration_s=10, generator=torch.Generator().manual_seed(0))
    out.audios  # float32 numpy (batch, 1, samples) at pipe.sampling_rate

Components: ``transformer`` (:class:`~songgen_hf.modeling.resgen.ResGenForConditionalGeneration`, with
its conditioning encoders and the codec), ``scheduler`` (:class:`~songgen_hf.modeling.resgen.ResGenScheduler`)
and ``processor`` (the same ``SongGenProcessor`` as SongGen).  ``save_pretrained`` writes diffusers'
layout (``model_index.json`` + one folder per component), and that one folder is also what
``pipeline("text-to-song", model=FOLDER)`` and ``songgen generate --model FOLDER`` take: the
text-to-song task hands ResGen models to
:class:`~songgen_hf.pipelines.resgen_text_to_song.ResGenTextToSongPipeline`.
"""

from __future__ import annotations

import os

import torch

from songgen_hf._import_noise import known_import_noise_filtered

with known_import_noise_filtered():  # diffusers' pipeline base imports its model zoo, with a torchao notice
    from diffusers import DiffusionPipeline
    from diffusers.pipelines.pipeline_utils import AudioPipelineOutput

from songgen_hf.atomic import write_text_atomic
from songgen_hf.modeling.resgen import (
    ResGenForConditionalGeneration,
    ResGenScheduler,
    check_resgen_arguments,
)
from songgen_hf.modeling.resgen.arguments import DEFAULT_NUM_INFERENCE_STEPS
from songgen_hf.modeling.resgen.masking import check_generators
from songgen_hf.pipelines.checks import check_song_count
from songgen_hf.pipelines.model_folders import (  # the folder checks, also exported from here
    check_resgen_folder,
    check_resgen_folder_and_arguments,
    is_resgen_folder,
    resgen_folder_of,
)
from songgen_hf.pipelines.text_to_song import parse_song


class ResGenPipeline(DiffusionPipeline):
    r"""Songs from descriptions and lyrics by ResGen's masked parallel decoding.

    Args:
        transformer: the ResGen model (conditioning encoders, bidirectional transformer, codec).
        scheduler: the unmasking scheduler.
        processor: the ``SongGenProcessor`` that tokenizes descriptions and lyrics.
    """

    model_cpu_offload_seq = "transformer"

    def __init__(self, transformer: ResGenForConditionalGeneration, scheduler: ResGenScheduler, processor):
        super().__init__()
        self.register_modules(transformer=transformer, scheduler=scheduler, processor=processor)

    @property
    def sampling_rate(self) -> int:
        return int(self.transformer.config.sampling_rate)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs):
        """diffusers' layout, plus a copy of the model's ``config.json`` at the top: transformers'
        ``pipeline("text-to-song", model=FOLDER)`` reads the folder's config before anything of this
        package can redirect it, and ``ResGenForConditionalGeneration.from_pretrained(FOLDER)`` then
        takes the weights from ``transformer/``."""
        super().save_pretrained(save_directory, **kwargs)
        write_text_atomic(
            os.path.join(os.fspath(save_directory), "config.json"), self.transformer.config.to_json_string()
        )

    @torch.no_grad()
    def __call__(
        self,
        description: str | list[str],
        lyrics: str | list[str] | None = None,
        num_inference_steps: int = DEFAULT_NUM_INFERENCE_STEPS,
        guidance_scale: float | None = None,
        duration_s: float | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        temperature: float = 1.0,
        top_p: float = 1.0,
        audio_prompt: torch.Tensor | None = None,
        tempo_bpm: float | list[float] | None = None,
        key: str | list[str] | None = None,
        output_type: str = "np",
        return_dict: bool = True,
    ) -> AudioPipelineOutput | tuple:
        r"""Generate one song per description.

        Args:
            description: one description or a list (one song each).
            lyrics: the lyrics (lines separated by ``"\n"``), one per description; ``None`` = instrumental.
            num_inference_steps: transformer passes (each reveals a scheduled share of the tokens).
            guidance_scale: classifier-free guidance; ``None`` or 1 = off (exactly the conditional model).
            duration_s: song length in seconds, an audio prompt included (default 10 s or the model's limit).
            generator: a ``torch.Generator``, or one per song (each song then independent of its batch).
            temperature: > 0, on the confidence that orders unmasking.  top_p: nucleus over mixture components.
            audio_prompt: ``(samples,)``, ``(batch, samples)`` or ``(batch, 1, samples)`` audio at the codec's
                rate whose frames start every song and are never re-masked.
            tempo_bpm / key: musical controls, for models built with them.
            output_type: ``"np"`` (float32 numpy) or ``"pt"`` (torch).
        Returns:
            :class:`~diffusers.pipelines.pipeline_utils.AudioPipelineOutput` with ``audios`` ``(batch, 1, samples)``.
        """
        descriptions = [description] if isinstance(description, str) else description
        if not isinstance(descriptions, (list, tuple)) or not descriptions:
            raise ValueError("description must be a string or a non-empty list of strings.")
        check_song_count(len(descriptions))
        if lyrics is None:
            lyrics = [""] * len(descriptions)
        lyrics_list = [lyrics] if isinstance(lyrics, str) else list(lyrics)
        if len(lyrics_list) != len(descriptions):
            raise ValueError(
                f"Got {len(descriptions)} descriptions but {len(lyrics_list)} lyrics; pass one lyrics per song."
            )
        if output_type not in ("np", "pt"):
            raise ValueError(f"output_type must be 'np' or 'pt', got {output_type!r}.")
        songs = [parse_song({"description": d, "lyrics": lyric}) for d, lyric in zip(descriptions, lyrics_list)]
        config = self.transformer.config
        if audio_prompt is not None:
            if not torch.is_tensor(audio_prompt) or not audio_prompt.is_floating_point():
                raise ValueError("audio_prompt must be a float torch tensor of audio at the codec's sampling rate.")
            if audio_prompt.dim() == 1:
                audio_prompt = audio_prompt[None]
        prompt_frames = 0 if audio_prompt is None else int(config.audio_encoder.num_frames(int(audio_prompt.shape[-1])))
        arguments = {
            "num_inference_steps": num_inference_steps,
            "guidance_scale": guidance_scale,
            "duration_s": duration_s,
            "temperature": temperature,
            "top_p": top_p,
        }
        check_resgen_arguments(arguments, config, prompt_frames=prompt_frames)
        check_generators(generator, len(songs))
        controls = {}
        for name, value in (("tempo_bpm", tempo_bpm), ("key", key)):
            if value is not None:
                controls[name] = value
        features = self.processor(
            description=[s["description"] for s in songs],
            lyrics=[s["lyrics"] for s in songs],
            return_tensors="pt",
            **controls,
        ).to(self.transformer.device)
        output = self.transformer.generate(
            **features,
            scheduler=self.scheduler,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            duration_s=duration_s,
            temperature=temperature,
            top_p=top_p,
            generator=generator,
            audio_prompt=audio_prompt,
            progress=lambda steps: self.progress_bar(steps),
        )
        audio = output.audio.float()
        audios = audio.cpu().numpy() if output_type == "np" else audio
        if not return_dict:
            return (audios,)
        return AudioPipelineOutput(audios=audios)


# ---------------------------------------------------------------------- one front door
__all__ = [
    "ResGenPipeline",
    "check_resgen_folder",
    "check_resgen_folder_and_arguments",
    "is_resgen_folder",
    "resgen_folder_of",
]
