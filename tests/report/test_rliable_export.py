"""`grpo export --to rliable`: the file read back is rliable's {method: array[runs, tasks]}, its
scores the report's, and the project's IQM of it is the report's IQM; a bad --out is one line."""

import json

import numpy as np
import pytest
from test_report import build_results  # tests/report/test_report.py: a results folder trained in-process

from grpo.cli import main
from grpo.experiment.results import PRIMARY, open_results
from grpo.report._data import load
from grpo.report._rliable import stratified_interval
from grpo.report.grid import compute
from grpo.report.rliable_export import read_rliable

GRID = """seeds = 4
[grid]
loss_mode = ["naive", "clipped"]
epochs = 4
steps_per_epoch = 2
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return build_results(tmp_path_factory.mktemp("rliable"), "tiny", GRID)


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_the_scores_read_back_are_the_reports(folder, tmp_path, capsys, suffix):
    out = tmp_path / f"scores{suffix}"
    assert main(["export", str(folder), "--to", "rliable", "--out", str(out)]) == 0
    assert f"wrote 2 configuration(s) x 4 runs to {out}" in capsys.readouterr().out
    scores = read_rliable(out)
    data = load(open_results(folder))
    assert sorted(scores) == sorted(data.configs.index)
    tables = compute(data).configurations.set_index("config_id")
    for config_id, matrix in scores.items():
        assert matrix.shape == (4, 1)  # [runs tasks]
        expected = data.finals[PRIMARY].xs(config_id, level="config_id").sort_index().to_numpy()
        np.testing.assert_allclose(matrix[:, 0], expected)
        estimate = stratified_interval(matrix)  # the project's IQM of the exported dictionary
        row = tables.loc[config_id]
        assert (estimate.value, estimate.low, estimate.high) == pytest.approx((row.iqm, row.iqm_low, row.iqm_high))
    if suffix == ".json":
        document = json.loads(out.read_text())
        assert document["score"] == PRIMARY and document["tasks"] == ["sort"] and document["seeds"] == [0, 1, 2, 3]
        assert set(document["names"].values()) == {"naive", "clipped"}


def test_the_default_file_is_in_the_results_folder(folder, capsys):
    assert main(["export", str(folder), "--to", "rliable"]) == 0
    assert sorted(read_rliable(folder / "rliable.npz")) == sorted(load(open_results(folder)).configs.index)


def test_a_bad_suffix_is_one_line_and_writes_nothing(folder, tmp_path, capsys):
    out = tmp_path / "new" / "scores.csv"
    assert main(["export", str(folder), "--to", "rliable", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "scores.csv" in error and ".npz or .json" in error
    assert not out.parent.exists()
