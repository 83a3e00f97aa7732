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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats

from grpo.core.kl_gradients import kl_gradient_study
from grpo.core.policies import POLICIES
from grpo.core.trl_metrics import grad_norms
from grpo.core.uniforms import SeedUniforms
from grpo.core.warm_start import load_bases, train_bases
from grpo.experiment.bases import load_base, missing_seeds
from grpo.experiment.grids import load_grid
from grpo.experiment.results import FINISHED, open_results, per_epoch
from grpo.modes.aggregation import LOSS_AGGREGATIONS
from grpo.modes.deltas import DELTAS
from grpo.report._fits import fit_curve, saturating_curve
from grpo.report._stats import paired_contrast
from grpo.tasks.prompts import stream_generators

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
    # a "measured" claim's scores: seed -> its "treatment" and "baseline" values, and what each is
    per_seed: pd.DataFrame | None = None
    arms: tuple[str, str] | None = None

    def __post_init__(self):
        self.short = self.short or self.text.split(";")[0]


def arm_config(claim, arm: str):
    """The first configuration of the claim's grid in the arm."""
    levels = claim.arm(arm)
    for config in load_grid(claim.grid).configs():
        if all(getattr(config, axis) == level for axis, level in levels.items()):
            return config
    raise ValueError(f"grid {claim.grid!r} has no configuration {levels}")


def start_policies(config, seeds: Sequence[int], results_dir: Path | None = None):
    """The policies RL starts from under `config` for `seeds` (stacked): a warm start's bases,
    from `results_dir`'s store (grpo.experiment.bases) where it holds every seed's, else trained
    here; without a warm start, the init. -> (task, policy kind, policy, the seeds' generators,
    drawn after the init as training draws them)."""
    task = config.make_task()
    generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
    kind = POLICIES[config.policy]
    with torch.no_grad():
        policy = kind.init(config, task, generators)
    if config.warm_start_steps:
        stored = results_dir is not None and not missing_seeds(results_dir, config, seeds)
        bases = ({int(seed): load_base(results_dir, config, seed) for seed in seeds} if results_dir is not None and stored
                 else train_bases(config, seeds))
        load_bases(policy, bases, seeds)
    return task, kind, policy, generators


def rollout(config, task, kind, policy, generators, draw: int = 0):
    """One rollout of the stacked policies as training samples it: a stream task's prompts drawn
    afresh (from a generator of each seed's own, apart from training's: label "mechanism"
    and the draw's number). -> (the rollout's task, its sample)."""
    if task.stream is not None:
        task = task.drawn(stream_generators([int(g.initial_seed()) for g in generators], f"mechanism {draw}"))
    with torch.no_grad():
        sample = kind.sample(policy, config, task, SeedUniforms(generators), False)  # responses [seed batch response pos]
    return task, sample


def mechanism_seeds(claim, config) -> list[int]:
    """The seeds a rollout measure samples: a warm start's, the grid's own (their bases are
    stored by its sweep); else ROLLOUT_SEEDS initial policies."""
    return list(load_grid(claim.grid).seeds) if config.warm_start_steps else list(range(ROLLOUT_SEEDS))


