"""One training run: its configuration (TrainConfig), the loop (train_group; `grpo.train` for one
configuration: here grpo.core.train is its module), the record columns and the policies. Public
names load on first use.
"""

from typing import TYPE_CHECKING

from grpo._lazy import lazy_names

if TYPE_CHECKING:
    from grpo.core.config import CONFIG_FIELDS, TrainConfig, seed_default
    from grpo.core.policies import POLICIES, Policy
    from grpo.core.schema import COLUMNS, METRICS
    from grpo.core.train import train_group

_PUBLIC = {  # module -> its public names
    "grpo.core.config": ("CONFIG_FIELDS", "TrainConfig", "seed_default"),
    "grpo.core.policies": ("POLICIES", "Policy"),
    "grpo.core.schema": ("COLUMNS", "METRICS"),
    "grpo.core.train": ("train_group",),
}
__all__ = ["COLUMNS", "CONFIG_FIELDS", "METRICS", "POLICIES", "Policy", "TrainConfig", "seed_default", "train_group"]
__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)
