"""The seed document's non-autoregressive policy, with a leading seed axis on every parameter.

One distribution per response position: the prompt collapses into one vector
``h = sum_p E[x_p] @ enc[p]``, each response position decodes it ``o_j = h @ dec[j]``, and
the logits are ``o_j @ E^T`` (the output shares the embedding). S independent replicas
(seeds) live in the same tensors, so one kernel serves them all; each seed draws its
initial weights and its samples from its own generator, so a seed's numbers do not depend
on which other seeds it is stacked with.
"""

import copy
import math

import torch
from torch import nn

from grpo.tasks import Task


class StackedPolicy(nn.Module):
    def __init__(self, embedding: torch.Tensor, encode: torch.Tensor, decode: torch.Tensor):
        super().__init__()
        self.embedding = nn.Parameter(embedding)  # [seed vocab dim]
        self.encode = nn.Parameter(encode)  # [seed prompt_pos dim dim]
        self.decode = nn.Parameter(decode)  # [seed response_pos dim dim]

    @classmethod
    def init(cls, generators: list[torch.Generator], vocab: int, length: int, dim: int) -> "StackedPolicy":
        """The seed document's init, per seed: E ~ N(0, 1), enc and dec ~ N(0, 1) / sqrt(dim)."""
        device = generators[0].device
        weights = []
        for g in generators:  # draw in a fixed order from each seed's own generator
            embedding = torch.randn(vocab, dim, generator=g, device=device)
            encode = torch.randn(length, dim, dim, generator=g, device=device) / math.sqrt(dim)
            decode = torch.randn(length, dim, dim, generator=g, device=device) / math.sqrt(dim)
            weights.append((embedding, encode, decode))
        return cls(*(torch.stack(w) for w in zip(*weights, strict=False)))

    @property
    def num_seeds(self) -> int:
        return self.embedding.shape[0]

    def forward(self, prompts: torch.Tensor) -> torch.Tensor:
        """prompts [batch pos] -> logits [seed batch pos vocab]."""
        embedded = self.embedding[:, prompts]  # [seed batch pos dim]
        hidden = torch.einsum("sbpd,spde->sbe", embedded, self.encode)  # [seed batch dim]
        decoded = torch.einsum("sbd,srde->sbre", hidden, self.decode)  # [seed batch pos dim]
        return torch.einsum("sbre,sve->sbrv", decoded, self.embedding)  # [seed batch pos vocab]

    def frozen_copy(self) -> "StackedPolicy":
        """A detached deep copy, e.g. the reference model of the KL penalty."""
        return copy.deepcopy(self).requires_grad_(False)


def sample(logits: torch.Tensor, num_responses: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Draw responses by inverting each position's CDF at a uniform from the seed's own
    generator. logits [seed batch pos vocab] -> responses [seed batch response pos]."""
    seeds, batch, length, vocab = logits.shape
    uniform = torch.stack(
        [torch.rand(batch, num_responses, length, generator=g, device=logits.device) for g in generators]
    )  # [seed batch response pos]
    cdf = logits.softmax(-1).cumsum(-1)[:, :, None]  # [seed batch 1 pos vocab]
    return (cdf <= uniform[..., None]).sum(-1).clamp(max=vocab - 1)


def token_index(responses: torch.Tensor, vocab: int) -> torch.Tensor:
    """Flat positions of the response tokens in a [seed batch pos vocab] tensor: computed
    once per rollout, then ``gather_log_probs`` is one lookup per step.
    responses [seed batch response pos] -> index [seed batch response pos]."""
    seeds, batch, _, length = responses.shape
    rows = torch.arange(seeds * batch * length, device=responses.device).view(seeds, batch, 1, length)
    return rows * vocab + responses


def gather_log_probs(log_probs: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Log-probability of each response token, looked up in the per-position distribution
    without a [seed batch response pos vocab] copy (forward or backward).
    log_probs [seed batch pos vocab], index from ``token_index`` -> [seed batch response pos]."""
    return log_probs.flatten().take(index)


def entropy(log_probs: torch.Tensor) -> torch.Tensor:
    """Mean entropy of the per-position distributions. log_probs [seed batch pos vocab] -> [seed]."""
    return -(log_probs.exp() * log_probs).sum(-1).mean((1, 2))


def greedy_accuracy(policy: StackedPolicy, prompts: torch.Tensor) -> torch.Tensor:
    """Fraction of prompts whose argmax response is exactly sorted. [seed]"""
    greedy = policy(prompts).argmax(-1)  # [seed batch pos]
    return (greedy == Task.ideal(prompts)).all(-1).float().mean(-1)
