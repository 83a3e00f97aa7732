"""The warm start (config field ``warm_start_steps``): a supervised phase before RL that gives the
transformer policy a prior, as RL with verifiable rewards starts from a pretrained or fine-tuned
base with a real pass rate rather than from a random init.

The base of a training seed imitates noisy sorted demonstrations: prompts drawn from the task's
stream (never a held-out one), each demonstration the sorted prompt and EOS with every content
token replaced, with chance ``warm_start_noise``, by a uniform random token. A policy that
imitates them well sorts a list of n tokens about (1 - noise)^n of the time: a pass rate that
falls with the length, and entropy left to explore with. Its init, its prompts and its noise
come from a generator of the seed's own (grpo.tasks.prompts.stream_generators, label "warm
start"), so the base of seed s is a function of s and of its settings (``base_key``) alone, the
same for every configuration trained from s; the RL phase then draws from the seed's usual
generator as without a warm start (its init drawn and replaced by the base's weights), so the
configurations of seed s also share the random stream after the base.

A sweep trains each seed's base once and stores it in its results folder
(grpo.experiment.bases); ``grpo train`` and ``train`` without a store train it in-process
(``train_bases``). Trained in another stack of seeds, a base can differ in the last bits (the
CPU's batched kernels), so the stored base is the one a sweep's configurations share.
"""

import hashlib
import json
from collections.abc import Callable, Sequence

import torch

from grpo.core.config import TASK_FIELDS, WARM_START_FIELDS, TrainConfig
from grpo.core.optim import Adam
from grpo.core.policies import TransformerPolicy
from grpo.tasks.prompts import stream_generators
from grpo.tasks.sequences import ideal_responses, response_mask

BaseWeights = dict[str, torch.Tensor]  # one seed's parameters by name, without the seed axis
BaseSource = Callable[[TrainConfig, Sequence[int]], dict[int, BaseWeights]]  # (config, seeds) -> each seed's base
BASE_FIELDS = ("policy", "dim", "layers", "heads", "max_response_length", "task", *TASK_FIELDS, *WARM_START_FIELDS)


def base_settings(config: TrainConfig) -> dict:
    """The fields a base depends on: the policy's shape, the task, the warm start's settings."""
    return {name: getattr(config, name) for name in BASE_FIELDS}


def base_key(config: TrainConfig) -> str:
    """A short stable hash of base_settings: a base trained with other settings is never reused."""
    return hashlib.sha1(json.dumps(base_settings(config), sort_keys=True).encode()).hexdigest()[:12]


def demonstrations(prompts: torch.Tensor, vocab: int, max_length: int, noise: float,
                   generators: Sequence[torch.Generator]) -> torch.Tensor:
    """Noisy sorted demonstrations: prompts [seed batch pos] -> [seed batch 1 max_length], the
    ideal response with each content token replaced by a uniform token with chance `noise`
    (each seed's draws from its own generator); EOS and the pads stay."""
    seeds, batch, _ = prompts.shape
    ideal = ideal_responses(prompts.flatten(0, 1), vocab, max_length).view(seeds, batch, max_length)
    replace = torch.stack([torch.rand(batch, max_length, generator=g, device=g.device) < noise for g in generators])
    tokens = torch.stack([torch.randint(vocab, (batch, max_length), generator=g, device=g.device) for g in generators])
    return torch.where(replace & (ideal < vocab), tokens, ideal)[:, :, None]


def train_bases(config: TrainConfig, seeds: Sequence[int]) -> dict[int, BaseWeights]:
    """Each seed's base: the transformer's init (scaled by init_scale), then warm_start_steps Adam
    steps of cross-entropy on a batch of task_prompts demonstrations, all seeds stacked."""
    task = config.make_task()
    assert task.stream is not None, "a warm start draws its prompts from a stream task (TrainConfig checks it)"
    generators = stream_generators(seeds, "warm start")
    policy = TransformerPolicy.init(config, task, generators)
    optimizer = Adam(list(policy.parameters()), lr=config.warm_start_lr)
    for _ in range(config.warm_start_steps):
        prompts = task.stream.draw(generators)  # [seed batch pos]
        demos = demonstrations(prompts, task.vocab_size, config.max_response_length, config.warm_start_noise, generators)
        log_probs, _ = policy.log_probs(prompts, demos)  # [seed batch 1 max_length]
        mask = response_mask(demos, task.vocab_size).float()
        loss = -(log_probs * mask).sum((1, 2, 3)) / mask.sum((1, 2, 3))  # [seed] token-mean cross-entropy
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step()
    weights = {name: parameter.detach() for name, parameter in policy.named_parameters()}
    return {int(seed): {name: w[i].clone() for name, w in weights.items()} for i, seed in enumerate(seeds)}


def load_bases(policy: torch.nn.Module, bases: dict[int, BaseWeights], slice_seeds: Sequence[int]) -> None:
    """Set each slice of `policy` to the base of its seed (slice_seeds: one a slice)."""
    with torch.no_grad():
        for name, parameter in policy.named_parameters():
            parameter.copy_(torch.stack([bases[int(seed)][name] for seed in slice_seeds]))
