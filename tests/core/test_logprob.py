"""The selective log-softmax kernel: values, entropy and gradients against log_softmax + gather."""

import pytest
import torch

from grpo.core import logprob
from grpo.core.logprob import selective_log_softmax


def reference(logits, tokens):
    log_softmax = logits.log_softmax(-1)
    chosen = log_softmax.gather(-1, tokens[..., None])[..., 0]
    entropy = -(log_softmax.exp() * log_softmax).sum(-1)
    return chosen, entropy


@pytest.mark.parametrize("chunk_elements", [1 << 22, 7, 1], ids=["one-chunk", "odd-chunks", "one-row-chunks"])
def test_values_entropy_and_gradient_equal_log_softmax_gather(monkeypatch, chunk_elements):
    monkeypatch.setattr(logprob, "CHUNK_ELEMENTS", chunk_elements)
    generator = torch.Generator().manual_seed(0)
    logits = (3 * torch.randn(2, 3, 4, 6, generator=generator, dtype=torch.float64)).requires_grad_()
    tokens = torch.randint(6, (2, 3, 4), generator=generator)
    weights = torch.randn(2, 3, 4, generator=generator, dtype=torch.float64)  # an arbitrary upstream gradient

    log_probs, entropy = selective_log_softmax(logits, tokens)
    (grad,) = torch.autograd.grad((log_probs * weights).sum(), logits)
    expected_log_probs, expected_entropy = reference(logits, tokens)
    (expected_grad,) = torch.autograd.grad((expected_log_probs * weights).sum(), logits)

    torch.testing.assert_close(log_probs, expected_log_probs)
    torch.testing.assert_close(entropy, expected_entropy.detach())
    torch.testing.assert_close(grad, expected_grad)
    assert not entropy.requires_grad


def test_gradcheck_and_a_non_contiguous_input():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(5, 7, 3, generator=generator, dtype=torch.float64).transpose(1, 2).requires_grad_()  # [5 3 7]
    tokens = torch.randint(7, (5, 3), generator=generator)
    assert torch.autograd.gradcheck(lambda z: selective_log_softmax(z, tokens)[0], (logits,))


def test_entropy_of_known_distributions():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, -1e4, -1e4, -1e4]])
    _, entropy = selective_log_softmax(logits, torch.tensor([0, 0]))
    torch.testing.assert_close(entropy, torch.tensor([torch.log(torch.tensor(4.0)).item(), 0.0]))
