"""Public names that load on first use: a package's ``__init__`` names them under the module they
live in, and gets the ``__getattr__`` and ``__dir__`` (PEP 562) that import that module when the
name is first read, so importing a package stays cheap and ``dir()`` still lists every name."""

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_names(package: str, modules: Mapping[str, tuple[str, ...]]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """-> (__getattr__, __dir__) for `package`, whose public names are `modules`: module -> its names."""
    public = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> object:
        if name in public:
            return getattr(importlib.import_module(public[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *public})

    return __getattr__, __dir__
