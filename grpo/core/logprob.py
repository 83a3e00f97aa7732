"""Chosen-token log-probs and entropy from real logits, without a log-softmax copy.

For logits ``z [..., vocab]`` and the chosen tokens ``t [...]``:
``log pi(t) = z[t] - logsumexp(z)`` and ``H = logsumexp(z) - sum_v softmax(z)_v z_v``.
The plain way, ``log_softmax(z).gather(t)``, writes a full ``[..., vocab]`` log-softmax copy in
the forward pass and two more (the scattered gradient and the log-softmax gradient) in the
backward pass. Here the forward keeps only one number per row (the logsumexp) and works
through the rows in chunks, so its temporaries are ``chunk x vocab``; the backward writes the
gradient of the logits, ``onehot(t) - softmax(z)`` times the incoming gradient, chunk by
chunk straight into its output: one logits-sized tensor, the gradient itself.

Sources: TRL's ``selective_log_softmax`` (``trl/trainer/utils.py``: gather minus a logsumexp
computed row block by row block to cut peak memory), and T. Romero, "Reducing VRAM Footprint
in PPO and GRPO Using Selective Log-Softmax" (2025). The custom backward goes one step further
than TRL, whose autograd backward of logsumexp and gather still materialises full copies.
"""

import torch

CHUNK_ELEMENTS = 1 << 22  # logits elements per chunk (16 MiB of float32): bounds the temporaries


def chunk_rows(vocab: int) -> int:
    return max(1, CHUNK_ELEMENTS // vocab)


class _SelectiveLogSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: torch.Tensor, tokens: torch.Tensor):
        vocab = logits.shape[-1]
        rows = logits.reshape(-1, vocab)  # [row vocab], a view when logits are contiguous
        chosen = tokens.reshape(-1, 1)  # [row 1]
        logsumexp = torch.empty(rows.shape[0], dtype=logits.dtype, device=logits.device)  # [row]
        entropy = torch.empty_like(logsumexp)  # [row]
        step = chunk_rows(vocab)
        for start in range(0, rows.shape[0], step):
            block = rows[start:start + step]  # [chunk vocab]
            lse = torch.logsumexp(block, -1)
            probs = torch.exp(block - lse[:, None])  # [chunk vocab], a chunk-sized temporary
            logsumexp[start:start + step] = lse
            entropy[start:start + step] = lse - (probs * block).sum(-1)
        log_probs = (rows.gather(1, chosen)[:, 0] - logsumexp).view(tokens.shape)
        entropy = entropy.view(tokens.shape)
        ctx.save_for_backward(logits, tokens, logsumexp)
        ctx.mark_non_differentiable(entropy)
        return log_probs, entropy

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_log_probs: torch.Tensor, grad_entropy: torch.Tensor):
        logits, tokens, logsumexp = ctx.saved_tensors
        vocab = logits.shape[-1]
        rows = logits.reshape(-1, vocab)  # [row vocab]
        grad = grad_log_probs.reshape(-1, 1)  # [row 1]
        grad_logits = torch.empty_like(rows)  # [row vocab]: the one logits-sized tensor
        step = chunk_rows(vocab)
        for start in range(0, rows.shape[0], step):
            out = grad_logits[start:start + step]
            torch.sub(rows[start:start + step], logsumexp[start:start + step, None], out=out)
            out.exp_().mul_(-grad[start:start + step])  # -softmax * g
        grad_logits.scatter_add_(1, tokens.reshape(-1, 1), grad)  # + onehot(t) * g
        return grad_logits.view(logits.shape), None


def selective_log_softmax(logits: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of each chosen token and the entropy of each distribution.

    logits [... vocab], tokens [...] (int64) -> (log_probs [...], entropy [...]); log_probs
    carry a gradient to the logits, the entropy (a record, not a loss term) does not.
    """
    return _SelectiveLogSoftmax.apply(logits.contiguous(), tokens.contiguous())


def differentiable_log_softmax(logits: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """As ``selective_log_softmax``, the entropy carrying a gradient too (an entropy bonus is a
    loss term, verl's ``entropy_coeff``): the plain way, a full log-softmax that autograd keeps.
    logits [... vocab], tokens [...] (int64) -> (log_probs [...], entropy [...])."""
    log_softmax = logits.log_softmax(-1)  # [... vocab]
    return log_softmax.gather(-1, tokens[..., None])[..., 0], -(log_softmax.exp() * log_softmax).sum(-1)
