"""Adam as one fused kernel over all parameters, without ``torch.optim``.

Building ``torch.optim.Adam`` imports ``torch._dynamo`` (about 1 s in every process, measured
by bench/test_process.py), which a training process does not otherwise need. This class calls
the kernel that ``torch.optim.Adam(fused=True)`` calls, ``torch._fused_adam_``, with the same
state, so its numbers are the same (tests/core/test_optim.py). Adam: Kingma & Ba 2015, "Adam: A
Method for Stochastic Optimization"; no weight decay, no AMSGrad, as the seed document uses it.

Several learning rates (a group of configurations trained as slices of one model,
grpo.core.group): the weights are cut into parts, one per rate, and the kernel runs once per
distinct rate, on each part's tensors laid out as the part's own model would hold them. Adam is
elementwise, but the CPU kernel takes each tensor's last ``numel % 16`` numbers through a scalar
loop that rounds differently from its vector loop now and then (measured: 17 of 2000 random
32-number Adams cut at 19 differ from the uncut one, none cut at 16): only the same layout gives
the part alone's numbers bit for bit (tests/core/test_optim.py). A tensor that a part's own model
holds in one piece but the stacked model holds in several views (the seed policy's sections) is
joined into one buffer for the kernel and copied back.
"""

from collections.abc import Callable, Iterable, Sequence

import torch

from grpo.errors import EnvironmentFault

# tensors laid out like the parameters -> per part: the tensors of the part's own model, each as
# the views of the given tensors that, joined in order, make it up
Split = Callable[[list[torch.Tensor]], list[list[list[torch.Tensor]]]]


TORCH_NEEDED = "2.13"  # the oldest torch tested with torch._fused_adam_'s signature as called here (CPU kernel since 2.4)


def check_fused_adam() -> None:
    """EnvironmentFault naming the torch needed where the private kernel this Adam calls is absent."""
    if not hasattr(torch, "_fused_adam_"):
        raise EnvironmentFault(f"grpo's Adam calls torch._fused_adam_ (private), absent in torch {torch.__version__}:"
                               f" pip install 'torch>={TORCH_NEEDED}'")


def joined(views: list[torch.Tensor]) -> torch.Tensor:
    """One tensor from the views that make it up: a lone view itself, else a flat copy."""
    return views[0] if len(views) == 1 else torch.cat([view.flatten() for view in views])


def gradient(weight: torch.Tensor) -> torch.Tensor:
    """A weight's gradient: Adam steps after the backward pass, which gives every weight one."""
    assert weight.grad is not None, "Adam.step() before backward()"
    return weight.grad


class Adam:
    def __init__(self, parameters: Iterable[torch.Tensor], lr: float | Sequence[float],
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, split: Split | None = None):
        """`lr`: one learning rate for every weight; or, with `split`, one per part of the weights
        that `split` cuts them into (weights in no part stay as they are)."""
        check_fused_adam()
        self.parameters = list(parameters)
        self.betas, self.eps = betas, eps
        self.split = split or (lambda tensors: [[[tensor] for tensor in tensors]])
        rates = [lr] if isinstance(lr, int | float) else list(lr)  # one rate without `split`, a sequence with it
        self.parts_by_rate: dict[float, list[int]] = {}
        for part, rate in enumerate(rates):
            self.parts_by_rate.setdefault(rate, []).append(part)
        pieces = self.split(self.parameters)  # [part tensor view]
        if len(pieces) != len(rates):
            raise ValueError(f"{len(rates)} learning rates for {len(pieces)} parts of the weights")
        self.weights = pieces
        self.exp_avgs = [[torch.zeros_like(joined(views)) for views in part] for part in pieces]
        self.exp_avg_sqs = [[torch.zeros_like(joined(views)) for views in part] for part in pieces]
        self.steps = [[torch.zeros((), device=views[0].device) for views in part] for part in pieces]  # float, as torch's
        self._all_steps = [step for part in self.steps for step in part]

    def zero_grad(self) -> None:
        for p in self.parameters:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        torch._foreach_add_(self._all_steps, 1)
        grads = self.split([gradient(p) for p in self.parameters])
        for rate, parts in self.parts_by_rate.items():
            weights = [joined(views) for part in parts for views in self.weights[part]]
            torch._fused_adam_(weights, [joined(views) for part in parts for views in grads[part]],
                               [avg for part in parts for avg in self.exp_avgs[part]],
                               [sq for part in parts for sq in self.exp_avg_sqs[part]], [],
                               [step for part in parts for step in self.steps[part]], lr=rate, beta1=self.betas[0],
                               beta2=self.betas[1], weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False)
            views = [views for part in parts for views in self.weights[part]]
            for pieces, weight in zip(views, weights, strict=True):
                if len(pieces) > 1:  # a joined copy: back into the views
                    torch._foreach_copy_(pieces, [chunk.view_as(piece) for piece, chunk in zip(
                        pieces, weight.split([piece.numel() for piece in pieces]), strict=True)])
