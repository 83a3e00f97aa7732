"""Grid files: presets, the cross product, values that do not apply to some rows, and malformed
grids as one-line errors (exit 2, nothing written)."""

import pytest

from grpo.cli import main
from grpo.core.config import TrainConfig
from grpo.errors import UsageError
from grpo.experiment.grids import load_grid, parse_grid


def test_full_is_the_seed_ablation():
    grid = load_grid("full")
    configs = grid.configs()
    assert len(configs) == 2 * 4 * 3 * 3 and grid.seeds == tuple(range(100))
    assert {(c.epochs, c.steps_per_epoch, c.responses, c.lr) for c in configs} == {(100, 10, 10, 1e-3)}
    assert {c.kl_penalty for c in configs} == {0.0, 0.01, 0.1}
    assert len({c.config_id for c in configs}) == 72


def test_full_tests_its_findings_across_cells_and_tunes_on_seeds_kept_apart():
    grid = load_grid("full")
    assert list(grid.cells()) == ["default", "lr 0.0003", "lr 0.003", "lr 0.01", "epsilon 0.2"]
    assert sum(config.loss_mode == "clipped" for config in grid.cells()["epsilon 0.2"].values()
               if config.epsilon == 0.2) == 24  # the other 48 are the default cell's own
    assert grid.tuning.per == "configuration" and grid.tuning.seeds == tuple(range(1000, 1020))
    assert not set(grid.tuning.seeds) & set(grid.seeds)
    assert grid.confirm == tuple(range(100, 200))  # fresh: neither evaluated nor tuned on
    plan = grid.plan()  # each candidate is a configuration of an lr cell: one trial, both seed sets
    assert len(plan) == 72 * 4 + 24 and sum(len(seeds) for _, seeds in plan) == 312 * 100 + 288 * 20 + 72 * 100
    default = set(grid.cell({}).values())
    assert all(set(seeds) >= set(grid.confirm) for config, seeds in plan if config in default)  # the default cell again


def test_extended_sets_variants_against_the_seed_over_task_lengths():
    configs = load_grid("extended").configs()
    assert len(configs) == 2 * 6 * 5 * 3
    assert {c.task_length for c in configs} == {3, 5, 7} and {c.task for c in configs} == {"random"}
    assert any(c.loss_mode == "naive" and c.deltas_mode == "rewards" for c in configs)


def test_smoke_contains_the_seed_default():
    configs = load_grid("smoke").configs()
    assert TrainConfig(epochs=10, steps_per_epoch=5) in configs and len(configs) == 16


