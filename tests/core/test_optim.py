"""grpo.core.optim.Adam: the numbers of torch.optim.Adam(fused=True), without importing torch._dynamo."""

import subprocess
import sys

import torch

from grpo.core.optim import Adam


def test_adam_equals_torch_fused_adam():
    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(7, generator=generator), torch.randn(2, 3, generator=generator)]
    ours = [p.clone().requires_grad_() for p in start]
    theirs = [p.clone().requires_grad_() for p in start]
    ours_adam, theirs_adam = Adam(ours, lr=0.01, betas=(0.8, 0.99), eps=1e-6), torch.optim.Adam(
        theirs, lr=0.01, betas=(0.8, 0.99), eps=1e-6, fused=True)
    for _ in range(5):
        targets = [torch.randn(p.shape, generator=generator) for p in start]
        for params, adam in ((ours, ours_adam), (theirs, theirs_adam)):
            adam.zero_grad()
            sum(((p - t) ** 2).sum() for p, t in zip(params, targets)).backward()
            adam.step()
    for a, b, s in zip(ours, theirs, start):
        assert torch.equal(a, b) and not torch.equal(a, s)


def test_training_does_not_import_dynamo():
    """torch.optim.Adam's import of torch._dynamo costs about 1 s in every process."""
    code = ("import sys; from grpo import TrainConfig, train; train(TrainConfig(epochs=1, steps_per_epoch=1), [0]);"
            " print('torch._dynamo' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
