"""grpo.progress: a bar on a terminal; in a log, lines (every tenth of the work or 30 s) with no
``\\r`` frame; `counted` quiet unless a command asks; `grpo train` and `grpo report` in a log."""

import io
import subprocess
import sys

from grpo.progress import EVERY_SECONDS, QUIET_SECONDS, Progress, counted, shown


class Terminal(io.StringIO):
    def isatty(self):
        return True


class Clock:
    """Seconds as the test sets them."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_in_a_log_a_line_per_tenth_of_the_work_and_no_carriage_return():
    log, clock = io.StringIO(), Clock()
    with Progress(200, "configurations", "config", stream=log, clock=clock) as progress:
        for _ in range(200):
            clock.now += 0.125  # QUIET_SECONDS (5 s) reached at 40 done
            progress.update()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 9  # none before QUIET_SECONDS: 20 done at 2.5 s is quiet
    assert [line.split()[1] for line in lines] == [f"{20 * k}/200" for k in range(2, 11)]
    assert lines[0] == "configurations: 40/200 config (20%), 0:05 elapsed, ~0:20 left"
    assert lines[-1] == "configurations: 200/200 config (100%), 0:25 elapsed"


def test_in_a_log_short_work_prints_its_last_line_alone():
    log, clock = io.StringIO(), Clock()
    with Progress(10, "epochs", "epoch", stream=log, clock=clock) as progress:
        for _ in range(10):
            clock.now += QUIET_SECONDS / 20  # done in half of QUIET_SECONDS
            progress.update()
    assert log.getvalue().splitlines() == ["epochs: 10/10 epoch (100%), 0:02 elapsed"]


def test_in_a_log_slow_work_prints_a_line_every_30_seconds_and_the_last_at_close():
    log, clock = io.StringIO(), Clock()
    with Progress(1000, "epochs", "epoch", stream=log, clock=clock) as progress:
        for _ in range(7):  # each update 10 s after the last: a line on every third
            clock.now += EVERY_SECONDS / 3
            progress.update()
    lines = log.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["3/1000", "6/1000", "7/1000"]  # the last at close
    assert lines[0] == "epochs: 3/1000 epoch (0%), 0:30 elapsed, ~2:46:10 left"


def test_on_a_terminal_a_bar_and_disabled_nothing():
    screen = Terminal()
    with Progress(3, "epochs", "epoch", stream=screen) as progress:
        progress.update(3)
    assert "\r" in screen.getvalue() and "3/3" in screen.getvalue()
    quiet = io.StringIO()
    with Progress(3, "epochs", "epoch", stream=quiet, enabled=False) as progress:
        progress.update(3)
    assert quiet.getvalue() == ""


def test_counted_shows_progress_only_where_a_command_asked(capsys):
    assert list(counted(range(4), 4, "configurations read", "config")) == [0, 1, 2, 3]
    assert capsys.readouterr().err == ""
    with shown():
        assert list(counted(range(4), 4, "configurations read", "config")) == [0, 1, 2, 3]
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("configurations read: 4/4 config (100%)") and len(err.splitlines()) == 1


def test_train_and_report_write_lines_not_frames_into_a_log(tmp_path):
    """stderr redirected to a file, as a batch job's log is."""
    out, log = tmp_path / "run.parquet", tmp_path / "log.txt"
    for argv in (["train", "--seeds", "2", "--epochs", "20", "--steps-per-epoch", "1", "--out", str(out)],
                 ["report", str(out), "--out", str(tmp_path / "reports")]):
        with open(log, "w") as handle:
            done = subprocess.run([sys.executable, "-m", "grpo", *argv], stderr=handle, stdout=subprocess.DEVNULL)
        assert done.returncode == 0
        text = log.read_text()
        assert "\r" not in text
        if argv[0] == "train":
            assert [line.split()[1] for line in text.splitlines()][-1] == "20/20"  # under QUIET_SECONDS: the last alone
        else:
            assert text.splitlines()[-1].startswith("configurations read: 1/1 config (100%)")

