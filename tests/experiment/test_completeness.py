"""Completeness over everything a report uses (grpo.experiment.completeness): every cell, both
tuning phases, named per cell and configuration by the sweep and the report, which then exit 1
and compute nothing from an incomplete cell. A failed tuning candidate is tried once per sweep
and counted as failed. Sweeps run in-process (tests/conftest.py's in_process_sweep)."""

import pandas as pd
import pytest

from grpo.cli import main
from grpo.experiment.completeness import NOT_CHOSEN, TUNING_PART, Gap, study_gaps
from grpo.experiment.grids import DEFAULT_CELL, TUNED_CELL, parse_grid
from grpo.experiment.results import open_results
from grpo.experiment.store import records_path

STUDY = """seeds = 3
[grid]
loss_mode = ["naive", "clipped"]
epochs = 3
steps_per_epoch = 2

[sensitivity]
lr = [1e-2]

[tuning]
lr = [3e-3, 3e-2]
seeds = "100-101"
"""


def grid():
    return parse_grid("study", STUDY)


def all_runs(study, tuned) -> pd.DataFrame:
    """Every run of the study's plan, finished."""
    return pd.DataFrame([{"config_id": config.config_id, "seed": seed, "status": "ok"}
                         for config, seeds in study.plan(tuned) for seed in seeds])


def test_gaps_are_named_per_part_configuration_and_seed():
    """By hand: the complete plan has no gap; one seed of a sensitivity cell's configuration, a failed
    candidate (its arm then not chosen) and a tuned configuration not trained are each named."""
    study = grid()
    naive, clipped = study.configs()
    tuned = {config_id: config for config_id, config in study.candidates()[0].items()}  # both arms chose lr 0.003
    runs = all_runs(study, tuned)
    assert study_gaps(study, runs, tuned) == []
    cell = study.cells()["lr 0.01"]
    candidate = study.candidates()[1][clipped.config_id]  # clipped at lr 0.03
    runs.loc[(runs.config_id == cell[clipped.config_id].config_id) & (runs.seed == 2), "status"] = "missing"
    runs.loc[(runs.config_id == candidate.config_id) & (runs.seed == 101), "status"] = "failed"
    chosen = {naive.config_id: tuned[naive.config_id]}  # the clipped arm could not choose
    gaps = study_gaps(study, runs, chosen)
    assert gaps == [
        Gap("lr 0.01", cell[clipped.config_id].config_id, "loss_mode clipped", "missing", (2,)),
        Gap(TUNING_PART, candidate.config_id, "loss_mode clipped at lr 0.03", "failed", (101,)),
        Gap(TUNED_CELL, clipped.config_id, "loss_mode clipped", NOT_CHOSEN, (0, 1, 2)),
    ]
    assert str(gaps[0]) == f"lr 0.01: `{cell[clipped.config_id].config_id}` (loss_mode clipped) missing on seed 2"
    assert {gap.part for gap in study_gaps(study, runs.iloc[:0], None)} == {DEFAULT_CELL, "lr 0.01", TUNING_PART, TUNED_CELL}


def test_a_failed_candidate_is_tried_once_per_sweep_and_counted_failed(tmp_path, capsys, in_process_sweep):
    """It used to be trained again in phase two of the same sweep, and the summary said "reused -4"."""
    run, attempts = in_process_sweep
    study = grid()
    naive, clipped = study.configs()
    failing = study.candidates()[1][clipped.config_id]  # clipped at lr 0.03, on the tuning seeds
    (tmp_path / "study.toml").write_text(STUDY)
    outcome = run(tmp_path / "study.toml", tmp_path / "results", fail=lambda config: config == failing)
    assert attempts.count((failing.config_id, (100, 101))) == 1
    assert len(attempts) == len(set(attempts))  # nothing trained twice
    runs = pd.read_parquet(outcome.results_dir / "runs.parquet")
    finished = int(runs.status.isin(["ok", "diverged"]).sum())
    assert (outcome.trained, outcome.reused) == (finished, 0)
    assert outcome.failed == [f"{failing.config_id}: RuntimeError: boom"]
    assert [gap.status for gap in outcome.gaps if gap.config_id == clipped.config_id] == [NOT_CHOSEN]

    attempts.clear()  # the next sweep tries it once more (and only it: the rest is reused)
    again = run(tmp_path / "study.toml", tmp_path / "results", fail=lambda config: config == failing)
    assert attempts == [(failing.config_id, (100, 101))]
    assert (again.trained, again.reused) == (0, finished)


