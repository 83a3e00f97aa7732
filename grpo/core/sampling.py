"""How a rollout's tokens are drawn from the policy's next-token distributions: the sampling
temperature and the top-k / top-p truncations (config fields ``temperature``, ``top_k``,
``top_p``), as TRL's GRPOTrainer hands them to generation (trl/trainer/grpo_trainer.py: its
``GenerationConfig`` / vLLM ``SamplingParams`` take ``temperature``, ``top_p``, ``top_k``).

The order and the rules are transformers' logits warpers
(src/transformers/generation/logits_process.py), which TRL's generation without vLLM runs:
the logits divided by the temperature (``TemperatureLogitsWarper``), then the tokens below the
k-th largest logit dropped (``TopKLogitsWarper``: ties with the k-th kept), then, in ascending
order of probability, the tokens whose cumulative probability stays at or below 1 - top_p
(``TopPLogitsWarper``: at least the most likely token is kept).

The learner reads the log-probabilities at the temperature and over the whole vocabulary, not
truncated: TRL divides the logits by ``temperature`` before its log-softmax on every forward
pass of the policy and of the reference (``_get_per_token_logps_and_entropies``:
``logits.div_(self.temperature)``), so the policy trained is softmax(logits / T) and top-k / top-p
make the sampler differ from it. Every draw inverts the CDF of the warped distribution at the
seed's pre-drawn uniform (grpo.core.uniforms), so runs stay reproducible and a seed's numbers do
not depend on the seeds stacked with it. With the defaults (1, 0, 1) every tensor is the one
drawn without this module.
"""

from dataclasses import dataclass

import torch

from grpo.core.uniforms import inverse_cdf


@dataclass(frozen=True)
class Sampling:
    """The sampling settings of a rollout; the defaults draw from the policy's own distribution."""

    temperature: float = 1.0  # the logits are divided by it (TRL's default 1)
    top_k: int = 0  # keep the k most likely tokens; 0: all (TRL's default)
    top_p: float = 1.0  # keep the most likely tokens whose probabilities sum to top_p; 1: all (TRL's default)

    @classmethod
    def of(cls, config) -> "Sampling":
        """A TrainConfig's sampling settings."""
        return cls(config.temperature, config.top_k, config.top_p)

    @property
    def truncates(self) -> bool:
        """Whether top-k or top-p drops tokens, making the sampler differ from the learner."""
        return self.top_k > 0 or self.top_p < 1


PLAIN = Sampling()  # the policy's own distribution: held-out evaluation, greedy decoding


def tempered(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """logits / temperature [... vocab]; the tensor itself at temperature 1 (TRL's ``logits.div_``)."""
    return logits if temperature == 1 else logits / temperature


def truncated(logits: torch.Tensor, sampling: Sampling) -> torch.Tensor:
    """Tempered logits [... vocab] with the tokens that top-k and then top-p drop set to -inf
    (transformers' TopKLogitsWarper and TopPLogitsWarper, min_tokens_to_keep 1); the tensor
    itself when neither truncates."""
    if sampling.top_k > 0 and sampling.top_k < logits.shape[-1]:
        kth = logits.topk(sampling.top_k, -1).values[..., -1:]  # [... 1]
        logits = logits.masked_fill(logits < kth, -torch.inf)
    if sampling.top_p < 1:
        ascending, order = logits.sort(dim=-1, stable=True)
        cumulative = ascending.softmax(-1).cumsum(-1)  # [... vocab]
        dropped = cumulative <= 1 - sampling.top_p
        dropped[..., -1] = False  # the most likely token stays
        logits = logits.masked_fill(dropped.scatter(-1, order, dropped), -torch.inf)
    return logits


def draw(logits: torch.Tensor, uniform: torch.Tensor, sampling: Sampling) -> torch.Tensor:
    """A token per distribution, by inverting the CDF of the truncated distribution at the
    uniform. logits [... vocab], already tempered; uniform [...] -> [...]"""
    if not sampling.truncates:
        return checked_inverse_cdf(logits, uniform)
    filtered = truncated(logits, sampling)  # [... vocab]
    token = checked_inverse_cdf(filtered, uniform)
    kept = filtered > -torch.inf
    # a uniform above the CDF's last value (float rounding) lands past the last kept token: back to it
    last_kept = logits.shape[-1] - 1 - kept.flip(-1).int().argmax(-1)
    return torch.minimum(token, last_kept)


CDF_MARGIN = 1e-4  # a uniform this close to a step of the CDF is drawn by inverse_cdf itself: far above the
# float32 rounding (about 1e-6) by which two ways of summing the same probabilities can differ


def checked_inverse_cdf(logits: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """grpo.core.uniforms.inverse_cdf's tokens exactly, fast on the CPU. There a softmax over a last
    axis of a few tokens costs about 100 ns a distribution (the held-out evaluation of 1000 seeds
    of the seed task: 50 ms an epoch), one over an outer axis a few ns. So the CDF is computed
    with the vocab as the outer axis and each token counted from the steps at or below its
    uniform minus CDF_MARGIN; wherever a step lies within CDF_MARGIN of the uniform (the two
    roundings could pick different tokens there: about 1 distribution in 1000) or the
    distribution is not finite, inverse_cdf itself draws the token. logits [... vocab] (any
    strides), uniform [...] (broadcast with the logits' other axes) -> [...]"""
    if logits.device.type != "cpu":
        return inverse_cdf(logits, uniform)
    vocab = logits.shape[-1]
    cdf = logits.movedim(-1, 0).softmax(0).cumsum(0)  # [vocab ...]
    count = torch.uint8 if vocab < 256 else torch.int32  # a small sum type: the counts are the pass's cost
    below = (cdf <= uniform - CDF_MARGIN).sum(0, dtype=count)  # [...] the steps below the uniform's window
    within = (cdf <= uniform + CDF_MARGIN).sum(0, dtype=count) != below  # a step inside the window
    token = below.long().clamp_(max=vocab - 1)
    redrawn = within | cdf[-1].isnan()  # [...]
    if redrawn.any():
        where = redrawn.nonzero(as_tuple=True)
        rows = logits.expand(*token.shape, vocab)[where]  # [redrawn vocab]
        token[where] = inverse_cdf(rows, uniform.expand(token.shape)[where])
    return token
