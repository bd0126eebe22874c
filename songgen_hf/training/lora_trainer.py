"""``songgen finetune-lora CONFIG``: LoRA fine-tuning of a trained SongGen with the stage trainer.

The run is a SongGen training stage (same data, loss, token normalisation, curriculum,
accumulation, SIGTERM handling and exact resume) whose model gets LoRA layers right after it is
loaded; everything outside the adapter is frozen, so the optimiser only holds adapter weights.
What is written differs: checkpoints and the ``final`` folder hold the adapter (plus the
processor files and the run's config), never a copy of the base.  ``final`` is a PEFT adapter
folder that names its base portably in ``songgen_adapter.json`` (the embedded default by name,
any other base by a path relative to the adapter, see :mod:`songgen_hf.pipelines.adapter_folders`) besides
PEFT's absolute ``base_model_name_or_path``; it loads with ``songgen generate --model .../final``,
``load_text_to_song_pipeline(".../final")``, ``load_lora(None, ".../final")`` or
``PeftModel.from_pretrained(base, ".../final")``.

Config (JSON/YAML): every ``songgen train`` option, ``init_from`` required (the base model
folder), plus::

    lora_r: 16                 # rank
    lora_alpha: 32             # scale = alpha / r
    lora_dropout: 0.05
    lora_targets: [self_attn, encoder_attn, ffn, heads]   # heads: the per-codebook output heads;
                                                          # or single linears, e.g. self_attn.q_proj
    lora_layers: null          # decoder layer indices; null = all
    train_heads: false         # also train the output heads in full (saved in full)
    train_embeddings: false    # also train the per-row embedding tables in full
    lora_use_dora: false       # DoRA (peft's use_dora): a magnitude per output besides the low-rank direction
    epochs: null               # passes over the songs: sets max_steps from the number of rows
    trigger_phrase: null       # words put before every training description, to say in prompts
    base_int8: false           # hold the frozen decoder layers' linear weights in int8 (torchao)
    singer_adapter: null       # the told singer adapted too where the songs can teach it (true: required; false: off)
    singer_steps: null         # its steps (null: max_steps); singer_learning_rate 2e-3, singer_batch_size 8
    singer_note_embeddings: false  # its LoRA also on the score's note and voice tables
    lane_weight: 0.0           # keep unrelated prompts in their lane: distil towards the base on lane_descriptions
    lane_descriptions: null    # the unrelated descriptions (null: songgen_hf.training.lane's built-in set)
    lane_data: null            # or: encoded songs unlike the style, kept near the base with their own descriptions
    lane_rows_per_pass: 2      # songs per lane pass: bounds the lane's memory, the same loss and gradients
    control_each_dropout_prob: {key: 0.5}  # the key unknown on its own in half the rows (0 or null: the base's drops)

With ``singer_adapter`` (the default where the base has a told singer) the run ends with a second stage: a LoRA of
the singer trained on the same songs (:mod:`songgen_hf.training.singer_lora`), saved in ``final/singer_adapter`` and
named in ``final/songgen_adapter.json``, with what its songs' scores sang (``learned_voice.json``: the register and
voices songs sung with it are planned in); the pipeline, ``songgen generate --adapter`` and ``songgen export``
switch, blend, scale and merge it with the decoder's (:mod:`songgen_hf.pipelines.singer_adapters`).  ``lane_weight``
adds, at every step, the divergence of the adapted decoder from the base on the step's songs described as something
unrelated (:mod:`songgen_hf.training.lane`).  For a base with a tempo control, ``final/songgen_adapter.json`` also
records the median of the tempos the songs' captions name (``style_tempo_bpm``): the adapter's songs asked without a
tempo are made at it (:func:`songgen_hf.pipelines.adapters.adapter_style_tempo`), since its groove was learnt against
that metronome.  ``final/description_gate.json`` records the songs' descriptions and a reference set unlike them, from
which a pipeline weights the adapter on each song by how close its description is to the style's
(:mod:`songgen_hf.pipelines.description_gate`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file

from songgen_hf.pipelines.adapter_folders import BASE_RECORD_FILE
from songgen_hf.training.lora import (
    ADAPTER_CONFIG_FILE,
    ADAPTER_WEIGHTS_FILE,
    DEFAULT_TARGETS,
    adapter_card,
    apply_lora,
    lora_config_for_songgen,
    save_adapter,
    style_tempo_of,
    write_style_tempo,
)
from songgen_hf.training.songgen_config import SongGenTrainingConfig
from songgen_hf.training.songgen_trainer import FINAL_MODEL_DIR, TRAINING_CONFIG_FILE, SongGenTrainer
from songgen_hf.utils.atomic import atomic_directory
from songgen_hf.utils.safe_files import read_json

logger = logging.getLogger(__name__)

CHECKPOINT_ADAPTER_DIR = "adapter"
# Every caption names its key, so a run that never hides it learns its style only where a prompt names one; hiding the
# key alone in half the rows carries the style to prompts that name none, while the tempo (a groove is learnt against
# its metronome) and the arrangement stay told.  Chosen on the style benchmark's two least-moved styles
# (docs/fine_tuning.md, "One share per control").
DEFAULT_CONTROL_EACH_DROPOUT = {"key": 0.5}
# Fields of adapter_config.json that must agree for a checkpoint to fit this run's adapter.
_MATCHING_ADAPTER_FIELDS = ("r", "lora_alpha", "target_modules", "modules_to_save")


@dataclass
class LoraTrainingConfig(SongGenTrainingConfig):
    positive_fields = SongGenTrainingConfig.positive_fields + ("lora_alpha",)
    unit_fields = SongGenTrainingConfig.unit_fields + ("lora_dropout",)

    output_dir: str = "runs/songgen-lora"
    stage: str = "lora"
    control_each_dropout_prob: float | dict[str, float] | None = field(
        default_factory=lambda: dict(DEFAULT_CONTROL_EACH_DROPOUT)
    )
    """Each musical control unknown on its own in a share of the rows (``SongGenTrainingConfig``'s option); for LoRA
    the key alone in half the rows by default, 0 for the base's drops only."""
    # a LoRA starts at zero and a tiny base's heads need to move far for a sound it never heard: measured on
    # songgen-tiny in benchmarks/your_songs.py (docs/fine_tuning.md)
    learning_rate: float = 3e-3
    lora_r: int = 16
    lora_alpha: float = 32
    lora_dropout: float = 0.05
    lora_targets: list[str] = field(default_factory=lambda: list(DEFAULT_TARGETS))
    lora_use_dora: bool = False
    epochs: float | None = None
    """Passes over the training rows; when set, ``max_steps`` is this many epochs of batches (rounded up), so a
    run on twice the songs trains twice as long."""
    trigger_phrase: str | None = None
    """Words put before every training description ("TRIGGER, description"), so that saying them in a prompt
    calls up what the adapter learnt."""
    lora_layers: list[int] | None = None
    train_heads: bool = False
    train_embeddings: bool = False
    singer_adapter: bool | None = None
    """Also adapt the base's told singer on the songs' vocal stems: a LoRA of the singer saved in
    ``final/singer_adapter`` and used with the decoder's wherever the adapter goes.  ``None`` (the default): where
    the base has a singer and the songs can teach it (each with a vocal stem, some with timed lyrics), else the
    decoder alone, said in the log with the reason; ``True``: required (songs that cannot teach it are an error);
    ``False``: the decoder alone."""
    singer_steps: int | None = None
    """The singer stage's steps (None: ``max_steps``)."""
    singer_learning_rate: float = 2e-3
    singer_batch_size: int = 8
    singer_note_embeddings: bool = False
    """The singer's LoRA also adapts the score's note and voice embedding tables, so that notes the base singer was
    never told (below or above the corpus's registers) get embeddings of their own."""
    lane_weight: float = 0.0
    """The weight of the lane regulariser: the KL divergence of the adapted decoder's token distributions from the
    base's (the same model with the adapter disabled) on the step's songs with unrelated descriptions, so that
    prompts unlike the training songs' keep the base's sound.  Each step then costs about twice as much."""
    lane_descriptions: list[str] | None = None
    """The unrelated descriptions the regulariser draws from (None: a built-in set across the corpus's genres)."""
    lane_data: str | list[str] | None = None
    """Encoded songs unlike the style (e.g. the base's own corpus, encoded with its codec): the regulariser then
    keeps the adapter near the base on these songs with their own descriptions, instead of on the training songs
    with unrelated descriptions."""
    lane_rows_per_pass: int | None = 2
    """Songs per pass of the regulariser (None: the whole micro-batch in one): its passes hold their songs'
    logits, so fewer songs per pass bound its memory; the loss and gradients are the same (summed over passes)."""
    base_int8: bool = False
    """Hold the frozen linear weights of the decoder layers in int8 (torchao's weight-only int8, per output channel)
    while the adapter trains in full precision on top of them, as QLoRA does with 4 bits: the decoder's weights
    take a quarter of their float32 memory.  CPU and CUDA; the adapter is saved as usual and loads onto the float
    base.  Needs torchao (``pip install torchao``)."""

    def __post_init__(self):
        # Checked before the parent's "exactly one of init_from / model" so the message says what LoRA needs.
        if not self.init_from:
            raise ValueError("LoRA fine-tuning needs `init_from`: the folder of the trained SongGen to adapt.")
        if self.model:
            raise ValueError("LoRA fine-tuning adapts the `init_from` model; remove `model`.")
        if self.freeze != "text":
            raise ValueError(
                f"freeze={self.freeze!r} does not apply to LoRA fine-tuning: only the adapter (and train_heads / "
                "train_embeddings) trains, everything else is frozen."
            )
        if self.singer_steps is not None and int(self.singer_steps) < 1:
            raise ValueError(f"singer_steps must be >= 1 (or null: max_steps), got {self.singer_steps}.")
        if not self.singer_learning_rate > 0 or not self.singer_batch_size >= 1:
            raise ValueError("singer_learning_rate must be > 0 and singer_batch_size >= 1.")
        if not 0.0 <= float(self.lane_weight) < 1e3:
            raise ValueError(f"lane_weight must be within [0, 1000), got {self.lane_weight}.")
        if self.lane_rows_per_pass is not None and (
            isinstance(self.lane_rows_per_pass, bool)
            or not isinstance(self.lane_rows_per_pass, int)
            or self.lane_rows_per_pass < 1
        ):
            raise ValueError(
                f"lane_rows_per_pass must be a whole number >= 1 (or null: the whole micro-batch in one pass), got "
                f"{self.lane_rows_per_pass!r}."
            )
        if not self.lane_weight and (self.lane_data or self.lane_descriptions):
            raise ValueError("lane_data / lane_descriptions are the lane regulariser's: set lane_weight > 0 too.")
        if self.lane_descriptions is not None:
            if isinstance(self.lane_descriptions, str) or not all(
                isinstance(text, str) and text.strip() for text in self.lane_descriptions
            ):
                raise ValueError("lane_descriptions must be a list of non-empty descriptions (or null).")
            if not self.lane_descriptions:
                raise ValueError("lane_descriptions is empty; give descriptions or leave it null.")
        if isinstance(self.lora_targets, str):
            self.lora_targets = [self.lora_targets]
        self.lora_targets = list(self.lora_targets)
        if self.lora_layers is not None:
            self.lora_layers = [int(i) for i in self.lora_layers]
        if self.epochs is not None and not (0 < self.epochs < 1e6):
            raise ValueError(f"epochs must be a positive number of passes over the songs, got {self.epochs!r}.")
        if self.trigger_phrase is not None and (
            not isinstance(self.trigger_phrase, str) or not self.trigger_phrase.strip()
        ):
            raise ValueError(
                f"trigger_phrase must be some words to put before each description, got "
                f"{self.trigger_phrase!r}; leave it out for none."
            )
        # rank, alpha, dropout, targets and layers are checked now; heads need the model's config
        lora_config_for_songgen(
            r=self.lora_r,
            alpha=self.lora_alpha,
            dropout=self.lora_dropout,
            targets=self.lora_targets,
            layers=self.lora_layers,
        )
        super().__post_init__()

    def lora_config(self, model_config):
        return lora_config_for_songgen(
            r=self.lora_r,
            alpha=self.lora_alpha,
            dropout=self.lora_dropout,
            targets=self.lora_targets,
            layers=self.lora_layers,
            train_heads=self.train_heads,
            train_embeddings=self.train_embeddings,
            model_config=model_config,
            **({"use_dora": True} if self.lora_use_dora else {}),
        )


class LoraTrainer(SongGenTrainer):
    """A :class:`SongGenTrainer` that trains a LoRA adapter and saves only the adapter."""

    progress_desc = "finetune-lora"

    def __init__(self, config: LoraTrainingConfig):
        if not isinstance(config, LoraTrainingConfig):
            raise TypeError(f"LoraTrainer needs a LoraTrainingConfig, got {type(config).__name__}.")
        self.peft_model = None
        # the singer's songs are checked before the decoder loads: a song without a vocal stem is named now
        self.singer, self.singer_songs = self._singer_stage_data(config)
        super().__init__(config)
        # accelerate's save_state would write the whole base model on every checkpoint
        self.accelerator.register_save_state_pre_hook(self._save_adapter_state)
        self.accelerator.register_load_state_pre_hook(self._load_adapter_state)
        self.lane = self.lane_songs = None
        if config.lane_weight > 0:
            from songgen_hf.training.lane import LaneRegulariser

            self.lane = LaneRegulariser(
                config.lane_descriptions, self.description_tokenizer, config.max_description_tokens, config.seed
            )
            if config.lane_data:
                model = self.accelerator.unwrap_model(self.model)
                self.lane_songs, _ = self._encoded_songs(config.lane_data, model, purpose="lane_data")
                self.lane_collator = self._make_collator(model)

    def _lane_batch(self, batch: dict) -> dict:
        """What the regulariser scores for one micro-batch: as many of ``lane_data``'s songs with their own
        descriptions, or the micro-batch's songs with unrelated descriptions."""
        if self.lane_songs is None:
            return self.lane.unrelated(batch)
        count = batch["input_ids"].shape[0]
        chosen = torch.randint(len(self.lane_songs), (count,), generator=self.lane.generator).tolist()
        lane = self.lane_collator([self.lane_songs[i] for i in chosen])
        device = batch["input_ids"].device
        return {key: value.to(device) if torch.is_tensor(value) else value for key, value in lane.items()}

    @staticmethod
    def _singer_stage_data(config: LoraTrainingConfig):
        """The base's told singer and the songs its adapter trains on, or ``(None, None)`` without the stage (off,
        or a base without a singer)."""
        if config.singer_adapter is False:
            return None, None
        from songgen_hf.pipelines.loading import auto_singer_folder, base_model_folder

        folder = base_model_folder(config.init_from)
        found = auto_singer_folder(folder) if Path(folder).is_dir() else None
        if found is None:
            logger.info("%s has no told singer: the adapter adapts the decoder alone.", config.init_from)
            return None, None
        from songgen_hf.modeling.songgen_singer import SongGenSinger
        from songgen_hf.training.singer_lora import SingerDataError, singer_training_songs

        singer = SongGenSinger.from_pretrained(found, dtype=torch.float32).eval()
        try:
            return singer, singer_training_songs(config.train_data, singer.config)
        except SingerDataError as error:
            if config.singer_adapter:  # asked for: the songs must teach it
                raise
            logger.warning("The told singer is not adapted, the adapter adapts the decoder alone: %s", error)
            return None, None

    def accumulate_gradients(self, micro_batches: list[dict]) -> dict:
        """The base objective's gradients, plus the lane regulariser's (``lane_weight``) on the same songs with
        unrelated descriptions."""
        record = super().accumulate_gradients(micro_batches)
        if self.lane is None:
            return record
        model = self.accelerator.unwrap_model(self.model)
        total = 0.0
        scale = self.config.lane_weight / len(micro_batches)
        for batch in micro_batches:
            lane = self._lane_batch(batch)
            divergence = self.lane.backward(
                model, self.peft_model, lane, scale, self.accelerator.backward, self.config.lane_rows_per_pass
            )
            total += divergence / len(micro_batches)
        record["lane_kl"] = round(total, 6)
        record["loss"] += self.config.lane_weight * total
        return record

    def train_singer_stage(self):
        """The singer's LoRA on the run's songs (logged as ``singer_loss``), or None without the stage."""
        if self.singer is None:
            return None
        from songgen_hf.training.singer_lora import train_singer_adapter

        config = self.config
        self._log({"step": self.counter.step, "event": "singer stage", "songs": len(self.singer_songs)})
        adapted, _ = train_singer_adapter(
            self.singer.to(self.accelerator.device),
            self.singer_songs,
            steps=config.singer_steps or config.max_steps,
            learning_rate=config.singer_learning_rate,
            batch_size=config.singer_batch_size,
            r=config.lora_r,
            alpha=config.lora_alpha,
            seed=config.seed,
            log_steps=config.log_steps,
            log=lambda entry: self._log({"stage": "singer", **entry}),
            note_tables=bool(config.singer_note_embeddings),
        )
        return adapted

    def _model_codec(self) -> tuple[str, str] | None:
        from songgen_hf.conversion.checkpoint_files import load_codec_of
        from songgen_hf.utils.digests import state_dict_sha256

        try:  # the base's codec, loaded as songgen data encode --codec BASE loads it
            codec = load_codec_of(self.config.init_from, flag="init_from")
        except ValueError:  # a base whose codec cannot encode: nothing to compare with
            return None
        return state_dict_sha256(codec.state_dict()), str(self.config.init_from)

    def _configure_model(self, model) -> None:
        """Inject the adapter in place once the model is configured, before the optimiser collects
        the trainable parameters: the base trainer then optimises and prepares exactly the adapter."""
        super()._configure_model(model)
        if self.config.base_int8:
            quantize_decoder_layers_int8(model)
        with warnings.catch_warnings():  # peft: an int8 layer cannot merge, which training never asks
            warnings.filterwarnings("ignore", message=".*without `get_apply_tensor_subclass`.*", category=UserWarning)
            self.peft_model = apply_lora(model, self.config.lora_config(model.config))
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        logger.info("LoRA: %d trainable parameters of %d (%.3f%%)", trainable, total, 100 * trainable / max(total, 1))

    def _load_dataset(self, model):
        """The rows, their descriptions led by the trigger phrase when one is set; ``epochs`` turned into steps."""
        dataset = super()._load_dataset(model)
        # the songs' tempo, recorded in the adapter: a song asked without a tempo is made at it (the metronome the
        # adapter learnt its groove against); a model without a tempo control has no use for it
        uses_tempo = getattr(getattr(model.config, "decoder", None), "use_tempo_control", False)
        self.style_tempo_bpm = style_tempo_of(dataset.data.with_format(None)["caption"]) if uses_tempo else None
        if self.config.trigger_phrase:
            phrase = self.config.trigger_phrase.strip()
            formatted = dataset.data.format
            dataset.data = (
                dataset.data.with_format(None)
                .map(lambda row: {"caption": f"{phrase}, {row['caption']}"}, desc="trigger phrase")
                .with_format(**{k: formatted[k] for k in ("type", "columns", "output_all_columns")})
            )
        # the descriptions it learns from, recorded with a reference set unlike them: the description gate weights
        # the adapter on each song by how close its description is to these (pipelines/description_gate.py)
        columns = dataset.data.column_names
        self.gate_descriptions = dataset.data.with_format(None)["caption"] if "caption" in columns else []
        if self.config.epochs is not None:
            per_step = self.config.batch_size * self.config.gradient_accumulation_steps
            per_step *= self.accelerator.num_processes
            self.config.max_steps = max(1, math.ceil(self.config.epochs * len(dataset) / per_step))
            logger.info("epochs=%g over %d rows: %d steps", self.config.epochs, len(dataset), self.config.max_steps)
        return dataset

    # ---- checkpoints: the adapter instead of the model
    def _save_adapter_state(self, models, weights, output_dir) -> None:
        weights.clear()  # the full base state dict accelerate collected; not written
        if self.accelerator.is_main_process:
            save_adapter(self.peft_model, Path(output_dir) / CHECKPOINT_ADAPTER_DIR)

    def _load_adapter_state(self, models, input_dir) -> None:
        from peft import get_peft_model_state_dict, set_peft_model_state_dict

        folder = Path(input_dir) / CHECKPOINT_ADAPTER_DIR
        if not (folder / ADAPTER_WEIGHTS_FILE).is_file():
            raise ValueError(
                f"Checkpoint {input_dir} has no LoRA adapter ({CHECKPOINT_ADAPTER_DIR}/{ADAPTER_WEIGHTS_FILE})."
            )
        saved_config = read_json(folder / ADAPTER_CONFIG_FILE)
        current = self.peft_model.peft_config[self.peft_model.active_adapter].to_dict()
        for key in _MATCHING_ADAPTER_FIELDS:
            if _normalised(saved_config.get(key)) != _normalised(current.get(key)):
                raise ValueError(
                    f"Checkpoint {input_dir} holds an adapter with {key}={saved_config.get(key)!r} but this run's is "
                    f"{current.get(key)!r}; resume with the config that produced it."
                )
        state = load_file(str(folder / ADAPTER_WEIGHTS_FILE))
        expected = set(get_peft_model_state_dict(self.peft_model))
        if set(state) != expected:
            raise ValueError(f"Checkpoint {input_dir}'s adapter weights do not match this run's adapter.")
        set_peft_model_state_dict(self.peft_model, state)
        models.clear()  # loaded above; accelerate would look for a full model file

    def _write_description_gate(self, staging: Path) -> None:
        """``description_gate.json``: the run's descriptions, the reference (``lane_descriptions`` when given, else
        the built-in set) and the thresholds calibrated from them."""
        from songgen_hf.pipelines.description_gate import gate_record, write_description_gate
        from songgen_hf.training.lane import GATE_REFERENCE_DESCRIPTIONS

        descriptions = [text for text in getattr(self, "gate_descriptions", None) or [] if text and text.strip()]
        if not descriptions:
            logger.info("The songs have no descriptions: the adapter records no description gate (it applies ungated).")
            return
        reference = self.config.lane_descriptions or GATE_REFERENCE_DESCRIPTIONS
        write_description_gate(staging, gate_record(descriptions, reference))

    def save_final(self) -> Path:
        """The adapter, the processor files and the run's config in ``final/``, atomically."""
        target = self.output_dir / FINAL_MODEL_DIR
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            model = self.accelerator.unwrap_model(self.model)
            singer = self.train_singer_stage()
            with atomic_directory(target) as staging:
                save_adapter(self.peft_model, staging, base_model_path=self.config.init_from)
                if singer is not None:
                    from songgen_hf.training.singer_lora import learned_voice_of

                    save_singer_adapter(singer, staging, learned_voice_of(self.singer_songs))
                write_style_tempo(staging, getattr(self, "style_tempo_bpm", None))
                self._write_description_gate(staging)
                self._save_preprocessing(staging, model.config)
                record = {**dataclasses.asdict(self.config), "final_step": self.counter.step, "rows": self.num_rows}
                (staging / TRAINING_CONFIG_FILE).write_text(json.dumps(record, indent=1), encoding="utf-8")
                named = read_json(staging / BASE_RECORD_FILE)["base_model"]
                training = {  # names only: the card is read on the Hub, where the run's folders mean nothing
                    "data": f"{self.num_rows} encoded songs ({Path(self.config.train_data).name})",
                    "steps": self.counter.step,
                    "batch size": self.config.batch_size,
                    "learning rate": self.config.learning_rate,
                }
                config = self.peft_model.peft_config[self.peft_model.active_adapter]
                (staging / "README.md").write_text(adapter_card(config, named, training), encoding="utf-8")
        self.accelerator.wait_for_everyone()
        return target


def save_singer_adapter(singer_lora, adapter_dir: Path, learned_voice=None) -> Path:
    """The singer's LoRA (a peft model of the singer) into ``adapter_dir/singer_adapter``, named in the adapter's
    ``songgen_adapter.json`` so that every loader finds it (:mod:`songgen_hf.pipelines.singer_adapters`), with
    ``learned_voice`` (what its songs' scores sang, ``singer_lora.learned_voice_of``) beside it when given."""
    from songgen_hf.pipelines.singer_adapters import SINGER_ADAPTER_FOLDER, SINGER_ADAPTER_KEY, write_learned_voice
    from songgen_hf.utils.atomic import write_text_atomic

    folder = Path(adapter_dir) / SINGER_ADAPTER_FOLDER
    singer_lora.peft_config["default"].base_model_name_or_path = None  # the base's singer, found through the base
    singer_lora.save_pretrained(str(folder))
    (folder / "README.md").unlink(missing_ok=True)  # peft's generic card; the adapter's own README describes it
    if learned_voice is not None:
        write_learned_voice(folder, learned_voice)
    record_path = Path(adapter_dir) / BASE_RECORD_FILE
    record = read_json(record_path)
    record[SINGER_ADAPTER_KEY] = SINGER_ADAPTER_FOLDER
    write_text_atomic(record_path, json.dumps(record, indent=1) + "\n")
    return folder


def quantize_decoder_layers_int8(model) -> int:
    """The ``nn.Linear`` weights inside the decoder layers held in int8 (torchao ``Int8WeightOnlyConfig``), in place;
    the heads, embeddings and every encoder stay as they are.  Returns how many linears were quantised."""
    import torch

    try:
        from torchao.quantization import Int8WeightOnlyConfig, quantize_
    except ImportError as error:
        raise ImportError("base_int8: true needs torchao: pip install torchao") from error
    decoder = model.decoder
    names = [
        name
        for name, module in decoder.named_modules()
        if isinstance(module, torch.nn.Linear) and ".layers." in f".{name}"
    ]
    chosen = set(names)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torchao\.")
        quantize_(decoder, Int8WeightOnlyConfig(), filter_fn=lambda module, name: name in chosen)
    return len(names)


def _normalised(value):
    return sorted(value) if isinstance(value, (list, set, tuple)) else value


def finetune_lora(config: LoraTrainingConfig, resume: bool = False, overwrite: bool = False) -> Path:
    """Train the adapter; returns the ``final`` adapter folder.  ``resume`` / ``overwrite`` as for
    :func:`~.songgen_trainer.train_songgen`."""
    return LoraTrainer.run(config, resume=resume, overwrite=overwrite)


__all__ = ["LoraTrainer", "LoraTrainingConfig", "finetune_lora", "quantize_decoder_layers_int8", "save_singer_adapter"]
