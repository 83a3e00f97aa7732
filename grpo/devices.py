"""Choosing the torch device from a user's flag."""

import torch

from grpo.errors import UsageError

DEVICES = ("cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """'cpu', 'cuda' or 'cuda:N' -> torch.device; UsageError if it is unknown or absent."""
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UsageError(f"unknown device {name!r}; choose from {', '.join(DEVICES)}") from None
    if device.type not in DEVICES:
        raise UsageError(f"unknown device {name!r}; choose from {', '.join(DEVICES)}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {name!r} asked for, but this machine has no CUDA device")
    return device
