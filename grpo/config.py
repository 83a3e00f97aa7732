"""One training configuration: every choice the ablation can vary, validated on creation.

Field names are the config columns of the records. Defaults reproduce the seed's run.
"""

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from typing import ClassVar

from grpo.deltas import DELTAS, MIN_GROUP
from grpo.errors import UsageError, check_choice
from grpo.losses import KL_ESTIMATORS, LOSSES
from grpo.rewards import REWARDS
from grpo.tasks import SEED_PROMPTS, TASKS, Task, random_task, seed_task


@dataclass(frozen=True)
class TrainConfig:
    CHOICES: ClassVar[tuple[str, ...]] = ("deltas_mode", "loss_mode", "kl_penalty")  # the seed document's choices

    reward_fn: str = "sort_inclusion_ordering"  # seed default; see grpo.rewards.REWARDS
    deltas_mode: str = "rewards"  # seed default (no baseline); see grpo.deltas.DELTAS
    loss_mode: str = "naive"  # seed default (REINFORCE); see grpo.losses.LOSSES
    kl_penalty: float = 0.0  # KL coefficient; 0 = no reference model at all (seed default)
    kl_estimator: str = "k3"  # the seed's estimator; see grpo.losses.KL_ESTIMATORS
    ref_period: int = 10  # epochs between refreshes of the frozen reference model
    epsilon: float = 0.01  # trust region of the clipped and gspo losses (the seed's value)
    epsilon_low: float = 0.2  # clip_higher and cispo: lower clip 1 - epsilon_low (DAPO's value)
    epsilon_high: float = 0.28  # clip_higher and cispo: upper clip 1 + epsilon_high (DAPO's value)
    epochs: int = 100  # rollouts (seed: 100)
    steps_per_epoch: int = 10  # optimizer steps on each rollout (seed: 10)
    responses: int = 10  # responses sampled per prompt: the group (seed: 10)
    lr: float = 1e-3  # Adam learning rate (seed: 1e-3)
    dim: int = 10  # hidden size (seed: 10)
    task: str = "seed"  # "seed": the seed's 3 prompts; "random": see task_* below
    task_length: int = 5  # random task: tokens per prompt
    task_vocab: int = 10  # random task: tokens are 0 .. task_vocab-1
    task_prompts: int = 16  # random task: training prompts
    task_heldout: int = 64  # random task: held-out prompts, never trained on
    task_seed: int = 0  # random task: generator of the prompts (same for all training seeds)

    def __post_init__(self):
        for field in fields(self):
            value = getattr(self, field.name)
            if field.type is str:
                if not isinstance(value, str):
                    raise UsageError(f"{field.name} must be a name, got {value!r}")
                continue
            is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not is_number or (field.type is int and not float(value).is_integer()):
                raise UsageError(f"{field.name} must be {'an integer' if field.type is int else 'a number'}, got {value!r}")
            if not math.isfinite(value):
                raise UsageError(f"{field.name} must be finite, got {value!r}")
            object.__setattr__(self, field.name, field.type(value))
        check_choice("reward_fn", self.reward_fn, REWARDS)
        check_choice("deltas_mode", self.deltas_mode, DELTAS)
        check_choice("loss_mode", self.loss_mode, LOSSES)
        check_choice("kl_estimator", self.kl_estimator, KL_ESTIMATORS)
        check_choice("task", self.task, TASKS)
        for name in ("ref_period", "epochs", "steps_per_epoch", "responses", "dim", "task_length",
                     "task_prompts", "task_heldout"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.task_vocab < 2:
            raise UsageError(f"task_vocab must be at least 2, got {self.task_vocab}")
        if self.task_seed < 0:
            raise UsageError(f"task_seed must be non-negative, got {self.task_seed}")
        if self.lr <= 0:
            raise UsageError(f"lr must be positive, got {self.lr}")
        if self.kl_penalty < 0:
            raise UsageError(f"kl_penalty must be non-negative, got {self.kl_penalty}")
        for name in ("epsilon", "epsilon_low"):
            if not 0 < getattr(self, name) < 1:
                raise UsageError(f"{name} must lie in (0, 1), got {getattr(self, name)}")
        if self.epsilon_high <= 0:
            raise UsageError(f"epsilon_high must be positive, got {self.epsilon_high}")
        prompts = len(SEED_PROMPTS) if self.task == "seed" else self.task_prompts
        if self.deltas_mode == "batch_normalized" and self.responses * prompts < 2:
            raise UsageError("deltas_mode 'batch_normalized' needs at least 2 responses in a batch (prompts x responses)")
        needed = MIN_GROUP.get(self.deltas_mode, 1)
        if self.responses < needed:
            raise UsageError(f"deltas_mode {self.deltas_mode!r} needs responses >= {needed}, got {self.responses}")

    def make_task(self) -> Task:
        if self.task == "seed":
            return seed_task()
        return random_task(self.task_length, self.task_vocab, self.task_prompts, self.task_heldout, self.task_seed)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def config_id(self) -> str:
        """A short stable hash of every field: the key of a configuration in results/."""
        return hashlib.sha1(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:12]


CONFIG_FIELDS = tuple(field.name for field in fields(TrainConfig))  # the config columns of records and runs
