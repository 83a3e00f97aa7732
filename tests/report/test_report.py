"""`grpo report`: tables that match the records by hand, the incomplete, one-configuration and
all-diverged cases, the KL figure's data, real PNGs, bad input.

Small results are built in-process (grpo.train + grpo.experiment.results.write_records, the sweep's own
write_runs) where a Ray sweep adds nothing; the session's real smoke sweep serves the end-to-end run.
"""

import re
import subprocess
import sys

import matplotlib
import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from grpo.cli import main
from grpo.core.config import TrainConfig
from grpo.core.train import train
from grpo.experiment.grids import parse_grid
from grpo.experiment.provenance import code_fingerprint, versions
from grpo.experiment.results import final_epochs, open_results, records_folder, write_records
from grpo.experiment.store import scan, trial_info, write_runs, write_trial
from grpo.report._data import load, varying_axes
from grpo.report.grid import compute, narrative

SMALL = """seeds = 6
[grid]
deltas_mode = ["rewards", "centered_rewards"]
loss_mode = ["naive", "clipped"]
kl_penalty = [0.0, 0.1]
epochs = 20
steps_per_epoch = 2
"""


def build_results(root, name: str, text: str, skip: tuple[int, ...] = ()):
    """A sweep's results folder made in-process: each configuration of the grid trained and
    stored as its trial would store it, except the `skip`ped ones (an interrupted sweep)."""
    grid = parse_grid(name, text)
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "grid.toml").write_text(text)
    configs = grid.configs()
    for i, config in enumerate(configs):
        if i in skip:
            continue
        write_trial(folder, config, grid.seeds, train(config, grid.seeds), trial_info(config, grid.seeds, "ok", wall_s=0.0))
    write_runs(folder, [(config, grid.seeds) for config in configs], scan(folder, code_fingerprint()))
    return folder


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The SMALL grid's results, its rendered report and its tables."""
    root = tmp_path_factory.mktemp("small")
    folder = build_results(root, "small", SMALL)
    assert main(["report", str(folder), "--out", str(root / "reports")]) == 0
    return folder, root / "reports" / "small", compute(load(open_results(folder)))


def by_hand(folder):
    """success and greedy accuracy of every run, straight from the parquet: the mean over the
    last final_epochs(20) = 2 epochs."""
    records = pd.read_parquet(folder / "records").astype({"config_id": str})
    window = records[records.epoch >= 20 - final_epochs(20)]
    return window.groupby(["config_id", "seed"])[["sorted_frac", "greedy_train_acc", "reward_frac"]].mean()


def test_seeds_are_blocks_across_configurations():
    """Seed s of every configuration (equal shapes) starts from the same weights and draws the
    same random stream: the policy's entropy before the first update, and the first rollout's
    rewards, are those of seed s whatever the losses, deltas and KL."""
    first = [train(TrainConfig(epochs=1, steps_per_epoch=2, **choice), [0, 1, 2])
             for choice in ({}, {"loss_mode": "clipped", "deltas_mode": "normalized_rewards", "kl_penalty": 0.1},
                            {"reward_fn": "sort_distance", "loss_mode": "unclipped"})]
    initial = [records[records.step == 0].set_index("seed") for records in first]  # before any update
    for records in initial[1:]:
        np.testing.assert_array_equal(records.entropy, initial[0].entropy)  # the same initial weights
    np.testing.assert_array_equal(initial[1].mean_reward, initial[0].mean_reward)  # the same samples
    assert initial[0].entropy.nunique() == 3  # and the seeds differ from each other


def test_configurations_and_effects_match_the_records(small):
    folder, report, tables = small
    runs = by_hand(folder)
    table = pd.read_csv(report / "configurations.csv").set_index("config_id")
    for column in ("runs", "success_mean", "success_low", "success_high", "reward_frac_mean", "iqm", "tied_with_best",
                   "deltas_mode", "loss_mode", "kl_penalty"):
        assert column in table
    assert table.tied_with_best.dtype == bool and table.tied_with_best.any()
    success = runs.sorted_frac.unstack("seed")  # [config seed]
    np.testing.assert_allclose(table.loc[success.index, "success_mean"], success.mean(axis=1))
    np.testing.assert_allclose(table.loc[success.index, "greedy_train_acc"],
                               runs.greedy_train_acc.groupby("config_id").mean())  # the final window, not 10 epochs
    assert (table.runs == 6).all() and table["rank"].tolist() == sorted(table["rank"])

    effects = pd.read_csv(report / "effects.csv")
    for column in ("factor", "level", "reference", "difference", "low", "high", "decisive", "replicated"):
        assert column in effects
    configs = open_results(folder).runs.drop_duplicates("config_id").set_index("config_id")
    clipped = effects[(effects.factor == "loss_mode") & (effects.level == "clipped")].iloc[0]
    assert clipped.reference == "naive"
    fields = list(TrainConfig().as_dict())
    pairs = [(c, TrainConfig(**{**configs.loc[c, fields].to_dict(), "loss_mode": "naive"}).config_id)
             for c in configs.index[configs.loss_mode == "clipped"]]
    per_seed = np.mean([success.loc[a] - success.loc[b] for a, b in pairs], axis=0)  # mean over the 4 cells
    assert clipped.difference == pytest.approx(per_seed.mean())
    assert clipped.low <= clipped.difference <= clipped.high
    assert set(effects.factor) == {"deltas_mode", "loss_mode", "kl_penalty"} and len(effects) == 3


