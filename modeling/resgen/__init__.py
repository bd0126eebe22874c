"""ResGen: masked parallel decoding of cumulative RVQ embeddings (arXiv 2412.10208) for text-to-song."""

from songgen_hf.modeling.resgen.arguments import check_resgen_arguments, check_sampling_arguments
from songgen_hf.modeling.resgen.configuration_resgen import ResGenConfig, ResGenDecoderConfig
from songgen_hf.modeling.resgen.masking import training_mask
from songgen_hf.modeling.resgen.mixture import ResGenMixture
from songgen_hf.modeling.resgen.modeling_resgen import (
    ResGenForConditionalGeneration,
    ResGenGenerationOutput,
    ResGenOutput,
    ResGenPreTrainedModel,
)
from songgen_hf.modeling.resgen.scheduling_resgen import ResGenScheduler, ResGenSchedulerOutput

__all__ = [
    "ResGenConfig",
    "ResGenDecoderConfig",
    "ResGenForConditionalGeneration",
    "ResGenGenerationOutput",
    "ResGenMixture",
    "ResGenOutput",
    "ResGenPreTrainedModel",
    "check_sampling_arguments",
    "ResGenScheduler",
    "ResGenSchedulerOutput",
    "check_resgen_arguments",
    "training_mask",
]
