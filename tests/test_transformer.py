"""The transformer policy: stacked seeds equal separate models, teacher-forced log-probs equal
the sampling-time ones, causality, nothing after EOS changes the loss."""

import torch

from grpo.aggregation import LOSS_AGGREGATIONS
from grpo.sequences import eos_token, pad_token, response_mask
from grpo.tasks import variable_task
from grpo.transformer import StackedTransformer

VOCAB, WIDTH, MAX_LENGTH = 5, 4, 6
PROMPTS = variable_task(2, WIDTH, VOCAB, 6, 0, seed=0).prompts  # [6 4]


def make(seeds, dim=16, layers=2, heads=2):
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    return StackedTransformer.init(generators, VOCAB, WIDTH + MAX_LENGTH, dim, layers, heads), generators


def test_stacked_seeds_equal_separate_models():
    seeds = [0, 1, 7]
    stacked, generators = make(seeds)
    responses, drawn = stacked.generate(PROMPTS, 3, MAX_LENGTH, generators)
    log_probs, entropy = stacked.log_probs(PROMPTS, responses)
    for i, seed in enumerate(seeds):
        alone, alone_generators = make([seed])
        for name, parameter in alone.named_parameters():
            assert torch.equal(parameter[0], getattr(stacked, name)[i]), name
        alone_responses, alone_drawn = alone.generate(PROMPTS, 3, MAX_LENGTH, alone_generators)
        assert torch.equal(alone_responses[0], responses[i])
        torch.testing.assert_close(alone_drawn[0], drawn[i])
        alone_log_probs, alone_entropy = alone.log_probs(PROMPTS, responses[i:i + 1])
        torch.testing.assert_close(alone_log_probs[0], log_probs[i])
        torch.testing.assert_close(alone_entropy[0], entropy[i])


def test_teacher_forced_log_probs_equal_the_sampling_time_ones():
    model, generators = make([3, 4], layers=1)
    responses, drawn = model.generate(PROMPTS, 8, MAX_LENGTH, generators)
    log_probs, _ = model.log_probs(PROMPTS, responses)
    mask = response_mask(responses, VOCAB)
    assert (responses == eos_token(VOCAB)).any() and not mask.all()  # the case needs ended and truncated responses
    torch.testing.assert_close(log_probs[mask], drawn[mask])
    assert (drawn[~mask] == 0).all() and (responses[~mask] == pad_token(VOCAB)).all()


def test_responses_end_at_eos_and_probabilities_sum_to_one():
    model, generators = make([0])
    responses, _ = model.generate(PROMPTS, 4, MAX_LENGTH, generators)
    logits = model(model._inputs(PROMPTS, responses[..., :-1]), first=WIDTH)
    torch.testing.assert_close(logits.softmax(-1).sum(-1), torch.ones(logits.shape[:-1]))
    assert logits.shape == (1, 6 * 4, MAX_LENGTH, VOCAB + 1)  # sampled: the task's tokens and EOS
    assert ((responses < VOCAB) | (responses == eos_token(VOCAB)) | (responses == pad_token(VOCAB))).all()


def test_nothing_after_eos_changes_the_loss():
    """Tokens after EOS change neither the masked log-probs (causality) nor any aggregated loss."""
    model, generators = make([5])
    responses, _ = model.generate(PROMPTS, 8, MAX_LENGTH, generators)
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

