"""Sorting tasks: a prompt is an array of tokens, its ideal response the same array sorted.

Three tasks:
- ``seed``: the seed document's three prompts ``[[1,0,2],[3,2,4],[1,2,3]]`` over vocab 5;
  held out are all other length-3 arrays over that vocab (122 prompts).
- ``random``: distinct random arrays (duplicate tokens allowed) of a chosen length over a
  chosen vocab, drawn from their own generator (``task_seed``) and split into training and
  held-out prompts that never overlap.
- ``variable``: as ``random``, with each prompt's length drawn from
  [task_min_length, task_length]; shorter prompts are padded (grpo.tasks.sequences). Its ideal
  response is the sorted prompt followed by EOS, so only the ``transformer`` policy plays it.
"""

from dataclasses import dataclass
from itertools import product

import torch

from grpo.errors import UsageError
from grpo.tasks.sequences import pad_token

SEED_PROMPTS = [[1, 0, 2], [3, 2, 4], [1, 2, 3]]
SEED_VOCAB = 5


@dataclass(frozen=True)
class Task:
    prompts: torch.Tensor  # [batch pos] training prompts
    heldout: torch.Tensor  # [heldout pos] prompts never trained on
    vocab_size: int

    @property
    def length(self) -> int:
        """The longest prompt's length."""
        return self.prompts.shape[1]

    @staticmethod
    def ideal(prompts: torch.Tensor) -> torch.Tensor:
        """The sorted prompts: the response every reward function rates best."""
        return prompts.sort(dim=-1).values

    @staticmethod
    def is_ideal(prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
        """Whether each fixed-length response is exactly its sorted prompt: the exact-match check
        of the reward, the success metric and greedy accuracy.
        prompts [batch pos], responses [seed batch response pos] -> bool [seed batch response]"""
        return (responses == Task.ideal(prompts)[:, None, :]).all(-1)

    def to(self, device: torch.device | str) -> "Task":
        return Task(self.prompts.to(device), self.heldout.to(device), self.vocab_size)


def seed_task() -> Task:
    """seed document: prompts [1,0,2], [3,2,4], [1,2,3] over vocab 5; the other 122 arrays held out."""
    prompts = torch.tensor(SEED_PROMPTS)
    everything = torch.tensor(list(product(range(SEED_VOCAB), repeat=prompts.shape[1])))
    is_train = (everything[:, None, :] == prompts[None]).all(-1).any(-1)  # [all]
    return Task(prompts, everything[~is_train], SEED_VOCAB)


def random_task(length: int, vocab: int, n_prompts: int, n_heldout: int, seed: int) -> Task:
    """distinct random arrays: task_prompts to train on, task_heldout held out (task_* options).

    `n_prompts` + `n_heldout` distinct arrays of `length` tokens below `vocab`, drawn from the
    generator seeded with `seed`."""
    wanted = n_prompts + n_heldout
    if vocab**length < wanted:
        raise UsageError(
            f"task needs {wanted} distinct prompts but only {vocab}^{length} = {vocab**length} exist;"
            " raise task_vocab or task_length, or ask for fewer prompts"
        )
    generator = torch.Generator().manual_seed(seed)
    if vocab**length <= 4 * wanted:  # small space: a random permutation of all arrays
        everything = torch.tensor(list(product(range(vocab), repeat=length)))
        chosen = everything[torch.randperm(len(everything), generator=generator)[:wanted]]
    else:  # large space: draw, drop repeats keeping first occurrences, draw more if short
        chosen = torch.empty(0, length, dtype=torch.long)
        while len(chosen) < wanted:
            draws = torch.randint(vocab, (2 * wanted, length), generator=generator)
            candidates = torch.cat([chosen, draws])
            _, inverse = torch.unique(candidates, dim=0, return_inverse=True)
            first = torch.full((int(inverse.max()) + 1,), len(candidates)).scatter_reduce(
                0, inverse, torch.arange(len(candidates)), reduce="amin"
            )
            chosen = candidates[first.sort().values]
        chosen = chosen[:wanted]
    return Task(chosen[:n_prompts], chosen[n_prompts:], vocab)



def variable_task(min_length: int, length: int, vocab: int, n_prompts: int, n_heldout: int, seed: int) -> Task:
    """prompts of lengths task_min_length .. task_length, padded; the ideal ends with EOS (transformer).

    `n_prompts` + `n_heldout` distinct prompts, each of a length drawn uniformly from
    [min_length, length] with tokens below `vocab`, drawn from the generator seeded with `seed`
    (first occurrences in draw order, so the set is reproducible)."""
    wanted = n_prompts + n_heldout
    exist = distinct_prompts(min_length, length, vocab)
    if exist < 2 * wanted:
        raise UsageError(f"task needs {wanted} distinct prompts, fewer than half of the {exist} of lengths"
                         f" {min_length}-{length} over vocab {vocab}; raise task_vocab or task_length, or ask for fewer")
    generator = torch.Generator().manual_seed(seed)
    chosen: dict[tuple[int, ...], None] = {}
    while len(chosen) < wanted:
        lengths = torch.randint(min_length, length + 1, (2 * wanted,), generator=generator)
        tokens = torch.randint(vocab, (2 * wanted, length), generator=generator)
        tokens[torch.arange(length) >= lengths[:, None]] = pad_token(vocab)
        for row in tokens.tolist():
            if len(chosen) < wanted:
                chosen.setdefault(tuple(row))
    prompts = torch.tensor(list(chosen), dtype=torch.long)
    return Task(prompts[:n_prompts], prompts[n_prompts:], vocab)


def distinct_prompts(min_length: int, length: int, vocab: int) -> int:
    """How many distinct prompts have a length in [min_length, length]."""
    return sum(vocab**n for n in range(min_length, length + 1))


TASKS = {"seed": seed_task, "random": random_task, "variable": variable_task}
