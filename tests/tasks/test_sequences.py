"""Variable-length prompts and responses: the mask, the ideal response, the prompt sets, and
the rewards of variable-length responses (hand-computed, brute force, nothing after EOS counts)."""

from itertools import product

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grpo.errors import UsageError
from grpo.modes.sequence_rewards import SEQUENCE_REWARDS, best_sequence_reward, content_lengths, length_penalty
from grpo.tasks.prompts import distinct_prompts, variable_task
from grpo.tasks.sequences import canonical, ended, eos_token, ideal_responses, pad_token, prompt_lengths, response_mask

VOCAB = 4
EOS, PAD = eos_token(VOCAB), pad_token(VOCAB)  # 4, 5


def test_mask_runs_up_to_and_including_the_first_eos():
    responses = torch.tensor([[1, 2, EOS, 3, EOS], [EOS, 0, 0, 0, 0], [1, 1, 1, 1, 1]])
    assert response_mask(responses, VOCAB).tolist() == [[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]]
    assert canonical(responses, VOCAB).tolist() == [[1, 2, EOS, PAD, PAD], [EOS, PAD, PAD, PAD, PAD], [1, 1, 1, 1, 1]]


def test_ideal_is_the_sorted_prompt_then_eos_then_pads():
    prompts = torch.tensor([[3, 1, 2], [2, 0, PAD]])
    assert prompt_lengths(prompts, VOCAB).tolist() == [3, 2]
    assert ideal_responses(prompts, VOCAB, 5).tolist() == [[1, 2, 3, EOS, PAD], [0, 2, EOS, PAD, PAD]]


def test_variable_task_prompts_are_distinct_in_range_held_out_and_reproducible():
    task = variable_task(2, 4, VOCAB, 20, 30, seed=0)
    prompts = torch.cat([task.prompts, task.heldout])
    lengths = prompt_lengths(prompts, VOCAB)
    assert task.prompts.shape == (20, 4) and task.heldout.shape == (30, 4)
    assert len({tuple(p) for p in prompts.tolist()}) == 50  # distinct, so training and held out never overlap
    assert lengths.min() == 2 and lengths.max() == 4
    assert ((prompts < VOCAB) == (torch.arange(4) < lengths[:, None])).all()  # tokens, then pads only
    assert torch.equal(task.prompts, variable_task(2, 4, VOCAB, 20, 30, seed=0).prompts)
    assert not torch.equal(task.prompts, variable_task(2, 4, VOCAB, 20, 30, seed=1).prompts)
    assert distinct_prompts(2, 4, VOCAB) == 16 + 64 + 256
    with pytest.raises(UsageError, match="fewer than half of the 80"):
        variable_task(2, 3, VOCAB, 30, 20, seed=0)


PROMPTS = torch.tensor([[2, 0, PAD], [3, 1, 1]])  # ideal: [0 2 EOS], [1 1 3 EOS]


def rewards(name, responses):
    return SEQUENCE_REWARDS[name](PROMPTS, torch.tensor(responses)[None], VOCAB)[0].tolist()


def test_rewards_by_hand():
    responses = [
        [[0, 2, EOS, PAD, PAD], [0, 2, 3, EOS, PAD], [2, 0, EOS, PAD, PAD], [0, EOS, PAD, PAD, PAD], [0, 2, 2, 2, 2]],
        [[1, 1, 3, EOS, PAD], [1, 3, EOS, PAD, PAD], [1, 1, 3, 3, EOS], [3, 3, 3, EOS, PAD], [EOS, 1, 1, 3, EOS]],
    ]
    assert rewards("exact_match", responses) == [[1, 0, 0, 0, 0], [1, 0, 0, 0, 0]]
    # positions of the ideal (n + 1 of them) matched
    assert rewards("sort_distance", responses) == [[3, 2, 1, 1, 2], [4, 1, 3, 2, 0]]
    # prompt tokens found + ordered pairs among the first n content tokens + 1 for EOS right after n tokens
    assert rewards("sort_inclusion_ordering", responses) == [
        [2 + 1 + 1, 2 + 1 + 0, 2 + 0 + 1, 1 + 0 + 0, 2 + 1 + 0],
        [3 + 2 + 1, 3 + 1 + 0, 3 + 2 + 0, 1 + 2 + 1, 0 + 0 + 0],
    ]
    lengths = torch.tensor(responses)[None]
    assert content_lengths(lengths, VOCAB)[0].tolist() == [[2, 3, 2, 1, 5], [3, 2, 4, 3, 0]]
    assert ended(lengths, VOCAB)[0].tolist() == [[True] * 4 + [False], [True] * 5]
    assert length_penalty(PROMPTS, lengths, VOCAB)[0].tolist() == [[0, 1, 0, 1, 3], [0, 1, 1, 0, 3]]


@pytest.mark.parametrize("name", list(SEQUENCE_REWARDS))
def test_no_response_beats_the_ideal_one(name):
    """Brute force over every response of up to 4 positions over the prompt's tokens and EOS."""
    prompts = torch.tensor([[2, 0, PAD]])
    everything = torch.tensor(list(product(range(VOCAB + 1), repeat=4)))[None, None]  # [1 1 all 4]
    scores = SEQUENCE_REWARDS[name](prompts, everything, VOCAB)[0, 0]
    best = best_sequence_reward(name, prompts, VOCAB, 4)
    ideal = (canonical(everything, VOCAB)[0, 0] == ideal_responses(prompts, VOCAB, 4)).all(-1)
    assert scores.max() == best[0] and (scores[ideal] == best[0]).all()
    assert (scores == best[0]).sum() == ideal.sum()  # the ideal (whatever follows its EOS) and nothing else


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_nothing_after_eos_changes_a_reward(data):
    tokens = st.integers(0, VOCAB)
    response = data.draw(st.lists(tokens, min_size=5, max_size=5))
    noise = data.draw(st.lists(st.integers(0, PAD), min_size=5, max_size=5))
    responses = torch.tensor([response])
    changed = torch.where(response_mask(responses, VOCAB), responses, torch.tensor([noise]))
    for name, reward_fn in {**SEQUENCE_REWARDS, "length_penalty": length_penalty}.items():
        before = reward_fn(PROMPTS[:1], responses[None, None], VOCAB)
        after = reward_fn(PROMPTS[:1], changed[None, None], VOCAB)
        assert torch.equal(before, after), name
