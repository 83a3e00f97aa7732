"""The private runtime's scratch folder keeps Ray's socket paths short whatever TMPDIR is: a
real sweep runs with a 100-character TMPDIR; where no short folder will do, one line says the fix."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from grpo.errors import EnvironmentFault
from grpo.sweep import runtime
from grpo.sweep.runtime import SOCKET_PATH_MAX, ray_runtime, scratch_dir, scratch_root, socket_path_bytes

GRID = """seeds = 2
[grid]
loss_mode = ["naive", "clipped"]
epochs = 2
steps_per_epoch = 1
"""


def deep_folder(base: Path, length: int = 100) -> Path:
    """A folder under `base` whose path is `length` characters long."""
    folder = base / ("d" * (length - len(str(base)) - 1))
    folder.mkdir(parents=True)
    assert len(str(folder)) == length
    return folder


@pytest.fixture
def tmpdir_is(monkeypatch):
    """Point TMPDIR (and tempfile's cached answer) at a folder; both restored afterwards."""
    def point(folder: Path):
        monkeypatch.setenv("TMPDIR", str(folder))
        monkeypatch.setattr(tempfile, "tempdir", None)
    return point


def test_a_short_tmpdir_is_used_and_a_deep_one_gives_way_to_tmp(tmp_path, tmpdir_is):
    short = Path(tempfile.mkdtemp(prefix="g", dir="/tmp"))  # /tmp/gXXXXXXXX
    try:
        tmpdir_is(short)
        assert socket_path_bytes(short) <= SOCKET_PATH_MAX and scratch_root() == short
    finally:
        short.rmdir()
    deep = deep_folder(tmp_path)
    tmpdir_is(deep)
    assert socket_path_bytes(deep) > SOCKET_PATH_MAX and scratch_root() == Path("/tmp")


def test_with_no_short_folder_the_fault_names_the_fix(tmp_path, tmpdir_is, monkeypatch):
    tmpdir_is(deep_folder(tmp_path))
    monkeypatch.setattr(runtime, "SHORT_ROOT", tmp_path / "absent")
    with pytest.raises(EnvironmentFault, match="too deep for Ray's socket paths .* export TMPDIR=/tmp$"):
        scratch_root()


@pytest.mark.e2e
def test_a_sweep_runs_with_a_100_character_tmpdir(tmp_path):
    """`grpo sweep` in a process of its own, so its environment is its own."""
    deep = deep_folder(tmp_path / "tmp")
    grid = tmp_path / "deep.toml"
    grid.write_text(GRID)
    sweep = subprocess.Popen([sys.executable, "-m", "grpo", "sweep", str(grid), "--results", str(tmp_path / "results"),
                              "--num-cpus", "2", "--quiet"], env={**os.environ, "TMPDIR": str(deep)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, err = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, err
    runs = pd.read_parquet(tmp_path / "results" / "deep" / "runs.parquet")
    assert len(runs) == 4 and (runs.status == "ok").all()
    assert list(deep.iterdir()) == []  # the scratch folder went to /tmp ...
    assert not list(Path("/tmp").glob(f"{runtime.SCRATCH_PREFIX}{sweep.pid}-*"))  # ... and was removed there


@pytest.mark.e2e  # starts Ray
def test_the_private_runtime_is_on_loopback_even_when_ray_was_imported_first(tmp_path):
    """Ray reads its "clusters" switch when first imported: a driver that imported Ray before the
    sweep (a notebook, this test session) still gets a runtime on loopback, not on the address of
    the machine's default route."""
    import ray

    with scratch_dir() as scratch, ray_runtime(None, 1, tmp_path, scratch):
        assert ray.util.get_node_ip_address() == "127.0.0.1"
        assert [node["NodeManagerAddress"] for node in ray.nodes()] == ["127.0.0.1"]
