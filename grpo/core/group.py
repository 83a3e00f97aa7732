"""Groups: configurations that differ only in numbers, trained as slices of one stacked model.

A stacked model trains S seeds as S slices of every parameter, each with its own generator, so
a slice's numbers do not depend on its neighbours. The same machinery trains several
configurations at once when they share everything but numbers: the leading axis runs over
(configuration, seed), configuration-major, and each number that differs within the group is a
per-slice value (Adam's learning rate per part of the weights, grpo.core.optim; the clip bounds
and the KL coefficient as tensors, grpo.modes.losses.per_slice). Each configuration's records
equal those of training it alone (tests/core/test_group.py); results stay keyed by (configuration,
seed).

Bit for bit, because each configuration's slices start where they start alone: on a 64-byte
boundary of every ``[slice ...]`` tensor. The CPU's matrix kernels take another path at another
alignment (measured: ``bmm`` over 9 slices differs in the last bit from ``bmm`` over 3 on slices
3 to 5, whose matrices of 300 floats then start 1200 bytes past a boundary), so a group pads
each configuration's block of seeds with ``padding`` slices (copies of its first seed, trained
and dropped) up to a multiple of ALIGN_SLICES.

What may differ within a group is ``SLICE_FIELDS``. The KL coefficient may differ only between
positive values: at 0 there is no reference model at all, another program. A plugin loss that
does not read per-slice numbers (grpo.modes.losses.takes_slices) is grouped with nothing.
"""

from collections.abc import Sequence
from types import SimpleNamespace

import torch

from grpo.core.config import TrainConfig
from grpo.modes.losses import takes_slices

SLICE_FIELDS = ("lr", "epsilon", "epsilon_low", "epsilon_high", "kl_penalty")  # may differ within a group
ALIGN_SLICES = 16  # 16 float32 = 64 bytes: any [slice ...] tensor's k-th block of 16 slices starts on a 64-byte boundary


def block_size(num_configs: int, num_seeds: int) -> int:
    """Slices a configuration of a group takes: its seeds, padded to a multiple of
    ALIGN_SLICES in a group of several (none alone)."""
    return num_seeds if num_configs == 1 else -(-num_seeds // ALIGN_SLICES) * ALIGN_SLICES


def group_key(config: TrainConfig) -> tuple:
    """Configurations with equal keys may train as one group."""
    if not takes_slices(config.loss_mode):
        return ("alone", config.config_id)
    shared = tuple((name, value) for name, value in config.as_dict().items() if name not in SLICE_FIELDS)
    return (*shared, ("with_kl", config.kl_penalty > 0))


def check_group(configs: Sequence[TrainConfig]) -> None:
    """ValueError unless `configs` (at least one) may train as one group."""
    if len({group_key(config) for config in configs}) != 1:
        raise ValueError(f"configurations {', '.join(config.config_id for config in configs)} cannot train as one group:"
                         f" only {', '.join(SLICE_FIELDS)} may differ (kl_penalty between positive values), with a loss"
                         " that reads per-slice numbers")


def loss_config(configs: Sequence[TrainConfig], block: int, device: torch.device):
    """What a group's losses read as ``config``: a lone configuration itself; else the
    configurations' shared fields as they are, and each field of SLICE_FIELDS that differs within
    the group as a float64 tensor [slice 1 1 1], `block` slices a configuration (float64:
    arithmetic on it before grpo.modes.losses.per_slice rounds it is a Python float's)."""
    if len(configs) == 1:
        return configs[0]
    values = configs[0].as_dict()
    for name in SLICE_FIELDS:
        per_config = [getattr(config, name) for config in configs]
        if len(set(per_config)) > 1:
            per_slice = torch.tensor(per_config, dtype=torch.float64, device=device).repeat_interleave(block)
            values[name] = per_slice.view(-1, 1, 1, 1)
    return SimpleNamespace(**values)