def test_the_sweep_command_names_the_arms_not_chosen_and_exits_1(tmp_path, capsys, in_process_sweep):
    run, _ = in_process_sweep
    study = grid()
    failing = study.candidates()[1][study.configs()[1].config_id]
    (tmp_path / "study.toml").write_text(STUDY)
    outcome = run(tmp_path / "study.toml", tmp_path / "results", fail=lambda config: config == failing)
    finished = int(pd.read_parquet(outcome.results_dir / "runs.parquet").status.isin(["ok", "diverged"]).sum())
    capsys.readouterr()
    code = main(["sweep", str(tmp_path / "study.toml"), "--results", str(tmp_path / "results"), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1 and f"trained 0 run(s) in 1 trial(s), reused {finished}" in out, out
    assert "1 configuration(s) failed" in out
    assert "tuned cell: 1 arm(s) not chosen, a candidate of each failed (loss_mode clipped)" in err


@pytest.fixture
def complete_study(tmp_path, in_process_sweep):
    run, _ = in_process_sweep
    (tmp_path / "study.toml").write_text(STUDY)
    outcome = run(tmp_path / "study.toml", tmp_path / "results")
    assert not outcome.gaps
    return outcome.results_dir, run


def candidates(study) -> set[str]:
    return {config.config_id for candidate in study.candidates() for config in candidate.values()}


def report(folder, out, capsys):
    code = main(["report", str(folder), "--out", str(out)])
    err = capsys.readouterr().err
    return code, (out / folder.name / "report.md").read_text(), err


def robustness_cells(out, folder) -> set[str]:
    return set(pd.read_csv(out / folder.name / "robustness.csv").cell)


@pytest.mark.parametrize("part", ["lr 0.01", TUNED_CELL, TUNING_PART])
def test_a_gap_in_any_part_is_incomplete_named_and_left_out(complete_study, tmp_path, capsys, part):
    """A sensitivity cell's configuration deleted, phase two cut off (a tuned configuration gone),
    a candidate's runs gone: each used to be "complete: 2 of 2 configurations", exit 0, that cell's
    effects computed from the configurations left."""
    folder, _ = complete_study
    code, whole, _ = report(folder, tmp_path / "whole", capsys)
    assert code == 0 and "complete: 2 of 2 configurations" in whole
    assert robustness_cells(tmp_path / "whole", folder) == {DEFAULT_CELL, "lr 0.01", TUNED_CELL}
    study = grid()
    naive, clipped = study.configs()
    if part == "lr 0.01":
        gone = records_path(folder, study.cells()["lr 0.01"][clipped.config_id].config_id, study.seeds)
    elif part == TUNED_CELL:  # phase two cut off: a tuned configuration's evaluation seeds (candidates are never cells here)
        tuned = open_results(folder).runs.query("role == 'evaluation'").config_id
        gone = records_path(folder, next(c for c in tuned if c in candidates(study)), study.seeds)
    else:  # a candidate's runs on the tuning seeds
        gone = records_path(folder, study.candidates()[1][naive.config_id].config_id, study.tuning.seeds)
    victim = gone.parent.name.removeprefix("config_id=")
    gone.unlink()
    code, text, err = report(folder, tmp_path / "gap", capsys)
    assert code == 1 and "incomplete" in err
    assert "**INCOMPLETE**" in text and f"`{victim}`" in text
    named_part = TUNED_CELL if part == TUNING_PART else part  # a candidate's gap leaves its arm not chosen
    assert f"{part}: `{victim}`" in text or f"{named_part}: `" in text
    assert named_part not in robustness_cells(tmp_path / "gap", folder)  # no contrast from an incomplete cell
