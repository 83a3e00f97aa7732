"""TRL's per-step metrics (grpo.core.trl_metrics): a rollout's by hand, the gradient norm per
seed against the weights' layout, and the records' columns against their definitions."""

import numpy as np
import pytest
import torch

from grpo.core.config import CONFIG_FIELDS, TrainConfig
from grpo.core.policies import POLICIES, Sample
from grpo.core.schema import METRICS
from grpo.core.train import train
from grpo.core.trl_metrics import grad_norms, rollout_tokens, trl_rollout_metrics

TRL_COLUMNS = ("grad_norm", "reward_std", "response_length_min", "response_length_max", "terminated_length",
               "terminated_length_min", "terminated_length_max", "num_tokens", "learning_rate")


def test_no_metric_shares_a_name_with_a_config_field():
    assert not set(METRICS) & set(CONFIG_FIELDS)  # a record holds both as columns
    assert set(TRL_COLUMNS) <= set(METRICS)


def test_a_rollouts_metrics_by_hand():
    eos, pad = 5, 6  # vocab 5
    responses = torch.tensor([[[[1, 2, eos, pad], [0, 1, 2, 3], [4, eos, pad, pad]]],  # seed 0: lengths 3, 4 (cut), 2
                              [[[0, 1, 2, 3], [3, 2, 1, 0], [1, 1, 1, 1]]]])  # seed 1: no EOS, every length 4
    mask = torch.tensor([[[[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0]]], [[[1, 1, 1, 1]] * 3]], dtype=torch.float)
    rewards = torch.tensor([[[1.0, 2.0, 4.0]], [[3.0, 3.0, 3.0]]])  # [seed batch response]
    prompts = torch.tensor([[1, 2, pad]])  # [batch pos]: two real tokens
    sample = Sample(responses, None, mask, None)
    metrics = trl_rollout_metrics(sample, rewards, 5)
    assert set(metrics) < set(METRICS)
    assert metrics["reward_std"].tolist() == pytest.approx([np.std([1, 2, 4], ddof=1), 0.0])
    assert metrics["response_length_min"].tolist() == [2, 4] and metrics["response_length_max"].tolist() == [4, 4]
    assert metrics["terminated_length"][0] == 2.5 and metrics["terminated_length_min"][0] == 2
    assert metrics["terminated_length_max"][0] == 3
    for name in ("terminated_length", "terminated_length_min", "terminated_length_max"):
        assert torch.isnan(metrics[name][1])  # no response of seed 1 ended (TRL logs 0)
    assert rollout_tokens(sample, prompts, 5).tolist() == [2 * 3 + 3 + 4 + 2, 2 * 3 + 4 * 3]  # prompt per response + real tokens


@pytest.mark.parametrize("policy", ["seed", "transformer"])
def test_grad_norm_is_each_seeds_own(policy):
    config = TrainConfig(policy=policy)
    generators = [torch.Generator().manual_seed(seed) for seed in (0, 1, 2)]
    model = POLICIES[policy].init(config, config.make_task(), generators)
    weights = 0
    for parameter in model.parameters():
        parameter.grad = torch.zeros_like(parameter)
        for view in model.seed_slices(parameter.grad, 0, 3):  # [seed ...]
            for seed in range(3):
                view[seed] = seed + 1.0  # every gradient entry of seed k is k + 1
            weights += view[0].numel()
    expected = [(seed + 1) * np.sqrt(weights) for seed in range(3)]
    assert grad_norms(model, 3).tolist() == pytest.approx(expected, rel=1e-6)


def test_the_records_columns():
    config = TrainConfig(epochs=3, steps_per_epoch=2, lr=0.002)
    records = train(config, [0, 1])
    task = config.make_task()
    batch, prompt_len = task.prompts.shape
    response_len = prompt_len  # the seed document's policy: fixed length, no EOS
    rollout_tokens = batch * config.responses * (prompt_len + response_len)
    assert (records.learning_rate == np.float32(0.002)).all()
    assert records.num_tokens.dtype == np.int64
    assert (records.num_tokens == (records.epoch + 1) * rollout_tokens).all()  # summed over the rollouts so far
    assert (records.response_length_min == response_len).all() and (records.response_length_max == response_len).all()
    assert records.terminated_length.isna().all()  # nothing ends with EOS
    assert (records.grad_norm > 0).all() and np.isfinite(records.grad_norm).all()
    assert (records.reward_std >= 0).all()
