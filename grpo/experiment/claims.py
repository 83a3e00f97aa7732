"""Claims of the literature as data: what a sweep must show for a claimed mechanism to replicate.

A claim names its grid (a preset or a ``.toml`` grid file: the sweep it reads), a metric (a
record column), how the metric is summarised per run (SUMMARIES: ``final``: the mean over the
final window, grpo.experiment.results.final_window; ``run``: the mean over every epoch, the area
under the metric's curve: learning speed for a success metric; ``samples``: the metric at an
equal number of responses sampled, for arms that sample at different rates; ``asymptote``:
ScaleRL's fitted asymptote A of the run's curve against samples; ``measured``: no record
column, the mechanism's measure gives each seed's two values), and a contrast: the configurations with the
``treatment`` levels against those with the ``baseline`` levels, with ``held`` axes fixed at a
level; the grid's remaining axes are cells (one configuration per arm in each), pooled per
seed. It predicts the sign of treatment minus
baseline, names the measurement of its mechanism, cites its source and states the paper's
effect in this metric's units, or why no number of the paper is comparable.

The registry ``grpo.experiment.canaries.CLAIMS`` holds the built-in claims, then plugins: an
installed package's entry point in the group ``grpo.claims`` naming a Claim object::

    [project.entry-points."grpo.claims"]
    my-claim = "my_package.claims:MY_CLAIM"

or a claim registered in-process (``grpo.register_claim(claim)``). Every claim is checked when it
is made (``Claim(...)`` refuses a malformed one in one line) and again against its grid when it
is registered or loaded.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata

from grpo.core.config import CONFIG_FIELDS
from grpo.core.schema import METRICS
from grpo.errors import UsageError
from grpo.modes.registry import MODE_NAME, PluginRegistry, describe

SUMMARIES = {"final": "mean over the final window",
             "run": "mean over every epoch: the area under its curve (for a success metric, learning speed)",
             "samples": "the value at an equal number of responses sampled: the fewest any run of the claim's arms"
                        " reaches, each run interpolated between its evaluated epochs (arms that sample at different"
                        " rates compared per sample)",
             "asymptote": "ScaleRL's asymptote A of the saturating curve fitted to the configuration's seed-mean"
                          " against responses sampled (grpo.report._fits), as per-seed jackknife pseudo-values",
             "measured": "measured on rollouts by the claim's mechanism measure, which gives each seed's treatment and"
                         " baseline value (the two arms may be one configuration: the measure names what it compares)"}
SIGNS = {1: "higher", -1: "lower", 0: "equal"}  # predicted sign of treatment - baseline -> its word (0: an equivalence claim)
ENTRY_POINT_GROUP = "grpo.claims"
REFERENCE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")  # "module:function", a mechanism resolved when measured


@dataclass(frozen=True)
class Mechanism:
    """How the claimed mechanism is measured: a record column compared between the arms over
    the whole run (`column`), or a function (`measure`: a callable or "module:function",
    imported only when measured) called as ``measure(claim, results) -> Measurement`` (see
    grpo.report.mechanisms)."""

    description: str
    column: str | None = None
    measure: Callable | str | None = None
    # the smallest difference of the mechanism between the arms that gives it room: below it the
    # verdict is "regime failed" (None: not declared, not checked); compared between the
    # measurement's numbers named `between` (treatment's, baseline's)
    minimum_difference: float | None = None
    between: tuple[str, str] = ("treatment", "baseline")

    def __post_init__(self):
        if not self.description.strip():
            raise UsageError("mechanism: give a description of what is measured")
        if self.minimum_difference is not None and not (isinstance(self.minimum_difference, int | float)
                                                        and self.minimum_difference > 0):
            raise UsageError(f"mechanism minimum_difference {self.minimum_difference!r}: give a positive number, or None")
        if (self.column is None) == (self.measure is None):
            raise UsageError(f"mechanism {self.description!r}: give exactly one of column (a record column) and measure"
                             " (a function)")
        if self.column is not None and self.column not in METRICS:
            raise UsageError(f"mechanism column {self.column!r}: not a record column; choose from {', '.join(METRICS)}")
        if isinstance(self.measure, str) and not REFERENCE.fullmatch(self.measure):
            raise UsageError(f"mechanism measure {self.measure!r}: give a function or 'module:function'")
        if self.measure is not None and not isinstance(self.measure, str) and not callable(self.measure):
            raise UsageError(f"mechanism measure: {type(self.measure).__name__} is not a function")


@dataclass(frozen=True)
class Claim:
    """One claimed effect: see the module docstring. `paper_effect`: the paper's effect in this
    claim's metric units (None where none is comparable); `paper_note`: where that number comes
    from, or why no number of the paper is comparable (always given)."""

    name: str  # the registry key: letters, digits, '_', '.', '-'
    statement: str  # the claim in one line
    grid: str  # a preset or a .toml grid file
    metric: str  # a record column
    treatment: Mapping[str, object]  # axis -> level
    baseline: Mapping[str, object]  # axis -> level (other levels, or other axes)
    predicted: int  # +1: treatment - baseline > 0; -1: < 0; 0: equal (supported by an equivalence test: "tied")
    mechanism: Mechanism
    citation: str
    paper_note: str
    paper_effect: float | None = None
    held: Mapping[str, object] = field(default_factory=dict)  # axis -> the level held fixed
    summary: str = "final"

    def __post_init__(self):
        problem = self.problem()
        if problem:
            raise UsageError(f"claim {self.name!r}: {problem}")

    def problem(self) -> str | None:
        """What is malformed in this claim on its own (its grid not read), None if nothing."""
        if not isinstance(self.name, str) or not MODE_NAME.fullmatch(self.name):
            return "name: use letters, digits, '_', '.' and '-' only (it names figures and table rows)"
        for text in ("statement", "grid", "citation", "paper_note"):
            if not isinstance(getattr(self, text), str) or not getattr(self, text).strip():
                return f"{text}: give a non-empty text"
        if self.metric not in METRICS:
            return f"metric {self.metric!r}: not a record column; choose from {', '.join(METRICS)}"
        if self.summary not in SUMMARIES:
            return f"summary {self.summary!r}: choose from {', '.join(SUMMARIES)}"
        if self.predicted not in SIGNS:
            return f"predicted {self.predicted!r}: choose 1 (treatment higher), -1 (treatment lower) or 0 (equal)"
        if not self.treatment or not self.baseline:
            return "treatment and baseline: give each the levels of at least one axis"
        if self.summary == "measured" and (not isinstance(self.mechanism, Mechanism) or self.mechanism.measure is None):
            return "summary 'measured': give a mechanism with a measure (it gives each seed's values)"
        if dict(self.treatment) == dict(self.baseline) and self.summary != "measured":
            return f"treatment and baseline are the same levels {dict(self.treatment)}: nothing is contrasted"
        for axis in [*self.treatment, *self.baseline, *self.held]:
            if axis not in CONFIG_FIELDS:
                return f"axis {axis!r}: not a configuration field; choose from {', '.join(CONFIG_FIELDS)}"
        if set(self.held) & set(self.contrast_axes):
            return f"axes {sorted(set(self.held) & set(self.contrast_axes))} are both contrasted and held"
        if self.paper_effect is not None and not (isinstance(self.paper_effect, int | float) and self.paper_effect > 0):
            return f"paper_effect {self.paper_effect!r}: give the paper's effect size as a positive number, or None"
        if not isinstance(self.mechanism, Mechanism):
            return f"mechanism: give a grpo.experiment.claims.Mechanism, got {type(self.mechanism).__name__}"
        return None

    @property
    def contrast_axes(self) -> tuple[str, ...]:
        """The axes either arm sets (an arm may leave out an axis that does not apply to it, as
        ``epsilon`` on a ``clip_higher`` row)."""
        return tuple(dict.fromkeys([*self.treatment, *self.baseline]))

    def arm(self, which: str) -> dict[str, object]:
        """The levels that select one arm ("treatment" or "baseline"), the held levels included."""
        return {**self.held, **(self.treatment if which == "treatment" else self.baseline)}


def check_against_grid(claim: Claim) -> None:
    """UsageError (one line) unless the claim's grid exists and has every level the claim names
    among its configurations."""
    from grpo.experiment.grids import load_grid  # reads the grid's file only when a claim is registered

    grid = load_grid(claim.grid)
    configs = grid.configs()
    for which in ("treatment", "baseline"):
        levels = claim.arm(which)
        if not any(all(getattr(config, axis) == level for axis, level in levels.items()) for config in configs):
            raise UsageError(f"claim {claim.name!r}: grid {grid.name!r} has no configuration with the {which}'s levels"
                             f" {levels}")


class ClaimRegistry(PluginRegistry[Claim]):
    """name -> Claim: built-ins first, then entry-point plugins (by name), then claims registered
    in-process (in their order)."""

    noun = "claim"
    built_in_noun = "built-in claim"

    def __init__(self, built_ins: tuple[Claim, ...], sets: dict[str, tuple[str, ...]] | None = None):
        """`sets`: a name for several built-in claims at once (``grpo claims canaries``)."""
        super().__init__(ENTRY_POINT_GROUP, {claim.name: claim for claim in built_ins})
        self.sets = dict(sets or {})

    def accept(self, name: str, loaded: object, entry_point: metadata.EntryPoint) -> Claim:
        if not isinstance(loaded, Claim):
            raise UsageError(f"plugin {describe(entry_point)} is not a Claim: {type(loaded).__name__}")
        if loaded.name != name:
            raise UsageError(f"plugin {describe(entry_point)} holds the claim {loaded.name!r}; name its entry point so")
        check_against_grid(loaded)
        return loaded

    def register(self, claim: Claim) -> Claim:
        """Add `claim` in this process (a re-run notebook cell replaces its earlier registration),
        checked against its grid. Returns `claim`."""
        if not isinstance(claim, Claim):
            raise UsageError(f"register_claim: give a grpo.experiment.claims.Claim, got {type(claim).__name__}")
        if claim.name in self.built_ins or claim.name in self.entry_points():
            raise UsageError(f"claim {claim.name!r} exists already ({self.origin(claim.name)}); choose another name")
        check_against_grid(claim)
        self.in_process[claim.name] = claim
        return claim

    def chosen(self, names: list[str]) -> list[Claim]:
        """The claims named, a set's name standing for its claims (every claim when none is
        named); UsageError for an unknown name."""
        expanded = [claim for name in names for claim in self.sets.get(name, (name,))]
        for name in expanded:
            if name not in self:
                raise UsageError(f"unknown claim {name!r}; choose from {', '.join([*self.sets, *self])}")
        return [self[name] for name in dict.fromkeys(expanded or list(self))]

