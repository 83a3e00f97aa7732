"""Peak memory of one kernel call, measured in a fresh process: `python -m bench.memory_probe
KERNEL SIZE DEVICE [SUITE]` prints the bytes the call added to the process's peak (CPU: peak RSS;
CUDA: torch.cuda.max_memory_allocated). SUITE is the module holding KERNELS, SIZES and
make_inputs (default bench.kernels; bench.ar_kernels for the transformer policy's kernels)."""


import importlib
import sys
from pathlib import Path

import torch


def peak_rss() -> int:
    """This process's resident-set high-water mark (VmHWM; unlike ru_maxrss it is not
    inherited from the parent that forked us)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def added_peak(call, device: str) -> int:
    """The bytes that `call()` adds to this process's peak (CUDA: max allocated; CPU: VmHWM)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        before = torch.cuda.max_memory_allocated()
        call()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    before = peak_rss()
    call()
    return peak_rss() - before


def main(kernel: str, size: str, device: str, suite: str = "bench.kernels") -> int:
    kernels = importlib.import_module(suite)
    logits, responses = kernels.make_inputs(kernels.SIZES[size], device)
    print(added_peak(lambda: kernels.KERNELS[kernel](logits, responses), device))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
