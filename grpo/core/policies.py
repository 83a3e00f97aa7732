"""The policies a run can train (config field ``policy``): how each is built, samples a rollout,
rates it, and reads the log-probs of the rollout's tokens on an inner step.

Shapes: ``prompts [batch pos]`` (a stream task's rollout: ``[seed batch pos]``, each seed's own
draw; the transformer only), ``responses [seed batch response pos]``; ``mask`` is 1.0 on a
response's real tokens (up to and including EOS) and 0.0 after, or None where every token is
real (the seed document's policy: fixed length, no EOS), so that the seed document's numbers
are computed exactly as before.
"""

from dataclasses import dataclass
from typing import Any, Protocol

import torch

from grpo.core import seed_model as model
from grpo.core.sampling import Sampling, tempered
from grpo.core.transformer import StackedTransformer
from grpo.core.uniforms import SeedUniforms
from grpo.modes.aggregation import token_mean
from grpo.modes.registry import Registry
from grpo.modes.rewards import REWARDS, best_reward
from grpo.modes.sequence_rewards import (
    SEQUENCE_REWARDS,
    best_sequence_reward,
    exact_match,
    length_penalty,
    soft_overlong_punishment,
)
from grpo.tasks.prompts import Task
from grpo.tasks.sequences import ended, ideal_responses, response_mask


@dataclass(frozen=True)
class Sample:
    """One rollout's responses, with what the inner steps read them by."""

    responses: torch.Tensor  # [seed batch response pos]
    index: torch.Tensor | None  # [seed batch response pos] flat index into the seed policy's log-probs (model.token_index)
    mask: torch.Tensor | None  # [seed batch response pos] 1.0 on real tokens (a rollout's: those the loss reads); None: all real
    log_probs: torch.Tensor | None  # [seed batch response pos] under the sampling policy; None if the loss reads none
    temperature: float = 1.0  # drawn at it: every policy's log-probs of these responses are read at it (TRL)


class Policy(Protocol):
    """What a policy class provides, as static methods on the class (grpo.core.train reads it so).
    `policy`: the stacked model that `init` made; `config`: a TrainConfig, or a group's
    (grpo.core.group.loss_config)."""

    REWARDS: Registry  # the reward functions that rate its responses

    @staticmethod
    def init(config: Any, task: Task, generators: list[torch.Generator]) -> Any: ...

    @staticmethod
    def sample(policy: Any, config: Any, task: Task, uniforms: SeedUniforms, with_log_probs: bool,
               group: int | None = None, sampling: Sampling | None = None) -> Sample: ...

    @staticmethod
    def regroup(task: Task, rounds: Sample, prompts: torch.Tensor | None, choice: torch.Tensor) -> tuple[Sample, torch.Tensor]: ...

    @staticmethod
    def log_probs(policy: Any, prompts: torch.Tensor, sample: Sample, token_entropy: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor]: ...

    @staticmethod
    def rewards(config: Any, task: Task, responses: torch.Tensor) -> torch.Tensor: ...

    @staticmethod
    def best_reward(config: Any, task: Task) -> torch.Tensor: ...

    @staticmethod
    def success(task: Task, responses: torch.Tensor) -> torch.Tensor: ...

    @staticmethod
    def greedy_correct(policy: Any, config: Any, task: Task, prompts: torch.Tensor) -> torch.Tensor: ...

    @staticmethod
    def greedy(policy: Any, config: Any, prompts: torch.Tensor) -> torch.Tensor: ...

    @staticmethod
    def sum_pi_squared(policy: Any, prompts: torch.Tensor, sample: Sample) -> torch.Tensor: ...


