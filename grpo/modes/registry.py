"""Registries of modes: each group's built-ins, in their order, then its plugins.

Five groups (``GROUPS``), one per choice a configuration names: ``rewards`` (``reward_fn`` of the
seed policy), ``sequence_rewards`` (``reward_fn`` of the transformer), ``deltas`` (``deltas_mode``),
``losses`` (``loss_mode``) and ``kl_estimators`` (``kl_estimator``). A plugin
mode has the signature and docstring conventions of the group's built-ins (see grpo.modes.rewards,
grpo.modes.deltas, grpo.modes.losses) and comes from either

- an installed package's entry point, in the group ``grpo.<group>`` of its pyproject.toml::

      [project.entry-points."grpo.deltas"]
      centered_ranks = "grpo_rank_deltas:centered_ranks"

  Entry points are listed without importing anything; a plugin's module is imported the first
  time its mode is named, and every process that names it (a Ray worker included) finds it the
  same way, so a plugin must be installed wherever grpo is;
- or the Python API, for a notebook or a script::

      @grpo.register("deltas")
      def centered_ranks(rewards): ...

  A sweep hands these registrations to its Ray workers.

A plugin cannot take the name of a built-in or of another package's mode. Grid files and flags
only name modes; nothing they contain is evaluated.

Facts: what the trainer and the configuration must know about a mode beyond its signature (the
options a loss reads, the responses a deltas mode needs) are attributes of its function, built-ins
and plugins alike, each group listing its facts with their defaults (``Registry(facts=...)``).
``declare(options=..., sliced=True)`` sets them (on a built-in, in its module), as does
``grpo.register(group, **facts)`` or a plain assignment (``my_loss.options = {...}``);
``Registry.fact(name, fact)`` reads them.
"""

import hashlib
import inspect
import re
import types
from collections.abc import Callable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import TypeVar

from grpo.errors import UsageError

GROUPS = ("rewards", "sequence_rewards", "deltas", "losses", "kl_estimators")
MODE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # what a mode may be named
BUILT_IN = "built-in"  # the origin of a built-in mode or claim
T = TypeVar("T")


class PluginRegistry(Mapping[str, T]):
    """name -> item: built-ins first (in their order), then the plugins of an entry-point group
    (by name, imported when first named), then items registered in-process (in their order).
    The shared machinery of the mode registries (Registry) and of the claims
    (grpo.experiment.claims.ClaimRegistry); a subclass says what its items are (`accept`)."""

    noun = "item"  # what an item is called in messages ("deltas mode", "claim")
    built_in_noun = "built-in item"  # what a built-in one is called ("built-in mode of grpo.modes.deltas")

    def __init__(self, entry_point_group: str, built_ins: dict[str, T]):
        self.entry_point_group = entry_point_group
        self.built_ins = dict(built_ins)
        self.in_process: dict[str, T] = {}
        self._entry_points: dict[str, metadata.EntryPoint] | None = None  # discovered on first use
        self._loaded: dict[str, T] = {}  # imported plugins

    def entry_points(self) -> dict[str, metadata.EntryPoint]:
        """The installed plugins of this group, by name (nothing imported)."""
        if self._entry_points is None:
            found: dict[str, metadata.EntryPoint] = {}
            for entry_point in metadata.entry_points(group=self.entry_point_group):
                if entry_point.name in self.built_ins:
                    raise UsageError(f"plugin {describe(entry_point)} takes the name of a {self.built_in_noun};"
                                     " rename its entry point")
                other = found.get(entry_point.name)
                if other is not None and other.value != entry_point.value:
                    raise UsageError(f"two plugins name the {self.noun} {entry_point.name!r}: {describe(other)} and"
                                     f" {describe(entry_point)}; uninstall one")
                found.setdefault(entry_point.name, entry_point)  # one package seen twice on sys.path counts once
            self._entry_points = dict(sorted(found.items()))
        return self._entry_points

    def __iter__(self) -> Iterator[str]:
        yield from self.built_ins
        yield from self.entry_points()
        yield from self.in_process

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __getitem__(self, name: str) -> T:
        """The item; KeyError for an unknown name, UsageError naming the entry point for a
        plugin that cannot be imported or is not what this registry holds."""
        if name in self.built_ins:
            return self.built_ins[name]
        if name in self.in_process:
            return self.in_process[name]
        if name not in self._loaded:
            self._loaded[name] = self.load_plugin(name)
        return self._loaded[name]

    def load_plugin(self, name: str) -> T:
        """Import an entry point's object and check it (`accept`)."""
        entry_point = self.entry_points().get(name)
        if entry_point is None:
            raise KeyError(name)
        try:
            loaded = entry_point.load()
        except Exception as error:  # noqa: BLE001 - any failure of a plugin's import is reported as one line
            message = f"{type(error).__name__}: {error}".splitlines()[0]
            raise UsageError(f"cannot load plugin {describe(entry_point)}: {message}") from None
        return self.accept(name, loaded, entry_point)

    def accept(self, name: str, loaded: object, entry_point: metadata.EntryPoint) -> T:
        """`loaded` as an item of this registry, or UsageError naming the plugin."""
        raise NotImplementedError

    def unregister(self, name: str) -> None:
        """Remove an item registered in this process."""
        if name not in self.in_process:
            raise UsageError(f"{self.noun} {name!r} was not registered in this process")
        del self.in_process[name]

    def origin(self, name: str) -> str:
        """Where item `name` comes from: "built-in", "package==version" of its entry point, or
        where it was registered in-process (`in_process_origin`)."""
        if name in self.built_ins:
            return BUILT_IN
        if name in self.in_process:
            return self.in_process_origin(name)
        entry_point = self.entry_points()[name]
        return f"{entry_point.dist.name}=={entry_point.dist.version}" if entry_point.dist else entry_point.value

    def in_process_origin(self, name: str) -> str:
        return "in-process"

    def refresh(self) -> None:
        """Forget the discovered entry points (after installing or removing a package in this
        process)."""
        self._entry_points = None
        self._loaded = {}


