"""The records of a sweep as the usual readers see them: Hive partitions (records/config_id=<id>/)
that pandas, pyarrow, duckdb and polars filter by configuration; one schema in every file; the
snippets of docs/records.md, taken from its text, run on a real sweep and agree with each other,
with grpo's own reader and with the report; folders of the older layout (records/<config_id>/) are migrated."""

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from grpo.cli import main
from grpo.core.config import CONFIG_FIELDS, KEYED_WHEN_SET
from grpo.core.schema import COLUMNS
from grpo.experiment.results import MIGRATING, PARTITION, open_results, partitions
from grpo.files import HOST
from grpo.sweep.run import run_sweep

PAGE = Path(__file__).resolve().parents[2] / "docs" / "records.md"
SECTION = "## Reading records"  # the page's section whose python blocks read records/
FOLDER = "results/full"  # what the snippets name; the test puts its own sweep's folder there
LEADER = "acc556b43051"  # the configuration the snippets read: sort_distance / centered_rewards / unclipped / kl 0.1
# a small grid holding the leader, at the full grid's training length (the snippets' final window is epochs 90-99)
GRID = """seeds = 3
[grid]
reward_fn = "sort_distance"
deltas_mode = ["centered_rewards", "rewards"]
loss_mode = ["unclipped", "naive"]
kl_penalty = [0.1, 0.0]
"""
TOOLS = ("pandas", "pyarrow", "duckdb", "polars")


def snippets() -> dict[str, str]:
    """tool -> the code of the page's python block for it, in the records section."""
    text = PAGE.read_text()
    start = text.index(SECTION)
    end = re.compile(r"^##+ ", flags=re.M).search(text, start + len(SECTION))  # the next heading
    section = text[start:end.start() if end else len(text)]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    found = {}
    for block in blocks:
        tool = re.match(r"import (\w+)", block).group(1)
        found[tool] = block
    return found


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A real sweep of GRID (Ray Tune, parquet) and its report's configurations table."""
    root = tmp_path_factory.mktemp("layout")
    grid = root / "leader.toml"
    grid.write_text(GRID)
    folder = run_sweep(str(grid), root / "results", progress=False, num_cpus=2).results_dir
    assert main(["report", str(folder), "--out", str(root / "reports")]) == 0
    table = pd.read_csv(root / "reports" / "leader" / "configurations.csv").set_index("config_id")
    return folder, table.success_mean


def run_snippet(tool: str, folder: Path) -> tuple[pd.DataFrame, pd.Series]:
    """Run the page's snippet for `tool` on `folder` -> (one, success) as pandas, sorted."""
    scope = {}
    exec(snippets()[tool].replace(FOLDER, str(folder)), scope)
    one, success = scope["one"], scope["success"]
    one = one if isinstance(one, pd.DataFrame) else one.to_pandas()
    success = success.reset_index() if isinstance(success, pd.Series) else (
        success if isinstance(success, pd.DataFrame) else success.to_pandas())
    one = one.sort_values(list(one.columns)).reset_index(drop=True)
    success = pd.Series(success.iloc[:, -1].to_numpy(dtype=float), index=success.iloc[:, 0].astype(str).to_numpy())
    return one, success.sort_index()


def test_the_page_has_one_snippet_per_tool():
    assert sorted(snippets()) == sorted(TOOLS)
    assert all(FOLDER in code and LEADER in code for code in snippets().values())


def test_a_sweep_writes_hive_partitions_with_one_schema(swept):
    folder, _ = swept
    runs = pd.read_parquet(folder / "runs.parquet")
    assert sorted(p.name for p in (folder / "records").iterdir()) == sorted(f"config_id={c}" for c in runs.config_id.unique())
    schemas = {pq.read_schema(path).remove_metadata() for path in (folder / "records").glob("*/*.parquet")}
    assert len(schemas) == 1  # every file alike: no reader has to unify them
    (schema,) = schemas
    assert PARTITION not in schema.names and schema.names == [c for c in COLUMNS if c != PARTITION] + list(CONFIG_FIELDS)
    assert not any(pa.types.is_dictionary(field.type) for field in schema)


