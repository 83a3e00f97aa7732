"""Random studies (Andrychowicz et al., "What Matters in On-Policy Reinforcement Learning?",
ICLR 2021): configurations sampled from a search space instead of a cross product.

A grid file declares one with a ``[random]`` table (grpo.experiment.grids reads it here)::

    seeds = 3                          # every sampled configuration trains these seeds (stacked)

    [grid]                             # fixed values (and, optionally, axes crossed with every sample)
    epochs = 30

    [random]
    samples = 2000                     # configurations drawn; more samples: a superset of these
    seed = 0                           # the study's stream (not a training seed)
    loss_mode = ["naive", "clipped"]   # a list: a uniform choice among its values
    lr = {loguniform = [1e-4, 3e-2]}   # a range: Ray Tune's tune.loguniform (also uniform, randint,
                                       # lograndint; integer ranges exclude the upper bound, as in Tune)
    kl_penalty = {loguniform = [1e-3, 0.3], also = [0.0]}
                                       # `also`: explicit values beside the range; the draw picks one
                                       # of the values or the range with equal chance (here 0 or a draw)

Each field is a Ray Tune search-space domain (``tune.choice``, ``tune.loguniform``, ...) sampled
through its ``Domain.sample(random_state=...)``. Sample i of field f draws from its own stream,
``numpy.random.SeedSequence(seed, spawn_key=(i, crc32(f)))``: sample i does not depend on the
sample count (a larger count is a superset, and the sweep trains only the new configurations,
results being keyed by (configuration, seed)) nor on the other fields of the space. A drawn float
keeps DIGITS significant digits, so the same file gives the same configurations (the same
config_ids) on any machine. A drawn value that does not apply to the sampled configuration
(``epsilon`` with the ``naive`` loss) is dropped, as for a grid row (grpo.core.config
.applicable_only); samples that become equal are one configuration.
"""

import functools
import itertools
import math
import zlib
from dataclasses import dataclass

import numpy as np

from grpo.core.config import CONFIG_FIELDS
from grpo.errors import UsageError

RANGES = ("uniform", "loguniform", "randint", "lograndint")  # a {kind = [low, high]} range: tune.<kind>(low, high)
CONTINUOUS = ("uniform", "loguniform")
ALSO = "also"  # explicit values offered beside a range
SETTINGS = {"samples": "how many configurations to draw", "seed": "the study's random stream"}
DIGITS = 4  # significant digits a drawn float keeps: one decimal text, the same config_id on every machine
IN_RANGE = "range"  # the level name of a range's draw among a choice's options (before the draw)
MAX_CONFIGURATIONS = 100_000  # samples x rows of the axes a study may draw (50 times the wide preset; each is trained)
DRAW_S = 75e-6  # seconds to draw one field of one sample, measured on 2 shared cores (load 8): the refusal's estimate
BUILD_S = 5e-4  # seconds to build and validate one drawn configuration (grpo.experiment.grids.Grid.cell), likewise


@dataclass(frozen=True)
class Choice:
    """One field's distribution: explicit `values` (a list: a uniform choice) and/or a range."""

    name: str  # the TrainConfig field
    values: tuple = ()  # explicit values: the whole choice (no range) or a range's `also`
    kind: str | None = None  # a RANGES kind, or None: values only
    low: float | None = None
    high: float | None = None

    @property
    def continuous(self) -> bool:
        return self.kind in CONTINUOUS

    @property
    def log(self) -> bool:
        return self.kind in ("loguniform", "lograndint")

    @property
    def bounds(self) -> tuple[float, float]:
        """(low, high) of the range: a choice with a `kind` has both."""
        assert self.low is not None and self.high is not None, f"choice {self.name} has no range"
        return self.low, self.high

    def domains(self):
        """(the Ray Tune domain of the options, the range's domain or None)."""
        from ray import tune

        options = [*self.values, IN_RANGE] if self.kind else list(self.values)
        return tune.choice(options), getattr(tune, self.kind)(self.low, self.high) if self.kind else None

    def draw(self, sample: int, study_seed: int, domains=None):
        """This field's value in sample `sample` of the study seeded `study_seed`."""
        options, within = domains or self.domains()
        stream = np.random.SeedSequence(study_seed, spawn_key=(sample, zlib.crc32(self.name.encode())))
        rng = np.random.default_rng(stream)
        value = options.sample(random_state=rng)
        if self.kind and isinstance(value, str) and value == IN_RANGE:
            value = within.sample(random_state=rng)
        if isinstance(value, np.generic):
            value = value.item()
        return float(f"{value:.{DIGITS}g}") if isinstance(value, float) else value


@dataclass(frozen=True)
class RandomSpace:
    """A [random] table: the fields' distributions, the sample count and the study's seed."""

    choices: dict[str, Choice]  # field -> its distribution, in file order
    samples: int
    seed: int

    def rows(self) -> list[dict]:
        """The drawn values of each sample [samples] (field -> value, before inapplicable ones drop);
        drawn once per space (read-only: copy a row before changing it)."""
        return _rows(tuple(self.choices.values()), self.samples, self.seed)