def declare(**facts: object) -> Callable[[Callable], Callable]:
    """Decorator: set each fact as an attribute of the mode function (``@declare(min_group=2)``);
    the registry the mode joins says which facts its group has (``Registry.facts``)."""

    def decorate(fn: Callable) -> Callable:
        for name, value in facts.items():
            setattr(fn, name, value)
        return fn

    return decorate


class Registry(PluginRegistry[Callable]):
    """A group's modes: name -> mode function."""

    def __init__(self, group: str, built_ins: dict[str, Callable], contract: Callable[..., str | None],
                 facts: Mapping[str, object] | None = None):
        """`contract(result, *args)`: what is wrong with a mode's result for these arguments
        (None: nothing), the group's promise that a plugin's result is checked against.
        `facts`: the attributes a mode of the group may declare, each with the value a mode that
        declares nothing has."""
        if group not in GROUPS:
            raise ValueError(f"unknown group {group!r}; choose from {', '.join(GROUPS)}")
        super().__init__(f"grpo.{group}", built_ins)
        self.group = group
        self.contract = contract
        self.facts = dict(facts or {})
        self.noun = f"{group} mode"
        self.built_in_noun = f"built-in mode of grpo.{group}"

    def fact(self, name: str, fact: str):
        """What mode `name` declares as `fact` (an attribute of its function), else the group's
        default; a plugin that cannot be imported declares nothing here (naming it as a mode is
        the error)."""
        default = self.facts[fact]
        try:
            return getattr(self[name], fact, default)
        except (KeyError, UsageError):
            return default

    def check_facts(self, facts: Mapping[str, object]) -> None:
        """UsageError naming a fact that this group's modes do not have."""
        for fact in facts:
            if fact not in self.facts:
                raise UsageError(f"{self.group} modes declare no fact {fact!r}; choose from"
                                 f" {', '.join(self.facts) or '(none)'}")

    def accept(self, name: str, loaded: object, entry_point: metadata.EntryPoint) -> Callable:
        if not callable(loaded):
            raise UsageError(f"plugin {describe(entry_point)} is not a function: {type(loaded).__name__}")
        return loaded

    def in_process_origin(self, name: str) -> str:
        fn = self.in_process[name]
        return f"{fn.__module__}.{fn.__qualname__} (in-process)"

    def register(self, name: str, fn: Callable, **facts: object) -> Callable:
        """Add `fn` as mode `name` in this process (a re-run notebook cell replaces its earlier
        registration), with its `facts` (see declare). Returns `fn`."""
        self.check_facts(facts)
        if not callable(fn):
            raise TypeError(f"a {self.group} mode must be a function, got {type(fn).__name__}")
        if not MODE_NAME.fullmatch(name):
            raise UsageError(f"{self.group} mode name {name!r}: use letters, digits, '_', '.' and '-' only (it names"
                             " files, table cells and grid values)")
        if name in self.built_ins or name in self.entry_points():
            raise UsageError(f"{self.group} mode {name!r} exists already ({self.origin(name)}); choose another name")
        self.in_process[name] = declare(**facts)(fn)
        return fn

    def checked(self, name: str) -> Callable:
        """The mode to call in training: a built-in as it is; a plugin given copies of its tensor
        arguments (it cannot change what other metrics read) and its result checked against the
        group's contract, any failure one UsageError naming the plugin (a deltas mode returning a
        0-d tensor would otherwise tie the stacked seeds together)."""
        fn = self[name]
        if name in self.built_ins:
            return fn

        def guarded(*args, **kwargs):
            copies = [arg.clone() if hasattr(arg, "clone") else arg for arg in args]
            try:
                result = fn(*copies, **kwargs)
            except Exception as error:  # noqa: BLE001 - a plugin's failure, whatever it is, is named in one line
                message = f"{type(error).__name__}: {error}".splitlines()[0]
                raise UsageError(f"{self.group} plugin {name!r} ({self.origin(name)}) raised {message}") from None
            problem = self.contract(result, *args)
            if problem:
                raise UsageError(f"{self.group} plugin {name!r} ({self.origin(name)}) {problem}")
            return result

        return guarded

    def code_fingerprint(self, name: str) -> str | None:
        """A hash of the code a plugin mode runs (None for a built-in, which grpo's own code
        fingerprint covers): of its module's source file for an entry point (the file the
        function was imported from), of its compiled code for a mode registered in-process. Two
        results with other fingerprints were made by other plugin code."""
        if name in self.built_ins:
            return None
        fn = self[name]
        try:
            source = Path(inspect.getsourcefile(fn) or "").read_bytes() if name not in self.in_process else None
        except (OSError, TypeError):
            source = None
        code = getattr(fn, "__code__", None)
        content = source if source is not None else code_content(code) if code is not None else repr(fn).encode()
        return hashlib.sha256(content).hexdigest()[:12]

    def summary(self, name: str) -> str:
        """The first line of the mode's docstring (built-ins and plugins alike), its origin
        added for a plugin; a plugin that cannot be imported says why instead."""
        try:
            summary = first_line(self[name])
        except UsageError as error:
            return str(error)
        return summary if name in self.built_ins else f"{summary} [{self.origin(name)}]"


