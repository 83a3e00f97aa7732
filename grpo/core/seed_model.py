"""The seed document's non-autoregressive policy, with a leading seed axis on every parameter.

One distribution per response position: the prompt collapses into one vector
``h = sum_p E[x_p] @ enc[p]``, each response position decodes it ``o_j = h @ dec[j]``, and
the logits are ``o_j @ E^T`` (the output shares the embedding). S independent replicas
(seeds) live in the same tensors, so one kernel serves them all; each seed draws its
initial weights and its samples from its own generator, so a seed's numbers do not depend
on which other seeds it is stacked with.

Speed (measured in bench/, see reports/bench/): a step on this model is a few dozen tiny
tensor ops, so the time goes to the number of ops, not to arithmetic. Hence all weights live
in one flat buffer (Adam is then one fused kernel on one tensor), laid out so that the
forward is three batched matrix products with no permute, and the log-probs' backward is
written by hand (``SeedLogProbs``): autograd records one node for the whole model.
"""

import math

import torch
from torch import nn

from grpo.core.sampling import PLAIN, Sampling, draw, tempered
from grpo.core.uniforms import SeedUniforms
from grpo.tasks.prompts import Task


class StackedSeedModel(nn.Module):
    def __init__(self, embedding: torch.Tensor, encode: torch.Tensor, decode: torch.Tensor):
        """embedding [seed vocab dim], encode [seed prompt_pos dim dim], decode [seed response_pos dim dim]."""
        super().__init__()
        seeds, vocab, dim = embedding.shape
        self.shape = (seeds, vocab, encode.shape[1], dim)  # seeds, vocab, length, dim
        self._token_rows: tuple[torch.Tensor, torch.Tensor] | None = None  # (prompts, token_rows(prompts)) last asked about
        # [embedding | encode as [seed pos*dim dim] | decode as [seed dim pos*dim]], each seed-major
        self.weights = nn.Parameter(torch.cat([embedding.flatten(), encode.flatten(), decode.transpose(1, 2).flatten()]))
        self.views = self.arranged(self.weights.detach())  # ``arranged`` once: for the kernels outside autograd

    @classmethod
    def init(cls, generators: list[torch.Generator], vocab: int, length: int, dim: int) -> "StackedSeedModel":
        """The seed document's init, per seed: E ~ N(0, 1), enc and dec ~ N(0, 1) / sqrt(dim)."""
        device = generators[0].device
        weights = []
        for g in generators:  # draw in a fixed order from each seed's own generator
            embedding = torch.randn(vocab, dim, generator=g, device=device)
            encode = torch.randn(length, dim, dim, generator=g, device=device) / math.sqrt(dim)
            decode = torch.randn(length, dim, dim, generator=g, device=device) / math.sqrt(dim)
            weights.append((embedding, encode, decode))
        return cls(*(torch.stack(w) for w in zip(*weights, strict=False)))

    @staticmethod
    def weights_per_seed(vocab: int, length: int, dim: int) -> int:
        """How many weights one seed has: E [vocab dim], enc and dec [length dim dim]."""
        return vocab * dim + 2 * length * dim * dim

    @property
    def num_seeds(self) -> int:
        return self.shape[0]

    def arranged(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Views of a flat tensor laid out like ``weights`` (the weights or their gradient):
        embedding [seed vocab dim], encode [seed pos*dim dim], decode [seed dim pos*dim]."""
        seeds, vocab, length, dim = self.shape
        sizes = (seeds * vocab * dim, seeds * length * dim * dim, seeds * length * dim * dim)
        embedding, encode, decode = flat.split(sizes)
        return (embedding.view(seeds, vocab, dim), encode.view(seeds, length * dim, dim),
                decode.view(seeds, dim, length * dim))

    def seed_slices(self, flat: torch.Tensor, first: int, stop: int) -> list[torch.Tensor]:
        """The seeds first..stop-1 of a flat tensor laid out like ``weights``: one contiguous view
        per section (embedding, encode, decode), which joined in order are the flat tensor of a
        model of those seeds alone."""
        return [view[first:stop] for view in self.arranged(flat)]

    def document_views(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of a flat tensor laid out like ``weights`` in the seed document's shapes:
        embedding [seed vocab dim], encode [seed prompt_pos dim dim], decode [seed response_pos dim dim]."""
        seeds, _, length, dim = self.shape
        embedding, encode, decode = self.arranged(flat)
        return {"embedding": embedding, "encode": encode.view(seeds, length, dim, dim),
                "decode": decode.view(seeds, dim, length, dim).transpose(1, 2)}

    def forward(self, prompts: torch.Tensor) -> torch.Tensor:
        """prompts [batch pos] -> logits [seed batch pos vocab] (a view of [seed vocab batch pos])."""
        seeds, vocab, length, _ = self.shape
        logits = decode_logits(*self.arranged(self.weights), self.token_rows(prompts))[-1]  # [seed vocab batch*pos]
        return logits.view(seeds, vocab, -1, length).permute(0, 2, 3, 1)

    def greedy(self, prompts: torch.Tensor) -> torch.Tensor:
        """prompts [batch pos] -> the most likely response [seed batch pos], as torch.argmax
        picks it (the first of equal maxima). Run on every held-out prompt each epoch, so
        computed the cheap way round (``greedy_responses``), on the CPU GREEDY_SEEDS seeds at a time."""
        chunk = GREEDY_SEEDS if prompts.device.type == "cpu" else self.num_seeds  # a GPU takes them in one pass
        embedding, encode, decode = self.views
        return torch.cat([greedy_responses(embedding[first:first + chunk], encode[first:first + chunk],
                                           decode[first:first + chunk], prompts) for first in range(0, self.num_seeds, chunk)])

    def log_probs(self, prompts: torch.Tensor, temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """prompts [batch pos] -> (log_probs [seed batch pos vocab], entropy [seed]): the
        log-softmax of ``forward`` / `temperature` (grpo.core.sampling) with a hand-written
        backward, and the mean entropy of the per-position distributions (no gradient)."""
        return SeedLogProbs.apply(self.weights, self.token_rows(prompts), self, temperature)

    def draw_responses(self, prompts: torch.Tensor, num_responses: int, uniforms: SeedUniforms, sampling: Sampling,
                       with_log_probs: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Responses to prompts [batch pos] drawn at each seed's next uniforms (``sample``) ->
        (responses [seed batch response pos], with `with_log_probs` the log-probs they were drawn
        from [seed batch pos vocab]: ``log_probs``'s numbers exactly, without a gradient, joined
        into one contiguous tensor). Each pass draws from its log-probs vocab-major as computed,
        where the draw's softmax reads the vocab as an outer axis
        (grpo.core.sampling.checked_inverse_cdf), without the entropy; on the CPU
        SAMPLING_SEEDS seeds at a time, so that their logits stay in cache."""
        seeds, vocab, length, _ = self.shape
        uniform = uniforms.next(len(prompts), num_responses, length)  # [seed batch response pos]
        chunk = SAMPLING_SEEDS if prompts.device.type == "cpu" else seeds
        rows = self.token_rows(prompts)  # a pass of n seeds reads the first n seeds' rows: its own embedding's
        responses, log_probs = [], []
        for first in range(0, seeds, chunk):
            embedding, encode, decode = (view[first:first + chunk] for view in self.views)
            logits = decode_logits(embedding, encode, decode, rows[:len(embedding) * len(prompts) * length])[-1]  # [chunk vocab batch*pos]
            drawn = tempered(logits, sampling.temperature).log_softmax(1).view(len(logits), vocab, -1, length)
            drawn = drawn.permute(0, 2, 3, 1)  # [chunk batch pos vocab], vocab-major in memory
            responses.append(draw(drawn[:, :, None], uniform[first:first + chunk], sampling))
            if with_log_probs:
                log_probs.append(drawn)
        return torch.cat(responses), torch.cat(log_probs) if with_log_probs else None

    def token_rows(self, prompts: torch.Tensor) -> torch.Tensor:
        """prompts [batch pos] -> [seed*batch*pos]: the row of each prompt token's embedding in
        the embedding flattened to [seed*vocab dim]. Kept for the prompts last asked about:
        every inner step asks about the same tensor."""
        if self._token_rows is None or self._token_rows[0] is not prompts:
            seeds, vocab, _, _ = self.shape
            offsets = torch.arange(seeds, device=prompts.device)[:, None] * vocab  # [seed 1]
            self._token_rows = (prompts, (offsets + prompts.flatten()).flatten())
        return self._token_rows[1]

    def frozen_copy(self) -> "StackedSeedModel":
        """A detached copy, e.g. the reference model of the KL penalty."""
        weights = self.document_views(self.weights.detach())
        return StackedSeedModel(weights["embedding"], weights["encode"], weights["decode"]).requires_grad_(False)


def decode_logits(embedding, encode, decode, rows):
    """The forward as batched matrix products on the arranged weights (``arranged``), rows
    from ``token_rows`` -> embedded [seed batch pos*dim], hidden [seed batch dim], decoded
    [seed batch*pos dim], logits [seed vocab batch*pos]."""
    seeds, _, dim = embedding.shape
    embedded = embedding.reshape(-1, dim).index_select(0, rows).view(seeds, -1, encode.shape[1])  # [seed batch pos*dim]
    hidden = torch.bmm(embedded, encode)  # [seed batch dim]
    decoded = torch.bmm(hidden, decode).view(seeds, -1, dim)  # [seed batch*pos dim]
    logits = torch.bmm(embedding, decoded.transpose(1, 2))  # [seed vocab batch*pos]: vocab-major, so the
    return embedded, hidden, decoded, logits  # softmax reduces over an outer axis (several times faster)


SAMPLING_SEEDS = 128  # seeds per sampling pass on the CPU: the held-out sample of 10,000 seeds 260 ms an epoch, 653 in one pass
GREEDY_SEEDS = 128  # seeds per greedy pass on the CPU: their logits (1 MB on the seed task's 125 prompts) stay in cache.
# Measured per seed and epoch on one thread: 10.4 µs at 10,000 seeds in passes of 128, 21.5 µs in one pass.


def greedy_responses(embedding, encode, decode, prompts):
    """The argmax response of each prompt from the arranged weights (``arranged``) of some
    seeds -> [seed batch pos]. The hidden vector from a per-position table,
    h = sum_p (E @ enc[p])[x_p], as one matrix product over the seeds; the output layer folded
    into the decoder, (dec[j] @ E^T)[v]; the first maximum from ``max`` over the vocab as an
    outer axis (torch.argmax there is several times slower)."""
    seeds, vocab, dim = embedding.shape
    length = encode.shape[1] // dim
    table = torch.matmul(embedding[:, None], encode.view(seeds, length, dim, dim))  # [seed pos vocab dim]
    table = table.view(seeds, length * vocab, dim).transpose(1, 2).reshape(seeds * dim, length * vocab)
    rows = prompts + torch.arange(length, device=prompts.device) * vocab  # [batch pos] columns of the table
    tokens = torch.zeros(length * vocab, len(prompts), device=prompts.device)
    tokens.scatter_(0, rows.T, 1.0)  # [pos*vocab batch] one-hot
    hidden = torch.mm(table, tokens).view(seeds, dim, -1)  # [seed dim batch]
    folded = torch.bmm(decode.view(seeds, dim * length, dim), embedding.transpose(1, 2))  # [seed dim*pos vocab]
    folded = folded.view(seeds, dim, length, vocab).permute(0, 3, 2, 1).reshape(seeds, vocab * length, dim)
    logits = torch.bmm(folded, hidden).view(seeds, vocab, -1)  # [seed vocab pos*batch]
    first_best = logits.max(1).indices  # [seed pos*batch]: max returns the first of equal maxima
    return first_best.view(seeds, length, -1).transpose(1, 2)


class SeedLogProbs(torch.autograd.Function):
    """The policy's log-probs with the backward written out (matrix calculus of
    ``decode_logits``; checked against autograd in tests/core/test_seed_model.py): one autograd node
    instead of a dozen. Gradients land in one flat tensor laid out like the weights."""

    @staticmethod
    def forward(ctx, weights, rows, policy: StackedSeedModel, temperature: float):
        seeds, vocab, length, _ = policy.shape
        embedded, hidden, decoded, logits = decode_logits(*policy.views, rows)  # views of `weights`
        log_probs = tempered(logits, temperature).log_softmax(1)  # [seed vocab batch*pos]
        probs = log_probs.exp()
        ctx.save_for_backward(weights, rows, embedded, hidden, decoded, probs)
        ctx.policy, ctx.temperature = policy, temperature
        mean_entropy = entropy(log_probs, vocab_axis=1, probs=probs)  # [seed]
        ctx.mark_non_differentiable(mean_entropy)
        # [seed batch pos vocab], contiguous so that token_index's flat positions hold
        return log_probs.view(seeds, vocab, -1, length).permute(0, 2, 3, 1).contiguous(), mean_entropy

    @staticmethod
    def backward(ctx, grad_log_probs, _):
        weights, rows, embedded, hidden, decoded, probs = ctx.saved_tensors
        seeds, vocab, _, _ = ctx.policy.shape
        embedding, encode, decode = ctx.policy.views  # of `weights`
        grad = torch.empty_like(weights)
        grad_embedding, grad_encode, grad_decode = ctx.policy.arranged(grad)
        upstream = grad_log_probs.permute(0, 3, 1, 2).reshape(seeds, vocab, -1)  # [seed vocab batch*pos]
        grad_logits = tempered(upstream - probs * upstream.sum(1, keepdim=True), ctx.temperature)  # the log-softmax, 1/T
        torch.bmm(grad_logits, decoded, out=grad_embedding)  # as the output layer
        grad_decoded = torch.bmm(grad_logits.transpose(1, 2), embedding).view(seeds, hidden.shape[1], -1)
        torch.bmm(hidden.transpose(1, 2), grad_decoded, out=grad_decode)  # [seed dim pos*dim]
        grad_hidden = torch.bmm(grad_decoded, decode.transpose(1, 2))  # [seed batch dim]
        torch.bmm(embedded.transpose(1, 2), grad_hidden, out=grad_encode)  # [seed pos*dim dim]
        grad_embedded = torch.bmm(grad_hidden, encode.transpose(1, 2))  # [seed batch pos*dim]
        grad_embedding.view(-1, grad_embedding.shape[-1]).index_add_(0, rows, grad_embedded.view(len(rows), -1))  # input layer
        return grad, None, None, None


def sample(log_probs: torch.Tensor, num_responses: int, uniforms: SeedUniforms) -> torch.Tensor:
    """Draw responses by inverting each position's CDF at the seed's next uniforms, untruncated
    (the trainer draws through ``StackedSeedModel.draw_responses``, which applies top-k / top-p).
    log_probs [seed batch pos vocab] -> responses [seed batch response pos]."""
    _, batch, length, _ = log_probs.shape
    uniform = uniforms.next(batch, num_responses, length)  # [seed batch response pos]
    return draw(log_probs[:, :, None], uniform, PLAIN)  # each response position's distribution [seed batch 1 pos vocab]


def token_index(responses: torch.Tensor, vocab: int, prompt_of: torch.Tensor | None = None) -> torch.Tensor:
    """Flat positions of the response tokens in a [seed batch pos vocab] tensor: computed
    once per rollout, then ``gather_log_probs`` is one lookup per step.
    responses [seed batch response pos] -> index [seed batch response pos]. `prompt_of`
    [seed batch]: the prompt (a row of the [seed batch ...] tensor) each group answers, where
    dynamic sampling regrouped them; None: group b answers prompt b."""
    seeds, batch, _, length = responses.shape
    if prompt_of is None:
        rows = torch.arange(seeds * batch * length, device=responses.device).view(seeds, batch, 1, length)
    else:
        prompt_rows = torch.arange(seeds, device=responses.device)[:, None] * batch + prompt_of  # [seed batch]
        rows = (prompt_rows[..., None] * length + torch.arange(length, device=responses.device))[:, :, None]
    return rows * vocab + responses


def gather_log_probs(log_probs: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Log-probability of each response token, looked up in the per-position distribution
    without a [seed batch response pos vocab] copy (forward or backward).
    log_probs [seed batch pos vocab], index from ``token_index`` -> [seed batch response pos]."""
    return log_probs.flatten().take(index)


def entropy(log_probs: torch.Tensor, vocab_axis: int = -1, probs: torch.Tensor | None = None) -> torch.Tensor:
    """Mean entropy of the per-position distributions. log_probs [seed batch pos vocab] (or
    the vocab on `vocab_axis`) -> [seed]; `probs`, their exp where the caller has it already."""
    return -((log_probs.exp() if probs is None else probs) * log_probs).sum(vocab_axis).flatten(1).mean(1)


def greedy_correct(policy: StackedSeedModel, prompts: torch.Tensor) -> torch.Tensor:
    """Whether each prompt's argmax response is exactly sorted. [seed batch] bool"""
    return Task.is_ideal(prompts, policy.greedy(prompts)[:, :, None, :])[..., 0]