def test_the_kl_figure_plots_the_measured_kl(small):
    folder, _, tables = small
    records = pd.read_parquet(folder / "records").astype({"config_id": str})
    kl_on = records[records.kl_penalty > 0]
    measured = kl_on.groupby(["config_id", "seed", "epoch"]).kl.mean().groupby("epoch").mean()  # over configs, seeds
    curves = tables.curves["kl"]
    line = curves[(curves.factor == "kl_penalty") & (curves.level == 0.1)]
    np.testing.assert_allclose(line["mean"], measured, rtol=1e-5)
    assert not np.allclose(line["mean"], 0.1)  # the measured KL, not the coefficient
    from grpo.report.grid import draw_figures

    figure = draw_figures(tables)["kl_curves.png"]
    plotted = [ax.get_lines()[0].get_ydata() for ax in figure.axes if ax.get_title() == "kl_penalty"]
    np.testing.assert_allclose(plotted[0], measured, rtol=1e-5)


def test_report_md_opens_with_the_facts_and_names_the_tied_set(small):
    _, report, tables = small
    text = (report / "report.md").read_text()
    head = text.split("## Findings")[0]
    assert "**Grid**: `small`, 8 configurations" in head and "**Seeds**: 6 (0–5)" in head
    assert f"**Commit**: {versions()['git_commit'][:10]}" in head
    assert "**Completeness**: complete: 8 of 8 configurations, 48 runs (48 ok)" in head
    assert f"**Minimum detectable difference**: {tables.min_detectable:.3f}" in head
    assert "**Primary outcome: `success`**" in head
    tied = tables.configurations[tables.configurations.tied_with_best]
    assert f"**Tied with the best: {len(tied)} of 8 configurations.**" in text
    for png in sorted(report.glob("*.png")):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({png.name})" in text
        height, width, _ = matplotlib.image.imread(png).shape
        assert 300 < width < 4000 and 200 < height < 4000
    assert {p.name for p in report.glob("*.png")} >= {"success_curves.png", "success_effect_curves.png", "effects.png",
                                                       "success_heatmaps.png", "kl_curves.png", "clip_fraction_curves.png"}


def test_an_incomplete_folder_is_reported_as_such_and_exits_non_zero(tmp_path, capsys):
    folder = build_results(tmp_path, "cut", SMALL.replace("seeds = 6", "seeds = 2"), skip=(1, 6))
    missing = [c.config_id for i, c in enumerate(parse_grid("cut", SMALL).configs()) if i in (1, 6)]
    assert main(["report", str(folder), "--out", str(tmp_path / "reports")]) == 1
    err = capsys.readouterr().err
    assert "incomplete: 2 configuration(s) missing" in err and "--allow-partial" in err
    text = (tmp_path / "reports" / "cut" / "report.md").read_text()
    assert "**Completeness**: **INCOMPLETE**: 6 of 8 configurations have all their runs; 16 runs (4 missing, 12 ok)" \
        in text
    assert all(f"`{config_id}` (missing)" in text for config_id in missing)
    table = pd.read_csv(tmp_path / "reports" / "cut" / "configurations.csv").set_index("config_id")
    assert table.loc[missing, "rank"].isna().all() and not table.loc[missing, "complete"].any()
    assert table["rank"].dropna().tolist() == [1, 2, 3, 4, 5, 6]
    assert main(["report", str(folder), "--out", str(tmp_path / "reports"), "--allow-partial"]) == 0


def test_a_deleted_records_file_is_a_gap_not_a_complete_report(tmp_path, capsys):
    """runs.parquet says ok, but one configuration's records file is gone: the report counts
    those runs missing (and exits 1) instead of ranking that configuration on fewer runs."""
    folder = build_results(tmp_path, "gap", SMALL.replace("seeds = 6", "seeds = 2"))
    gone = parse_grid("gap", SMALL).configs()[3].config_id
    (records_file,) = records_folder(folder, gone).glob("*.parquet")
    records_file.unlink()
    assert main(["report", str(folder), "--out", str(tmp_path / "reports")]) == 1
    assert "incomplete: 1 configuration(s) missing" in capsys.readouterr().err
    text = (tmp_path / "reports" / "gap" / "report.md").read_text()
    assert "**INCOMPLETE**: 7 of 8 configurations have all their runs; 16 runs (2 missing, 14 ok)" in text
    assert f"`{gone}` (missing)" in text


