"""Variable-length prompts and responses: the special tokens, the mask, the ideal response.

Token ids over a task of ``vocab`` tokens (``0 .. vocab-1``):
- ``eos = vocab``: ends a response; the policy samples it like any other token.
- ``pad = vocab + 1``: fills a prompt shorter than the task's longest, and every response
  position after EOS. Never sampled.
- ``bos = vocab + 2``: the first input of the response (separates it from the prompt).
  Never sampled.

A prompt ``[pos]`` holds its tokens then pads. A response ``[response_pos]`` holds tokens,
then EOS, then pads; one that reaches the maximum length without EOS is truncated (it has no
EOS and cannot be exact). Its *real* tokens are those up to and including EOS: they form its
length, and only they enter the loss, the KL and the rewards (``response_mask``).
The ideal response is the sorted prompt followed by EOS.
"""

import torch


def eos_token(vocab: int) -> int:
    return vocab


def pad_token(vocab: int) -> int:
    return vocab + 1


def bos_token(vocab: int) -> int:
    return vocab + 2


SPECIAL_TOKENS = 3  # eos, pad, bos: the policy's embedding has vocab + 3 rows
SAMPLED_TOKENS = 1  # eos: the policy samples from vocab + 1 tokens


def ended(responses: torch.Tensor, vocab: int) -> torch.Tensor:
    """Whether each response holds an EOS (was not truncated). [... response_pos] -> bool [...]"""
    return (responses == eos_token(vocab)).any(-1)


def prompt_lengths(prompts: torch.Tensor, vocab: int) -> torch.Tensor:
    """Tokens before the padding. prompts [batch pos] -> [batch]"""
    return (prompts != pad_token(vocab)).sum(-1)


def response_mask(responses: torch.Tensor, vocab: int) -> torch.Tensor:
    """True on the real tokens: up to and including the first EOS (all, if none).
    responses [... response_pos] -> bool [... response_pos]"""
    is_eos = (responses == eos_token(vocab)).int()
    before_eos = is_eos.cumsum(-1) - is_eos  # EOS tokens strictly before each position
    return before_eos == 0


def canonical(responses: torch.Tensor, vocab: int) -> torch.Tensor:
    """Every position after the first EOS set to pad: what was sampled there never counts."""
    return torch.where(response_mask(responses, vocab), responses, pad_token(vocab))


def ideal_responses(prompts: torch.Tensor, vocab: int, max_length: int) -> torch.Tensor:
    """The sorted prompt, then EOS, then pads, over max_length positions.
    prompts [batch pos] -> [batch max_length]; needs max_length > the longest prompt."""
    batch, width = prompts.shape
    ordered = prompts.sort(-1).values  # pads (the largest id) stay at the end
    ideal = torch.full((batch, max_length), pad_token(vocab), dtype=prompts.dtype, device=prompts.device)
    ideal[:, :width] = ordered
    ideal[torch.arange(batch, device=prompts.device), prompt_lengths(prompts, vocab)] = eos_token(vocab)
    return ideal

