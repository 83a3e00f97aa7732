"""The baseline: GRPO written the way the seed writes it, the thing a user would otherwise run.

One nn.Module per seed, trained one after another; rewards in Python loops over lists;
log-probs by ``repeat`` to [batch response pos vocab] then ``gather``; eager einops ops;
``torch.optim.Adam``; one record dict a step with ``.item()``, as in the seed document's
training loop. The probability ratio is the correct ``exp(log_probs - old_log_probs)``, so its
numbers agree with grpo's and only the implementation style differs.

``python -m bench.baseline SEEDS EPOCHS`` trains seeds 0 .. SEEDS-1 one after another: the
seed-style process that ``bench/test_process.py`` times against ``grpo train``.
"""

import math
import sys

import torch
import torch.nn.functional as F
from einops import einsum, rearrange, repeat
from torch import nn


class SeedModel(nn.Module):
    def __init__(self, generator: torch.Generator, vocab: int, length: int, dim: int):
        super().__init__()
        device = generator.device  # the same draws, in the same order, as grpo's StackedSeedModel.init
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
    """prompts [batch pos], responses [batch response pos] -> [batch response], one Python call each."""
    return torch.tensor([[sort_inclusion_ordering_reward(prompt, response) for response in group]
                         for prompt, group in zip(prompts.tolist(), responses.tolist())])


def compute_log_probs(logits: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """logits [batch pos vocab], responses [batch response pos] -> [batch response pos], the seed's way."""
    log_probs = F.log_softmax(logits, dim=-1)
    log_probs = repeat(log_probs, "batch pos vocab -> batch response pos vocab", response=responses.shape[1])
    return log_probs.gather(dim=-1, index=responses.unsqueeze(-1)).squeeze(-1)


def compute_loss(log_probs, deltas, mode: str, old_log_probs=None, epsilon: float = 0.01) -> torch.Tensor:
    if mode == "naive":
        return -einsum(log_probs, deltas, "batch response pos, batch response -> batch response pos").mean()
    ratios = torch.exp(log_probs - old_log_probs)
    unclipped = einsum(ratios, deltas, "batch response pos, batch response -> batch response pos")
    if mode == "unclipped":
        return -unclipped.mean()
    clipped = einsum(torch.clamp(ratios, 1 - epsilon, 1 + epsilon), deltas, "batch response pos, batch response -> batch response pos")
    return -torch.minimum(unclipped, clipped).mean()


def compute_kl_penalty(log_probs, ref_log_probs) -> torch.Tensor:
    return einsum(torch.exp(ref_log_probs - log_probs) - (ref_log_probs - log_probs) - 1,
                  "batch response pos -> batch response").mean()


def inner_step(model, optimizer, prompts, responses, deltas, old_log_probs, loss_mode: str) -> torch.Tensor:
    """One optimizer step of one seed's model on a rollout."""
    log_probs = compute_log_probs(model(prompts), responses)
    loss = compute_loss(log_probs, deltas, loss_mode, old_log_probs)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()


def generate_responses(model, prompts: torch.Tensor, num_responses: int) -> torch.Tensor:
    """prompts [batch pos] -> responses [batch response pos], one multinomial draw a position."""
    probs = F.softmax(model(prompts), dim=-1)  # [batch pos vocab]
    flat = torch.multinomial(rearrange(probs, "batch pos vocab -> (batch pos) vocab"), num_responses, replacement=True)
    return rearrange(flat, "(batch pos) response -> batch response pos", batch=prompts.shape[0])


def train_run(seed: int, prompts: torch.Tensor, vocab: int, epochs: int = 100, steps_per_epoch: int = 10,
              num_responses: int = 10, dim: int = 10, loss_mode: str = "clipped", lr: float = 1e-3) -> list[dict]:
    """One seed's whole run, the seed document's loop: rollout, Python-loop rewards, centered
    deltas, frozen old log-probs, inner steps each appending a record."""
    torch.manual_seed(seed)
    model = SeedModel(torch.Generator().manual_seed(seed), vocab, prompts.shape[1], dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    records = []
    for epoch in range(epochs):
        with torch.no_grad():
            responses = generate_responses(model, prompts, num_responses)  # [batch response pos]
        rewards = compute_rewards(prompts, responses).float()  # [batch response]
        deltas = rewards - rewards.mean(dim=-1, keepdim=True)
        with torch.no_grad():
            old_log_probs = compute_log_probs(model(prompts), responses)
        for step in range(steps_per_epoch):
            loss = inner_step(model, optimizer, prompts, responses, deltas, old_log_probs, loss_mode)
            records.append({"epoch": epoch, "step": epoch * steps_per_epoch + step, "loss": loss.item(),
                            "mean_reward": rewards.mean().item()})
    return records


if __name__ == "__main__":
    from grpo.tasks.prompts import seed_task

    seeds, epochs = int(sys.argv[1]), int(sys.argv[2])
    task = seed_task()
    rows = sum(len(train_run(seed, task.prompts, task.vocab_size, epochs)) for seed in range(seeds))
    print(f"{rows} records")
