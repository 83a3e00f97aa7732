"""Options of the benchmark suites: --device (cpu, cuda) and --quick (small sizes only); the
clock of each suite."""

import os
import time

import pytest
import torch

from bench.kernels import LARGE
from grpo.core.train import one_intra_op_thread

LARGE_SEEDS = 1000  # --quick leaves out S at or above this many stacked seeds
# suites whose work runs in other processes (subprocesses, Ray's workers): timed by the wall clock;
# every other suite by the CPU seconds of its own process, which on a shared machine move far less with the load
WALL_CLOCK_SUITES = {"test_process.py", "test_grid.py", "test_study.py"}


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", help="cpu or cuda; cuda skips cleanly without a CUDA device")
    parser.addoption("--quick", action="store_true", help="small sizes only")
    parser.addoption("--one-per-trial", action="store_true",
                     help="the study's third sweep too, one configuration per trial (about twice the grouped study's time)")


def pytest_collection_modifyitems(items):
    """The in-process suites time CPU seconds (time.process_time), the others the wall clock; a
    suite's own ``benchmark`` marker says otherwise where it has one."""
    for item in items:
        if item.path.name not in WALL_CLOCK_SUITES and item.get_closest_marker("benchmark") is None:
            item.add_marker(pytest.mark.benchmark(timer=time.process_time))


LOAD_WHEN_BEGAN = pytest.StashKey[str]()


def load_average() -> str:
    return " / ".join(f"{load:.1f}" for load in os.getloadavg())


def pytest_sessionstart(session):
    session.config.stash[LOAD_WHEN_BEGAN] = load_average()


def pytest_benchmark_update_machine_info(config, machine_info):
    """The report says how loaded the machine was (when the run began and when it ended, as the
    JSON is written) and which device ran."""
    machine_info["load_average"] = (f"{config.stash.get(LOAD_WHEN_BEGAN, '?')} when the run began,"
                                    f" {load_average()} when it ended")
    machine_info["device"] = config.getoption("--device")


@pytest.fixture
def device(request):
    name = request.config.getoption("--device")
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("--device cuda asked for, but this machine has no CUDA device")
    return name


@pytest.fixture
def synchronize(device):
    """Call inside the timed function: on a GPU, the time must include the kernels' work."""
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


@pytest.fixture
def one_thread():
    """One intra-op thread, as each trial of a sweep runs (grpo.core.train.one_intra_op_thread)."""
    with one_intra_op_thread():
        yield


@pytest.fixture(autouse=True)
def skip_large_when_quick(request):
    if not request.config.getoption("--quick"):
        return
    params = getattr(request.node, "callspec", None) and request.node.callspec.params or {}
    if params.get("size") in LARGE or params.get("seeds", 0) >= LARGE_SEEDS:
        pytest.skip("--quick: large sizes left out")
