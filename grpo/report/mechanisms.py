"""Mechanism measurements of claims that no record column holds (grpo.experiment.claims.Mechanism
``measure``): each is ``fn(claim, results_root) -> Measurement``.

- ``token_weight_by_length`` (Dr. GRPO, Liu et al. 2025, arXiv 2503.20783, section 3.1): the
  per-token gradient weight the loss puts on an incorrect response, against its length, on
  rollouts of the claim's arms. The weight is measured, not assumed: it is the gradient of the
  arm's own aggregation (grpo.modes.aggregation) of ``delta x log pi`` with respect to each
  token's log-probability, on responses sampled from the initial policies of the grid's seeds
  with the arm's deltas mode. The claimed mechanism is a weight falling as 1/length under the
  per-response mean (a long wrong answer is penalised less per token) and flat under the
  constant normaliser: the log-log slope of the weight against the length, -1 against 0.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from grpo.core.policies import POLICIES
from grpo.core.uniforms import SeedUniforms
from grpo.experiment.grids import load_grid
from grpo.modes.aggregation import LOSS_AGGREGATIONS
from grpo.modes.deltas import DELTAS

ROLLOUT_SEEDS = 256  # initial policies sampled for the token weights: enough groups with a correct response under exact_match


@dataclass
class Measurement:
    """`text`: the measurement in a sentence with its numbers; `numbers`: the same, by name;
    `short`: a table cell; `draw(ax)`: a figure panel of its own (None: the report draws the
    mechanism's column, if any)."""

    text: str
    numbers: dict = field(default_factory=dict)
    short: str = ""
    draw: Callable | None = None

    def __post_init__(self):
        self.short = self.short or self.text.split(";")[0]


def arm_config(claim, arm: str):
    """The first configuration of the claim's grid in the arm."""
    levels = claim.arm(arm)
    for config in load_grid(claim.grid).configs():
        if all(getattr(config, axis) == level for axis, level in levels.items()):
            return config
    raise ValueError(f"grid {claim.grid!r} has no configuration {levels}")


def token_weights(config, seeds: int = ROLLOUT_SEEDS) -> tuple[np.ndarray, np.ndarray]:
    """Rollouts of the initial policies of seeds 0..seeds-1 under `config` -> (the length of each
    incorrect response whose delta is not 0, the magnitude of the gradient of the aggregated
    loss -agg(delta x log pi) with respect to one of its tokens' log-probability). Every token of
    a response gets the same weight under each aggregation (tested)."""
    task = config.make_task()
    generators = [torch.Generator().manual_seed(seed) for seed in range(seeds)]
    kind = POLICIES[config.policy]
    with torch.no_grad():
        policy = kind.init(config, task, generators)
        sample = kind.sample(policy, config, task, SeedUniforms(generators), False)  # responses [seed batch response pos]
    rewards = kind.rewards(config, task, sample.responses)  # [seed batch response]
    deltas = DELTAS[config.deltas_mode](rewards)  # [seed batch response]
    log_probs = torch.zeros(sample.responses.shape, requires_grad=True)  # [seed batch response pos]: d loss / d log pi
    loss = -LOSS_AGGREGATIONS[config.loss_agg](deltas[..., None] * log_probs, sample.mask).sum()
    loss.backward()
    per_token = log_probs.grad.abs() * sample.mask  # [seed batch response pos]
    lengths = sample.mask.sum(-1)  # [seed batch response]
    weight = per_token.sum(-1) / lengths.clamp(min=1)  # [seed batch response]
    incorrect = ~kind.success(task, sample.responses) & (deltas != 0)
    return lengths[incorrect].numpy(), weight[incorrect].detach().numpy()


def slope(lengths: np.ndarray, weights: np.ndarray) -> float:
    """Least-squares slope of log weight against log length."""
    return float(np.polyfit(np.log(lengths), np.log(weights), 1)[0]) if len(set(lengths)) > 1 else float("nan")


def token_weight_by_length(claim, results_root: Path) -> Measurement:
    arms = {arm: token_weights(arm_config(claim, arm)) for arm in ("treatment", "baseline")}
    slopes = {arm: slope(*values) for arm, values in arms.items()}
    count = len(arms["treatment"][0])
    long_short = {}
    for arm, (lengths, weights) in arms.items():
        short, long = weights[lengths <= 4], weights[lengths >= 8]
        long_short[arm] = float(long.mean() / short.mean()) if len(short) and len(long) else float("nan")
    text = (f"log-log slope of an incorrect response's per-token gradient weight against its length: treatment"
            f" {slopes['treatment']:+.2f}, baseline {slopes['baseline']:+.2f} (per-response mean: -1; constant"
            f" normaliser: 0); weight of a long (>= 8 tokens) over a short (<= 4) incorrect response: treatment"
            f" {long_short['treatment']:.2f}, baseline {long_short['baseline']:.2f}; {count} incorrect responses with a"
            f" non-zero delta, rollouts of the initial policies of seeds 0-{ROLLOUT_SEEDS - 1}")

    def draw(ax):
        for colour, (arm, (lengths, weights)) in zip(("C0", "C1"), arms.items()):
            mean = [weights[lengths == n].mean() for n in np.unique(lengths)]
            ax.plot(np.unique(lengths), mean, "o-", color=colour, label=f"{arm} (slope {slopes[arm]:+.2f})")
        ax.set(xscale="log", yscale="log", xlabel="response length (tokens, EOS included)",
               ylabel="per-token gradient weight", title="mechanism: weight of incorrect responses")
        ax.legend(fontsize=8)

    return Measurement(text, {"slope_treatment": slopes["treatment"], "slope_baseline": slopes["baseline"], **{
        f"long_over_short_{arm}": value for arm, value in long_short.items()}},
        f"weight-length slope {slopes['treatment']:+.2f} vs {slopes['baseline']:+.2f}", draw)
