"""The log-prob kernels benchmarked, ours and the seed's, on shared inputs.

A size is (batch, group, pos, vocab), group = responses per prompt; logits are [batch pos vocab], shared by the responses as
in this model, and responses [batch response pos].
"""

import torch

from bench.baseline import compute_log_probs
from grpo.core.seed_model import gather_log_probs, token_index

SIZES = {  # id -> (batch, group, pos, vocab)
    "seed": (3, 10, 3, 5),
    "medium": (8, 16, 128, 4096),
    "llm-like": (8, 16, 512, 32000),
}
LARGE = ("llm-like",)


def make_inputs(size, device="cpu", seed=0):
    batch, group, pos, vocab = size
    generator = torch.Generator(device).manual_seed(seed)
    logits = torch.randn(batch, pos, vocab, generator=generator, device=device).requires_grad_()
    responses = torch.randint(vocab, (batch, group, pos), generator=generator, device=device)
    return logits, responses


def ours(logits, responses):
    """Forward and backward of grpo's lookup. -> log-probs [batch response pos]"""
    index = token_index(responses[None], logits.shape[-1])  # [1 batch response pos], once per rollout
    log_probs = gather_log_probs(logits[None].log_softmax(-1), index)[0]
    log_probs.sum().backward()
    return log_probs.detach()


def seeds_way(logits, responses):
    """Forward and backward of repeat + gather. -> log-probs [batch response pos]"""
    log_probs = compute_log_probs(logits, responses)
    log_probs.sum().backward()
    return log_probs.detach()


def plain_copy(logits, responses):
    """The machine's practical limit: one copy of the logits' bytes."""
    return logits.detach().clone()


KERNELS = {"ours": ours, "baseline": seeds_way, "copy": plain_copy}


def baseline_bytes(size) -> int:
    """What repeat + gather materialises: the repeated log-probs and their gradient."""
    batch, group, pos, vocab = size
    return 2 * batch * group * pos * vocab * 4
