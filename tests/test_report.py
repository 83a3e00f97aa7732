"""`grpo report` on a real smoke sweep: valid PNGs, tables that match the parquet, bad input."""

import re

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from grpo.cli import main
from grpo.stats import final_performance, iqm


@pytest.fixture(scope="module")
def smoke_report(smoke_results, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    assert main(["report", str(smoke_results), "--out", str(out)]) == 0
    return out / "smoke"


def test_figures_are_real_pngs(smoke_report):
    pngs = sorted(smoke_report.glob("*.png"))
    assert {p.name for p in pngs} >= {"learning_curves_reward_frac.png", "final_heatmaps.png", "marginal_effects.png",
                                      "generalisation.png", "kl_curves.png", "clip_fraction_curves.png"}
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        height, width, _ = matplotlib.image.imread(png).shape
        assert 300 < width < 4000 and 300 < height < 4000
        text = (smoke_report / "report.md").read_text()
        assert f"]({png.name})" in text


def test_tables_match_the_parquet(smoke_results, smoke_report):
    records = pd.read_parquet(smoke_results / "records").astype({"config_id": str})
    per_epoch = records.groupby(["config_id", "seed", "epoch"]).reward_frac.mean().reset_index()
    final = final_performance(per_epoch, "reward_frac")  # 10 epochs: the last one
    by_hand = records[records.epoch == 9].groupby(["config_id", "seed"]).reward_frac.mean()
    pd.testing.assert_series_equal(final, by_hand, check_names=False, check_dtype=False)
    table = pd.read_csv(smoke_report / "configurations.csv").set_index("config_id")
    for config_id, scores in by_hand.groupby(level="config_id"):
        assert table.loc[config_id, "mean"] == pytest.approx(scores.mean())
        assert table.loc[config_id, "iqm"] == pytest.approx(iqm(scores.to_numpy()))
    text = (smoke_report / "report.md").read_text()
    best = table.sort_values(["iqm", "mean"], ascending=False).iloc[0]
    assert f"IQM {best.iqm:.3f} [{best.iqm_low:.3f}, {best.iqm_high:.3f}]" in text
    assert "16 configurations × 2 seeds = 32 runs (status: 32 ok)" in text
    ranked = re.findall(r"^\| (\d+) \| ", text, flags=re.M)
    assert ranked[:16] == [str(i) for i in range(1, 17)]


def test_rendering_is_deterministic(smoke_results, smoke_report, tmp_path):
    assert main(["report", str(smoke_results), "--out", str(tmp_path)]) == 0
    for name in ("report.md", "configurations.csv", "fits.csv"):
        assert (tmp_path / "smoke" / name).read_text() == (smoke_report / name).read_text()


def test_diverged_runs_are_shown_not_dropped(tmp_path, capsys):
    from grpo.sweep import run_sweep

    grid = tmp_path / "absurd.toml"
    grid.write_text('seeds = [2, 4]\n[grid]\nlr = [1e9, 1e-3]\nepochs = 5\ndeltas_mode = "centered_rewards"\n')
    results = run_sweep(str(grid), tmp_path / "results", progress=False).results_dir
    assert main(["report", str(results), "--out", str(tmp_path / "reports")]) == 0
    text = (tmp_path / "reports" / "absurd" / "report.md").read_text()
    assert "1 diverged" in text and "## Runs that did not finish cleanly" in text
    assert np.isfinite(pd.read_csv(tmp_path / "reports" / "absurd" / "configurations.csv")["mean"]).all()


@pytest.mark.parametrize("setup, named", [("missing", "no results folder"), ("empty", "has no runs.parquet"),
                                          ("garbage", "cannot read"), ("columns", "lacks column")])
def test_bad_results_folders(tmp_path, capsys, setup, named):
    folder = tmp_path / "results" / "bad"
    if setup != "missing":
        folder.mkdir(parents=True)
    if setup == "garbage":
        (folder / "runs.parquet").write_text("not parquet")
    if setup == "columns":
        pd.DataFrame({"seed": [0]}).to_parquet(folder / "runs.parquet")
    assert main(["report", str(folder), "--out", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err
    assert named in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "reports").exists()
