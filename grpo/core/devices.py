"""Choosing the torch device from a user's flag."""

import torch

from grpo.errors import FieldError

DEVICES = ("cpu", "cuda")


def parse_device(name: str, flag: str = "--device") -> torch.device:
    """'cpu', 'cuda' or 'cuda:N' -> torch.device; FieldError naming `flag` if it names no such kind."""
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in DEVICES:
        raise FieldError(flag, name, f"unknown device; choose from {', '.join(DEVICES)}")
    return device


def resolve_device(name: str, flag: str = "--device") -> torch.device:
    """parse_device, and FieldError if this machine does not have that device."""
    device = parse_device(name, flag)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FieldError(flag, name, "this machine has no CUDA device")
    return device
