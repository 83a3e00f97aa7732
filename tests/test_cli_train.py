"""`grpo train` end to end in a subprocess: the parquet it writes, and bad input."""

import subprocess
import sys

import pandas as pd
import pytest


def grpo(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "grpo", *args], capture_output=True, text=True, cwd=cwd)


def test_train_writes_records_and_prints_a_summary(tmp_path):
    out = tmp_path / "run.parquet"
    done = grpo("train", "--seeds", "3", "--epochs", "5", "--steps-per-epoch", "2", "--loss", "clipped", "--kl", "0.1",
                "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    records = pd.read_parquet(out)
    assert len(records) == 3 * 5 * 2 and sorted(records.seed.unique()) == [0, 1, 2]
    assert set(records.loss_mode) == {"clipped"} and set(records.kl_penalty) == {0.1}
    assert "reward_frac" in done.stdout and "greedy_heldout_acc" in done.stdout and "30 rows" in done.stdout
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


@pytest.mark.parametrize(
    "args, named",
    [
        (["--loss", "ppo"], "'ppo'"),
        (["--deltas", "zscore"], "'zscore'"),
        (["--reward", "bleu"], "'bleu'"),
        (["--task", "tsp"], "'tsp'"),
        (["--epochs", "0"], "epochs"),
        (["--epochs", "ten"], "'ten'"),
        (["--responses", "1", "--deltas", "normalized_rewards"], "normalized_rewards"),
        (["--lr", "nan"], "nan"),
        (["--lr", "-1"], "lr"),
        (["--epsilon", "1.5"], "epsilon"),
        (["--kl", "-0.1"], "kl_penalty"),
        (["--kl", "inf"], "inf"),
        (["--seeds", "0"], "'0'"),
        (["--seeds", "a,b"], "'a,b'"),
        (["--task", "random", "--task-length", "2", "--task-vocab", "2"], "2^2"),
        (["--device", "tpu"], "'tpu'"),
        (["--out", "records.csv"], "records.csv"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, named):
    done = grpo("train", "--epochs", "1", *args, cwd=tmp_path) if "--epochs" not in args else grpo("train", *args, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_help_lists_every_flag_of_the_design():
    done = grpo("train", "--help")
    for flag in ("--reward", "--deltas", "--loss", "--kl", "--seeds", "--epochs", "--steps-per-epoch", "--responses",
                 "--lr", "--epsilon", "--task", "--device", "--out"):
        assert flag in done.stdout
