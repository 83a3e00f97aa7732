"""Adam as one fused kernel over all parameters, without ``torch.optim``.

Building ``torch.optim.Adam`` imports ``torch._dynamo`` (about 1 s in every process, measured
by bench/test_process.py), which a training process does not otherwise need. This class calls
the kernel that ``torch.optim.Adam(fused=True)`` calls, ``torch._fused_adam_``, with the same
state, so its numbers are the same (tests/core/test_optim.py). Adam: Kingma & Ba 2015, "Adam: A
Method for Stochastic Optimization"; no weight decay, no AMSGrad, as the seed document uses it.
"""

from collections.abc import Iterable

import torch


class Adam:
    def __init__(self, parameters: Iterable[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.parameters = list(parameters)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.exp_avgs = [torch.zeros_like(p) for p in self.parameters]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.parameters]
        self.steps = [torch.zeros((), device=p.device) for p in self.parameters]  # float, on the device, as torch's

    def zero_grad(self) -> None:
        for p in self.parameters:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        torch._foreach_add_(self.steps, 1)
        torch._fused_adam_(self.parameters, [p.grad for p in self.parameters], self.exp_avgs, self.exp_avg_sqs, [],
                           self.steps, lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], weight_decay=0.0,
                           eps=self.eps, amsgrad=False, maximize=False)
