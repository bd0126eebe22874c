"""Which accelerate mode a command runs in: the one place that reads how the process was launched.

accelerate only enters its multi-CPU mode when told to (``cpu=True`` or ``ACCELERATE_USE_CPU``).
Started by ``torchrun --nproc_per_node 2`` on a machine without a GPU and without that flag, every
process believes it is the only one: each encodes or trains on the whole data, and one deletes
files the others still read.  So a command asks for CPU processes whenever the flag is set, or
when it was launched as one of several processes and there is no accelerator to spread them over.
"""

from __future__ import annotations

import torch
from accelerate.utils import get_int_from_env, parse_flag_from_env

# the world-size variables of torchrun / accelerate launch and of the MPI launchers accelerate knows
WORLD_SIZE_VARIABLES = ["WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"]


def launched_processes() -> int:
    """How many processes the launcher started; 1 when none did."""
    return get_int_from_env(WORLD_SIZE_VARIABLES, 1)


def use_cpu_processes() -> bool:
    """``cpu=`` for ``Accelerator`` / ``PartialState``: the explicit flag, or several launched processes
    on a machine whose only device is the CPU."""
    if parse_flag_from_env("ACCELERATE_USE_CPU"):
        return True
    return launched_processes() > 1 and not torch.accelerator.is_available()


__all__ = ["launched_processes", "use_cpu_processes"]
