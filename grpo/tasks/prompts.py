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
- ``stream``: no fixed training set. Each rollout draws its prompts afresh (lengths uniform in
  [task_min_length, task_length], tokens uniform, repeats allowed: difficulty grows with the
  length) from a generator of the training seed's own (``PromptStream``); a deterministic rule
  reserves one prompt in HELDOUT_SHARE for evaluation, and the stream never emits a reserved
  prompt. The held-out set is task_heldout draws from the reserved prompts, with the stream's
  law of lengths (a short length has few reserved prompts, so repeats occur there).
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

import torch

from grpo.errors import UsageError
from grpo.tasks.sequences import pad_token

SEED_PROMPTS = [[1, 0, 2], [3, 2, 4], [1, 2, 3]]
SEED_VOCAB = 5


HELDOUT_SHARE = 8  # the stream reserves one prompt in 8 for evaluation (is_reserved)
HASH_PRIME = 4_294_967_291  # the largest prime below 2^32: the reservation rule's modulus
HASH_MULTIPLIERS = (2_654_435_761, 40_503)  # Knuth's multiplicative hash, then a second mixing round
MAX_PROMPT_CODES = 2**31  # (vocab + 1)^length must stay below this: the rule's arithmetic fits int64


def is_reserved(prompts: torch.Tensor, vocab: int) -> torch.Tensor:
    """The stream's held-out rule: whether each prompt (padded, [... pos]) is reserved for
    evaluation. A prompt's code (token + 1 per position, pad 0, base vocab + 1) is hashed twice
    modulo HASH_PRIME; one code in HELDOUT_SHARE is reserved, spread over every length. -> bool [...]"""
    digits = torch.where(prompts == pad_token(vocab), 0, prompts + 1)
    powers = (vocab + 1) ** torch.arange(prompts.shape[-1], device=prompts.device)
    code = (digits * powers).sum(-1)
    for multiplier in HASH_MULTIPLIERS:
        code = (code * multiplier + 1) % HASH_PRIME
    return code % HELDOUT_SHARE == 0


@dataclass(frozen=True)
class PromptStream:
    """Prompts drawn afresh for each rollout: `batch` a draw, lengths uniform in
    [min_length, length], tokens below `vocab` (repeats allowed), never a reserved prompt."""

    min_length: int
    length: int
    vocab: int
    batch: int

    def draw(self, generators: Sequence[torch.Generator]) -> torch.Tensor:
        """One draw per generator (each seed's own) -> [seed batch pos]: a reserved prompt is
        drawn again (from the same generator) until none is left."""
        return torch.stack([self.draw_from(generator, self.batch, reserved=False) for generator in generators])

    def draw_from(self, generator: torch.Generator, count: int, reserved: bool) -> torch.Tensor:
        """`count` prompts [count pos] from `generator`: the stream's (reserved False) or the
        reserved ones (True), each with the stream's law of lengths."""
        prompts = self._candidates(generator, count)
        while (wrong := is_reserved(prompts, self.vocab) != reserved).any():
            prompts[wrong] = self._candidates(generator, int(wrong.sum()))
        return prompts

    def _candidates(self, generator: torch.Generator, count: int) -> torch.Tensor:
        device = generator.device
        lengths = torch.randint(self.min_length, self.length + 1, (count, 1), generator=generator, device=device)
        tokens = torch.randint(self.vocab, (count, self.length), generator=generator, device=device)
        return torch.where(torch.arange(self.length, device=device) < lengths, tokens, pad_token(self.vocab))


def stream_generators(slice_seeds: Sequence[int], label: str, device: torch.device | str = "cpu") -> list[torch.Generator]:
    """One generator a training seed for the stream draws that `label` names (the rollouts', the
    warm start's, a dynamic-sampling round's), seeded by (label, seed): the same for every
    configuration trained from that seed, whatever it is stacked with."""
    def seeded(seed: int) -> torch.Generator:
        digest = hashlib.sha256(f"prompt stream {label} {seed}".encode()).digest()
        return torch.Generator(device).manual_seed(int.from_bytes(digest[:8], "little") >> 1)
    return [seeded(int(seed)) for seed in slice_seeds]


@dataclass(frozen=True)
class Task:
    prompts: torch.Tensor  # [batch pos] training prompts ([seed batch pos]: one rollout's draw of a stream); [0 pos] for a stream itself
    heldout: torch.Tensor  # [heldout pos] prompts never trained on
    vocab_size: int
    stream: PromptStream | None = None  # the stream the training prompts are drawn from; None: a fixed set

    @property
    def length(self) -> int:
        """The longest prompt's length."""
        return self.prompts.shape[-1]

    @property
    def batch(self) -> int:
        """Prompts a rollout: the fixed set's, or one draw of the stream."""
        return self.stream.batch if self.stream is not None else self.prompts.shape[-2]

    def drawn(self, generators: Sequence[torch.Generator]) -> "Task":
        """This task with one rollout's draw of its stream as its prompts [seed batch pos]."""
        assert self.stream is not None, "only a stream task draws its prompts"
        return Task(self.stream.draw(generators).to(self.heldout.device), self.heldout, self.vocab_size, self.stream)

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
        return Task(self.prompts.to(device), self.heldout.to(device), self.vocab_size, self.stream)


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


def stream_task(min_length: int, length: int, vocab: int, batch: int, n_heldout: int, seed: int) -> Task:
    """prompts drawn afresh each rollout (task_prompts a draw, lengths task_min_length .. task_length); held out: reserved ones.

    The held-out set: `n_heldout` draws from the reserved prompts (is_reserved), from the
    generator seeded with `seed`; the training prompts come from each training seed's stream."""
    if (vocab + 1) ** length >= MAX_PROMPT_CODES:
        raise UsageError(f"task stream: (task_vocab + 1)^task_length = {(vocab + 1) ** length} must stay below 2^31;"
                         " lower task_vocab or task_length")
    stream = PromptStream(min_length, length, vocab, batch)
    heldout = stream.draw_from(torch.Generator().manual_seed(seed), n_heldout, reserved=True)
    return Task(heldout[:0], heldout, vocab, stream)


TASKS = {"seed": seed_task, "random": random_task, "variable": variable_task, "stream": stream_task}
