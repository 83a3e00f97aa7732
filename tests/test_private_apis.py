"""The private APIs the code calls (torch._fused_adam_, Ray's token set-up) fail, where absent,
in one line naming the version needed, not in a traceback deep in training or joining."""

import sys

import pytest
import torch

from grpo.core.optim import TORCH_NEEDED, Adam
from grpo.errors import EnvironmentFault
from grpo.sweep.runtime import RAY_NEEDED, enable_token_auth


def test_adam_without_the_fused_kernel_names_the_torch_needed(monkeypatch):
    monkeypatch.delattr(torch, "_fused_adam_")
    with pytest.raises(EnvironmentFault, match=rf"torch._fused_adam_ .* pip install 'torch>={TORCH_NEEDED}'$"):
        Adam([torch.zeros(3, requires_grad=True)], lr=1e-3)


def test_joining_without_rays_token_set_up_names_the_ray_needed(monkeypatch):
    import ray  # noqa: F401 - Ray itself imports the module; the guard's own import is the one that fails
    monkeypatch.setitem(sys.modules, "ray._private.authentication.authentication_token_setup", None)  # as if absent
    with pytest.raises(EnvironmentFault, match=rf"needs ray {RAY_NEEDED}'s token set-up .* 'ray\[tune\]=={RAY_NEEDED}'$"):
        enable_token_auth()


def test_joining_with_a_changed_token_set_up_names_the_ray_needed(monkeypatch):
    import ray  # noqa: F401 - loaded before its private module is reached
    from ray._private.authentication import authentication_token_setup as setup

    monkeypatch.setattr(setup, "maybe_enable_token_auth_if_token_available", lambda: None)  # another signature
    with pytest.raises(EnvironmentFault, match="absent or changed in ray"):
        enable_token_auth()