def code_content(code: types.CodeType) -> bytes:
    """What a compiled function computes: its bytecode, names and constants (nested functions'
    too), without the file name and line numbers, which differ where a sweep's Ray worker
    rebuilds a function registered in the driver."""
    consts = [code_content(const) if isinstance(const, types.CodeType) else repr(const).encode() for const in code.co_consts]
    return b"\0".join([code.co_code, repr((code.co_names, code.co_varnames, code.co_freevars)).encode(), *consts])


def tensor_contract(result, shape: tuple[int, ...], what: str) -> str | None:
    """None if `result` is a floating-point tensor of `shape`, else what it is instead."""
    if not hasattr(result, "shape") or not getattr(result.dtype, "is_floating_point", False):
        return f"returned {type(result).__name__} {getattr(result, 'dtype', '')}".rstrip() + f"; it must return {what}"
    if tuple(result.shape) != tuple(shape):
        return f"returned shape {list(result.shape)}; it must return {what} of shape {list(shape)}"
    return None


def first_line(fn: Callable) -> str:
    """The first line of a function's docstring: its help in ``grpo train --help``."""
    doc = (fn.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else "(no docstring)"


def summaries(choices: Mapping) -> dict[str, str]:
    """One line of help per choice of a field: a Registry's summaries, or the first docstring
    line of each function of a plain mapping."""
    if isinstance(choices, Registry):
        return {name: choices.summary(name) for name in choices}
    return {name: first_line(fn) for name, fn in choices.items()}


def describe(entry_point: metadata.EntryPoint) -> str:
    """'centered_ranks = grpo_rank_deltas:centered_ranks' (grpo.deltas, grpo-rank-deltas 0.1.0)"""
    package = f", {entry_point.dist.name} {entry_point.dist.version}" if entry_point.dist else ""
    return f"'{entry_point.name} = {entry_point.value}' ({entry_point.group}{package})"
