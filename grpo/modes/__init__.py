"""The choices an ablation varies, each a registry of small functions (built-ins, then plugins),
and `register` for a mode defined in-process. Public names load on first use.
"""

from typing import TYPE_CHECKING

from grpo._lazy import lazy_names

if TYPE_CHECKING:
    from grpo.modes.aggregation import LOSS_AGGREGATIONS
    from grpo.modes.catalogue import register, registries
    from grpo.modes.deltas import DELTAS
    from grpo.modes.losses import KL_ESTIMATORS, LOSSES
    from grpo.modes.registry import PluginRegistry, Registry
    from grpo.modes.rewards import REWARDS
    from grpo.modes.sequence_rewards import SEQUENCE_REWARDS

_PUBLIC = {  # module -> its public names
    "grpo.modes.aggregation": ("LOSS_AGGREGATIONS",),
    "grpo.modes.catalogue": ("register", "registries"),
    "grpo.modes.deltas": ("DELTAS",),
    "grpo.modes.losses": ("KL_ESTIMATORS", "LOSSES"),
    "grpo.modes.registry": ("PluginRegistry", "Registry"),
    "grpo.modes.rewards": ("REWARDS",),
    "grpo.modes.sequence_rewards": ("SEQUENCE_REWARDS",),
}
__all__ = ["DELTAS", "KL_ESTIMATORS", "LOSSES", "LOSS_AGGREGATIONS", "PluginRegistry", "REWARDS", "Registry",
           "SEQUENCE_REWARDS", "register", "registries"]
__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)
