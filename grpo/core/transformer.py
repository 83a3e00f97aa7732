"""The ``transformer`` policy: a tiny causal decoder that writes its response token by token,
with a leading seed axis on every parameter.

Input of one sequence (token ids of grpo.tasks.sequences): the prompt (padded to the task's longest),
BOS, then the response so far. Token and position embeddings, ``layers`` pre-norm blocks of
causal multi-head self-attention and a GELU MLP (4 x width), a final norm, and logits over the
task's tokens and EOS from the token embedding itself (tied output, as GPT-2). No biases; the
norms have a gain only. Init as nanoGPT: N(0, 0.02), residual projections
N(0, 0.02 / sqrt(2 layers)), gains 1.

S independent replicas (seeds) live in the same tensors: every matmul is one batched matmul over
the seed axis, and each seed draws its initial weights and its samples from its own generator,
so a seed's numbers do not depend on the seeds stacked with it.

Generation samples each token by inverting the next-token CDF at a uniform drawn up front from
the seed's generator (as the seed policy samples), up to ``max_length`` tokens; after EOS only
pads follow. Training reads the log-probs of a whole rollout from one teacher-forced pass over
``[seed batch response pos]``, with grpo.core.logprob's selective log-softmax.

Speed (docs/benchmarks.md, "The transformer testbed"): on the CPU these tensors are small and a
kernel's layout decides its cost more than its arithmetic. Attention is written out (batched
matrix products, its softmax over a middle axis: PyTorch's CPU attention kernels and its softmax
over a last axis of a dozen positions are several times slower); the last block computes only
the positions the logits read; generation runs the prompt and BOS once a prompt, then one position
a step against a preallocated key/value cache, attending by element-wise products over the
cached positions (the outer axis).
"""

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from grpo.core.logprob import differentiable_log_softmax, selective_log_softmax
from grpo.core.sampling import PLAIN, Sampling, draw, tempered
from grpo.core.uniforms import SeedUniforms
from grpo.tasks.sequences import SAMPLED_TOKENS, SPECIAL_TOKENS, bos_token, eos_token, ideal_responses, pad_token

INIT_STD = 0.02  # nanoGPT's init scale
MLP_RATIO = 4  # MLP hidden width / model width (GPT-2)


