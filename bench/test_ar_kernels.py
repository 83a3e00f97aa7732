"""The transformer policy's kernels: chosen-token log-probs and entropy from real per-position
logits (grpo.logprob vs log_softmax + gather), time and peak memory in logits copies; and one
inner step of the AR policy per seed-step, S seeds stacked vs one model per seed."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.ar_kernels import KERNELS, LARGE, SIZES, make_inputs

ROOT = Path(__file__).resolve().parent.parent


def peak_bytes(kernel, size, device) -> int:
    done = subprocess.run([sys.executable, "-m", "bench.ar_kernels", kernel, size, device], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return int(done.stdout.strip())


@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("size", list(SIZES))
def test_ar_logprob_kernel(benchmark, device, synchronize, size, kernel):
    logits, tokens = make_inputs(SIZES[size], device)
    run = KERNELS[kernel]

    def timed():
        logits.grad = None
        result = run(logits, tokens)
        synchronize()
        return result

    log_probs, entropy = benchmark.pedantic(timed, rounds=3 if size in LARGE else 10, iterations=1, warmup_rounds=1)
    grad = logits.grad
    logits.grad = None
    expected_log_probs, expected_entropy = KERNELS["log_softmax_gather"](logits, tokens)
    agrees = (torch.allclose(log_probs, expected_log_probs, atol=1e-4) and torch.allclose(entropy, expected_entropy, atol=1e-4)
              and torch.allclose(grad, logits.grad, atol=1e-6))
    sequences, positions, vocab = SIZES[size]
    logits_bytes = sequences * positions * vocab * logits.element_size()
    peak = peak_bytes(kernel, size, device)
    benchmark.extra_info.update(suite="ar_logprob", size=size, impl=kernel, logits_bytes=logits_bytes, peak_bytes=peak,
                                peak_logits_copies=peak / logits_bytes, agrees=agrees)
    assert agrees