def test_pyarrow_groups_the_whole_dataset_by_a_config_column(swept):
    """The failure of the older layout ("Unifying differing dictionaries")."""
    folder, _ = swept
    table = ds.dataset(folder / "records", partitioning="hive").to_table(columns=["loss_mode", "sorted_frac"])
    grouped = table.group_by("loss_mode").aggregate([("sorted_frac", "mean")]).to_pandas().set_index("loss_mode")
    by_hand = table.to_pandas().astype({"sorted_frac": float}).groupby("loss_mode").sorted_frac.mean()
    assert grouped.sorted_frac_mean.sort_index().to_numpy() == pytest.approx(by_hand.sort_index().to_numpy(), rel=1e-9)
    assert sorted(grouped.index) == ["naive", "unclipped"]


@pytest.mark.parametrize("tool", TOOLS)
def test_each_snippet_agrees_with_grpo_and_the_report(swept, tool):
    folder, report_success = swept
    one, success = run_snippet(tool, folder)
    mine = open_results(folder).records(LEADER, ["epoch", "sorted_frac"]).drop(columns=PARTITION)
    mine = mine.sort_values(list(mine.columns)).reset_index(drop=True)
    pd.testing.assert_frame_equal(one[list(mine.columns)], mine, check_dtype=False, check_exact=True)
    assert list(one.columns) == ["seed", "epoch", "sorted_frac"] and len(one) == 3 * 100 * 10
    assert list(success.index) == sorted(report_success.index)
    np.testing.assert_allclose(success.to_numpy(), report_success.sort_index().to_numpy(), rtol=1e-6)  # float32 sums


def test_the_snippets_agree_with_each_other(swept):
    folder, _ = swept
    results = {tool: run_snippet(tool, folder) for tool in TOOLS}
    one, success = results["pandas"]
    for tool, (other_one, other_success) in results.items():
        pd.testing.assert_frame_equal(other_one, one, check_dtype=False, check_exact=True, obj=tool)
        pd.testing.assert_series_equal(other_success, success, rtol=1e-6, obj=tool)


# ---- the older layout: records/<config_id>/ ----

LATER_METRICS = ("clip_high_low_prob_frac", "equal_reward_frac", "sampling_rounds")  # records' columns since round 4


def write_old_layout(folder: Path, into: Path, before_later_options: bool = False) -> None:
    """`folder`'s results as the code before the Hive layout wrote them: records/<config_id>/ with a
    config_id column and each config field an Arrow dictionary of one value (its write_records).
    `before_later_options`: as the code before the options of KEYED_WHEN_SET and LATER_METRICS
    (round 3) wrote them: neither in the records nor in runs.parquet."""
    later = (*KEYED_WHEN_SET, *LATER_METRICS) if before_later_options else ()
    for config_id, partition in partitions(folder).items():
        info = {path.stem: json.loads(path.read_text()) for path in (folder / "trials" / config_id).glob("*.json")}
        for path in partition.glob("*.parquet"):
            records = pq.read_table(path, columns=[c for c in COLUMNS if c not in (PARTITION, *later)]).to_pandas()
            records.insert(0, PARTITION, config_id)
            table = pa.Table.from_pandas(records, preserve_index=False)
            indices = pa.array(np.zeros(len(records), dtype=np.int8))
            for name, value in info[path.stem]["config"].items():
                if name not in later:
                    table = table.append_column(name, pa.DictionaryArray.from_arrays(indices, pa.array([value])))
            (into / "records" / config_id).mkdir(parents=True, exist_ok=True)
            pq.write_table(table, into / "records" / config_id / path.name)
    for name in ("trials", "grid.toml"):
        subprocess.run(["cp", "-r", str(folder / name), str(into / name)], check=True)
    for path in (into / "trials").glob("*/*.json"):  # that code kept no checksum of a records file
        path.write_text(json.dumps({key: value for key, value in json.loads(path.read_text()).items()
                                    if key != "records_sha256"}))
    runs = pd.read_parquet(folder / "runs.parquet").drop(columns=["role", "records_sha256"])  # nor a seed's role
    runs.drop(columns=list(KEYED_WHEN_SET) if later else []).to_parquet(into / "runs.parquet")


def dataset(folder: Path) -> pd.DataFrame:
    frame = pd.read_parquet(folder / "records").astype({PARTITION: str})
    return frame.sort_values(["config_id", "seed", "step"]).reset_index(drop=True)


