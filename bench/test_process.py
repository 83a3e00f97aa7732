"""Whole processes, fixed costs included: `grpo train --seeds 20` and the seed-style run of 20
seeds (`python -m bench.baseline`), each timed from start to exit with `python -c "import
torch"` subtracted, so what is compared is everything a process does beyond importing torch.
One intra-op thread each (OMP_NUM_THREADS=1), as a sweep's trials run."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = 20
STEPS_PER_EPOCH = 10  # TrainConfig's default and the baseline's


def commands(epochs: int) -> dict[str, list[str]]:
    return {
        "import torch": [sys.executable, "-c", "import torch"],
        "ours": [sys.executable, "-m", "grpo", "train", "--seeds", str(SEEDS), "--epochs", str(epochs), "--loss-mode", "clipped",
                 "--deltas-mode", "centered_rewards", "--quiet"],
        "baseline": [sys.executable, "-m", "bench.baseline", str(SEEDS), str(epochs)],
    }


@pytest.mark.parametrize("impl", ["import torch", "ours", "baseline"])
def test_process(benchmark, request, impl):
    epochs = 10 if request.config.getoption("--quick") else 100
    command = commands(epochs)[impl]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def timed():
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)

    done = benchmark.pedantic(timed, rounds=2, iterations=1)
    seed_steps = 0 if impl == "import torch" else SEEDS * epochs * STEPS_PER_EPOCH
    benchmark.extra_info.update(suite="process", impl=impl, seed_steps=seed_steps, agrees=done.returncode == 0)
    assert done.returncode == 0, done.stderr
