"""Options of the benchmark suites: --device (cpu, cuda) and --quick (small sizes only)."""

import os

import pytest
import torch

from bench.kernels import LARGE
from grpo.core.train import one_intra_op_thread

LARGE_SEEDS = 1000  # --quick leaves out S at or above this many stacked seeds


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", help="cpu or cuda; cuda skips cleanly without a CUDA device")
    parser.addoption("--quick", action="store_true", help="small sizes only")
    parser.addoption("--one-per-trial", action="store_true",
                     help="the study's third sweep too, one configuration per trial (about twice the grouped study's time)")


def pytest_benchmark_update_machine_info(config, machine_info):
    """The report says how loaded the machine was and which device ran."""
    machine_info["load_average"] = " / ".join(f"{load:.1f}" for load in os.getloadavg())
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
