"""The catalogue of the mode registries: which registry serves which group and config field,
and what a process does with all of them at once (register a mode, re-discover plugins, hand
in-process modes to Ray workers).

It imports the mode modules; none of them imports it (each builds its own ``Registry``, from
grpo.modes.registry), so the import graph has no circle.
"""

import sys
from collections.abc import Callable

from grpo.errors import UsageError
from grpo.modes.deltas import DELTAS
from grpo.modes.losses import KL_ESTIMATORS, LOSSES
from grpo.modes.registry import GROUPS, Registry
from grpo.modes.rewards import REWARDS
from grpo.modes.sequence_rewards import SEQUENCE_REWARDS


def registries() -> dict[str, Registry]:
    """Every registry by group."""
    return {"rewards": REWARDS, "sequence_rewards": SEQUENCE_REWARDS, "deltas": DELTAS, "losses": LOSSES,
            "kl_estimators": KL_ESTIMATORS}


def register(group: str, name: str | None = None, **facts: object) -> Callable[[Callable], Callable]:
    """Decorator: register a function as a mode of `group` in this process, named `name` or the
    function's own name, with the facts its group's modes declare (grpo.modes.registry.declare).
    ``@grpo.register("losses", options={"epsilon": 0.01}) def my_loss(log_probs, old_log_probs,
    deltas, config): ...``"""
    if group not in GROUPS:
        raise UsageError(f"unknown group {group!r}; choose from {', '.join(GROUPS)}")
    registries()[group].check_facts(facts)

    def decorate(fn: Callable) -> Callable:
        return registries()[group].register(name or fn.__name__, fn, **facts)

    return decorate


def refresh() -> None:
    """Re-discover the entry points of every group."""
    for registry in registries().values():
        registry.refresh()


def pack_in_process_modes() -> bytes:
    """The modes registered in this process, pickled by value for a sweep's Ray workers: the
    module that defines them (a notebook, a script, a test file) need not be importable there."""
    from ray import cloudpickle

    modes = {group: dict(registry.in_process) for group, registry in registries().items() if registry.in_process}
    modules = {sys.modules[fn.__module__] for functions in modes.values() for fn in functions.values()
               if fn.__module__ != "__main__"}  # __main__ goes by value anyway
    for module in modules:
        cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps(modes)
    finally:
        for module in modules:
            cloudpickle.unregister_pickle_by_value(module)


def unpack_in_process_modes(packed: bytes) -> None:
    """Register in this process (a Ray worker) the modes of ``pack_in_process_modes()``."""
    from ray import cloudpickle

    for group, functions in cloudpickle.loads(packed).items():
        for name, fn in functions.items():
            registries()[group].register(name, fn)
