"""Adam as one fused kernel over all parameters, without ``torch.optim``.

Building ``torch.optim.Adam`` imports ``torch._dynamo`` (about 1 s in every process, measured
by bench/test_process.py), which a training process does not otherwise need. This class calls
the kernel that ``torch.optim.Adam(fused=True)`` calls, ``torch._fused_adam_``, with the same
state, so its numbers are the same (tests/test_optim.py). Adam: Kingma & Ba 2015, "Adam: A
Method for Stochastic Optimization"; no weight decay, no AMSGrad, as the seed document uses it.

Several learning rates (a group of configurations trained as slices of one model,
grpo.core.group): the weights are cut into parts, one per rate, and the kernel runs once per
distinct rate on views of its parts. Adam is elementwise, so each weight gets the numbers of an
Adam over its own part alone, bit for bit (tests/test_optim.py).
"""

from collections.abc import Callable, Iterable, Sequence

import torch

Split = Callable[[list[torch.Tensor]], list[list[torch.Tensor]]]  # tensors laid out like the parameters -> views, one list a part


class Adam:
    def __init__(self, parameters: Iterable[torch.Tensor], lr: float | Sequence[float],
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, split: Split | None = None):
        """`lr`: one learning rate for every weight; or, with `split`, one per part of the weights
        that `split` cuts them into."""
        self.parameters = list(parameters)
        self.betas, self.eps = betas, eps
        self.rates = [lr] if split is None else list(lr)
        self.split = split or (lambda tensors: [tensors])
        self.exp_avgs = [torch.zeros_like(p) for p in self.parameters]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.parameters]
        self.weights, self.avgs, self.avg_sqs = map(self._by_rate, (self.parameters, self.exp_avgs, self.exp_avg_sqs))
        # float, on the device, as torch's: one per tensor the kernel is given
        self.steps = {rate: [torch.zeros((), device=w.device) for w in views] for rate, views in self.weights.items()}
        self._all_steps = [step for steps in self.steps.values() for step in steps]

    def _by_rate(self, tensors: list[torch.Tensor]) -> dict[float, list[torch.Tensor]]:
        """Tensors laid out like the parameters -> learning rate -> the views of its parts."""
        parts: dict[float, list[torch.Tensor]] = {}
        for rate, views in zip(self.rates, self.split(tensors), strict=True):
            parts.setdefault(rate, []).extend(views)
        return parts

    def zero_grad(self) -> None:
        for p in self.parameters:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        torch._foreach_add_(self._all_steps, 1)
        grads = self._by_rate([p.grad for p in self.parameters])
        for rate, weights in self.weights.items():
            torch._fused_adam_(weights, grads[rate], self.avgs[rate], self.avg_sqs[rate], [], self.steps[rate], lr=rate,
                               beta1=self.betas[0], beta2=self.betas[1], weight_decay=0.0, eps=self.eps, amsgrad=False,
                               maximize=False)
