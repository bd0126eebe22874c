"""ResGen: masked parallel decoding of cumulative RVQ embeddings (arXiv 2412.10208) for text-to-song."""

from .arguments import check_resgen_arguments
from .configuration_resgen import ResGenConfig, ResGenDecoderConfig
from .masking import training_mask
from .mixture import ResGenMixture
from .modeling_resgen import (
    ResGenForConditionalGeneration,
    ResGenGenerationOutput,
    ResGenOutput,
    ResGenPreTrainedModel,
)
from .scheduling_resgen import ResGenScheduler, ResGenSchedulerOutput

__all__ = [
    "ResGenConfig",
    "ResGenDecoderConfig",
    "ResGenForConditionalGeneration",
    "ResGenGenerationOutput",
    "ResGenMixture",
    "ResGenOutput",
    "ResGenPreTrainedModel",
    "ResGenScheduler",
    "ResGenSchedulerOutput",
    "check_resgen_arguments",
    "training_mask",
]
