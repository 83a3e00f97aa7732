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


def test_a_rate_per_part_equals_an_adam_per_part():
    """Parts of the weights at different learning rates (a group of configurations): each part's
    numbers are those of an Adam over that part alone, bit for bit."""
    generator = torch.Generator().manual_seed(1)
    start = torch.randn(101, generator=generator)
    together = start.clone().requires_grad_()
    bounds, rates = [(0, 3), (3, 60), (60, 101)], [1e-3, 0.1, 1e-3]
    adam = Adam([together], lr=rates, split=lambda tensors: [[[t[a:b]] for t in tensors] for a, b in bounds])
    apart = [start[a:b].clone().requires_grad_() for a, b in bounds]
    adams = [Adam([p], lr=rate) for p, rate in zip(apart, rates)]
    for _ in range(5):
        target = torch.randn(101, generator=generator)
        adam.zero_grad()
        ((together - target) ** 2).sum().backward()
        adam.step()
        for p, part_adam, (a, b) in zip(apart, adams, bounds):
            part_adam.zero_grad()
            ((p - target[a:b]) ** 2).sum().backward()
            part_adam.step()
    assert torch.equal(together.detach(), torch.cat([p.detach() for p in apart]))
    assert len(adam.parts_by_rate) == 2  # one kernel per distinct rate


def test_a_part_made_of_several_views_gets_the_numbers_of_its_own_tensor():
    """The CPU kernel rounds a tensor's last numel % 16 numbers in a scalar loop: a part whose own
    model holds one tensor (the seed policy's flat weights) but the stacked model holds as several
    views is joined for the kernel, so that it gets that tensor's numbers bit for bit, and copied back."""
    generator = torch.Generator().manual_seed(2)
    start = torch.randn(2, 37, generator=generator)  # two sections, each [part 37/2...]: part 0 is [0, :19] and [1, :19]
    together = start.clone().requires_grad_()
    adam = Adam([together], lr=[1e-2, 1e-3], split=lambda tensors: [
        [[t[0, :19], t[1, :19]] for t in tensors], [[t[0, 19:], t[1, 19:]] for t in tensors]])
    own = [torch.cat([start[0, :19], start[1, :19]]).requires_grad_(), torch.cat([start[0, 19:], start[1, 19:]]).requires_grad_()]
    own_adams = [Adam([p], lr=rate) for p, rate in zip(own, [1e-2, 1e-3])]
    for _ in range(20):
        target = 10 * torch.randn(2, 37, generator=generator)
        adam.zero_grad()
        ((together - target) ** 3).sum().backward()
        adam.step()
        for p, own_adam, part in zip(own, own_adams, (slice(0, 19), slice(19, 37))):
            own_adam.zero_grad()
            ((p - torch.cat([target[0, part], target[1, part]])) ** 3).sum().backward()
            own_adam.step()
    assert torch.equal(torch.cat([together[0, :19], together[1, :19]]), own[0].detach())
    assert torch.equal(torch.cat([together[0, 19:], together[1, 19:]]), own[1].detach())


def test_training_does_not_import_dynamo():
    """torch.optim.Adam's import of torch._dynamo costs about 1 s in every process."""
    code = ("import sys; from grpo import TrainConfig, train; train(TrainConfig(epochs=1, steps_per_epoch=1), [0]);"
            " print('torch._dynamo' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
