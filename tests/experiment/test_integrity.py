"""A results folder that knows itself: runs.parquet keeps the grid it was planned from and each
run's seed role and records checksum, so that losing grid.toml cannot turn tuning seeds into
evidence, and a records file that is not what its trial wrote (another configuration's copied
over it, a value changed, truncated, emptied, deleted) is retrained by the sweep and counted
missing by the report, one outcome for all. The sweeps run in-process (tests/conftest.py's
in_process_sweep): their planning, phases, scans and files are the real ones."""

import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from grpo.cli import main
from grpo.experiment.grids import parse_grid
from grpo.experiment.provenance import code_fingerprint
from grpo.experiment.results import open_results, partitions
from grpo.experiment.store import scan

STUDY = """seeds = 3
[grid]
loss_mode = ["naive", "clipped"]
epochs = 3
steps_per_epoch = 2

[sensitivity]
lr = [1e-2]

[tuning]
lr = [1e-3, 1e-2]
seeds = "100-101"
"""


@pytest.fixture
def study_folder(tmp_path, in_process_sweep):
    """The STUDY grid study_folder in its two phases into tmp_path/results/study; -> (folder, run, attempts)."""
    run, attempts = in_process_sweep
    (tmp_path / "study.toml").write_text(STUDY)
    outcome = run(tmp_path / "study.toml", tmp_path / "results")
    assert not outcome.failed and not outcome.missing
    attempts.clear()
    return outcome.results_dir, run, attempts


def report(folder, tmp_path, capsys) -> tuple[int, str, str]:
    """`grpo report FOLDER`: (exit code, report.md or '', stderr)."""
    code = main(["report", str(folder), "--out", str(tmp_path / "reports")])
    err = capsys.readouterr().err
    path = tmp_path / "reports" / folder.name / "report.md"
    return code, path.read_text() if path.exists() else "", err


def test_runs_name_each_seeds_role_and_keep_the_grid(study_folder):
    folder, _, _ = study_folder
    runs = pd.read_parquet(folder / "runs.parquet")
    assert runs.groupby("role").seed.apply(lambda seeds: sorted(set(seeds))).to_dict() == {
        "evaluation": [0, 1, 2], "tuning": [100, 101]}
    assert runs.records_sha256.str.fullmatch(r"[0-9a-f]{64}").all()
    assert pq.read_schema(folder / "runs.parquet").metadata[b"grpo-grid"].decode() == STUDY


def test_a_folder_that_loses_grid_toml_keeps_its_tuning_seeds_apart(study_folder, tmp_path, capsys):
    """It used to be reported as a plain grid: 'Seeds: 5 (0, 1, 2, 100, 101)', tuning seeds as evidence."""
    folder, _, _ = study_folder
    code, whole, _ = report(folder, tmp_path / "before", capsys)
    (folder / "grid.toml").unlink()
    assert open_results(folder).grid_text == STUDY
    code_without, without, _ = report(folder, tmp_path / "after", capsys)
    assert code_without == code == 0
    seeds_line = next(line for line in without.splitlines() if line.startswith("- **Seeds**"))
    assert "3 (0–2)" in seeds_line or "3 (0-2)" in seeds_line or "0, 1, 2" in seeds_line, seeds_line
    assert "100" not in seeds_line
    assert without == whole  # the same report as with grid.toml


def damage_copy(path, other):
    shutil.copyfile(other, path)


def damage_value(path, other):
    """A legitimate parquet file of the same configuration and rows, one success value changed."""
    table = pq.read_table(path)
    values = table.column("sorted_frac").to_pylist()
    values[len(values) // 2] = 0.123
    table = table.set_column(table.column_names.index("sorted_frac"), "sorted_frac", pa.array(values, pa.float32()))
    pq.write_table(table, path)


def damage_truncate(path, other):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def damage_empty(path, other):
    path.write_bytes(b"")


def damage_delete(path, other):
    path.unlink()


DAMAGES = {"another configuration's file copied over it": damage_copy, "a value changed": damage_value,
           "truncated": damage_truncate, "emptied": damage_empty, "deleted": damage_delete}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_records_file_is_missing_in_the_report_and_retrained_by_the_sweep(study_folder, tmp_path, capsys, damage):
    """Each damage gives the same outcome: the report counts the configuration missing (INCOMPLETE,
    exit 1) and the next sweep retrains exactly it, back to the records it had. A copied file and a
    changed value used to pass both; a truncated or empty file aborted the report with exit 2."""
    folder, run, attempts = study_folder
    grid = parse_grid("study", STUDY)
    victim, other = grid.configs()  # the default cell: naive and clipped
    folders = partitions(folder)
    path = sorted(folders[victim.config_id].glob("*.parquet"))[0]
    intact = pd.read_parquet(path)
    DAMAGES[damage](path, sorted(folders[other.config_id].glob("*.parquet"))[0])

    code, text, err = report(folder, tmp_path, capsys)
    assert code == 1 and "incomplete" in err
    assert "**INCOMPLETE**" in text and f"`{victim.config_id}` (missing)" in text

    outcome = run(tmp_path / "study.toml", tmp_path / "results")
    assert {config_id for config_id, _ in attempts} == {victim.config_id}
    assert not outcome.missing and not outcome.failed
    pd.testing.assert_frame_equal(pd.read_parquet(path), intact, check_exact=True)
    assert report(folder, tmp_path / "again", capsys)[0] == 0


def test_the_sweeps_scan_names_what_is_wrong_with_a_file(study_folder):
    folder, _, _ = study_folder
    naive, clipped = parse_grid("study", STUDY).configs()
    folders = partitions(folder)
    damage_copy(sorted(folders[naive.config_id].glob("*.parquet"))[0],
                sorted(folders[clipped.config_id].glob("*.parquet"))[0])
    damaged = scan(folder, code_fingerprint()).damaged
    assert len(damaged) == 1 and damaged[0].startswith(naive.config_id)
    assert "checksum" in damaged[0] or "another configuration" in damaged[0]


def test_a_folder_that_loses_both_grids_refuses_rather_than_count_tuning_seeds(study_folder, tmp_path, capsys):
    """runs.parquet rewritten without its kept grid (a pandas round trip) and grid.toml gone: the
    roles still say which runs are tuning runs, so the report refuses in one line (exit 2)."""
    folder, _, _ = study_folder
    pd.read_parquet(folder / "runs.parquet").to_parquet(folder / "runs.parquet")
    (folder / "grid.toml").unlink()
    code, text, err = report(folder, tmp_path, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot tell evidence from tuning" in err and not text
