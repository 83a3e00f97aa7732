import pytest
import torch

from grpo.errors import UsageError
from grpo.tasks.prompts import random_task, seed_task


def rows(tensor):
    return {tuple(row) for row in tensor.tolist()}


def test_seed_task_holds_out_every_other_array():
    task = seed_task()
    assert task.prompts.tolist() == [[1, 0, 2], [3, 2, 4], [1, 2, 3]] and task.vocab_size == 5
    assert len(task.heldout) == 5**3 - 3 and not rows(task.prompts) & rows(task.heldout)
    assert task.ideal(task.prompts).tolist() == [[0, 1, 2], [2, 3, 4], [1, 2, 3]]


@pytest.mark.parametrize("length,vocab", [(3, 4), (6, 10), (8, 8)])
def test_random_task_is_distinct_disjoint_and_fixed(length, vocab):
    task = random_task(length, vocab, 10, 30, seed=1)
    assert task.prompts.shape == (10, length) and task.heldout.shape == (30, length)
    assert len(rows(torch.cat([task.prompts, task.heldout]))) == 40
    assert int(task.prompts.max()) < vocab
    again = random_task(length, vocab, 10, 30, seed=1)
    assert torch.equal(task.prompts, again.prompts) and torch.equal(task.heldout, again.heldout)
    assert not torch.equal(task.prompts, random_task(length, vocab, 10, 30, seed=2).prompts)


def test_random_task_too_small_is_a_usage_error():
    with pytest.raises(UsageError, match="2\\^3 = 8"):
        random_task(3, 2, 5, 5, seed=0)
