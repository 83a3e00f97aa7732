"""Log-prob lookup: grpo's (no [batch response pos vocab] copy) vs the seed's repeat + gather,
forward and backward, with peak memory from a fresh process and, for large sizes, the time
of one plain copy of the logits (the machine's practical bandwidth)."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.kernels import KERNELS, LARGE, SIZES, baseline_bytes, make_inputs

ROOT = Path(__file__).resolve().parent.parent


def available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def peak_bytes(kernel, size, device) -> int:
    done = subprocess.run([sys.executable, "-m", "bench.memory_probe", kernel, size, device], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return int(done.stdout.strip())


@pytest.mark.parametrize("kernel", ["ours", "baseline", "copy"])
@pytest.mark.parametrize("size", list(SIZES))
def test_logprob_kernel(benchmark, device, synchronize, size, kernel):
    if kernel == "copy" and size not in LARGE:
        pytest.skip("the copy reference is measured for the large sizes")
    if kernel == "baseline" and baseline_bytes(SIZES[size]) > 0.6 * available_bytes():
        pytest.skip(f"repeat + gather needs ~{baseline_bytes(SIZES[size]) / 2**30:.1f} GiB: does not fit here")
    logits, responses = make_inputs(SIZES[size], device)
    run = KERNELS[kernel]

    def timed():
        logits.grad = None
        result = run(logits, responses)
        synchronize()
        return result

    rounds = 3 if size in LARGE else 20
    result = benchmark.pedantic(timed, rounds=rounds, iterations=1, warmup_rounds=1)
    batch, group, pos, vocab = SIZES[size]
    benchmark.extra_info.update(suite="logprob", size=size, impl=kernel, logits_bytes=batch * pos * vocab * 4)
    if kernel != "copy":
        reference = torch.gather(logits.detach().log_softmax(-1)[:, None].expand(-1, group, -1, -1), -1,
                                 responses[..., None])[..., 0]
        benchmark.extra_info["agrees"] = bool(torch.allclose(result, reference, atol=1e-5))
        assert benchmark.extra_info["agrees"]
        benchmark.extra_info["peak_bytes"] = peak_bytes(kernel, size, device)