def test_an_old_folder_is_migrated_by_the_report_with_the_same_values(swept, tmp_path, capsys):
    folder, report_success = swept
    old = tmp_path / "leader"
    write_old_layout(folder, old)
    old_schema = pq.read_schema(next(old.glob("records/*/*.parquet")))
    assert PARTITION in old_schema.names and pa.types.is_dictionary(old_schema.field("loss_mode").type)
    assert main(["report", str(old), "--out", str(tmp_path / "reports")]) == 0
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("grpo: moved")]
    assert "records of 8 configuration(s)" in line and "records/config_id=<id>/" in line
    assert sorted(p.name for p in (old / "records").iterdir()) == sorted(p.name for p in (folder / "records").iterdir())
    assert not list(old.glob(f"{MIGRATING}*"))
    pd.testing.assert_frame_equal(dataset(old), dataset(folder), check_exact=True)
    table = pd.read_csv(tmp_path / "reports" / "leader" / "configurations.csv").set_index("config_id")
    pd.testing.assert_series_equal(table.success_mean.sort_index(), report_success.sort_index(), check_exact=True)
    assert main(["report", str(old), "--out", str(tmp_path / "reports")]) == 0
    assert "grpo: moved" not in capsys.readouterr().err  # once


def test_a_folder_from_before_the_later_options_is_reported_with_the_same_values(swept, tmp_path, capsys):
    """Round 3's folders lack kl_placement and dynamic_sampling (runs and records) and the later
    record columns: their runs trained what the defaults do, and the report says the same."""
    folder, report_success = swept
    old = tmp_path / "leader"
    write_old_layout(folder, old, before_later_options=True)
    assert "kl_placement" not in pd.read_parquet(old / "runs.parquet")
    assert main(["report", str(old), "--out", str(tmp_path / "reports")]) == 0
    table = pd.read_csv(tmp_path / "reports" / "leader" / "configurations.csv").set_index("config_id")
    pd.testing.assert_series_equal(table.success_mean.sort_index(), report_success.sort_index(), check_exact=True)
    runs = open_results(old).runs
    assert (runs.kl_placement == "loss").all() and (runs.dynamic_sampling == 0).all()


def test_an_old_folder_is_migrated_by_the_sweep_which_then_trains_nothing(swept, tmp_path, capsys):
    folder, _ = swept
    old = tmp_path / "leader"
    write_old_layout(folder, old)
    grid = tmp_path / "leader.toml"
    grid.write_text(GRID)
    assert main(["sweep", str(grid), "--results", str(tmp_path), "--quiet", "--num-cpus", "2"]) == 0
    out, err = capsys.readouterr()
    assert "trained 0 run(s) in 0 trial(s), reused 24" in out
    assert len([line for line in err.splitlines() if line.startswith("grpo: moved the records of 8")]) == 1
    pd.testing.assert_frame_equal(dataset(old), dataset(folder), check_exact=True)


def test_a_migration_cut_off_is_finished_by_the_next_reader(swept, tmp_path):
    """Killed after one configuration's rename (its old folder still there) and inside another's
    scratch folder (a dead process's): the next reader completes it and leaves no scratch."""
    folder, _ = swept
    old = tmp_path / "leader"
    write_old_layout(folder, old)
    first, second = sorted(partitions(folder))[:2]
    subprocess.run(["cp", "-r", str(folder / "records" / f"config_id={first}"), str(old / "records")], check=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    scratch = old / f"{MIGRATING}.{HOST}.{int(dead.stdout)}.0000"
    scratch.mkdir()
    (scratch / "half.parquet").write_bytes(b"PAR1")
    assert (old / "records" / first).is_dir() and os.path.isdir(old / "records" / second)
    results = open_results(old)
    assert sorted(results.files) == sorted(partitions(folder)) and not scratch.exists()
    assert not (old / "records" / first).exists()
    pd.testing.assert_frame_equal(dataset(old), dataset(folder), check_exact=True)


def test_concurrent_first_opens_wait_for_one_migration(swept, tmp_path, monkeypatch):
    """Four readers open an older folder at once, each rewrite slowed so that they overlap: one
    migrates, the others wait for it and find the new layout (two processes used to fail with
    "cannot move the records ... No such file or directory", 5 of 5 tries)."""
    from grpo.experiment import results as results_module

    folder, _ = swept
    old = tmp_path / "leader"
    write_old_layout(folder, old)
    rewrite = results_module._rewrite_unpartitioned

    def slow(path, to):
        time.sleep(0.02)
        rewrite(path, to)

    monkeypatch.setattr(results_module, "_rewrite_unpartitioned", slow)
    errors = []

    def reader():
        try:
            open_results(old)
        except Exception as error:  # noqa: BLE001 - collected, the test reports them
            errors.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(p.name for p in (old / "records").iterdir()) == sorted(p.name for p in (folder / "records").iterdir())
    pd.testing.assert_frame_equal(dataset(old), dataset(folder), check_exact=True)