def test_a_train_out_file_with_one_configuration_renders(tmp_path, capsys):
    out = tmp_path / "x.parquet"
    assert main(["train", "--seeds", "2", "--epochs", "3", "--steps-per-epoch", "2", "--out", str(out)]) == 0
    assert main(["report", str(out), "--out", str(tmp_path / "reports")]) == 0
    assert f"wrote {tmp_path / 'reports' / 'x'}/" in capsys.readouterr().out
    text = (tmp_path / "reports" / "x" / "report.md").read_text()
    assert "One configuration, so nothing to compare" in text and "**Seeds**: 2 (0–1)" in text
    records = pd.read_parquet(out)
    success = records[records.epoch == 2].groupby("seed").sorted_frac.mean().mean()  # final window: last epoch
    assert pd.read_csv(tmp_path / "reports" / "x" / "configurations.csv").success_mean.item() == pytest.approx(success)


def test_a_report_of_runs_that_all_diverged_says_so(tmp_path):
    config = TrainConfig(epochs=3, steps_per_epoch=2)
    records = train(config, [0, 1]).assign(diverged=True, loss=np.nan)
    write_records(records, config, tmp_path / "nan.parquet")
    assert main(["report", str(tmp_path / "nan.parquet"), "--out", str(tmp_path / "reports")]) == 0
    text = (tmp_path / "reports" / "nan" / "report.md").read_text()
    assert "No statistics: every run diverged" in text and "2 runs (2 diverged)" in text
    assert pd.read_csv(tmp_path / "reports" / "nan" / "configurations.csv").runs.tolist() == [0]


def test_the_smoke_sweep_end_to_end_and_deterministic(smoke_results, tmp_path):
    assert main(["report", str(smoke_results), "--out", str(tmp_path)]) == 0
    text = (tmp_path / "smoke" / "report.md").read_text()
    assert "complete: 16 of 16 configurations, 32 runs (32 ok)" in text
    assert all(f"]({png.name})" in text for png in (tmp_path / "smoke").glob("*.png"))
    again = compute(load(open_results(smoke_results)))  # the same records, computed again
    assert narrative(again, [name for name in re.findall(r"\]\((\w+\.png)\)", text)]) == text
    for name in ("configurations", "effects", "interactions", "fits"):
        assert getattr(again, name).to_csv(index=False) == (tmp_path / "smoke" / f"{name}.csv").read_text()


def test_fields_that_follow_from_another_are_not_axes():
    configs = pd.DataFrame({"loss_mode": ["naive", "cispo", "naive", "cispo"], "epsilon_low": [0.2, 1.0, 0.2, 1.0],
                            "lr": [0.1, 0.1, 0.01, 0.01]})
    configs = configs.reindex(columns=list(TrainConfig().as_dict())).fillna({"kl_penalty": 0.0})
    assert varying_axes(configs) == ["loss_mode", "lr"]  # cispo sets its own clip range: not an axis


IMPORT_CHANGES = """
import matplotlib, sys
before = (matplotlib.get_backend(), dict(matplotlib.rcParams))
import grpo.report._plot, grpo.report.grid._figures, grpo.report.random_study._figures
import grpo.report.claims._figures, grpo.report._bench_figures
after = (matplotlib.get_backend(), dict(matplotlib.rcParams))
changed = sorted(key for key in before[1] if str(before[1][key]) != str(after[1][key]))
sys.exit("changed: " + ", ".join(changed or ["backend"]) if before != after else 0)
"""


def test_importing_the_figures_changes_no_global_state():
    """In a fresh interpreter (this one has imported the module already): the state before the
    first import of every report kind's figures against the state after it. A ``sns.set_theme()`` at
    import time fails it."""
    done = subprocess.run([sys.executable, "-c", IMPORT_CHANGES], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


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


def test_final_window_slopes_mark_the_effects_whose_arms_still_rise(small):
    """A level's slope: per run, the least-squares slope of sorted_frac over the final window (two
    epochs here: the difference of their means), times 10 epochs, averaged over the level's
    configurations, then over seeds; an effect is marked while either of its arms still rises."""
    folder, report, tables = small
    records = pd.read_parquet(folder / "records").astype({"config_id": str})
    epochs = records.groupby(["config_id", "seed", "epoch"]).sorted_frac.mean().unstack("epoch")  # [config x seed, epoch]
    per_run = (epochs[19] - epochs[18]) * 10
    configs = records.drop_duplicates("config_id").set_index("config_id").loss_mode.astype(str)
    clipped = per_run[per_run.index.get_level_values(0).map(configs) == "clipped"].groupby("seed").mean()
    row = tables.slopes.set_index("level").loc["clipped"]
    assert row.slope == pytest.approx(clipped.mean(), rel=1e-5) and row.low <= row.slope <= row.high
    assert (tables.slopes.still_improving == (tables.slopes.low > 0)).all()
    rising = set(tables.slopes.level[tables.slopes.still_improving])
    expected = [level in rising or reference in rising for level, reference in zip(tables.effects.level,
                                                                                      tables.effects.reference)]
    assert tables.effects.still_improving.tolist() == expected
    assert "Still rising at the end of training" in (report / "report.md").read_text()
