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
- ``kl_estimator_gradients`` (Schulman 2020; arXiv 2512.21852): each arm's KL penalty's
  gradient against the exact gradient of KL(pi || pi_ref) on the seed policy
  (grpo.core.kl_gradients.kl_gradient_study, at its defaults; computed once per process): the
  relative bias and the relative standard deviation of one rollout's gradient, on-policy (a
  rollout's first inner step) and off-policy (its later steps).
- ``zero_advantage_groups`` (DAPO, Yu et al. 2025, arXiv 2503.14476, section 3.2): per arm, the
  fraction of a rollout's groups whose rewards are all equal (``equal_reward_frac``: no gradient
  under centred deltas; of the first sampling round with dynamic sampling, the policy's own
  sample) and the sampling rounds a rollout took (``sampling_rounds``: dynamic sampling's extra
  cost), both averaged over the run, read from the claim's sweep.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from grpo.core.kl_gradients import kl_gradient_study
from grpo.core.policies import POLICIES
from grpo.core.uniforms import SeedUniforms
from grpo.experiment.grids import load_grid
from grpo.experiment.results import FINISHED, open_results, per_epoch
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
    assert sample.mask is not None and log_probs.grad is not None, "a transformer's sample carries its mask"
    per_token = log_probs.grad.abs() * sample.mask  # [seed batch response pos]
    lengths = sample.mask.sum(-1)  # [seed batch response]
    weight = per_token.sum(-1) / lengths.clamp(min=1)  # [seed batch response]
    incorrect = ~kind.success(task, sample.responses) & (deltas != 0)
    return lengths[incorrect].numpy(), weight[incorrect].detach().numpy()


def slope(lengths: np.ndarray, weights: np.ndarray) -> float:
    """Least-squares slope of log weight against log length, to 1e-6 (a flat weight's -1e-15 reads 0)."""
    if len(set(lengths)) < 2:
        return float("nan")
    return round(float(np.polyfit(np.log(lengths), np.log(weights), 1)[0]), 6) + 0.0


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


@functools.cache
def kl_study():
    """grpo.core.kl_gradients.kl_gradient_study at its defaults (15 to 25 s here), once."""
    return kl_gradient_study()


def study_estimator(config) -> str:
    """The study's name of a configuration's KL penalty: `k1_in_reward` or the estimator in the loss."""
    return f"{config.kl_estimator}_in_reward" if config.kl_placement == "reward" else config.kl_estimator


def kl_estimator_gradients(claim, results_root: Path) -> Measurement:
    study = kl_study().set_index(["setting", "estimator"])
    arms = {arm: study_estimator(arm_config(claim, arm)) for arm in ("treatment", "baseline")}
    noise = study.bias_se / study.exact_grad_norm  # the relative bias an unbiased penalty shows from sampling alone

    def cell(arm, setting):
        row = study.loc[(setting, arms[arm])]
        return f"{row.relative_bias:.3f} (std {row.relative_std:.2f})"

    text = ("relative bias of the penalty's gradient against the exact gradient of KL(pi || pi_ref) (|mean - exact| /"
            " |exact|; one rollout's std / |exact|), seed policy, 2000 rollouts: on-policy treatment"
            f" {arms['treatment']} {cell('treatment', 'on-policy')}, baseline {arms['baseline']}"
            f" {cell('baseline', 'on-policy')}; off-policy treatment {cell('treatment', 'off-policy')}, baseline"
            f" {cell('baseline', 'off-policy')}; an unbiased penalty's bias is its Monte-Carlo noise, here"
            f" {noise.min():.3f} to {noise.max():.3f}")
    short = (f"gradient bias on-policy {arms['treatment']} {study.loc[('on-policy', arms['treatment'])].relative_bias:.2f}"
             f" vs {arms['baseline']} {study.loc[('on-policy', arms['baseline'])].relative_bias:.2f}")

    def draw(ax):
        table = study.relative_bias.unstack("setting")  # [estimator setting]
        positions = np.arange(len(table))
        for offset, setting in zip((-0.2, 0.2), ("on-policy", "off-policy")):
            ax.bar(positions + offset, table[setting], width=0.4, label=setting)
        ax.set_xticks(positions, [f"{name}{' *' if name in arms.values() else ''}" for name in table.index],
                      rotation=30, fontsize=7)
        ax.set(ylabel="relative bias of the gradient", title="mechanism: KL gradients (* this claim's arms)")
        ax.legend(fontsize=8)

    numbers = {f"{setting}_{arm}": float(study.loc[(setting, name)].relative_bias)
               for arm, name in arms.items() for setting in ("on-policy", "off-policy")}
    return Measurement(text, numbers, short, draw)


def run_means(claim, results_root: Path, columns: list[str]) -> dict[str, dict]:
    """arm -> {column: its mean over every epoch and seed, and "curves": the seed-mean per epoch}
    from the claim's sweep (the first configuration of each arm)."""
    results = open_results(Path(results_root) / load_grid(claim.grid).name)
    runs = results.runs[results.runs.status.isin(FINISHED)].drop_duplicates("config_id")
    means = {}
    for arm in ("treatment", "baseline"):
        config = arm_config(claim, arm)
        config_id = next(row.config_id for row in runs.itertuples()
                         if all(getattr(row, axis) == getattr(config, axis) for axis in claim.arm(arm)))
        epochs = per_epoch(results.records(config_id, ["epoch", *columns]))  # [seed x epoch rows]
        means[arm] = {column: float(epochs[column].mean()) for column in columns}
        means[arm]["curves"] = epochs.groupby("epoch")[columns].mean()
    return means


def zero_advantage_groups(claim, results_root: Path) -> Measurement:
    means = run_means(claim, results_root, ["equal_reward_frac", "sampling_rounds"])
    treatment, baseline = means["treatment"], means["baseline"]
    text = (f"groups with all-equal rewards (no gradient), mean over the run: treatment {treatment['equal_reward_frac']:.3f}"
            f" of its first-round sample, baseline {baseline['equal_reward_frac']:.3f} of its batch; sampling rounds per"
            f" rollout: treatment {treatment['sampling_rounds']:.2f}, baseline {baseline['sampling_rounds']:.2f} (the"
            " extra sampling cost)")
    short = (f"all-equal groups {baseline['equal_reward_frac']:.2f} (baseline); {treatment['sampling_rounds']:.2f}"
             " sampling rounds per rollout (treatment)")

    def draw(ax):
        for colour, arm in zip(("C0", "C1"), ("treatment", "baseline")):
            curve = means[arm]["curves"]
            ax.plot(curve.index, curve.equal_reward_frac, color=colour, label=f"{arm}: all-equal groups")
        ax.set(xlabel="epoch", ylabel="all-equal groups (fraction)", ylim=(0, 1.02), title="mechanism")
        rounds = ax.twinx()
        curve = means["treatment"]["curves"]
        rounds.plot(curve.index, curve.sampling_rounds, color="C0", linestyle="--", label="treatment: sampling rounds")
        rounds.set(ylabel="sampling rounds per rollout (dashed)", ylim=(0, curve.sampling_rounds.max() + 0.5))
        rounds.grid(False)
        ax.legend(fontsize=8, loc="center right")

    return Measurement(text, {f"{column}_{arm}": means[arm][column] for arm in means
                              for column in ("equal_reward_frac", "sampling_rounds")}, short, draw)
