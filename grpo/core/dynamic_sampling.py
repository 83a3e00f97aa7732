"""DAPO's dynamic sampling (config field ``dynamic_sampling``): groups whose rewards are all
equal are dropped and more are sampled until the batch is full.

DAPO (Yu et al. 2025, arXiv 2503.14476, §3.2) over-samples and keeps only the groups whose
accuracy is neither 0 nor 1: with every reward equal a group's advantages are all 0 and it adds
no gradient (grpo.modes.deltas.equal_reward_groups). verl's DAPO recipe (docs/algo/dapo.md,
``algorithm.filter_groups``: ``enable``, ``metric``, ``max_num_gen_batches``) samples whole
generation batches until enough groups are kept for the training batch, then truncates to it;
at ``max_num_gen_batches`` batches it raises an error ("Generated too many").

Here a rollout's prompt set is the task's whole prompt set, so each extra round samples every
prompt again (a stream task draws each extra round's prompts afresh, from a generator of the
seed's own named by the epoch, as DAPO samples new prompts); the kept groups fill the batch in
order (first round first, then by prompt), so a prompt may answer in several slots and another
in none. At most ``dynamic_sampling`` extra rounds
(verl's max_num_gen_batches - 1): where a seed's batch is still short after them, training goes
on rather than stopping as verl does, the remaining slots taken by the first round's
equal-reward groups (deltas 0 under a centred mode, as without dynamic sampling); the record
``sampling_rounds`` says how many rounds each seed needed (1 + its extra rounds; 1 + the cap where
it ran out).

Stacked seeds stay independent: each seed's extra rounds of epoch e draw from a generator of
its own seeded by (seed, e), so its draws do not depend on how many rounds its neighbours
needed, nor do the next epochs' draws from its main stream; every seed samples the rounds that
any seed needs (the tensors stay rectangular), and a seed picks its groups from its own rounds
only, never past the one that filled its batch.
"""

import hashlib
from collections.abc import Sequence

import torch

from grpo.core.policies import Sample, groups_at
from grpo.core.uniforms import SeedUniforms
from grpo.modes.deltas import equal_reward_groups
from grpo.tasks.prompts import Task, stream_generators


def round_generators(slice_seeds: Sequence[int], epoch: int, device: torch.device) -> list[torch.Generator]:
    """One generator a slice for epoch `epoch`'s extra rounds, seeded by (its seed, epoch)."""
    def seeded(seed: int) -> torch.Generator:
        digest = hashlib.sha256(f"dynamic_sampling {seed} {epoch}".encode()).digest()
        return torch.Generator(device).manual_seed(int.from_bytes(digest[:8], "little") >> 1)
    return [seeded(int(seed)) for seed in slice_seeds]


def chosen_groups(informative: torch.Tensor, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """informative [seed rounds*batch] (round-major: whether each sampled group's rewards differ)
    -> (the `batch` groups each seed trains on [seed batch]: its informative groups in order, then,
    where they are too few, its equal-reward groups in order; the rounds each seed needed [seed],
    float: up to the one whose informative groups filled its batch, or every round)."""
    seeds, groups = informative.shape
    order = torch.arange(groups, device=informative.device)
    key = torch.where(informative, order, order + groups)  # informative first, each kind in sampling order
    choice = key.argsort(1)[:, :batch]
    found = informative.view(seeds, -1, batch).sum(-1).cumsum(1)  # [seed rounds] informative groups so far
    rounds = (1 + (found < batch).sum(1)).clamp(max=found.shape[1])
    return choice, rounds.float()


def refill(kind, policy, config, task: Task, first: Sample, rewards: torch.Tensor, slice_seeds: Sequence[int], epoch: int,
           with_log_probs: bool) -> tuple[Sample, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A rollout's first round `first` with its `rewards` [seed batch response] -> (the batch
    with its equal-reward groups replaced from up to config.dynamic_sampling extra rounds: its
    Sample, rewards [seed batch response], the prompts the inner steps read it by (kind.regroup),
    the rounds each seed needed [seed])."""
    batch = rewards.shape[1]
    samples, round_rewards, round_prompts = [first], [rewards], [task.prompts]
    informative = [~equal_reward_groups(rewards)]  # per round [seed batch]
    uniforms = SeedUniforms(round_generators(slice_seeds, epoch, rewards.device))
    drawing = stream_generators(slice_seeds, f"dynamic sampling {epoch}", rewards.device) if task.stream else None
    while len(samples) <= config.dynamic_sampling and (torch.stack(informative).sum((0, 2)) < batch).any():
        round_task = task if drawing is None else task.drawn(drawing)  # a stream's round: new prompts [seed batch pos]
        sample = kind.sample(policy, config, round_task, uniforms, with_log_probs)
        samples.append(sample)
        round_rewards.append(kind.rewards(config, round_task, sample.responses))
        round_prompts.append(round_task.prompts)
        informative.append(~equal_reward_groups(round_rewards[-1]))
    choice, rounds = chosen_groups(torch.cat(informative, 1), batch)
    joined = Sample(torch.cat([s.responses for s in samples], 1), None, concatenated([s.mask for s in samples]),
                    concatenated([s.log_probs for s in samples]), first.temperature)
    sample, prompts = kind.regroup(task, joined, None if drawing is None else torch.cat(round_prompts, 1), choice)
    return sample, groups_at(torch.cat(round_rewards, 1), choice), prompts, rounds


def concatenated(parts: list[torch.Tensor | None]) -> torch.Tensor | None:
    """The rounds' tensors joined along the batch axis; None where the rounds carry none (every
    round of a rollout is sampled alike, so all carry one or none)."""
    present = [part for part in parts if part is not None]
    return torch.cat(present, 1) if present else None
