"""The transformer policy: stacked seeds equal separate models, teacher-forced log-probs equal
the sampling-time ones, causality, nothing after EOS changes the loss."""

import pandas as pd
import pytest
import torch

from grpo import TrainConfig, train
from grpo.core import transformer
from grpo.core.train import one_intra_op_thread
from grpo.core.transformer import StackedTransformer
from grpo.core.uniforms import SeedUniforms
from grpo.modes.aggregation import LOSS_AGGREGATIONS
from grpo.modes.losses import LOSSES
from grpo.tasks.prompts import variable_task
from grpo.tasks.sequences import eos_token, pad_token, response_mask
from grpo.testing import STACKED_TOLERANCE

VOCAB, WIDTH, MAX_LENGTH = 5, 4, 6
PROMPTS = variable_task(2, WIDTH, VOCAB, 6, 0, seed=0).prompts  # [6 4]


def make(seeds, dim=16, layers=2, heads=2):
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    return StackedTransformer.init(generators, VOCAB, WIDTH + MAX_LENGTH, dim, layers, heads), generators


def test_stacked_seeds_equal_separate_models():
    seeds = [0, 1, 7]
    stacked, generators = make(seeds)
    responses, drawn = stacked.generate(PROMPTS, 3, MAX_LENGTH, SeedUniforms(generators))
    log_probs, entropy = stacked.log_probs(PROMPTS, responses)
    for i, seed in enumerate(seeds):
        alone, alone_generators = make([seed])
        for name, parameter in alone.named_parameters():
            assert torch.equal(parameter[0], getattr(stacked, name)[i]), name
        alone_responses, alone_drawn = alone.generate(PROMPTS, 3, MAX_LENGTH, SeedUniforms(alone_generators))
        assert torch.equal(alone_responses[0], responses[i])
        torch.testing.assert_close(alone_drawn[0], drawn[i])
        alone_log_probs, alone_entropy = alone.log_probs(PROMPTS, responses[i:i + 1])
        torch.testing.assert_close(alone_log_probs[0], log_probs[i])
        torch.testing.assert_close(alone_entropy[0], entropy[i])


def test_seeds_in_chunks_equal_seeds_all_at_once(monkeypatch):
    """On the CPU the seeds run in chunks (SEEDS_PER_CHUNK): the same samples, log-probs and
    gradients as all seeds at once, a chunk boundary inside the stack included."""
    results = []
    for chunk in (2, 10**9):
        monkeypatch.setattr(transformer, "SEEDS_PER_CHUNK", chunk)
        model, generators = make([0, 1, 7])
        responses, drawn = model.generate(PROMPTS, 3, MAX_LENGTH, SeedUniforms(generators))
        log_probs, entropy = model.log_probs(PROMPTS, responses)
        log_probs.sum().backward()
        results.append((responses, drawn, log_probs, entropy, [p.grad for p in model.parameters()]))
    (responses, drawn, log_probs, entropy, grads), (all_responses, all_drawn, all_log_probs, all_entropy, all_grads) = results
    assert torch.equal(responses, all_responses)
    for chunked, at_once in [(drawn, all_drawn), (log_probs, all_log_probs), (entropy, all_entropy), *zip(grads, all_grads)]:
        torch.testing.assert_close(chunked, at_once)


def test_teacher_forced_log_probs_equal_the_sampling_time_ones():
    model, generators = make([3, 4], layers=1)
    responses, drawn = model.generate(PROMPTS, 8, MAX_LENGTH, SeedUniforms(generators))
    log_probs, _ = model.log_probs(PROMPTS, responses)
    mask = response_mask(responses, VOCAB)
    assert (responses == eos_token(VOCAB)).any() and not mask.all()  # the case needs ended and truncated responses
    torch.testing.assert_close(log_probs[mask], drawn[mask])
    assert (drawn[~mask] == 0).all() and (responses[~mask] == pad_token(VOCAB)).all()


def test_responses_end_at_eos_and_probabilities_sum_to_one():
    model, generators = make([0])
    responses, _ = model.generate(PROMPTS, 4, MAX_LENGTH, SeedUniforms(generators))
    logits = model(model._inputs(PROMPTS, responses[..., :-1]), first=WIDTH)
    torch.testing.assert_close(logits.softmax(-1).sum(-1), torch.ones(logits.shape[:-1]))
    assert logits.shape == (1, 6 * 4, MAX_LENGTH, VOCAB + 1)  # sampled: the task's tokens and EOS
    assert ((responses < VOCAB) | (responses == eos_token(VOCAB)) | (responses == pad_token(VOCAB))).all()


