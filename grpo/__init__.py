"""grpo: an ablation harness for GRPO on the seed document's sorting task.

The public names load what they need on first use (``import grpo`` loads no torch, pandas or
Ray): ``TrainConfig`` (grpo.core.config), ``train`` (grpo.core.train), ``register``
(grpo.modes.catalogue), ``Claim``, ``Mechanism`` (grpo.experiment.claims) and ``register_claim``
(grpo.experiment.canaries).
"""

import importlib

_PUBLIC = {"TrainConfig": "grpo.core.config", "train": "grpo.core.train", "register": "grpo.modes.catalogue",
           "Claim": "grpo.experiment.claims", "Mechanism": "grpo.experiment.claims",
           "register_claim": "grpo.experiment.canaries"}
__all__ = list(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'grpo' has no attribute {name!r}")