def token_weights(config, seeds: Sequence[int] = tuple(range(ROLLOUT_SEEDS)),
                  results_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rollouts of the start policies of `seeds` (start_policies) under `config` -> (the length
    of each incorrect response whose delta is not 0, the magnitude of the gradient of the
    aggregated loss -agg(delta x log pi) with respect to one of its tokens' log-probability).
    Every token of a response gets the same weight under each aggregation (tested)."""
    task, kind, policy, generators = start_policies(config, seeds, results_dir)
    task, sample = rollout(config, task, kind, policy, generators)
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


def start_of(config) -> str:
    """What a rollout measure samples from, in words."""
    return "the warm-start base policies" if config.warm_start_steps else "the initial policies"


def slope(lengths: np.ndarray, weights: np.ndarray) -> float:
    """Least-squares slope of log weight against log length, to 1e-6 (a flat weight's -1e-15 reads 0)."""
    if len(set(lengths)) < 2:
        return float("nan")
    return round(float(np.polyfit(np.log(lengths), np.log(weights), 1)[0]), 6) + 0.0


def token_weight_by_length(claim, results_root: Path) -> Measurement:
    configs = {arm: arm_config(claim, arm) for arm in ("treatment", "baseline")}
    seeds = mechanism_seeds(claim, configs["treatment"])
    folder = Path(results_root) / load_grid(claim.grid).name
    arms = {arm: token_weights(config, seeds, folder) for arm, config in configs.items()}
    slopes = {arm: slope(*values) for arm, values in arms.items()}
    count = len(arms["treatment"][0])
    long_short = {}
    for arm, (lengths, weights) in arms.items():
        short, long = weights[lengths <= 4], weights[lengths >= 8]
        long_short[arm] = float(long.mean() / short.mean()) if len(short) and len(long) else float("nan")
    text = (f"log-log slope of an incorrect response's per-token gradient weight against its length: treatment"
            f" {slopes['treatment']:+.2f}, baseline {slopes['baseline']:+.2f} (per-response mean: -1; constant"
            f" normaliser: 0, where |delta| does not vary with the length); their difference"
            f" {slopes['treatment'] - slopes['baseline']:+.2f}; weight of a long (>= 8 tokens) over a short (<= 4)"
            f" incorrect response: treatment"
            f" {long_short['treatment']:.2f}, baseline {long_short['baseline']:.2f}; {count} incorrect responses with a"
            f" non-zero delta, rollouts of {start_of(configs['treatment'])} of seeds {seeds[0]}-{seeds[-1]}")

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


# The RLVR-shaped regime's mechanisms (task stream, a warm-start base): groups of graded difficulty

GROUP_ROLLOUTS = 16  # rollouts of fresh stream draws a group measure samples from each seed's start policy
EXTREME = 0.25  # a group's pass rate at most this, or at least 1 - this, is "extreme" (hard or easy); between, "mid"


def arm_runs(claim, results_root: Path, columns: list[str]) -> dict[str, list[pd.DataFrame]]:
    """arm -> the per-epoch records (seed x epoch rows) of each configuration of the arm (one a
    cell of the grid) in the claim's sweep."""
    results = open_results(Path(results_root) / load_grid(claim.grid).name)
    runs = results.runs[results.runs.status.isin(FINISHED)].drop_duplicates("config_id")
    arms = {}
    for arm in ("treatment", "baseline"):
        ids = [row.config_id for row in runs.itertuples()
               if all(np.isclose(getattr(row, axis), level) if isinstance(level, float) else getattr(row, axis) == level
                      for axis, level in claim.arm(arm).items())]
        arms[arm] = [per_epoch(results.records(config_id, ["epoch", *columns])) for config_id in ids]
    return arms


def curve_fit_of(epochs: pd.DataFrame, metric: str):
    """ScaleRL's saturating curve (grpo.report._fits.fit_curve) fitted to the seed-mean of
    `metric` over the evaluated epochs against responses sampled (the seeds' mean at each epoch),
    each point with its seed-to-seed standard error. epochs: seed, epoch, samples, metric rows."""
    rows = epochs.dropna(subset=[metric])
    grouped = rows.groupby("epoch")
    return fit_curve(grouped.samples.mean().to_numpy(dtype=float), grouped[metric].mean().to_numpy(dtype=float),
                     grouped[metric].sem().to_numpy(dtype=float))


FIT_PARAMETERS = ("asymptote", "efficiency", "log_midpoint")


def jackknife_fits(epochs: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, str | None]:
    """The fit of the seed-mean curve (curve_fit_of) as per-seed jackknife pseudo-values
    n x full - (n - 1) x without the seed, of A, B and log s_mid: their mean is the jackknife
    estimate, their sd / sqrt n its standard error, so a paired contrast over seeds reads them as
    it reads any per-seed score. A seed whose leave-one-out fit fails gets NaN. -> (index seed;
    FIT_PARAMETERS, why the full fit failed or None; a failed full fit leaves every value NaN)."""
    def parameters(fit) -> np.ndarray:
        return np.array([fit.asymptote, fit.efficiency, np.log(fit.midpoint)])

    seeds = sorted(epochs.seed.unique())
    full = curve_fit_of(epochs, metric)
    rows = {}
    for seed in seeds:
        without = curve_fit_of(epochs[epochs.seed != seed], metric)
        rows[seed] = (len(seeds) * parameters(full) - (len(seeds) - 1) * parameters(without)
                      if full.failed is None and without.failed is None else np.full(3, np.nan))
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(FIT_PARAMETERS)).rename_axis("seed"), full.failed


def fitted_efficiency(claim, results_root: Path) -> Measurement:
    """ScaleRL's efficiency (Khatri et al. 2025, arXiv 2510.13786): each arm's B (steepness) and
    s_mid (the responses sampled to half the gain) of its seed-mean curve, as per-seed jackknife
    pseudo-values (jackknife_fits), the arm's cells averaged per seed; their paired contrasts."""
    arms = arm_runs(claim, results_root, ["samples", "diverged", claim.metric])
    fits = {arm: [jackknife_fits(epochs, claim.metric) for epochs in runs] for arm, runs in arms.items()}
    per_seed = {arm: sum(values for values, _ in cells) / len(cells) for arm, cells in fits.items()}  # [seed parameter]
    failed = {arm: [why for _, why in cells if why] for arm, cells in fits.items()}
    seeds = per_seed["treatment"].index.union(per_seed["baseline"].index)
    a, b = (per_seed[arm].reindex(seeds) for arm in ("treatment", "baseline"))
    contrast = {name: paired_contrast(a[name].to_numpy(), b[name].to_numpy()) for name in FIT_PARAMETERS}
    means = {arm: per_seed[arm].mean() for arm in per_seed}
    efficiency, midpoint = contrast["efficiency"], contrast["log_midpoint"]
    text = (f"ScaleRL's saturating curve fitted to each configuration's seed-mean against responses sampled, as"
            f" per-seed jackknife pseudo-values: efficiency B treatment {means['treatment'].efficiency:.3g}, baseline"
            f" {means['baseline'].efficiency:.3g}, difference {efficiency.difference:+.3g} [{efficiency.low:+.3g},"
            f" {efficiency.high:+.3g}]; samples to half the gain s_mid, treatment / baseline"
            f" {np.exp(midpoint.difference):.3g} [{np.exp(midpoint.low):.3g}, {np.exp(midpoint.high):.3g}]; asymptote A"
            f" treatment {means['treatment'].asymptote:.3g}, baseline {means['baseline'].asymptote:.3g}"
            + "".join(f"; {arm}'s fits failed: {'; '.join(why)}" for arm, why in failed.items() if why))
    short = (f"B {means['treatment'].efficiency:.2f} vs {means['baseline'].efficiency:.2f}; s_mid ratio"
             f" {np.exp(midpoint.difference):.2f} [{np.exp(midpoint.low):.2f}, {np.exp(midpoint.high):.2f}]")

    def draw(ax):
        for colour, arm in zip(("C0", "C1"), ("treatment", "baseline")):
            for epochs in arms[arm]:
                rows = epochs.dropna(subset=[claim.metric]).groupby("epoch")
                ax.plot(rows.samples.mean(), rows[claim.metric].mean(), color=colour, alpha=0.35, linewidth=1)
                fit = curve_fit_of(epochs, claim.metric)
                if fit.failed is None:
                    grid = np.linspace(rows.samples.mean().min(), rows.samples.mean().max() * 3, 200)
                    ax.plot(grid, saturating_curve(grid, fit.r0, fit.asymptote, fit.efficiency, fit.midpoint),
                            color=colour, linestyle="--", linewidth=1)
                    ax.axhline(fit.asymptote, color=colour, linestyle=":", linewidth=0.8)
            ax.plot([], [], color=colour, label=f"{arm} (dashed: fit, to 3x the samples; dotted: A)")
        ax.set(xlabel="responses sampled", ylabel=claim.metric, title="mechanism: ScaleRL fits")
        ax.legend(fontsize=7)

    return Measurement(text, {"efficiency_treatment": float(means["treatment"].efficiency),
                              "efficiency_baseline": float(means["baseline"].efficiency),
                              "log_midpoint_treatment": float(means["treatment"].log_midpoint),
                              "log_midpoint_baseline": float(means["baseline"].log_midpoint),
                              "efficiency_difference": efficiency.difference, "efficiency_low": efficiency.low,
                              "efficiency_high": efficiency.high, "log_midpoint_difference": midpoint.difference,
                              "log_midpoint_low": midpoint.low, "log_midpoint_high": midpoint.high}, short, draw)


def group_rollouts(config, seeds: Sequence[int], results_dir: Path | None, rollouts: int = GROUP_ROLLOUTS):
    """`rollouts` rollouts of fresh stream draws from the start policies of `seeds` under `config`
    -> (task, kind, policy, [(the rollout's task, its sample)])."""
    task, kind, policy, generators = start_policies(config, seeds, results_dir)
    return task, kind, policy, [rollout(config, task, kind, policy, generators, draw) for draw in range(rollouts)]


def pass_rate_bins(pass_rate: np.ndarray, group: int) -> np.ndarray:
    """A group's pass rate -> its count of exactly sorted responses k (0..group)."""
    return np.rint(pass_rate * group).astype(int)


def pass_rate_profile(pass_rate: np.ndarray, weight: np.ndarray, group: int) -> pd.DataFrame:
    """Groups' weights by their pass rate -> index k (correct responses of the group's `group`,
    the pass rates present); weight: the mean weight of the groups at k, relative: that over the
    mean at pass rate 1/2 (k = group // 2; NaN where no group is there)."""
    k = pass_rate_bins(np.asarray(pass_rate), group)
    mean = pd.Series(np.asarray(weight, dtype=float)).groupby(k).mean()
    return pd.DataFrame({"weight": mean, "relative": mean / mean.get(group // 2, np.nan)}).rename_axis("k")


def group_weight_by_pass_rate(claim, results_root: Path) -> Measurement:
    """Each arm's per-group weight: the mean |delta| of a group's responses under the arm's
    reward and deltas mode (the scale of its groups' policy gradient before the log-probabilities),
    on the same rollouts of the start policies of the grid's seeds, against the group's pass rate
    (exactly sorted share). Dr. GRPO's difficulty bias (Liu et al. 2025, section 3.1): dividing by
    the group's std weighs groups with a pass rate near 0 or 1 more than centring alone does. The
    numbers: the share of an arm's total weight on groups with a pass rate at most EXTREME or at
    least 1 - EXTREME."""
    configs = {arm: arm_config(claim, arm) for arm in ("treatment", "baseline")}
    seeds = mechanism_seeds(claim, configs["treatment"])
    folder = Path(results_root) / load_grid(claim.grid).name
    _, kind, _, rollouts = group_rollouts(configs["treatment"], seeds, folder)
    group = configs["treatment"].responses
    weights: dict[str, list[np.ndarray]] = {arm: [] for arm in configs}
    passes = []
    for task, sample in rollouts:
        passes.append(kind.success(task, sample.responses).float().mean(-1).flatten().numpy())  # [seed x batch]
        for arm, config in configs.items():
            rewards = kind.rewards(config, task, sample.responses)  # [seed batch response]
            weights[arm].append(DELTAS[config.deltas_mode](rewards).abs().mean(-1).flatten().numpy())
    k = pass_rate_bins(np.concatenate(passes), group)
    extreme = (k <= EXTREME * group) | (k >= (1 - EXTREME) * group)
    arms = {arm: np.concatenate(values) for arm, values in weights.items()}
    share = {arm: float(w[extreme].sum() / w.sum()) if w.sum() > 0 else float("nan") for arm, w in arms.items()}
    relative = {arm: pass_rate_profile(k / group, w, group).relative for arm, w in arms.items()}
    counts = pd.Series(k).value_counts().sort_index()
    text = (f"share of the per-group weight (mean |delta| of a group) on groups with pass rate <= {EXTREME:g} or >="
            f" {1 - EXTREME:g}: treatment {share['treatment']:.3f}, baseline {share['baseline']:.3f}; a group at pass"
            f" rate 1/{group} weighs, relative to one at 1/2: treatment {relative['treatment'].get(1, np.nan):.2f},"
            f" baseline {relative['baseline'].get(1, np.nan):.2f}; {len(k)} groups ({GROUP_ROLLOUTS} rollouts of"
            f" {start_of(configs['treatment'])} of seeds {seeds[0]}-{seeds[-1]}), by pass rate k/{group} for k = 0..{group}:"
            f" {', '.join(str(int(counts.get(i, 0))) for i in range(group + 1))}")
    short = (f"weight of a group at pass rate 1/{group} over one at 1/2: {relative['treatment'].get(1, np.nan):.2f} vs"
             f" {relative['baseline'].get(1, np.nan):.2f}")

    def draw(ax):
        for colour, arm in zip(("C0", "C1"), ("treatment", "baseline")):
            line = relative[arm]
            ax.plot(line.index / group, line.to_numpy(), "o-", color=colour, label=arm)
        ax.set(xlabel="group pass rate (exactly sorted share)", ylabel="group weight / at pass rate 1/2",
               title="mechanism: per-group weight")
        ax.legend(fontsize=8)
        bars = ax.twinx()
        bars.bar(counts.index / group, counts.to_numpy(), width=0.6 / group, color="grey", alpha=0.25)
        bars.set(ylabel="groups (grey bars)")
        bars.grid(False)

    return Measurement(text, {"extreme_share_treatment": share["treatment"], "extreme_share_baseline": share["baseline"],
                              **{f"relative_{arm}_{i}": float(v) for arm, line in relative.items() for i, v in line.items()}},
                       short, draw)


def group_gradient_norms(config, kind, policy, task, sample) -> tuple[torch.Tensor, torch.Tensor]:
    """Per group of one rollout: the L2 norm of the gradient of its own policy loss
    -agg(delta x log pi) (the config's deltas mode and aggregation over the rollout) over all the
    policy's weights, per seed; and its pass rate. -> ([seed batch], [seed batch])."""
    rewards = kind.rewards(config, task, sample.responses)  # [seed batch response]
    deltas = DELTAS[config.deltas_mode](rewards)  # [seed batch response]
    log_probs, _ = kind.log_probs(policy, task.prompts, sample)  # [seed batch response pos]
    seeds, batch = deltas.shape[:2]
    norms = torch.zeros(seeds, batch)
    for b in range(batch):  # one backward a group, every seed at once (each seed's weights are its own slice)
        only = torch.zeros(batch, dtype=torch.bool)
        only[b] = True
        mask = sample.mask * only[None, :, None, None]  # [seed batch response pos]: the group's real tokens
        loss = -LOSS_AGGREGATIONS[config.loss_agg](deltas[..., None] * log_probs, mask).sum()
        policy.zero_grad()
        loss.backward(retain_graph=b < batch - 1)
        norms[:, b] = grad_norms(policy, seeds)
    policy.zero_grad()
    return norms, kind.success(task, sample.responses).float().mean(-1)


def mid_and_extreme(groups: pd.DataFrame, group: int) -> pd.DataFrame:
    """groups: seed, k (correct responses of `group`), norm -> per seed (index) "treatment": the
    mean over the pass rates k / group strictly between EXTREME and 1 - EXTREME of each one's mean
    norm; "baseline": the same over the other pass rates present."""
    by_rate = groups.groupby(["seed", "k"]).norm.mean().reset_index()  # each pass rate's mean norm, per seed
    mid = (by_rate.k > EXTREME * group) & (by_rate.k < (1 - EXTREME) * group)
    return pd.DataFrame({"treatment": by_rate[mid].groupby("seed").norm.mean(),
                         "baseline": by_rate[~mid].groupby("seed").norm.mean()})


def group_signal_by_pass_rate(claim, results_root: Path) -> Measurement:
    """The learning signal per group against its pass rate: the norm of each group's own policy
    gradient (group_gradient_norms) on rollouts of the start policies of the grid's seeds under
    the claim's treatment configuration; per seed, the mean over the pass rates strictly between
    EXTREME and 1 - EXTREME of the mean norm at each ("treatment"), and the same over the mixed
    pass rates at most EXTREME or at least 1 - EXTREME ("baseline"): each pass rate weighs the same,
    so the many hard groups of a weak base do not stand for the easy side. Groups of equal rewards
    (pass rate 0 or 1 under exact_match) carry no signal and are in neither."""
    config = arm_config(claim, "treatment")
    seeds = mechanism_seeds(claim, config)
    folder = Path(results_root) / load_grid(claim.grid).name
    _, kind, policy, rollouts = group_rollouts(config, seeds, folder)
    group = config.responses
    rows = []
    for task, sample in rollouts:
        norms, pass_rate = group_gradient_norms(config, kind, policy, task, sample)  # [seed batch] each
        for index, seed in enumerate(seeds):
            rows.append(pd.DataFrame({"seed": seed, "k": pass_rate_bins(pass_rate[index].numpy(), group),
                                      "norm": norms[index].numpy()}))
    groups = pd.concat(rows, ignore_index=True)
    mixed = groups[(groups.k > 0) & (groups.k < group)]
    per_seed = mid_and_extreme(mixed, group).reindex(seeds)
    profile = mixed.groupby("k").norm.agg(["mean", "sem", "count"])
    peak = int(profile["mean"].idxmax())
    text = (f"per-group policy-gradient norm (the group's own loss under {config.deltas_mode} / {config.loss_agg}, over"
            f" all weights), mean over groups: by pass rate k/{group} for k = 1..{group - 1}: "
            + ", ".join(f"{row.mean:.3g} ({int(row.count)})" for row in profile.itertuples())
            + f" (groups in brackets); peak at k = {peak} (pass rate {peak / group:.2f}); {len(groups)} groups of"
            f" {GROUP_ROLLOUTS} rollouts of {start_of(config)} of seeds {seeds[0]}-{seeds[-1]}, {len(mixed)} mixed")
    short = f"gradient norm peaks at pass rate {peak / group:.2f}"

    def draw(ax):
        ax.errorbar(profile.index / group, profile["mean"], yerr=1.96 * profile["sem"], fmt="o-", color="C0")
        ax.axvspan(EXTREME, 1 - EXTREME, color="C2", alpha=0.1, label="mid (treatment)")
        ax.set(xlabel="group pass rate (exactly sorted share)", ylabel="per-group policy-gradient norm",
               title="mechanism: learning signal per group")
        ax.legend(fontsize=8)

    arms = (f"mean over the pass rates in ({EXTREME:g}, {1 - EXTREME:g}) of their groups' mean gradient norm",
            f"the same over the mixed pass rates <= {EXTREME:g} or >= {1 - EXTREME:g}")
    return Measurement(text, {"peak_pass_rate": peak / group, **{f"norm_{k}": float(v) for k, v in profile["mean"].items()}},
                       short, draw, per_seed, arms)


def outcome_probabilities(p: float, group: int) -> np.ndarray:
    """P(k of a group of `group` responses are correct) for k = 0..group, each correct with chance p."""
    return stats.binom.pmf(np.arange(group + 1), group, p)


def baseline_given_mixed(p: float, group: int) -> float:
    """E[the group's mean reward | its rewards are not all equal] under exact_match: the group-relative
    baseline of the groups that carry a gradient, exactly over the binomial outcomes."""
    probabilities = outcome_probabilities(p, group)[1:group]  # k = 1..group-1
    return float((probabilities * np.arange(1, group) / group).sum() / probabilities.sum())


def advantage_given_outcome(p: float, group: int, deltas_mode: str, correct: bool) -> float:
    """E[a response's delta under `deltas_mode` | it is correct (or not) and its group is mixed],
    exactly: over the binomial count of the group's other responses that are correct, each
    group's deltas computed by the deltas mode itself on its exact_match rewards."""
    others = np.arange(group)  # correct among the other group - 1 responses
    weights = stats.binom.pmf(others, group - 1, p)
    correct_count = others + int(correct)
    mixed = (correct_count > 0) & (correct_count < group)
    values = []
    for count in correct_count:
        rewards = torch.zeros(1, 1, group, dtype=torch.float64)
        rewards[..., :count] = 1.0  # the response itself first when correct, last when not
        values.append(float(DELTAS[deltas_mode](rewards)[0, 0, 0 if correct else -1]))
    return float((weights * np.array(values))[mixed].sum() / weights[mixed].sum())


HELDOUT_SAMPLES = 64  # responses sampled to each held-out prompt to estimate its pass rate under the base


def advantage_bias(claim, results_root: Path) -> Measurement:
    """The group-relative advantage's bias against the pass rate (Yang et al. 2026, "Your
    Group-Relative Advantage Is Biased", arXiv 2601.08521, section 2): each held-out prompt's pass
    rate p under each seed's start policy, estimated from HELDOUT_SAMPLES sampled responses; for a
    group of the configuration's size G, exactly over the binomial outcomes, the group-relative
    baseline of the groups that carry a gradient, E[mean reward | not all equal]. The advantage
    r - mean then differs from the true r - p by p - E[mean | mixed] on average: below the truth
    for p < 1/2, above it for p > 1/2. Per seed, over its prompts with 0 < p < 1/2 (hard):
    "treatment" the mean baseline E[mean | mixed], "baseline" the mean true p."""
    config = arm_config(claim, "treatment")
    seeds = mechanism_seeds(claim, config)
    folder = Path(results_root) / load_grid(claim.grid).name
    task, kind, policy, generators = start_policies(config, seeds, folder)
    heldout = type(task)(task.heldout, task.heldout, task.vocab_size)
    with torch.no_grad():
        sample = kind.sample(policy, config, heldout, SeedUniforms(generators), False, group=HELDOUT_SAMPLES)
    pass_rate = kind.success(heldout, sample.responses).double().mean(-1).numpy()  # [seed heldout]
    group = config.responses
    grid_p = np.unique(pass_rate[(pass_rate > 0) & (pass_rate < 1)])
    baseline = dict(zip(grid_p, (baseline_given_mixed(p, group) for p in grid_p)))
    rows = []
    for index, seed in enumerate(seeds):
        for p in pass_rate[index]:
            if 0 < p < 1:
                rows.append({"seed": seed, "p": p, "mixed_mean": baseline[p]})
    prompts = pd.DataFrame(rows)
    hard = prompts[prompts.p < 0.5]
    easy = prompts[prompts.p > 0.5]
    per_seed = pd.DataFrame({"treatment": hard.groupby("seed").mixed_mean.mean(),
                             "baseline": hard.groupby("seed").p.mean()}).reindex(seeds)
    examples = [1 / group, 0.25, 0.5, 0.75]
    conditional = {mode: {p: (advantage_given_outcome(p, group, mode, True), advantage_given_outcome(p, group, mode, False))
                          for p in examples} for mode in ("centered_rewards", "normalized_rewards")}
    text = (f"pass rates of the 256 held-out prompts under {start_of(config)} of seeds {seeds[0]}-{seeds[-1]}"
            f" ({HELDOUT_SAMPLES} samples each): {len(prompts)} prompt-seed pairs with 0 < p < 1, {len(hard)} below 1/2,"
            f" {len(easy)} above; mean bias of the advantage p - E[mean | mixed] for a group of {group}: hard"
            f" {float((hard.p - hard.mixed_mean).mean()):+.4f}, easy "
            + (f"{float((easy.p - easy.mixed_mean).mean()):+.4f}" if len(easy) else "none")
            + "; E[delta | correct, mixed] against the true 1 - p (centred) and E[delta | incorrect, mixed] against -p, at p = "
            + ", ".join(f"{p:.3g}: {conditional['centered_rewards'][p][0]:+.3f} vs {1 - p:+.3f}, "
                        f"{conditional['centered_rewards'][p][1]:+.3f} vs {-p:+.3f}" for p in examples)
            + "; std-normalised, against the standardised (r - p) / sqrt(p (1 - p)): "
            + ", ".join(f"{p:.3g}: {conditional['normalized_rewards'][p][0]:+.3f} vs {np.sqrt((1 - p) / p):+.3f}"
                        for p in examples))
    short = f"bias p - E[mean of a mixed group] {float((hard.p - hard.mixed_mean).mean()):+.3f} on hard prompts"  # no "|": a table cell

    def draw(ax):
        grid = np.linspace(0.01, 0.99, 99)
        ax.plot(grid, [p - baseline_given_mixed(p, group) for p in grid], color="C0",
                label=f"p - E[mean | mixed], G = {group}")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set(xlabel="prompt's true pass rate p", ylabel="bias of the group-relative advantage",
               title="mechanism: advantage bias (exact)")
        ax.legend(fontsize=8, loc="upper left")
        bars = ax.twinx()
        bars.hist(prompts.p, bins=20, range=(0, 1), color="grey", alpha=0.25)
        bars.set(ylabel="held-out prompts x seeds (grey)")
        bars.grid(False)

    arms = ("the group-relative baseline E[mean reward | group mixed] of hard prompts", "their true pass rate p")
    return Measurement(text, {"bias_hard": float((hard.p - hard.mixed_mean).mean()),
                              "bias_easy": float((easy.p - easy.mixed_mean).mean()) if len(easy) else float("nan"),
                              "hard_prompts": len(hard), "easy_prompts": len(easy)}, short, draw, per_seed, arms)
