"""Reward functions against the seed document's plain-Python definitions."""

from itertools import product

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grpo.modes.rewards import REWARDS, best_reward, sort_distance, sort_inclusion_ordering
from grpo.tasks.prompts import seed_task
from grpo.testing import assert_sorted_response_rated_best


def plain_sort_distance(prompt, response):  # the seed document's code
    return sum(1 for x, y in zip(response, sorted(prompt)) if x == y)


def plain_sort_inclusion_ordering(prompt, response):  # the seed document's code
    inclusion = sum(1 for x in prompt if x in response)
    ordering = sum(1 for x, y in zip(response, response[1:]) if x <= y)
    return inclusion + ordering


def plain_exact_match(prompt, response):
    return 1 if response == sorted(prompt) else 0


def plain_pairwise_order(prompt, response):
    ideal = sorted(prompt)
    pairs = [(i, j) for i in range(len(response)) for j in range(i + 1, len(response))]

    def sign(x):
        return (x > 0) - (x < 0)

    agree = sum(sign(response[j] - response[i]) == sign(ideal[j] - ideal[i]) for i, j in pairs)
    included = sum(1 for x in prompt if x in response) / len(prompt)
    return (agree / len(pairs) if pairs else 1) * included


PLAIN = {"sort_distance": plain_sort_distance, "sort_inclusion_ordering": plain_sort_inclusion_ordering,
         "exact_match": plain_exact_match, "pairwise_order": plain_pairwise_order}


@st.composite
def prompts_and_responses(draw):
    vocab = draw(st.integers(2, 7))
    length = draw(st.integers(1, 6))
    seeds, batch, responses = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    tokens = st.integers(0, vocab - 1)
    prompts = draw(st.lists(st.lists(tokens, min_size=length, max_size=length), min_size=batch, max_size=batch))
    flat = draw(st.lists(tokens, min_size=seeds * batch * responses * length, max_size=seeds * batch * responses * length))
    return torch.tensor(prompts), torch.tensor(flat).view(seeds, batch, responses, length)


@settings(max_examples=200, deadline=None)
@given(prompts_and_responses())
def test_rewards_match_plain_python(data):
    prompts, responses = data
    for name, fn in REWARDS.items():
        got = fn(prompts, responses)
        assert got.shape == responses.shape[:3] and got.dtype == torch.float32
        for s, b, t in product(*(range(n) for n in responses.shape[:3])):
            assert got[s, b, t].item() == pytest.approx(PLAIN[name](prompts[b].tolist(), responses[s, b, t].tolist()))


def test_seed_examples_by_hand():
    prompts = torch.tensor([[1, 0, 2]])
    responses = torch.tensor([[0, 1, 2], [2, 1, 0], [0, 0, 0], [1, 1, 4]]).view(1, 1, 4, 3)
    assert sort_distance(prompts, responses).flatten().tolist() == [3, 1, 1, 1]
    # inclusion (of 1, 0, 2) + ordered adjacent pairs
    assert sort_inclusion_ordering(prompts, responses).flatten().tolist() == [3 + 2, 3 + 0, 1 + 2, 1 + 2]


def test_prompt_duplicates_count_with_multiplicity():
    prompts = torch.tensor([[2, 2, 1]])
    responses = torch.tensor([[2, 3, 3]]).view(1, 1, 1, 3)
    assert sort_inclusion_ordering(prompts, responses).item() == 2 + 2  # both 2s are found; 2<=3, 3<=3


def test_best_reward_is_unbeaten_by_any_response():
    """Brute force over every response of the seed task: none beats the sorted prompt."""
    task = seed_task()
    for name in REWARDS:
        assert_sorted_response_rated_best(name, task)
    assert best_reward("sort_distance", task.prompts).tolist() == [3, 3, 3]
    assert best_reward("sort_inclusion_ordering", task.prompts).tolist() == [5, 5, 5]
    assert best_reward("exact_match", task.prompts).tolist() == [1, 1, 1]
    assert best_reward("pairwise_order", task.prompts).tolist() == [1, 1, 1]


def test_new_rewards_by_hand():
    prompts = torch.tensor([[1, 0, 2]])
    responses = torch.tensor([[0, 1, 2], [2, 1, 0], [0, 0, 0], [1, 0, 2]]).view(1, 1, 4, 3)
    assert REWARDS["exact_match"](prompts, responses).flatten().tolist() == [1, 0, 0, 0]
    # pairs (0,1), (0,2), (1,2) of [1, 0, 2]: only (0,1) is out of order; [0, 0, 0] contains only the 0
    assert REWARDS["pairwise_order"](prompts, responses).flatten().tolist() == pytest.approx([1, 0, 0, 2 / 3])
    # an increasing run of the wrong tokens is not rewarded as sorted: [0, 1, 2] for [5, 2, 7] finds only the 2
    assert REWARDS["pairwise_order"](torch.tensor([[5, 2, 7]]), torch.tensor([[[[0, 1, 2]]]])).item() == pytest.approx(1 / 3)