def seed_matmul(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x [seed ... in] @ weight [seed in out] -> [seed ... out], one batched matmul."""
    return (x.flatten(1, -2) @ weight).view(*x.shape[:-1], weight.shape[-1])


def norm(x: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """Layer norm with a per-seed gain. x [seed ... dim], gain [seed dim]."""
    return F.layer_norm(x, x.shape[-1:]) * gain.view(gain.shape[0], *([1] * (x.dim() - 2)), -1)


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal attention of the queries q [batch new head_dim], at the last `new` of the positions
    of k, v [batch pos head_dim] -> [batch new head_dim]. The scores are laid out [batch pos new]
    so that the softmax reduces over a middle axis: CPU softmax over a last axis of a dozen
    positions is about 10x slower than over an outer one (its inner loop is one short row)."""
    new, positions = q.shape[1], k.shape[1]
    later = torch.ones(positions, new, dtype=torch.bool, device=q.device).tril(new - positions - 1)  # [pos new]: keys after the query
    bias = torch.zeros(positions, new, device=q.device).masked_fill_(later, float("-inf"))
    scores = torch.baddbmm(bias, k, q.transpose(1, 2), alpha=1 / math.sqrt(q.shape[-1]))  # [batch pos new]
    return torch.bmm(scores.softmax(1).transpose(1, 2), v)


SEEDS_PER_CHUNK = 16  # on the CPU, seeds computed together: their activations stay in cache (docs/benchmarks.md)


@dataclass(frozen=True)
class Decoder:
    """The decoder's computations on the weights of some stacked seeds: views of a
    StackedTransformer's parameters, all its seeds or a run of them (``StackedTransformer.decoders``)."""

    token_embedding: torch.Tensor  # [seed vocab+3 dim]
    position_embedding: torch.Tensor  # [seed pos dim]
    attention_norm: torch.Tensor  # [seed layer dim]
    qkv: torch.Tensor  # [seed layer dim 3*dim]
    attention_out: torch.Tensor  # [seed layer dim dim]
    mlp_norm: torch.Tensor  # [seed layer dim]
    mlp_in: torch.Tensor  # [seed layer dim 4*dim]
    mlp_out: torch.Tensor  # [seed layer 4*dim dim]
    final_norm: torch.Tensor  # [seed dim]
    vocab: int
    heads: int

    def embed(self, tokens: torch.Tensor, start: int) -> torch.Tensor:
        """tokens [seed seq new] at positions start.. -> [seed seq new dim]"""
        seed_index = torch.arange(tokens.shape[0], device=tokens.device)[:, None, None]
        positions = self.position_embedding[:, None, start:start + tokens.shape[2]]  # [seed 1 new dim]
        return self.token_embedding[seed_index, tokens] + positions

    def blocks(self, x: torch.Tensor, first: int, keys_values: list | None = None) -> torch.Tensor:
        """The decoder blocks over every position of x [seed seq pos dim], causally; the last block
        computes only the positions first.. (no later block reads the others). `keys_values`: a
        list that receives each layer's keys and values [seed seq head pos head_dim] (generation's
        prefix). -> [seed seq pos-first dim]"""
        seeds, sequences, positions, dim = x.shape
        layers = self.qkv.shape[1]
        for layer in range(layers):
            q, k, v = seed_matmul(norm(x, self.attention_norm[:, layer]), self.qkv[:, layer]).split(dim, -1)
            # [seed seq head pos head_dim]
            q, k, v = (t.view(seeds, sequences, positions, self.heads, -1).transpose(2, 3) for t in (q, k, v))
            if keys_values is not None:
                keys_values.append((k, v))
            if layer == layers - 1 and first:  # only the positions the logits read
                q, x = q[:, :, :, first:], x[:, :, first:]
            attended = causal_attention(*(t.reshape(-1, *t.shape[-2:]) for t in (q, k, v)))  # [seed*seq*head new head_dim]
            attended = attended.view(seeds, sequences, self.heads, -1, dim // self.heads).transpose(2, 3)
            x = x + seed_matmul(attended.reshape(*x.shape), self.attention_out[:, layer])
            hidden = F.gelu(seed_matmul(norm(x, self.mlp_norm[:, layer]), self.mlp_in[:, layer]))
            x = x + seed_matmul(hidden, self.mlp_out[:, layer])
        return x

    def step(self, x: torch.Tensor, cache: torch.Tensor, position: int) -> torch.Tensor:
        """The decoder blocks over one new position of every sequence, x [seed seq dim], attending
        to the keys and values of the earlier positions in `cache` [layer 2 pos seed seq head
        head_dim] (this position's written into it at `position`). -> [seed seq dim]"""
        seeds, sequences, dim = x.shape
        for layer in range(self.qkv.shape[1]):
            qkv = seed_matmul(norm(x, self.attention_norm[:, layer]), self.qkv[:, layer])  # [seed seq 3*dim]
            q, k, v = qkv.view(seeds, sequences, 3, self.heads, -1).unbind(2)  # [seed seq head head_dim]
            cache[layer, 0, position], cache[layer, 1, position] = k, v
            keys, values = cache[layer, :, :position + 1]  # [pos seed seq head head_dim]
            scores = (keys * (q / math.sqrt(q.shape[-1]))).sum(-1)  # [pos seed seq head]
            weights = scores.softmax(0)  # over the positions: the outer axis, one vector pass
            attended = (weights[..., None] * values).sum(0)  # [seed seq head head_dim]
            x = x + seed_matmul(attended.view(seeds, sequences, dim), self.attention_out[:, layer])
            hidden = F.gelu(seed_matmul(norm(x, self.mlp_norm[:, layer]), self.mlp_in[:, layer]))
            x = x + seed_matmul(hidden, self.mlp_out[:, layer])
        return x

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """x [seed seq pos dim] -> [seed seq pos vocab+1], through the tied token embedding."""
        output = self.token_embedding[:, :self.vocab + SAMPLED_TOKENS].transpose(1, 2)  # [seed dim vocab+1]
        return seed_matmul(norm(x, self.final_norm), output)


class StackedTransformer(nn.Module):
    def __init__(self, weights: dict[str, torch.Tensor], vocab: int, heads: int):
        super().__init__()
        self.vocab = vocab  # the task's tokens; the embedding adds EOS, pad and BOS
        self.heads = heads
        self.token_embedding = nn.Parameter(weights["token_embedding"])  # [seed vocab+3 dim]
        self.position_embedding = nn.Parameter(weights["position_embedding"])  # [seed pos dim]
        self.attention_norm = nn.Parameter(weights["attention_norm"])  # [seed layer dim]
        self.qkv = nn.Parameter(weights["qkv"])  # [seed layer dim 3*dim]
        self.attention_out = nn.Parameter(weights["attention_out"])  # [seed layer dim dim]
        self.mlp_norm = nn.Parameter(weights["mlp_norm"])  # [seed layer dim]
        self.mlp_in = nn.Parameter(weights["mlp_in"])  # [seed layer dim 4*dim]
        self.mlp_out = nn.Parameter(weights["mlp_out"])  # [seed layer 4*dim dim]
        self.final_norm = nn.Parameter(weights["final_norm"])  # [seed dim]

    @classmethod
    def init(cls, generators: list[torch.Generator], vocab: int, positions: int, dim: int, layers: int,
             heads: int) -> "StackedTransformer":
        """nanoGPT's init per seed, drawn in a fixed order from each seed's own generator.
        `positions`: the longest input (prompt + BOS + response - 1)."""
        shapes = cls.drawn_shapes(vocab, positions, dim, layers)
        residual_std = INIT_STD / math.sqrt(2 * layers)
        device = generators[0].device
        per_seed = []
        for g in generators:
            drawn = {name: torch.randn(shape, generator=g, device=device) for name, shape in shapes.items()}
            drawn = {name: w * (residual_std if name in ("attention_out", "mlp_out") else INIT_STD) for name, w in drawn.items()}
            per_seed.append(drawn)
        weights = {name: torch.stack([w[name] for w in per_seed]) for name in shapes}
        seeds = len(generators)
        weights |= {"attention_norm": torch.ones(seeds, layers, dim, device=device),
                    "mlp_norm": torch.ones(seeds, layers, dim, device=device),
                    "final_norm": torch.ones(seeds, dim, device=device)}
        return cls(weights, vocab, heads)

    @staticmethod
    def drawn_shapes(vocab: int, positions: int, dim: int, layers: int) -> dict[str, tuple[int, ...]]:
        """One seed's randomly initialised weights, by name, in the order they are drawn."""
        return {
            "token_embedding": (vocab + SPECIAL_TOKENS, dim),
            "position_embedding": (positions, dim),
            "qkv": (layers, dim, 3 * dim),
            "attention_out": (layers, dim, dim),
            "mlp_in": (layers, dim, MLP_RATIO * dim),
            "mlp_out": (layers, MLP_RATIO * dim, dim),
        }

    @classmethod
    def weights_per_seed(cls, vocab: int, positions: int, dim: int, layers: int) -> int:
        """How many weights one seed has: the drawn ones and the norms' gains (2 per layer, 1 final)."""
        return sum(math.prod(shape) for shape in cls.drawn_shapes(vocab, positions, dim, layers).values()) \
            + (2 * layers + 1) * dim

    @property
    def num_seeds(self) -> int:
        return self.token_embedding.shape[0]

    @staticmethod
    def seed_slices(tensor: torch.Tensor, first: int, stop: int) -> list[torch.Tensor]:
        """The seeds first..stop-1 of a tensor laid out like one of the parameters ([seed ...]): one
        view, that parameter of a model of those seeds alone."""
        return [tensor[first:stop]]

    def decoders(self, seeds_per_chunk: int | None = None) -> list[tuple[slice, Decoder]]:
        """The seeds in runs of `seeds_per_chunk` (all at once by default; on the CPU SEEDS_PER_CHUNK
        where not given), each with the Decoder on views of its weights (gradients flow back to the
        parameters through one split each)."""
        if seeds_per_chunk is None:
            seeds_per_chunk = SEEDS_PER_CHUNK if self.token_embedding.device.type == "cpu" else self.num_seeds
        names = [name for name, _ in self.named_parameters()]
        parts = zip(*(getattr(self, name).split(seeds_per_chunk) for name in names), strict=True)
        starts = range(0, self.num_seeds, seeds_per_chunk)
        return [(slice(first, first + seeds_per_chunk), Decoder(**dict(zip(names, part, strict=True)), vocab=self.vocab,
                                                                heads=self.heads))
                for first, part in zip(starts, parts, strict=True)]

    def forward(self, tokens: torch.Tensor, first: int = 0) -> torch.Tensor:
        """tokens [seed seq pos] -> next-token logits over the task's tokens and EOS at
        positions first.. : [seed seq pos-first vocab+1]."""
        return torch.cat([decoder.logits(decoder.blocks(decoder.embed(tokens[seeds], 0), first))
                          for seeds, decoder in self.decoders()])

    def frozen_copy(self) -> "StackedTransformer":
        """A detached deep copy, e.g. the reference model of the KL penalty."""
        return copy.deepcopy(self).requires_grad_(False)

    def _inputs(self, prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
        """prompts [batch pos] (or [seed batch pos]: each seed its own, as dynamic sampling
        regroups them), responses [seed batch response t] -> [seed batch*response pos+1+t]:
        prompt, BOS, response."""
        seeds, batch, group, _ = responses.shape
        bos = torch.full((*prompts.shape[:-1], 1), bos_token(self.vocab), dtype=prompts.dtype, device=prompts.device)
        prefix = torch.cat([prompts, bos], -1)
        prefix = (prefix[None] if prefix.dim() == 2 else prefix)[:, :, None].expand(seeds, batch, group, -1)
        return torch.cat([prefix, responses], -1).flatten(1, 2)

    def generate(self, prompts: torch.Tensor, num_responses: int, max_length: int,
                 uniforms: SeedUniforms | None, sampling: Sampling = PLAIN) -> tuple[torch.Tensor, torch.Tensor]:
        """Responses token by token, sampled (at each seed's next `uniforms`) or greedy (None), keeping
        each layer's keys and values so that a step computes only the new position. The prompt and
        BOS go through the blocks once a prompt, not once a response: their keys and values are the
        same for every response of the group.
        prompts [batch pos] or [seed batch pos] -> (responses [seed batch response max_length], the
        log-prob of each token when it was drawn [seed batch response max_length]; 0 after EOS): the
        learner's, at `sampling`'s temperature over the whole vocabulary (grpo.core.sampling)."""
        seeds, batch = self.num_seeds, prompts.shape[-2]  # prompts [batch pos] or each seed's [seed batch pos]
        uniform = None if uniforms is None else uniforms.next(batch, num_responses, max_length)  # [seed batch response max_length]
        responses = torch.full((seeds, batch, num_responses, max_length), pad_token(self.vocab), dtype=prompts.dtype,
                               device=prompts.device)
        drawn_log_probs = torch.zeros(responses.shape, device=prompts.device)
        inputs = self._inputs(prompts, responses[:, :, :1, :0])  # [seed batch width+1]: prompt and BOS, once a prompt
        for part, decoder in self.decoders():
            generate_into(decoder, inputs[part], None if uniform is None else uniform[part], responses[part],
                          drawn_log_probs[part], sampling)
        return responses, drawn_log_probs

    def log_probs(self, prompts: torch.Tensor, responses: torch.Tensor, temperature: float = 1.0,
                  entropy_grad: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced: one pass over every response. prompts [batch pos] or [seed batch pos], responses
        [seed batch response max_length] -> (log-prob of each response token, entropy of each
        next-token distribution), both [seed batch response max_length], of the logits / `temperature`
        (grpo.core.sampling); positions after EOS hold numbers that the caller masks. `entropy_grad`:
        the entropy carries a gradient (an entropy bonus)."""
        inputs = self._inputs(prompts, responses[..., :-1])  # [seed seq pos]
        chosen = responses.clamp(max=eos_token(self.vocab)).flatten(1, 2)  # pads -> EOS: a valid index, masked later
        log_softmax = differentiable_log_softmax if entropy_grad else selective_log_softmax
        parts = [log_softmax(tempered(decoder.logits(decoder.blocks(decoder.embed(inputs[seeds], 0), prompts.shape[-1])),
                                      temperature), chosen[seeds]) for seeds, decoder in self.decoders()]  # [seed seq max_length] each
        return tuple(torch.cat(values).view(responses.shape) for values in zip(*parts, strict=True))  # type: ignore[return-value]

    def greedy_correct(self, prompts: torch.Tensor, max_length: int) -> torch.Tensor:
        """Whether each prompt's greedy response is exactly the ideal one. [seed batch] bool"""
        greedy, _ = self.generate(prompts, 1, max_length, None)  # [seed batch 1 max_length]
        return (greedy[:, :, 0] == ideal_responses(prompts, self.vocab, max_length)).all(-1)


def generate_into(decoder: Decoder, prefix: torch.Tensor, uniform: torch.Tensor | None, responses: torch.Tensor,
                  drawn_log_probs: torch.Tensor, sampling: Sampling = PLAIN) -> None:
    """StackedTransformer.generate for the seeds of `decoder`: prefix [seed batch width+1] (prompt
    and BOS), uniform [seed batch response max_length] or None (greedy); writes the responses and
    the drawn log-probs into `responses` and `drawn_log_probs` [seed batch response max_length].
    `sampling`: the temperature and truncations of the draws (grpo.core.sampling)."""
    seeds, batch, num_responses, max_length = responses.shape
    width = prefix.shape[-1] - 1
    eos, pad = eos_token(decoder.vocab), pad_token(decoder.vocab)
    done = torch.zeros(seeds, batch, num_responses, dtype=torch.bool, device=prefix.device)
    keys_values: list = []  # each layer's keys and values of the prompt and BOS [seed batch head width+1 head_dim]
    hidden = decoder.blocks(decoder.embed(prefix, 0), width, keys_values)  # [seed batch 1 dim] at BOS
    dim = hidden.shape[-1]
    cache = torch.empty(len(keys_values), 2, width + max_length, seeds, batch, num_responses, decoder.heads,
                        dim // decoder.heads, device=prefix.device)  # [layer 2 pos seed batch response head head_dim]
    for layer, pair in enumerate(keys_values):
        for i, t in enumerate(pair):
            cache[layer, i, :width + 1] = t.permute(3, 0, 1, 2, 4)[:, :, :, None]  # the same for every response
    cache = cache.flatten(4, 5)  # [layer 2 pos seed seq head head_dim]
    hidden = hidden.expand(seeds, batch, num_responses, dim).flatten(1, 2)  # [seed seq dim]
    for t in range(max_length):
        logits = decoder.logits(hidden).view(seeds, batch, num_responses, -1)  # [seed batch response vocab+1]
        logits = tempered(logits, sampling.temperature)  # the learner's distribution (grpo.core.sampling)
        token = logits.argmax(-1) if uniform is None else draw(logits, uniform[..., t], sampling)
        drawn_log_probs[..., t] = torch.where(done, 0.0, logits.log_softmax(-1).gather(-1, token[..., None])[..., 0])
        responses[..., t] = torch.where(done, pad, token)
        done |= token == eos
        if done.all() or t == max_length - 1:
            break
        new = decoder.embed(responses[..., t].flatten(1, 2)[..., None], width + 1 + t)[:, :, 0]  # [seed seq dim]
        hidden = decoder.step(new, cache, width + 1 + t)
