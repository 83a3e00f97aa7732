"""Grid files: presets, the cross product, and malformed grids as one-line errors."""

import pytest

from grpo.errors import UsageError
from grpo.grids import load_grid, parse_grid, presets


def test_presets_ship_with_the_package():
    assert {"smoke", "full", "extended"} <= set(presets())


def test_full_is_the_seed_ablation():
    grid = load_grid("full")
    configs = grid.configs()
    assert len(configs) == 2 * 4 * 3 * 3 and grid.seeds == tuple(range(20))
    assert {(c.epochs, c.steps_per_epoch, c.responses, c.lr) for c in configs} == {(100, 10, 10, 1e-3)}
    assert {c.kl_penalty for c in configs} == {0.0, 0.01, 0.1}
    assert len({c.config_id for c in configs}) == 72


def test_extended_sets_variants_against_the_seed_over_task_lengths():
    configs = load_grid("extended").configs()
    assert len(configs) == 2 * 6 * 5 * 3
    assert {c.task_length for c in configs} == {3, 5, 7} and {c.task for c in configs} == {"random"}
    assert any(c.loss_mode == "naive" and c.deltas_mode == "rewards" for c in configs)


def test_smoke_contains_the_seed_default():
    configs = load_grid("smoke").configs()
    assert any(c.loss_mode == "naive" and c.deltas_mode == "rewards" and c.kl_penalty == 0 for c in configs)


def test_axes_fixed_values_and_seed_lists(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('seeds = [3, 5]\n[grid]\nloss_mode = ["naive", "clipped"]\nlr = [0.01, 0.001]\nepochs = 7\n')
    grid = load_grid(str(path))
    assert grid.name == "mine" and grid.seeds == (3, 5)
    configs = grid.configs()
    assert {(c.loss_mode, c.lr) for c in configs} == {("naive", 0.01), ("naive", 0.001), ("clipped", 0.01), ("clipped", 0.001)}
    assert {c.epochs for c in configs} == {7}


def test_repeated_values_give_one_configuration():
    assert len(parse_grid("g", '[grid]\nkl_penalty = [0, 0.0]\n').configs()) == 1


@pytest.mark.parametrize(
    "text, named",
    [
        ('[grid]\nloss_mode = ["ppo"]\n', "'ppo'"),
        ('[grid]\nlearning_rate = [0.1]\n', "'learning_rate'"),
        ('[grid]\nloss_mode = []\n', "'loss_mode'"),
        ('[grid]\nepochs = "ten"\n', "'ten'"),
        ('[grid]\nepochs = 0\n', "epochs"),
        ('[grid]\nlr = nan\n', "nan"),
        ('[grid\n', "not valid TOML"),
        ('seeds = 0\n[grid]\n', "seeds 0"),
        ('seeds = [1, 1]\n[grid]\n', "[1, 1]"),
        ('seeds = "all"\n[grid]\n', "'all'"),
        ('seeds = 2\n', "no [grid] table"),
        ('axes = 3\n', "'axes'"),
        ('[grid]\ntask = "random"\ntask_length = 2\ntask_vocab = 2\n', "2^2"),
        ('[grid]\nepochs = {a = 1}\n', "'epochs'"),
    ],
)
def test_malformed_grids(text, named):
    with pytest.raises(UsageError, match=None) as error:
        parse_grid("bad", text).configs()
    assert named in str(error.value) and "\n" not in str(error.value)


def test_unknown_grid_and_unsafe_names(tmp_path):
    with pytest.raises(UsageError, match="unknown grid 'nope'"):
        load_grid("nope")
    odd = tmp_path / "..toml"
    odd.write_text("seeds = 1\n[grid]\n")
    with pytest.raises(UsageError, match="cannot name a results folder"):
        load_grid(str(odd))
