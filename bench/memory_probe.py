"""Peak memory of one kernel call, measured in a fresh process: `python -m bench.memory_probe
KERNEL SIZE DEVICE` prints the bytes the call added to the process's peak (CPU: peak RSS;
CUDA: torch.cuda.max_memory_allocated)."""


import sys
from pathlib import Path

import torch

from bench.kernels import KERNELS, SIZES, make_inputs


def peak_rss() -> int:
    """This process's resident-set high-water mark (VmHWM; unlike ru_maxrss it is not
    inherited from the parent that forked us)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(kernel: str, size: str, device: str) -> int:
    logits, responses = make_inputs(SIZES[size], device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        before = torch.cuda.max_memory_allocated()
        KERNELS[kernel](logits, responses)
        torch.cuda.synchronize()
        print(torch.cuda.max_memory_allocated() - before)
    else:
        before = peak_rss()
        KERNELS[kernel](logits, responses)
        print(peak_rss() - before)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
