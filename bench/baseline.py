"""The baseline: GRPO written the way the seed writes it, the thing a user would otherwise run.

One nn.Module per seed, trained one after another; rewards in Python loops over lists;
log-probs by ``repeat`` to [batch trial pos vocab] then ``gather``; eager einops ops. The
probability ratio is the correct ``exp(log_probs - old_log_probs)``, so its numbers agree
with grpo's and only the implementation style differs.
"""

import math

import torch
import torch.nn.functional as F
from einops import einsum, repeat
from torch import nn


class SeedModel(nn.Module):
    def __init__(self, generator: torch.Generator, vocab: int, length: int, dim: int):
        super().__init__()
        device = generator.device  # the same draws, in the same order, as grpo's StackedPolicy.init
        self.embedding = nn.Parameter(torch.randn(vocab, dim, generator=generator, device=device))
        self.encode = nn.Parameter(torch.randn(length, dim, dim, generator=generator, device=device) / math.sqrt(dim))
        self.decode = nn.Parameter(torch.randn(length, dim, dim, generator=generator, device=device) / math.sqrt(dim))

    def forward(self, prompts: torch.Tensor) -> torch.Tensor:  # [batch pos] -> [batch pos vocab]
        embedded = self.embedding[prompts]  # [batch pos dim]
        hidden = einsum(embedded, self.encode, "batch pos dim1, pos dim1 dim2 -> batch dim2")
        decoded = einsum(hidden, self.decode, "batch dim1, pos dim1 dim2 -> batch pos dim2")
        return einsum(decoded, self.embedding, "batch pos dim, vocab dim -> batch pos vocab")


def sort_inclusion_ordering_reward(prompt: list[int], response: list[int]) -> float:
    inclusion = sum(1 for x in prompt if x in response)
    ordering = sum(1 for x, y in zip(response, response[1:]) if x <= y)
    return inclusion + ordering


def compute_rewards(prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """prompts [batch pos], responses [batch trial pos] -> [batch trial], one Python call each."""
    return torch.tensor([[sort_inclusion_ordering_reward(prompt, response) for response in trials]
                         for prompt, trials in zip(prompts.tolist(), responses.tolist())])


def compute_log_probs(logits: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """logits [batch pos vocab], responses [batch trial pos] -> [batch trial pos], the seed's way."""
    log_probs = F.log_softmax(logits, dim=-1)
    log_probs = repeat(log_probs, "batch pos vocab -> batch trial pos vocab", trial=responses.shape[1])
    return log_probs.gather(dim=-1, index=responses.unsqueeze(-1)).squeeze(-1)


def compute_loss(log_probs, deltas, mode: str, old_log_probs=None, epsilon: float = 0.01) -> torch.Tensor:
    if mode == "naive":
        return -einsum(log_probs, deltas, "batch trial pos, batch trial -> batch trial pos").mean()
    ratios = torch.exp(log_probs - old_log_probs)
    unclipped = einsum(ratios, deltas, "batch trial pos, batch trial -> batch trial pos")
    if mode == "unclipped":
        return -unclipped.mean()
    clipped = einsum(torch.clamp(ratios, 1 - epsilon, 1 + epsilon), deltas, "batch trial pos, batch trial -> batch trial pos")
    return -torch.minimum(unclipped, clipped).mean()


def compute_kl_penalty(log_probs, ref_log_probs) -> torch.Tensor:
    return einsum(torch.exp(ref_log_probs - log_probs) - (ref_log_probs - log_probs) - 1,
                  "batch trial pos -> batch trial").mean()


def inner_step(model, optimizer, prompts, responses, deltas, old_log_probs, loss_mode: str) -> torch.Tensor:
    """One optimizer step of one seed's model on a rollout."""
    log_probs = compute_log_probs(model(prompts), responses)
    loss = compute_loss(log_probs, deltas, loss_mode, old_log_probs)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()
