"""Input a sweep cannot use is refused in one line (exit 2) before any work, nothing written:
random studies too large to draw or train, infinite bounds, a sampled field that applies to no
configuration, a random study beside cells or tuning the report cannot use, runs whose records
cannot fit in memory; and `--vary` works on every spelling of a [sensitivity] table TOML allows."""

import pytest

from grpo.cli import main
from grpo.errors import UsageError
from grpo.experiment.grids import DEFAULT_CELL, load_grid, parse_grid

RANDOM = "seeds = 2\n[grid]\nepochs = 2\nsteps_per_epoch = 1\n[random]\nseed = 0\n"


def refused(tmp_path, capsys, text: str, *extra: str) -> str:
    """`grpo sweep` of a grid file holding `text`: assert exit 2, one line, nothing written; -> the line."""
    (tmp_path / "bad.toml").write_text(text)
    code = main(["sweep", str(tmp_path / "bad.toml"), "--results", str(tmp_path / "results"), "--quiet", *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert [path.name for path in tmp_path.iterdir()] == ["bad.toml"]  # nothing written
    return err


def test_a_random_study_too_large_to_draw_is_refused_with_its_estimate(tmp_path, capsys):
    """1e9 samples used to draw for about 35 h with memory growing; now refused on parsing."""
    with pytest.raises(UsageError) as error:
        parse_grid("huge", RANDOM + "samples = 1000000000\nlr = {loguniform = [1e-4, 1e-2]}\n")
    message = str(error.value)
    assert "samples 1000000000" in message and "at most 100,000" in message and "h to draw" in message
    # the bound counts the axes' rows too: 60,000 samples x 2 losses = 120,000 configurations
    err = refused(tmp_path, capsys, RANDOM.replace("[grid]\n", '[grid]\nloss_mode = ["naive", "clipped"]\n')
                  + "samples = 60000\nlr = {loguniform = [1e-4, 1e-2]}\n")
    assert "120,000 configurations" in err


@pytest.mark.parametrize("spec", ["{loguniform = [1e-4, inf]}", "{uniform = [nan, 0.1]}", "{uniform = [-inf, 0.1]}",
                                  "{uniform = [0.01, 0.1], also = [nan]}"])
def test_infinite_and_nan_bounds_are_one_line(tmp_path, capsys, spec):
    err = refused(tmp_path, capsys, RANDOM + f"samples = 3\nlr = {spec}\n")
    assert "lr" in err and ("inf" in err or "nan" in err)


def test_a_sampled_field_that_applies_to_no_configuration_is_refused(tmp_path, capsys):
    """kl_estimator with the KL penalty off everywhere: it used to pass the sweep and crash the report."""
    err = refused(tmp_path, capsys, RANDOM + 'samples = 3\nkl_estimator = ["k1", "k2"]\nlr = [1e-3, 1e-2]\n')
    assert "kl_estimator applies to no configuration" in err


@pytest.mark.parametrize("table", ["[sensitivity]\nlr = [1e-3]\n",
                                   '[tuning]\nlr = [1e-3, 1e-2]\nseeds = "10-11"\n'])
def test_a_random_study_with_cells_or_tuning_is_refused(tmp_path, capsys, table):
    """The random study's report reads neither: their runs would train and be ignored."""
    err = refused(tmp_path, capsys, RANDOM + "samples = 3\nloss_mode = ['naive', 'clipped']\n" + table)
    assert "[random]" in err and ("[sensitivity]" in err or "[tuning]" in err)


SPELLINGS = {
    "spaced": "seeds = 2\n[grid]\nloss_mode = ['naive', 'clipped']\n[ sensitivity ]\nlr = [1e-2]\n",
    "quoted": "seeds = 2\n[grid]\nloss_mode = ['naive', 'clipped']\n[\"sensitivity\"]\nlr = [1e-2]\n",
    "inline": "seeds = 2\nsensitivity = {lr = [1e-2]}\n[grid]\nloss_mode = ['naive', 'clipped']\n",
    "dotted": "seeds = 2\nsensitivity.lr = [1e-2]\n[grid]\nloss_mode = ['naive', 'clipped']\n",
    "last": "seeds = 2\n[grid]\nloss_mode = ['naive', 'clipped']\n[sensitivity]\nlr = [1e-2]",  # no final newline
}


@pytest.mark.parametrize("spelling", list(SPELLINGS))
def test_vary_adds_cells_to_every_spelling_of_a_sensitivity_table(tmp_path, spelling):
    """Each used to end in an AssertionError (the header searched for as `[sensitivity]`)."""
    path = tmp_path / "g.toml"
    path.write_text(SPELLINGS[spelling])
    grid = load_grid(str(path), {"epsilon": [0.1, 0.3]})
    assert grid.sensitivity == {"lr": [1e-2], "epsilon": [0.1, 0.3]}
    assert list(grid.cells()) == [DEFAULT_CELL, "lr 0.01", "epsilon 0.1", "epsilon 0.3"]
    assert parse_grid("g", grid.text).sensitivity == grid.sensitivity  # the text kept beside the results says the same


def test_vary_twice_on_one_field_merges_its_values():
    """`--vary epsilon=0.2 --vary epsilon=0.3` used to keep only 0.3."""
    from grpo.cli.sweep import parse_vary_arguments

    vary = parse_vary_arguments(["epsilon=0.2", "lr=1e-2", "epsilon=0.3,0.2"])
    assert vary == {"epsilon": [0.2, 0.3], "lr": [1e-2]}
    assert list(load_grid("smoke", vary).cells()) == [DEFAULT_CELL, "epsilon 0.2", "epsilon 0.3", "lr 0.01"]


def test_a_run_whose_records_cannot_fit_in_memory_is_refused_before_any_trial(tmp_path, capsys):
    """`--vary epochs=1000000000` used to start Ray and fail in every trial."""
    err = refused(tmp_path, capsys, "seeds = 2\n[grid]\nloss_mode = ['naive', 'clipped']\n", "--vary",
                  "epochs=1000000000")
    assert "epochs 1000000000" in err and "GiB" in err and "records" in err
