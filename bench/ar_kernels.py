"""The per-response log-prob kernels of the transformer policy, on shared inputs (peak memory:
`python -m bench.memory_probe KERNEL SIZE DEVICE bench.ar_kernels`).

A size is (sequences, positions, vocab): logits [sequences positions vocab] are real, one
distribution per response position (not a broadcast of per-prompt logits), as in a causal LM.
"""

import torch

from grpo.core.logprob import selective_log_softmax

SIZES = {  # id -> (sequences, positions, vocab)
    "sequence-preset": (4096, 8, 6),  # the `sequence` preset's rollout: 32 seeds x 16 prompts x 8 responses, 8 positions
    "medium": (64, 128, 4096),
    "llm-like": (8, 512, 32000),  # 8 responses of 512 tokens over a Llama-2-sized vocab
}
LARGE = ("llm-like",)


def make_inputs(size, device="cpu", seed=0):
    sequences, positions, vocab = size
    generator = torch.Generator(device).manual_seed(seed)
    logits = torch.randn(sequences, positions, vocab, generator=generator, device=device).requires_grad_()
    tokens = torch.randint(vocab, (sequences, positions), generator=generator, device=device)
    return logits, tokens


def ours(logits, tokens):
    """grpo.core.logprob: gather - chunked logsumexp, entropy in the same pass, chunked backward."""
    log_probs, entropy = selective_log_softmax(logits, tokens)
    log_probs.sum().backward()
    return log_probs.detach(), entropy


def log_softmax_gather(logits, tokens):
    """The common way: a full log-softmax, gather, and the entropy from the same log-softmax."""
    log_softmax = logits.log_softmax(-1)  # [sequences positions vocab]
    log_probs = log_softmax.gather(-1, tokens[..., None])[..., 0]
    with torch.no_grad():
        entropy = -(log_softmax.exp() * log_softmax).sum(-1)
    log_probs.sum().backward()
    return log_probs.detach(), entropy


KERNELS = {"ours": ours, "log_softmax_gather": log_softmax_gather}