def test_axes_fixed_values_and_seed_forms(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('seeds = [3, 5]\n[grid]\nloss_mode = ["naive", "clipped"]\nlr = [0.01, 0.001]\nepochs = 7\n')
    grid = load_grid(str(path))
    assert grid.name == "mine" and grid.seeds == (3, 5)
    configs = grid.configs()
    assert {(c.loss_mode, c.lr) for c in configs} == {("naive", 0.01), ("naive", 0.001), ("clipped", 0.01), ("clipped", 0.001)}
    assert {c.epochs for c in configs} == {7}
    assert parse_grid("g", 'seeds = 3\n[grid]\n').seeds == (0, 1, 2)
    assert parse_grid("g", 'seeds = "10-12"\n[grid]\n').seeds == (10, 11, 12)


def test_repeated_values_give_one_configuration():
    assert len(parse_grid("g", '[grid]\nkl_penalty = [0, 0.0]\n').configs()) == 1


def test_zero_and_negative_zero_are_one_configuration(tmp_path):
    """-0.0 == 0.0 in a grid file, so one configuration (two with equal ids crashed the report)."""
    path = tmp_path / "zeros.toml"
    path.write_text("[grid]\nkl_penalty = [0.0, -0.0, 0.1]\n")
    configs = load_grid(str(path)).configs()
    assert [config.kl_penalty for config in configs] == [0.0, 0.1] and str(configs[0].kl_penalty) == "0.0"


def test_a_value_that_does_not_apply_to_a_row_is_dropped_and_rows_collapse():
    grid = parse_grid("g", '[grid]\nloss_mode = ["naive", "clipped", "cispo"]\nepsilon = [0.1, 0.2]\n'
                           'kl_penalty = [0.0, 0.1]\nkl_estimator = ["k1", "k3"]\n')
    configs = grid.configs()
    # naive and cispo read no epsilon: their two epsilon rows collapse; kl 0 has no estimator
    per_loss = {loss: sorted({(c.epsilon, c.kl_penalty, c.kl_estimator) for c in configs if c.loss_mode == loss})
                for loss in ("naive", "clipped", "cispo")}
    kl_rows = [(0.0, "k3"), (0.1, "k1"), (0.1, "k3")]
    no_epsilon = [(0.01, *row) for row in kl_rows]
    clipped = sorted((epsilon, *row) for epsilon in (0.1, 0.2) for row in kl_rows)
    assert per_loss == {"naive": no_epsilon, "cispo": no_epsilon, "clipped": clipped}
    assert len(configs) == 3 + 6 + 3
    seed_and_random = parse_grid("g", '[grid]\ntask = ["seed", "random"]\ntask_vocab = 7\n').configs()
    assert sorted((c.task, c.task_vocab) for c in seed_and_random) == [("random", 7), ("seed", 5)]


MALFORMED_GRIDS = [
    ('[grid]\nloss_mode = ["ppo"]\n', "loss_mode 'ppo': unknown choice"), ('[grid]\nreward_fn = "bleu"\n', "'bleu'"),
    ('[grid]\nlearning_rates = [0.1]\n', "'learning_rates'"), ('[grid]\nloss_mode = []\n', "'loss_mode'"),
    ('[grid]\nepochs = "ten"\n', "epochs 'ten'"), ('[grid]\nepochs = 0\n', "epochs 0"), ('[grid]\nepochs = 2.5\n', "2.5"),
    ('[grid]\nresponses = -4\n', "responses -4"), ('[grid]\nlr = nan\n', "lr nan"), ('[grid]\nlr = [0.1, inf]\n', "inf"),
    ('[grid]\nlr = [[0.1, 0.2]]\n', "axis 'lr' must list single values"),
    ('[grid\n', "not valid TOML"), ('seeds = 0\n[grid]\n', "seeds 0"), ('seeds = [1, 1]\n[grid]\n', "[1, 1]"),
    ('seeds = "all"\n[grid]\n', "'all'"), ('seeds = [-1]\n[grid]\n', "[-1]"), ('seeds = 2\n', "no [grid] table"),
    ('', "no [grid] table"), ('axes = 3\n[grid]\n', "'axes'"),
    ('[grid]\ntask = "random"\ntask_length = 2\ntask_vocab = 2\n', "2^2"), ('[grid]\nepochs = {a = 1}\n', "'epochs'"),
    ('[grid]\ntask = "random"\ntask_vocab = 1\n', "task_vocab 1"),
    ('[grid]\nloss_mode = "__import__(\'os\').system(\'touch pwned\')"\n', "__import__"),
    ('[grid]\nkl_penalty = true\n', "True"), ('grid = 5\n', "'grid' must be"),
    ('[grid]\nresponses = 1\ndeltas_mode = ["rewards", "centered_rewards"]\n', "centered_rewards"),
    # a key that applies to no configuration of the grid
    ('[grid]\ntask_vocab = 3\n', "task_vocab applies to no configuration (does not apply to task 'seed'"),
    ('[grid]\nloss_mode = ["naive", "clipped"]\nepsilon_high = 0.3\n', "epsilon_high applies to no configuration"),
    ('[grid]\nkl_estimator = ["k1", "k2"]\n', "kl_estimator applies to no configuration"),
]


@pytest.mark.parametrize("text, named", MALFORMED_GRIDS, ids=[f"grid{i}" for i in range(len(MALFORMED_GRIDS))])
def test_malformed_grid_files(tmp_path, capsys, text, named):
    (tmp_path / "bad.toml").write_text(text)
    code = main(["sweep", str(tmp_path / "bad.toml"), "--results", str(tmp_path / "results")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and named in err
    assert [p.name for p in tmp_path.iterdir()] == ["bad.toml"]


def test_unknown_grid_and_unsafe_names(tmp_path):
    with pytest.raises(UsageError, match="unknown grid 'nope'"):
        load_grid("nope")
    odd = tmp_path / "..toml"
    odd.write_text("seeds = 1\n[grid]\n")
    with pytest.raises(UsageError, match="cannot name a results folder"):
        load_grid(str(odd))
