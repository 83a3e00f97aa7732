"""Whole files or none: temporary files beside their target, the user's umask, and what a killed
writer leaves behind removed by the next writer."""

import os
import stat
import subprocess

import pytest

from grpo.files import HOST, write_atomic


def test_a_write_is_whole_and_made_with_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        write_atomic(tmp_path / "figure.png", lambda tmp: tmp.write_bytes(b"png"))
    finally:
        os.umask(previous)
    assert (tmp_path / "figure.png").read_bytes() == b"png"
    assert stat.S_IMODE((tmp_path / "figure.png").stat().st_mode) == 0o640
    assert [path.name for path in tmp_path.iterdir()] == ["figure.png"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    (tmp_path / "report.md").write_text("old")

    def fail(tmp):
        tmp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_atomic(tmp_path / "report.md", fail)
    assert [path.name for path in tmp_path.iterdir()] == ["report.md"] and (tmp_path / "report.md").read_text() == "old"


def test_the_temporary_file_of_a_killed_writer_goes_with_the_next_write(tmp_path):
    """A report killed while saving a PNG leaves `.name.<host>.<pid>.<random>.tmp`; the next write
    of that PNG removes it once its process is gone, never one of a live writer."""
    process = subprocess.Popen(["sleep", "0"])
    process.wait()
    killed = tmp_path / f".figure.png.{HOST}.{process.pid}.abcd1234.tmp"
    killed.write_bytes(b"half a png")
    live = tmp_path / f".figure.png.{HOST}.{os.getpid()}.abcd1234.tmp"
    live.write_bytes(b"being written")
    write_atomic(tmp_path / "figure.png", lambda tmp: tmp.write_bytes(b"png"))
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(["figure.png", live.name])