def test_nothing_after_eos_changes_the_loss():
    """Tokens after EOS change neither the masked log-probs (causality) nor any aggregated loss."""
    model, generators = make([5])
    responses, _ = model.generate(PROMPTS, 8, MAX_LENGTH, SeedUniforms(generators))
    mask = response_mask(responses, VOCAB)
    noise = torch.randint(VOCAB + 1, responses.shape, generator=torch.Generator().manual_seed(9))
    changed = torch.where(mask, responses, noise)
    deltas = torch.randn(responses.shape[:-1], generator=torch.Generator().manual_seed(2))[..., None]
    for name, aggregate in LOSS_AGGREGATIONS.items():
        losses = []
        for tokens in (responses, changed):
            log_probs, _ = model.log_probs(PROMPTS, tokens)
            losses.append(aggregate(-log_probs * deltas, mask.float()))
        torch.testing.assert_close(losses[0], losses[1], msg=name)



# Training with the transformer policy (one thread: these tiny matmuls only lose to threading)
TINY = dict(policy="transformer", task="variable", task_min_length=3, task_length=4, task_vocab=2, task_prompts=4,
            task_heldout=4, max_response_length=6, responses=8, reward_fn="sort_distance", lr=3e-3)


@pytest.fixture(autouse=True)
def one_thread():
    with one_intra_op_thread():
        yield


@pytest.mark.parametrize("config", [
    TrainConfig(**TINY, epochs=3, steps_per_epoch=2, loss_mode="clip_higher", loss_agg="token_mean", kl_penalty=0.1,
                kl_reduction="mean", deltas_mode="normalized_rewards", length_penalty=0.5),
    TrainConfig(**{**TINY, "reward_fn": "sort_inclusion_ordering"}, epochs=3, steps_per_epoch=2, loss_mode="gspo",
                loss_agg="seq_mean_token_sum_norm", kl_penalty=0.1, deltas_mode="centered_rewards"),
], ids=["clip-higher-token-mean-kl-mean-length-penalty", "gspo-sum-norm-kl-sum-inclusion"])
def test_stacked_seeds_train_as_separate_runs(config):
    stacked = train(config, [0, 1, 7])
    separate = pd.concat([train(config, [seed]) for seed in (0, 1, 7)], ignore_index=True)
    pd.testing.assert_frame_equal(stacked, separate, **STACKED_TOLERANCE)


@pytest.mark.parametrize("loss_mode", list(LOSSES))
def test_a_short_run_raises_success_on_a_length_3_to_4_task(loss_mode):
    """Every loss mode, each with one of the aggregations in turn: exact responses (sorted, then
    EOS) grow from about 2% of the samples."""
    loss_agg = list(LOSS_AGGREGATIONS)[list(LOSSES).index(loss_mode) % len(LOSS_AGGREGATIONS)]
    config = TrainConfig(**TINY, epochs=25, steps_per_epoch=4, loss_mode=loss_mode, loss_agg=loss_agg,
                         deltas_mode="normalized_rewards")
    success = train(config, range(8)).groupby("epoch").sorted_frac.mean()
    assert success.iloc[-3:].mean() - success.iloc[:3].mean() > 0.03


def test_records_of_lengths_eos_and_entropy():
    config = TrainConfig(**TINY, epochs=2, steps_per_epoch=2)
    records = train(config, [0, 1])
    lengths = records[["response_length", "correct_length", "incorrect_length"]]
    assert ((lengths >= 1) & (lengths <= config.max_response_length) | lengths.isna()).all().all()
    correct = records.correct_length.dropna()  # an exact response is the sorted prompt and EOS: 4 or 5 tokens
    assert correct.between(config.task_min_length + 1, config.task_length + 1).all()
    assert records.eos_rate.between(0, 1).all() and (records.entropy > 0).all()
    assert (records.entropy <= torch.log(torch.tensor(config.task_vocab + 1.0)).item() + 1e-6).all()  # tokens and EOS


def test_seed_policy_records_lengths_without_eos():
    records = train(TrainConfig(epochs=2, steps_per_epoch=2), [0])
    assert (records.response_length == 3).all() and (records.eos_rate == 0).all()