class SeedPolicy:
    """seed document: each response position drawn independently given the whole prompt; fixed length."""

    REWARDS = REWARDS  # the reward functions of fixed-length responses (group rewards)

    @staticmethod
    def init(config, task: Task, generators: list[torch.Generator]) -> model.StackedSeedModel:
        return model.StackedSeedModel.init(generators, task.vocab_size, task.length, config.dim)

    @staticmethod
    def sample(policy, config, task: Task, uniforms: SeedUniforms, with_log_probs: bool,
               group: int | None = None, sampling: Sampling | None = None) -> Sample:
        """`group` responses per prompt (default config.responses), drawn with `sampling` (default
        the config's: grpo.core.sampling)."""
        sampling = sampling or Sampling.of(config)
        responses, log_probs = policy.draw_responses(task.prompts, group or config.responses, uniforms, sampling, with_log_probs)
        index = model.token_index(responses, task.vocab_size)  # responses [seed batch response pos]
        return Sample(responses, index, None, None if log_probs is None else model.gather_log_probs(log_probs, index),
                      sampling.temperature)

    @staticmethod
    def regroup(task: Task, rounds: Sample, prompts: torch.Tensor | None, choice: torch.Tensor) -> tuple[Sample, torch.Tensor]:
        """The groups `choice` [seed batch] picks from several rounds of sampling (``rounds``: their
        groups side by side, [seed rounds*batch ...], round-major) -> (their Sample, the prompts
        the inner steps read them by: the whole prompt set, the index pointing each group at its own).
        `prompts`: the rounds' own prompts where they differ (a stream); this policy plays fixed sets only."""
        responses = groups_at(rounds.responses, choice)  # [seed batch response pos]
        index = model.token_index(responses, task.vocab_size, prompt_of=choice % len(task.prompts))
        log_probs = None if rounds.log_probs is None else groups_at(rounds.log_probs, choice)
        return Sample(responses, index, None, log_probs, rounds.temperature), task.prompts

    @staticmethod
    def log_probs(policy, prompts: torch.Tensor, sample: Sample, token_entropy: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (log-prob of each response token [seed batch response pos], mean entropy of the
        per-position distributions [seed]), at the sample's temperature; with `token_entropy`,
        the entropy of each token's distribution [seed batch response pos], carrying a gradient."""
        log_probs_all, mean_entropy = policy.log_probs(prompts, sample.temperature)  # [seed batch pos vocab], [seed]
        assert sample.index is not None  # this policy's samples carry their flat index (``sample``)
        log_probs = model.gather_log_probs(log_probs_all, sample.index)
        if not token_entropy:
            return log_probs, mean_entropy
        entropy = -(log_probs_all.exp() * log_probs_all).sum(-1)  # [seed batch pos]: one distribution a position
        return log_probs, entropy.flatten().take(sample.index // log_probs_all.shape[-1])  # the token's position

    @staticmethod
    def rewards(config, task: Task, responses: torch.Tensor) -> torch.Tensor:
        return REWARDS.checked(config.reward_fn)(task.prompts, responses)  # [seed batch response]

    @staticmethod
    def best_reward(config, task: Task) -> torch.Tensor:
        return best_reward(config.reward_fn, task.prompts)  # [batch]

    @staticmethod
    def success(task: Task, responses: torch.Tensor) -> torch.Tensor:
        return Task.is_ideal(task.prompts, responses)  # [seed batch response]

    @staticmethod
    def greedy_correct(policy, config, task: Task, prompts: torch.Tensor) -> torch.Tensor:
        return model.greedy_correct(policy, prompts)  # [seed batch]

    @staticmethod
    def greedy(policy, config, prompts: torch.Tensor) -> torch.Tensor:
        """The most likely response to each prompt: prompts [batch pos] -> [seed batch 1 pos]"""
        return policy.greedy(prompts)[:, :, None, :]

    @staticmethod
    def sum_pi_squared(policy, prompts: torch.Tensor, sample: Sample) -> torch.Tensor:
        """sum over the vocabulary of pi(v)^2 at each response token's position, at the sample's temperature
        [seed batch response pos]."""
        log_probs = policy.log_probs(prompts, sample.temperature)[0]  # [seed batch pos vocab]
        squares = log_probs.exp().square().sum(-1, keepdim=True).expand(log_probs.shape).contiguous()
        assert sample.index is not None  # this policy's samples carry their flat index (``sample``)
        return model.gather_log_probs(squares, sample.index)  # each token's own prompt and position


class TransformerPolicy:
    """tiny causal decoder: responses token by token, ending with EOS (variable length)."""

    REWARDS = SEQUENCE_REWARDS  # the reward functions of variable-length responses (group sequence_rewards)

    @staticmethod
    def init(config, task: Task, generators: list[torch.Generator]) -> StackedTransformer:
        """nanoGPT's init, the output layer (the final norm's gain) scaled by config.init_scale."""
        positions = task.length + config.max_response_length  # prompt, BOS, response but its last token
        policy = StackedTransformer.init(generators, task.vocab_size, positions, config.dim, config.layers, config.heads)
        if config.init_scale != 1:
            with torch.no_grad():
                policy.final_norm.mul_(config.init_scale)
        return policy

    @staticmethod
    def sample(policy, config, task: Task, uniforms: SeedUniforms, with_log_probs: bool,
               group: int | None = None, sampling: Sampling | None = None) -> Sample:
        """`group` responses per prompt (default config.responses), drawn with `sampling` (default
        the config's: grpo.core.sampling)."""
        sampling = sampling or Sampling.of(config)
        responses, drawn = policy.generate(task.prompts, group or config.responses, config.max_response_length, uniforms,
                                           sampling)
        mask = response_mask(responses, task.vocab_size).float()  # [seed batch response pos]
        # as drawn, not a second (teacher-forced) pass: equal up to float rounding (tests/core/test_transformer.py)
        return Sample(responses, None, mask, drawn if with_log_probs else None, sampling.temperature)

    @staticmethod
    def regroup(task: Task, rounds: Sample, prompts: torch.Tensor | None, choice: torch.Tensor) -> tuple[Sample, torch.Tensor]:
        """As SeedPolicy.regroup; the prompts each seed's groups answer: [seed batch pos]. `prompts`
        [seed rounds*batch pos]: the rounds' own (a stream draws each round afresh); None: the task's, every round."""
        assert rounds.mask is not None, "the transformer's samples always carry their mask"
        log_probs = None if rounds.log_probs is None else groups_at(rounds.log_probs, choice)
        sample = Sample(groups_at(rounds.responses, choice), None, groups_at(rounds.mask, choice), log_probs,
                        rounds.temperature)
        return sample, task.prompts[choice % len(task.prompts)] if prompts is None else groups_at(prompts, choice)

    @staticmethod
    def log_probs(policy, prompts: torch.Tensor, sample: Sample, token_entropy: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (log-prob of each response token [seed batch response pos], mean entropy of the
        next-token distributions over the real tokens [seed]), at the sample's temperature; with
        `token_entropy`, each token's entropy [seed batch response pos], carrying a gradient.
        prompts [batch pos] or [seed batch pos]."""
        log_probs, entropy = policy.log_probs(prompts, sample.responses, sample.temperature, token_entropy)
        return log_probs, entropy if token_entropy else token_mean(entropy, sample.mask)

    @staticmethod
    def rewards(config, task: Task, responses: torch.Tensor) -> torch.Tensor:
        rewards = per_group(SEQUENCE_REWARDS.checked(config.reward_fn), task.prompts, responses, task.vocab_size)
        if config.length_penalty:
            rewards = rewards - config.length_penalty * per_group(length_penalty, task.prompts, responses, task.vocab_size)
        if config.overlong_cache_length:
            rewards = rewards + overlong_punishment(config, responses, task.vocab_size)
        return rewards  # [seed batch response]

    @staticmethod
    def best_reward(config, task: Task) -> torch.Tensor:
        """[batch], or [seed batch] for a stream's rollout."""
        best = best_sequence_reward(config.reward_fn, task.prompts.flatten(0, -2), task.vocab_size, config.max_response_length)
        return best.view(task.prompts.shape[:-1])

    @staticmethod
    def success(task: Task, responses: torch.Tensor) -> torch.Tensor:
        return per_group(exact_match, task.prompts, responses, task.vocab_size).bool()  # [seed batch response]

    @staticmethod
    def greedy_correct(policy, config, task: Task, prompts: torch.Tensor) -> torch.Tensor:
        """prompts [batch pos], or [seed batch pos] (a stream's rollout) -> [seed batch]"""
        if prompts.dim() == 2:
            return policy.greedy_correct(prompts, config.max_response_length)  # [seed batch]
        greedy, _ = policy.generate(prompts, 1, config.max_response_length, None)  # [seed batch 1 max_length]
        ideal = ideal_responses(prompts.flatten(0, 1), task.vocab_size, config.max_response_length)
        return (greedy[:, :, 0] == ideal.view(greedy[:, :, 0].shape)).all(-1)

    @staticmethod
    def greedy(policy, config, prompts: torch.Tensor) -> torch.Tensor:
        """The most likely response to each prompt, token by token: prompts [batch pos] or [seed batch pos]
        -> [seed batch 1 max_length]"""
        return policy.generate(prompts, 1, config.max_response_length, None)[0]

    @staticmethod
    def sum_pi_squared(policy, prompts: torch.Tensor, sample: Sample) -> torch.Tensor:
        """sum over the vocabulary (EOS included) of pi(v)^2 of each response token's next-token
        distribution at the sample's temperature, teacher-forced [seed batch response pos]; positions
        after EOS hold numbers that the caller masks."""
        inputs = policy._inputs(prompts, sample.responses[..., :-1])  # [seed seq pos]: prompt, BOS, response
        probs = tempered(policy(inputs, prompts.shape[-1]), sample.temperature).softmax(-1)  # [seed seq max_length vocab+1]
        return probs.square().sum(-1).view(sample.responses.shape)


POLICIES: dict[str, type[Policy]] = {"seed": SeedPolicy, "transformer": TransformerPolicy}
POLICY_OPTIONS = {"transformer": {"dim": 32}}  # a policy's own defaults: the width that learns the `sequence` preset's task


def overlong_punishment(config, responses: torch.Tensor, vocab: int) -> torch.Tensor:
    """DAPO's soft overlong punishment of each response under `config`'s lengths (its L_max
    ``overlong_max_length``, 0: max_response_length). [seed batch response pos] -> [seed batch response]"""
    max_length = config.overlong_max_length or config.max_response_length
    return soft_overlong_punishment(responses, vocab, max_length, config.overlong_cache_length)


def groups_at(values: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
    """Each seed's groups at `choice` [seed batch] of values [seed groups ...] -> [seed batch ...]."""
    return values[torch.arange(len(values), device=values.device)[:, None], choice]


def per_group(fn, prompts: torch.Tensor, responses: torch.Tensor, vocab: int) -> torch.Tensor:
    """A sequence reward `fn(prompts [batch pos], responses [seed batch response pos], vocab)`
    of prompts shared by the seeds, or of each seed's own (prompts [seed batch pos]: its groups
    laid out as one seed's batch, the rewards being per group). -> [seed batch response]"""
    if prompts.dim() == 2:
        return fn(prompts, responses, vocab)
    return fn(prompts.flatten(0, 1), responses.flatten(0, 1)[None], vocab).view(responses.shape[:-1])


def length_metrics(sample: Sample, success: torch.Tensor, vocab: int) -> dict[str, torch.Tensor]:
    """Response length in real tokens (EOS included): mean, mean of the exact responses, mean of
    the others (NaN where a seed has none), and the fraction of responses that end with EOS.
    -> {record column: [seed]}"""
    if sample.mask is None:
        lengths = torch.full(success.shape, float(sample.responses.shape[-1]), device=success.device)
    else:
        lengths = sample.mask.sum(-1)  # [seed batch response]
    reached_eos = ended(sample.responses, vocab).float()  # [seed batch response]

    def mean_where(chosen):
        count = chosen.sum((1, 2))
        return torch.where(count > 0, (lengths * chosen).sum((1, 2)) / count.clamp(min=1), torch.nan)

    return {"response_length": lengths.mean((1, 2)), "correct_length": mean_where(success.float()),
            "incorrect_length": mean_where(1.0 - success.float()), "eos_rate": reached_eos.mean((1, 2))}
