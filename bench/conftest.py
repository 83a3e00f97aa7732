"""Options of the benchmark suites: --device (cpu, cuda) and --quick (small sizes only)."""

import pytest
import torch

from bench.kernels import LARGE


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", help="cpu or cuda; cuda skips cleanly without a CUDA device")
    parser.addoption("--quick", action="store_true", help="small sizes only")


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


@pytest.fixture(autouse=True)
def skip_large_when_quick(request):
    size = getattr(request.node, "callspec", None) and request.node.callspec.params.get("size")
    if request.config.getoption("--quick") and size in LARGE:
        pytest.skip("--quick: large sizes left out")