@functools.lru_cache(maxsize=8)
def _rows(choices: tuple[Choice, ...], samples: int, seed: int) -> list[dict]:
    domains = [choice.domains() for choice in choices]
    return [{choice.name: choice.draw(i, seed, domain) for choice, domain in zip(choices, domains)}
            for i in range(samples)]


def parse_random(grid: str, table: dict, axes: dict, fixed: dict) -> RandomSpace:
    """A grid file's [random] table -> RandomSpace; UsageError naming the bad value and the choices."""
    table = dict(table)
    settings = {}
    for key in SETTINGS:
        value = table.pop(key, None)
        if not isinstance(value, int) or isinstance(value, bool) or value < (1 if key == "samples" else 0):
            raise UsageError(f"grid {grid!r}: [random] {key} must be a {'positive' if key == 'samples' else 'non-negative'}"
                             f" integer ({SETTINGS[key]}), got {value!r}")
        settings[key] = value
    choices = {}
    for name, spec in table.items():
        if name not in CONFIG_FIELDS:
            raise UsageError(f"unknown key {name!r} in [random] of grid {grid!r}; choose from"
                             f" {', '.join(SETTINGS)}, {', '.join(CONFIG_FIELDS)}")
        if name in axes or name in fixed:
            raise UsageError(f"grid {grid!r}: [random] {name} is set in [grid] already; vary it in one place")
        choices[name] = _choice(grid, name, spec)
    if not choices:
        raise UsageError(f"grid {grid!r}: [random] names no field to sample")
    configurations = settings["samples"] * math.prod(len(values) for values in axes.values())
    if configurations > MAX_CONFIGURATIONS:
        hours = configurations * (DRAW_S * len(choices) + BUILD_S) / 3600
        raise UsageError(f"grid {grid!r}: [random] samples {settings['samples']} x {configurations // settings['samples']:,}"
                         f" row(s) of the axes = {configurations:,} configurations, about {hours:,.0f} h to draw before"
                         f" any training; a study may have at most {MAX_CONFIGURATIONS:,}")
    return RandomSpace(choices, settings["samples"], settings["seed"])


def _choice(grid: str, name: str, spec) -> Choice:
    where = f"grid {grid!r}: [random] {name}"
    if isinstance(spec, list):
        if not spec or any(isinstance(value, list | dict) for value in spec):
            raise UsageError(f"{where} must be a non-empty list of values or a range table, got {spec!r}")
        return Choice(name, tuple(dict.fromkeys(spec)))
    if not isinstance(spec, dict):
        raise UsageError(f"{where} must be a list of values or a range {{{' | '.join(RANGES)} = [low, high]}}, got {spec!r}")
    kinds = [key for key in spec if key != ALSO]
    if len(kinds) != 1 or kinds[0] not in RANGES:
        raise UsageError(f"{where}: {', '.join(map(repr, kinds)) or 'no range'}: give one range, one of {', '.join(RANGES)}"
                         f" (and optionally {ALSO} = [values])")
    kind, bounds, also = kinds[0], spec[kinds[0]], spec.get(ALSO, [])
    numbers = isinstance(bounds, list) and len(bounds) == 2 and all(
        isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
    if numbers and not all(math.isfinite(bound) for bound in bounds):
        raise UsageError(f"{where}: {kind} needs finite bounds, got {bounds!r}")
    if not numbers or not bounds[0] < bounds[1] or (kind.startswith("log") and bounds[0] <= 0):
        raise UsageError(f"{where}: {kind} needs [low, high] with low < high{' and low > 0' if kind.startswith('log') else ''},"
                         f" got {bounds!r}")
    if kind in ("randint", "lograndint") and not all(isinstance(b, int) for b in bounds):
        raise UsageError(f"{where}: {kind} needs integer bounds, got {bounds!r}")
    if not isinstance(also, list) or any(isinstance(value, list | dict) for value in also):
        raise UsageError(f"{where}: {ALSO} must be a list of values, got {also!r}")
    return Choice(name, tuple(dict.fromkeys(also)), kind, bounds[0], bounds[1])


def sampled(space: RandomSpace, fixed: dict, axes: dict) -> dict[str, dict]:
    """config_id -> every value drawn for it (the fields that do not apply to it included: they
    were drawn and dropped, so they carry no information about its outcome), for the first sample
    that gives each configuration, as grpo.experiment.grids.Grid.cell builds them."""
    from grpo.core.config import TrainConfig, applicable_only

    drawn: dict[str, dict[str, object]] = {}
    for sample, values in itertools.product(space.rows(), itertools.product(*axes.values())):
        row = {**fixed, **dict(zip(axes, values)), **sample}
        drawn.setdefault(TrainConfig(**applicable_only(row)).config_id, dict(sample))
    return drawn
