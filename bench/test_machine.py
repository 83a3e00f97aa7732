"""The machine's practical limits, measured in the same run as the trainer (one thread, as a
sweep's trials run): single-precision matrix-product FLOP/s and memory copy bandwidth. The
report divides each seed-step's FLOPs and bytes (bench/floor.py) by them."""

import torch

MATMUL_SIZE = 512  # square matrices: large enough for the peak kernel, small enough to stay in cache
COPY_FLOATS = 2**25  # 128 MiB: far beyond the caches, so the copy runs at memory bandwidth


def test_matmul_flops(benchmark, device, synchronize, one_thread):
    generator = torch.Generator(device).manual_seed(0)
    a, b = (torch.randn(MATMUL_SIZE, MATMUL_SIZE, generator=generator, device=device) for _ in range(2))
    out = torch.empty_like(a)

    def timed():
        torch.mm(a, b, out=out)
        synchronize()

    benchmark.pedantic(timed, rounds=20, iterations=1, warmup_rounds=2)
    reference = (a.double() @ b.double()).float()
    benchmark.extra_info.update(suite="machine", impl="matmul", flops=2 * MATMUL_SIZE**3,
                                agrees=bool(torch.allclose(out, reference, rtol=1e-4, atol=1e-3)))
    assert benchmark.extra_info["agrees"]


def test_copy_bandwidth(benchmark, device, synchronize, one_thread):
    source = torch.arange(COPY_FLOATS, dtype=torch.float32, device=device)
    target = torch.empty_like(source)

    def timed():
        target.copy_(source)
        synchronize()

    benchmark.pedantic(timed, rounds=10, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(suite="machine", impl="copy", bytes=2 * COPY_FLOATS * 4,  # read + write
                                agrees=bool(torch.equal(target, source)))
    assert benchmark.extra_info["agrees"]
