import numpy as np
import pytest
import torch

from grpo.core.config import TrainConfig
from grpo.core.policies import POLICIES
from grpo.core.train import train
from grpo.core.warm_start import base_key, demonstrations, load_bases, train_bases
from grpo.errors import FieldError
from grpo.tasks.prompts import stream_generators

STREAM = dict(policy="transformer", task="stream", task_min_length=2, task_length=3, task_vocab=4, task_prompts=4,
              task_heldout=16, max_response_length=5, dim=8, heads=2, responses=4, epochs=2, steps_per_epoch=2,
              reward_fn="sort_distance", warm_start_steps=5)


def test_two_configurations_of_a_seed_start_from_the_same_base_and_the_same_start():
    """Bit-identical base weights under two configurations (another loss, deltas, lr), the same
    start success and entropy, and then the same first rollout's prompts."""
    a = TrainConfig(**STREAM, loss_mode="clipped", deltas_mode="centered_rewards")
    b = TrainConfig(**STREAM, loss_mode="naive", deltas_mode="normalized_rewards", lr=1e-2, kl_penalty=0.1)
    assert a.config_id != b.config_id and base_key(a) == base_key(b)
    bases_a, bases_b = train_bases(a, [0, 5]), train_bases(b, [5])
    for name, weight in bases_b[5].items():
        assert torch.equal(weight, bases_a[5][name])
    records = {config.config_id: train(config, [5, 0]) for config in (a, b)}
    start = ["start_heldout_sorted_frac", "start_entropy"]
    first = {key: r[r.seed == 5][start].iloc[0].to_numpy() for key, r in records.items()}
    np.testing.assert_array_equal(*first.values())
    assert 0 < first[a.config_id][1]  # a base with entropy


def test_the_base_is_loaded_into_every_slice_and_differs_from_the_init():
    config = TrainConfig(**STREAM)
    kind, task = POLICIES["transformer"], config.make_task()
    policy = kind.init(config, task, [torch.Generator().manual_seed(s) for s in (2, 1, 2)])
    init = policy.token_embedding.detach().clone()
    bases = train_bases(config, [1, 2])
    load_bases(policy, bases, [2, 1, 2])
    assert torch.equal(policy.token_embedding[0], bases[2]["token_embedding"])
    assert torch.equal(policy.token_embedding[2], bases[2]["token_embedding"])
    assert torch.equal(policy.token_embedding[1], bases[1]["token_embedding"])
    assert not torch.equal(policy.token_embedding, init)


def test_a_warm_start_raises_success_over_the_init():
    """Imitating noiseless demonstrations for long enough sorts short lists: the base's held-out
    success beats the random init's."""
    trained = dict(STREAM, warm_start_steps=150, warm_start_noise=0.0, warm_start_lr=1e-2, task_prompts=16, epochs=1,
                   dim=16)
    with_base = train(TrainConfig(**trained), [0, 1]).start_heldout_sorted_frac.mean()
    cold = {name: value for name, value in trained.items() if name not in ("warm_start_noise", "warm_start_lr")}
    without = train(TrainConfig(**{**cold, "warm_start_steps": 0}), [0, 1]).start_heldout_sorted_frac.mean()
    assert without < 0.05 < 0.3 < with_base


def test_the_base_key_counts_every_setting_it_depends_on():
    config = TrainConfig(**STREAM)
    keys = {base_key(TrainConfig(**{**STREAM, name: value})) for name, value in
            [("warm_start_noise", 0.1), ("warm_start_lr", 1e-2), ("warm_start_steps", 6), ("init_scale", 0.5),
             ("dim", 16), ("task_length", 4), ("task_seed", 1)]}
    assert len(keys) == 7 and base_key(config) not in keys
    assert base_key(TrainConfig(**STREAM, loss_mode="clipped", lr=0.1)) == base_key(config)


def test_demonstrations_are_the_sorted_prompt_with_noise_on_content_tokens_only():
    prompts = torch.tensor([[[2, 0, 1], [3, 3, 5]]])  # vocab 4, pad 5
    clean = demonstrations(prompts, 4, 5, 0.0, stream_generators([0], "x"))
    assert clean[0, :, 0].tolist() == [[0, 1, 2, 4, 5], [3, 3, 4, 5, 5]]
    noisy = demonstrations(prompts[:, :1].expand(1, 2000, 3).clone(), 4, 5, 0.5, stream_generators([0], "x"))[0, :, 0]
    assert (noisy[:, 3] == 4).all() and (noisy[:, 4] == 5).all()  # EOS and pads stay
    changed = (noisy[:, :3] != torch.tensor([0, 1, 2])).float().mean().item()
    assert abs(changed - 0.5 * 3 / 4) < 0.03  # replaced half the time, by another token 3 times in 4


def test_warm_start_settings_are_keyed_only_when_set_and_checked():
    plain = dict(STREAM, warm_start_steps=0)
    assert TrainConfig(**plain).config_id != TrainConfig(**STREAM).config_id
    assert TrainConfig(**plain).config_id == TrainConfig(**plain, init_scale=1.0).config_id
    with pytest.raises(FieldError, match="warm_start_noise"):
        TrainConfig(**plain, warm_start_noise=0.1)  # no warm start: its noise does not apply
    with pytest.raises(FieldError, match="needs task 'stream'"):
        TrainConfig(**{**STREAM, "task": "variable", "task_prompts": 8})
    with pytest.raises(FieldError, match="init_scale"):
        TrainConfig(init_scale=0.5)  # the seed document's policy has no such layer


def test_samples_count_every_round_of_dynamic_sampling():
    config = TrainConfig(**dict(STREAM, warm_start_steps=0, epochs=4), deltas_mode="centered_rewards", dynamic_sampling=3)
    records = train(config, [0, 1, 2])
    epochs = records[records.step % 2 == 1]  # one row an epoch
    for _, run in epochs.groupby("seed"):
        rounds = run.sampling_rounds.to_numpy()
        assert (run.samples.to_numpy() == np.cumsum(rounds) * 4 * 4).all()
    assert (epochs.sampling_rounds > 1).any()  # a case where the extra rounds count
    assert records.samples.dtype == np.int64


def test_a_stream_rollout_records_the_spread_of_difficulty_and_held_out_success():
    records = train(TrainConfig(**dict(STREAM, warm_start_steps=30, epochs=3)), [0, 1])
    last = records[records.step % 2 == 1]
    assert last.mixed_pass_frac.between(0, 1).all() and last.heldout_sorted_frac.between(0, 1).all()
    assert records.heldout_sorted_frac.isna().sum() == len(records) // 2  # set on each epoch's last step only


def test_eval_every_evaluates_every_kth_epoch_and_the_last_leaving_training_as_it_was():
    every = train(TrainConfig(**dict(STREAM, epochs=5)), [0, 1])
    third = train(TrainConfig(**dict(STREAM, epochs=5), eval_every=3), [0, 1])
    evaluated = third.dropna(subset=["greedy_heldout_acc"]).epoch.unique().tolist()
    assert evaluated == [2, 4]
    for name in ("loss", "sorted_frac", "samples", "start_entropy"):
        assert every[name].equals(third[name])
    at = every.epoch == 2
    assert every[at].greedy_heldout_acc.dropna().equals(third[at].greedy_heldout_acc.dropna())
