"""`grpo claims` says what it could not do and never leaves an old report looking current: a
claim whose grid was never swept exits 1; a claim plugin whose mechanism measure raises is named
in one line (exit 2) and the previous report is moved aside; SIGTERM during --sweep stops the
sweep as `grpo sweep` does (finished trials and runs.parquet kept, exit 1)."""

import dataclasses
import os
import signal

from test_report import build_results  # tests/report/test_report.py: a results folder trained in-process

from grpo import register_claim
from grpo.cli import main
from grpo.experiment.canaries import CLAIMS
from grpo.experiment.claims import Mechanism

GRID = """seeds = 2
[grid]
loss_mode = ["clipped", "clip_higher"]
epsilon = 0.2
epochs = 2
steps_per_epoch = 1
"""


def claim(tmp_path, name: str, **changes):
    (tmp_path / "pair.toml").write_text(GRID)
    return register_claim(dataclasses.replace(CLAIMS["dapo-clip-higher"], name=name, grid=str(tmp_path / "pair.toml"),
                                              held={}, **changes))


def raising(claim, results_root):
    raise ZeroDivisionError("the plugin's own bug")


def test_a_raising_mechanism_is_one_line_and_the_old_report_is_moved_aside(tmp_path, capsys):
    build_results(tmp_path / "results", "pair", GRID)
    claim(tmp_path, "raises", mechanism=Mechanism("a measure that raises", measure=raising))
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.md").write_text("# the previous report\n")
    try:
        code = main(["claims", "raises", "--results", str(tmp_path / "results"), "--out", str(out)])
    finally:
        CLAIMS.unregister("raises")
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("grpo claims: error: claim 'raises': its mechanism measure")
    assert "raised ZeroDivisionError: the plugin's own bug" in last and "report.stale.md" in last
    assert not (out / "report.md").exists() and (out / "report.stale.md").read_text() == "# the previous report\n"


def test_a_claim_never_swept_exits_1(tmp_path, capsys):
    claim(tmp_path, "unswept")
    try:
        code = main(["claims", "unswept", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "out")])
    finally:
        CLAIMS.unregister("unswept")
    err = capsys.readouterr().err
    assert code == 1 and "incomplete: 1 claim(s) not run (unswept)" in err
    assert "| unswept | not run |" in (tmp_path / "out" / "report.md").read_text()


def test_sigterm_during_claims_sweep_stops_it_as_grpo_sweep_does(tmp_path, capsys, monkeypatch, in_process_sweep):
    """It used to end the process (exit 143) with no message and no runs.parquet."""
    from grpo.sweep import run as sweep_run

    def terminated(groups, *args):
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` would, while the trials run
        raise AssertionError("SIGTERM did not stop the trials")

    monkeypatch.setattr(sweep_run, "run_trials", terminated)
    claim(tmp_path, "killed")
    before = signal.getsignal(signal.SIGTERM)
    try:
        code = main(["claims", "killed", "--sweep", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "out")])
    finally:
        CLAIMS.unregister("killed")
    err = capsys.readouterr().err
    assert code == 1 and "grpo claims: sweep " in err and "interrupted" in err
    assert (tmp_path / "results" / "pair" / "runs.parquet").is_file()
    assert not (tmp_path / "out" / "report.md").exists()  # no report of a sweep cut off
    assert signal.getsignal(signal.SIGTERM) == before  # the command leaves the process's handler as it found it


def test_a_claim_on_an_incomplete_grid_gets_no_verdict(tmp_path, capsys):
    """One cell (kl 0.1) lacks its treatment: it used to get a verdict from the cell left."""
    build_results(tmp_path / "results", "pair", GRID.replace("epsilon = 0.2", "epsilon = 0.2\nkl_penalty = [0.0, 0.1]"),
                  skip=(3,))
    claim(tmp_path, "partial")
    (tmp_path / "pair.toml").write_text(GRID.replace("epsilon = 0.2", "epsilon = 0.2\nkl_penalty = [0.0, 0.1]"))
    try:
        code = main(["claims", "partial", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "out")])
    finally:
        CLAIMS.unregister("partial")
    out, err = capsys.readouterr()
    assert code == 1 and out.startswith("incomplete: partial:") and "incomplete: partial; the report says so" in err
    text = (tmp_path / "out" / "report.md").read_text()
    assert "| **incomplete** |" in text and "no verdict (a cell may lack an arm)" in text
