"""grpo: an ablation harness for GRPO on the seed document's sorting task.

The public names load what they need on first use (``import grpo`` loads no torch, pandas or
Ray), as every subpackage's do (grpo._lazy): ``TrainConfig``, ``train``, ``register``, ``Claim``,
``Mechanism`` and ``register_claim``. The modules that moved when the package split into
subpackages still import under their old paths, with a FutureWarning naming the new one
(grpo._moved; CHANGELOG.md has the table).
"""

from typing import TYPE_CHECKING

from grpo import _moved
from grpo._lazy import lazy_names

if TYPE_CHECKING:
    from grpo.core.config import TrainConfig
    from grpo.core.train import train
    from grpo.experiment.canaries import register_claim
    from grpo.experiment.claims import Claim, Mechanism
    from grpo.modes.catalogue import register

_PUBLIC = {  # module -> its public names
    "grpo.core.config": ("TrainConfig",),
    "grpo.core.train": ("train",),
    "grpo.experiment.canaries": ("register_claim",),
    "grpo.experiment.claims": ("Claim", "Mechanism"),
    "grpo.modes.catalogue": ("register",),
}
__all__ = ["Claim", "Mechanism", "TrainConfig", "register", "register_claim", "train"]
__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)
_moved.install()
