"""Random studies (grpo.experiment.random_study): sampled configurations, reproducible, growing as a superset."""

import pytest

from grpo.cli import main
from grpo.errors import UsageError
from grpo.experiment.grids import load_grid, parse_grid
from grpo.sweep.run import run_sweep

STUDY = """
seeds = 2
[grid]
epochs = 2
steps_per_epoch = 1
[random]
samples = {samples}
seed = {seed}
loss_mode = ["naive", "clipped", "clip_higher"]
lr = {{loguniform = [1e-4, 1e-2]}}
kl_penalty = {{loguniform = [1e-3, 0.3], also = [0.0]}}
epsilon = {{uniform = [0.05, 0.3]}}
responses = [4, 8]
"""


def study(samples=20, seed=0):
    return parse_grid("study", STUDY.format(samples=samples, seed=seed))


def test_the_same_file_and_seed_give_the_same_configurations():
    first, again = study().configs(), study().configs()
    assert [config.config_id for config in first] == [config.config_id for config in again]
    assert len(first) == 20
    assert study(seed=1).configs() != first


def test_the_wide_presets_first_draw_is_pinned():
    """numpy's PCG64 streams are the same everywhere and floats keep 4 significant digits: pinned values."""
    rows = load_grid("wide").random.rows()
    assert len(rows) == 2000
    pinned = {name: rows[0][name] for name in ("loss_mode", "lr", "responses")}
    assert pinned == PINNED_WIDE_ROW_0


PINNED_WIDE_ROW_0 = {"loss_mode": "clipped", "lr": 0.0005355, "responses": 8}


def test_a_larger_sample_count_is_a_superset():
    small, large = study(samples=8).configs(), study(samples=30).configs()
    assert large[:len(small)] == small
    assert study(samples=8).random.rows() == study(samples=30).random.rows()[:8]


def test_options_that_do_not_apply_are_dropped_and_zero_kl_is_drawn():
    configs = study(samples=200).configs()
    naive = [config for config in configs if config.loss_mode == "naive"]
    assert naive and {config.epsilon for config in naive} == {0.01}  # epsilon's default: the drawn one is dropped
    clipped = {config.epsilon for config in configs if config.loss_mode == "clipped"}
    assert len(clipped) > 10 and all(0.05 <= value <= 0.3 for value in clipped)
    zero = sum(config.kl_penalty == 0 for config in configs)
    assert 60 < zero < 140  # about half: 0 is one of two options
    assert all(1e-3 <= config.kl_penalty <= 0.3 for config in configs if config.kl_penalty)


@pytest.mark.parametrize(("table", "message"), [
    ("samples = 0\nseed = 0\nlr = [1e-3]", "[random] samples must be a positive integer"),
    ("samples = 5\nlr = [1e-3]", "[random] seed must be a non-negative integer"),
    ("samples = 5\nseed = 0\nlr = {loguniform = [0, 1]}", "loguniform needs [low, high] with low < high and low > 0"),
    ("samples = 5\nseed = 0\nlr = {gaussian = [0, 1]}", "give one range, one of uniform, loguniform, randint, lograndint"),
    ("samples = 5\nseed = 0\nlearning_rate = [1e-3]", "unknown key 'learning_rate' in [random]"),
    ("samples = 5\nseed = 0\nepochs = [1, 2]", "[random] epochs is set in [grid] already"),
    ("samples = 5\nseed = 0", "[random] names no field to sample"),
])
def test_bad_tables_are_one_line_naming_the_value_and_the_choices(table, message):
    with pytest.raises(UsageError) as error:
        parse_grid("bad", f"[grid]\nepochs = 2\n[random]\n{table}\n")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_bad_random_table_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[random]\nsamples = 5\nseed = 0\nloss_mode = 'naive'\n")
    assert main(["sweep", str(path), "--results", str(tmp_path)]) == 2
    assert "must be a list of values or a range" in capsys.readouterr().err


@pytest.mark.e2e
def test_a_grown_study_trains_only_the_new_configurations_and_reports_as_a_random_study(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(STUDY.format(samples=4, seed=0))
    first = run_sweep(str(path), tmp_path / "results", progress=False, num_cpus=2)
    assert (first.trained, first.reused) == (4 * 2, 0)
    path.write_text(STUDY.format(samples=6, seed=0))
    grown = run_sweep(str(path), tmp_path / "results", progress=False, num_cpus=2)
    assert (grown.trained, grown.reused) == (2 * 2, 4 * 2)
    assert main(["report", str(grown.results_dir), "--out", str(tmp_path / "reports")]) == 0
    report = (tmp_path / "reports" / "study" / "report.md").read_text()
    assert report.startswith("# study: a random study") and "6 configurations drawn" in report
    for name in ("percentiles.png", "top_share.png", "distributions.png", "importance.png", "sensitivity.png"):
        assert (tmp_path / "reports" / "study" / name).stat().st_size > 0
