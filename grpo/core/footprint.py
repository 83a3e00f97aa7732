"""How much memory a run will need, estimated before any work, so that impossible sizes
(``--dim 100000``, ``--responses 100000000``) are refused in one line instead of failing
after a long allocation.

The estimate counts the tensors that grow with the sizes, in float32 / int64 bytes:
- the policy's weights, their gradients and Adam's two moments (4 copies);
- one rollout: responses, token indices, old and reference log-probs, and the per-token
  intermediates of the loss and its backward (about 12 numbers a response token);
- the logits of the largest prompt set evaluated at once (training or held-out), a few copies;
- the transformer policy's activations per response token (about 16 per layer and width unit);
- dynamic sampling's extra rounds, each kept until the batch is chosen: responses, masks and
  log-probs (``dynamic_sampling`` rounds of one rollout's tokens);
- the records (``grpo.core.schema.COLUMNS``, 8 bytes each, one row per seed and inner step).
It errs high by design: it is a guard against impossible runs, not a profiler.

A group of configurations (grpo.core.group) is one stacked model of all its slices, padding
included: ``group_bytes``.
"""

from collections.abc import Sequence

from grpo.core.config import TrainConfig
from grpo.core.group import block_size
from grpo.core.schema import COLUMNS
from grpo.core.seed_model import StackedSeedModel
from grpo.core.transformer import StackedTransformer
from grpo.tasks.prompts import Task

FLOAT, INDEX = 4, 8  # bytes of a float32 weight or metric, of an int64 token or index
# floats kept per token, layer and unit of width by the transformer's forward, backward and
# generation: calibrated so that the estimate bounds the peak memory measured on growing runs
# (tests/core/test_footprint.py); 16, a count of the saved activations alone, fell 1.6x short; 48
# until the seeds ran in chunks (grpo.core.transformer.SEEDS_PER_CHUNK): a chunk's temporaries, not
# all seeds', now sit on top of the saved activations (40 seeds of the test's run grew 307 to 526 MB)
TRANSFORMER_ACTIVATIONS = 32


def weight_count(config: TrainConfig, task: Task, positions: int) -> int:
    """Weights of one seed's policy, as its model counts them."""
    if config.policy == "transformer":
        return StackedTransformer.weights_per_seed(task.vocab_size, task.length + positions, config.dim, config.layers)
    return StackedSeedModel.weights_per_seed(task.vocab_size, task.length, config.dim)


def estimated_bytes(config: TrainConfig, task: Task, num_seeds: int) -> int:
    """Peak memory of training `config` on `task` with `num_seeds` stacked seeds (an upper estimate)."""
    positions = config.max_response_length if config.policy == "transformer" else task.length
    tokens = task.batch * config.responses * positions  # response tokens of one rollout, per seed
    evaluated = max(task.batch, len(task.heldout)) * positions  # positions evaluated at once
    per_seed = (4 * FLOAT * weight_count(config, task, positions)
                + tokens * (2 * INDEX + 12 * FLOAT)
                + 4 * FLOAT * evaluated * (task.vocab_size + config.dim)
                + config.dynamic_sampling * tokens * (INDEX + 2 * FLOAT)
                + records_bytes(config, 1))
    if config.policy == "transformer":
        per_seed += TRANSFORMER_ACTIVATIONS * FLOAT * config.layers * config.dim * task.batch * config.responses * (
            task.length + positions) ** 2 // max(positions, 1)
    return num_seeds * per_seed


def records_bytes(config: TrainConfig, num_seeds: int) -> int:
    """The records of `num_seeds` runs of `config`, held in memory until written: one row of
    COLUMNS (8 bytes each) per seed and inner step."""
    return num_seeds * config.epochs * config.steps_per_epoch * len(COLUMNS) * 8


def group_bytes(configs: Sequence[TrainConfig], task: Task, num_seeds: int) -> int:
    """Peak memory of training `configs` as one group (grpo.core.train.train_group) with
    `num_seeds` seeds each (an upper estimate)."""
    return estimated_bytes(configs[0], task, len(configs) * block_size(len(configs), num_seeds))


def available_bytes(device) -> int | None:
    """Memory the run can have on `device` (a torch.device or its type, "cpu" or "cuda"): free
    GPU memory, or the system's available memory (/proc/meminfo); None where it cannot be known."""
    if getattr(device, "type", device) == "cuda":
        import torch

        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
