"""Sorting tasks: a prompt is an array of tokens, its ideal response the same array sorted.

Two tasks:
- ``seed``: the seed document's three prompts ``[[1,0,2],[3,2,4],[1,2,3]]`` over vocab 5;
  held out are all other length-3 arrays over that vocab (122 prompts).
- ``random``: distinct random arrays (duplicate tokens allowed) of a chosen length over a
  chosen vocab, drawn from their own generator (``task_seed``) and split into training and
  held-out prompts that never overlap.
"""

from dataclasses import dataclass
from itertools import product

import torch

from grpo.errors import UsageError

SEED_PROMPTS = [[1, 0, 2], [3, 2, 4], [1, 2, 3]]
SEED_VOCAB = 5


@dataclass(frozen=True)
class Task:
    prompts: torch.Tensor  # [batch pos] training prompts
    heldout: torch.Tensor  # [heldout pos] prompts never trained on
    vocab_size: int

    @property
    def length(self) -> int:
        return self.prompts.shape[1]

    @staticmethod
    def ideal(prompts: torch.Tensor) -> torch.Tensor:
        """The sorted prompts: the response every reward function rates best."""
        return prompts.sort(dim=-1).values

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


TASKS = {"seed": seed_task, "random": random_task}
