"""The presets that put the peers' newer mechanisms in the RLVR-shaped regime: each holds the
`rlvr` preset's regime, has the size its comment states, and pairs every mechanism's level with
its reference level in every cell of the other axes (the report's main effect is that paired
contrast)."""

import pytest

from grpo.core.config import TrainConfig, applicable_only
from grpo.experiment.grids import load_grid
from grpo.report.grid._compute import reference_level

RLVR_LENGTH = ("epochs", "eval_every")  # rlvr trains 40 epochs evaluating every 4; these presets 30 and 3
SENSITIVITY = {"mechanisms-rlvr-more": {"lr": [1e-2]}}  # rlvr's upper lr: the findings' robustness verdicts
MORE_PRESETS = {  # preset -> (configurations, seeds, {axis: levels})
    "mechanisms-rlvr-more": (12, 64, {"deltas_mode": ["normalized_rewards", "remax", "optimal_token_baseline"],
                                      "top_k": [0, 3], "top_p": [1.0, 0.9]}),
    "overlong-reference-rlvr": (18, 64, {"mask_truncated_completions": [0, 1], "overlong_cache_length": [0, 1, 2],
                                         "kl_penalty": [0.0, 0.1], "ref_model_mixup_alpha": [1.0, 0.6]}),
    "rollout-correction-more": (12, 64, {"rollout_correction": ["none", "token_mask", "sequence_truncate"],
                                         "rollout_rs": ["none", "seq_mean_k3"], "off_policy_mask_threshold": [0.0, 0.05]}),
    "kl-clip-rlvr": (10, 64, {"clip_ratio_c": [0.0, 3.0], "kl_estimator": ["k3", "abs", "k1_plus", "k3_plus", "abs_plus"]}),
    "kl-adaptive-rlvr": (4, 64, {"kl_penalty": [0.0, 0.1], "kl_ctrl": ["fixed", "adaptive"], "kl_target": [0.1, 0.01]}),
}


@pytest.mark.parametrize("preset", MORE_PRESETS)
def test_each_preset_holds_the_rlvr_regime_at_its_stated_size(preset):
    grid, rlvr = load_grid(preset), load_grid("rlvr")
    size, seeds, axes = MORE_PRESETS[preset]
    configs = grid.configs()
    assert len(configs) == size and grid.seeds == tuple(range(seeds)) and grid.axes == axes
    assert grid.sensitivity == SENSITIVITY.get(preset) and not grid.tuning
    cells = 1 + sum(len(values) for values in (grid.sensitivity or {}).values())  # each cell: the whole grid again
    assert len(grid.plan()) == size * cells and all(len(seeds_of) == seeds for _, seeds_of in grid.plan())
    regime = {name: value for name, value in rlvr.fixed.items() if name not in RLVR_LENGTH}
    assert {name for name in regime} >= {"task", "warm_start_steps", "warm_start_noise", "max_response_length", "lr"}
    for config in configs:
        assert {name: getattr(config, name) for name in regime} == regime
        assert (config.epochs, config.eval_every, config.loss_mode, config.epsilon) == (30, 3, "clipped", 0.2)


@pytest.mark.parametrize("preset", MORE_PRESETS)
def test_every_mechanism_level_has_its_reference_beside_it(preset):
    """Each non-reference level of an axis, in a configuration, has the configuration that differs
    only by the reference level in the grid: the paired contrast the report computes. The soft
    reference update (ref_model_mixup_alpha) applies with a KL term only, so its pairs are the
    kl_penalty 0.1 rows: 3 x 2 of them, and the kl_penalty 0 rows are 6 configurations, not 12.
    The adaptive controller's target applies to kl_ctrl adaptive only, and both to a KL term only:
    kl-adaptive-rlvr is no KL, fixed, and adaptive at each target (each paired with fixed)."""
    grid = load_grid(preset)
    configs = set(grid.configs())
    pairs = {}
    for axis, levels in grid.axes.items():
        reference = reference_level(axis, levels)
        for level in levels:
            if level == reference:
                continue
            arms = [config for config in configs if getattr(config, axis) == level]
            assert arms and all(TrainConfig(**applicable_only({**config.as_dict(), axis: reference})) in configs
                                for config in arms)
            pairs[(axis, level)] = len(arms)
    if preset == "overlong-reference-rlvr":
        assert pairs[("ref_model_mixup_alpha", 0.6)] == 6 and pairs[("kl_penalty", 0.1)] == 12
        assert sum(config.kl_penalty == 0 for config in configs) == 6
        assert {config.ref_model_sync_steps for config in configs if config.kl_penalty} == {4}
    elif preset == "kl-adaptive-rlvr":
        assert pairs == {("kl_penalty", 0.1): 3, ("kl_ctrl", "adaptive"): 2, ("kl_target", 0.01): 1}
        assert {(config.kl_placement, config.kl_estimator) for config in configs if config.kl_penalty} == {("reward", "k1")}
        assert {config.kl_horizon for config in configs if config.kl_ctrl == "adaptive"} == {240.0}
    else:  # a full cross product: every level in an equal share of the configurations
        assert all(count * len(grid.axes[axis]) == len(configs) for (axis, _), count in pairs.items())


def test_the_kl_clip_grid_puts_the_kl_in_the_loss_against_k3_without_dual_clip():
    """Every estimator is read by a KL term in the loss (its gradient is what the "+" variants
    change); the contrasts are against GRPO's k3 and no dual clip."""
    configs = load_grid("kl-clip-rlvr").configs()
    assert {(config.kl_penalty, config.kl_placement) for config in configs} == {(0.1, "loss")}
    axes = MORE_PRESETS["kl-clip-rlvr"][2]
    assert (reference_level("kl_estimator", axes["kl_estimator"]), reference_level("clip_ratio_c", axes["clip_ratio_c"])) == (
        "k3", 0.0)


def test_the_rollout_grid_samples_apart_from_the_learner_and_the_reference_is_normalized_rewards():
    """The corrections need a sampler apart from the learner (float8 weights); the estimators'
    reference level is GRPO's normalized_rewards, the first level, as the seed's rewards is absent."""
    assert {config.rollout_dtype for config in load_grid("rollout-correction-more").configs()} == {"float8"}
    assert {config.rollout_rs_threshold for config in load_grid("rollout-correction-more").configs()
            if config.rollout_rs != "none"} == {0.01}
    assert reference_level("deltas_mode", MORE_PRESETS["mechanisms-rlvr-more"][2]["deltas_mode"]) == "normalized_rewards"
