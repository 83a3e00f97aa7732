"""grpo: an ablation harness for GRPO on the seed document's sorting task."""

from grpo.config import TrainConfig
from grpo.registry import register
from grpo.train import train

__all__ = ["TrainConfig", "register", "train"]
