"""Sweep grids: TOML data naming TrainConfig fields, expanded into configurations.

A grid is a preset name (a file in ``grpo/presets/``) or a path to a ``.toml`` file::

    seeds = 20                   # a count (seeds 0..19), a list [0, 3, 7] or a range "10-19"
    confirm = "100-199"          # optional: fresh seeds on which the default cell is trained again
                                 # to confirm the report's decisive findings (disjoint from the others)

    [grid]                       # keys are TrainConfig fields
    loss_mode = ["naive", "clipped"]   # a list is an axis of the cross product
    kl_penalty = [0.0, 0.1]
    epochs = 50                  # a scalar is fixed for every configuration
    epsilon = 0.2                # applies to the clipped rows only (see below)

    [sensitivity]                # optional: held-fixed values to vary, one at a time
    lr = [3e-4, 1e-3, 1e-2]      # each value is a cell: the whole grid again with that value

    [tuning]                     # optional: choose a value per arm on seeds kept apart
    lr = [3e-4, 1e-3, 1e-2]      # the candidates (several fields: their cross product)
    per = "configuration"        # or an axis of [grid]: one choice per level of it
    seeds = "1000-1019"          # tuning seeds, disjoint from the evaluation seeds above

    [random]                     # optional: a random study, its samples crossed with the axes
    samples = 2000               # (grpo.experiment.random_study: distributions, seeding, superset)

    [vary]                       # written by ``grpo sweep --vary``: more [sensitivity] fields
    epsilon = [0.1, 0.3]         # (its own table: it is added to a grid file's text whatever its
                                 # spelling of [sensitivity]: spaced, quoted, inline or dotted)

A random study has no cells and no tuning (its report reads neither): [random] beside
[sensitivity], [tuning] or [vary] is refused.

A value that does not apply to a row of the cross product (``epsilon`` on a ``naive`` row,
``kl_estimator`` on a ``kl_penalty = 0`` row, ``task_length`` on a seed-task row) is dropped for
that row, and rows that become equal collapse into one configuration; a key that applies to no
row at all is an error. The same rule holds in a sensitivity cell or a tuning candidate: an
``epsilon`` cell changes only the clipping rows, the others are the default cell's own
configurations (reused, not trained again). Every cell trains the grid's ``seeds``, so an
effect is paired by seed across cells. Grid files are data: they are parsed with tomllib and
nothing in them is evaluated.
"""

import itertools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from grpo.core.config import CONFIG_FIELDS, TASK_FIELDS, TrainConfig, applicable_only, in_own_terms, inapplicable
from grpo.core.seeds import parse_seeds
from grpo.errors import UsageError
from grpo.experiment.random_study import RandomSpace, parse_random

PRESETS = resources.files("grpo") / "presets"
GRID_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
TABLES = ("grid", "sensitivity", "tuning", "random", "vary")
VARY = "vary"  # the table `grpo sweep --vary` adds to a grid's text
DEFAULT_CELL = "default"  # the cell of the grid's own fixed values
TUNED_CELL = "tuned"  # each arm at its own tuned setting, on the evaluation seeds
PER_CONFIGURATION = "configuration"  # tuning granularity: one choice per configuration of the grid


def presets() -> list[str]:
    return sorted(path.name.removesuffix(".toml") for path in PRESETS.iterdir()
                  if path.name.endswith(".toml"))


def describe(overrides: dict) -> str:
    """A cell or candidate by its values: `lr 0.003`, `epsilon 0.2, lr 0.01`."""
    return ", ".join(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}"
                     for name, value in overrides.items())


@dataclass(frozen=True)
class Tuning:
    """What to tune, per which arm, on which seeds (the objective is fixed: success over the
    final window, a diverged run counting 0; grpo.experiment.tuning)."""

    candidates: tuple[dict, ...]  # each a {field: value} override of the grid's fixed values, in file order
    per: str  # PER_CONFIGURATION or an axis of the grid
    seeds: tuple[int, ...]  # tuning seeds, disjoint from the grid's (evaluation) seeds


@dataclass(frozen=True)
class Grid:
    name: str  # the results folder: results/<name>/
    text: str  # the TOML it came from, kept beside the results
    axes: dict[str, list]  # field -> values, in file order
    fixed: dict[str, object]  # field -> value for every configuration
    seeds: tuple[int, ...]  # the evaluation seeds: every cell trains them all
    sensitivity: dict[str, list] | None = None  # held-fixed field -> values, one cell per value
    tuning: Tuning | None = None
    random: RandomSpace | None = None  # a random study (grpo.experiment.random_study): its samples, each crossed with the axes
    confirm: tuple[int, ...] | None = None  # fresh seeds the default cell trains again to confirm the findings

    def configs(self, overrides: dict | None = None) -> list[TrainConfig]:
        """Every configuration of the cross product, validated, without repeats; a value that does
        not apply to a row is dropped for that row. `overrides` replace fixed values (a cell)."""
        return list(dict.fromkeys(self.cell(overrides or {}).values()))

    def cell(self, overrides: dict) -> dict[str, TrainConfig]:
        """The grid with `overrides` on its fixed values: default config_id -> the configuration
        that takes its place (itself where no override applies to it)."""
        names = list(self.axes)
        cell: dict[str, TrainConfig] = {}
        applied: set[str] = set()
        why: dict[str, str] = {}
        for sample, values in itertools.product(self.random.rows() if self.random else [{}], itertools.product(*self.axes.values())):
            row = {**self.fixed, **dict(zip(names, values)), **sample}
            default = TrainConfig(**applicable_only(row))
            row |= overrides
            why.update(inapplicable(row))
            applied |= set(applicable_only(row))
            cell.setdefault(default.config_id, TrainConfig(**applicable_only(row)))
        for name in [*self.fixed, *self.axes, *(self.random.choices if self.random else ()), *overrides]:
            if name not in applied:
                raise UsageError(f"grid {self.name!r}: {name} applies to no configuration ({why[name]})")
        tasks: dict[tuple[object, ...], TrainConfig] = {}
        for config in cell.values():
            tasks.setdefault((config.task, *(getattr(config, name) for name in TASK_FIELDS)), config)
        for config in tasks.values():  # impossible task sizes fail before anything runs; each task once
            config.make_task()
        return cell

    def cells(self) -> dict[str, dict[str, TrainConfig]]:
        """Cell name -> default config_id -> configuration: the default cell (the grid itself)
        first, then one cell per sensitivity value that changes some configuration."""
        cells = {DEFAULT_CELL: self.cell({})}
        for name, values in (self.sensitivity or {}).items():
            for value in values:
                cell = self.cell({name: value})
                if cell != cells[DEFAULT_CELL]:
                    cells.setdefault(describe({name: value}), cell)
        return cells

    def arms(self) -> dict[str, list[str]]:
        """Tuning arm -> the default config_ids it chooses for (one choice per arm)."""
        assert self.tuning is not None  # only a grid with a [tuning] table has arms
        default = self.cell({})
        if self.tuning.per == PER_CONFIGURATION:
            return {config_id: [config_id] for config_id in default}
        arms: dict[str, list[str]] = {}
        for config_id, config in default.items():
            arms.setdefault(str(getattr(config, self.tuning.per)), []).append(config_id)
        return arms

    def candidates(self) -> list[dict[str, TrainConfig]]:
        """Per tuning candidate (in file order): default config_id -> the candidate's configuration."""
        assert self.tuning is not None  # only a grid with a [tuning] table has candidates
        return [self.cell(candidate) for candidate in self.tuning.candidates]

    def plan(self, tuned: dict[str, TrainConfig] | None = None) -> list[tuple[TrainConfig, tuple[int, ...]]]:
        """(configuration, seeds) to train: every cell's configurations on the evaluation seeds,
        every tuning candidate on the tuning seeds, `tuned` (phase two: each arm's choice) on
        the evaluation seeds and the default cell on the `confirm` seeds; each configuration
        once, with the union of its seeds."""
        plan: dict[TrainConfig, tuple[int, ...]] = {}

        def add(configs, seeds):
            for config in configs:
                plan[config] = tuple(dict.fromkeys(plan.get(config, ()) + seeds))

        for cell in self.cells().values():
            add(cell.values(), self.seeds)
        if self.tuning:
            for candidate in self.candidates():
                add(candidate.values(), self.tuning.seeds)
        add((tuned or {}).values(), self.seeds)
        if self.confirm:
            add(self.cell({}).values(), self.confirm)
        return list(plan.items())


def load_grid(spec: str, vary: dict[str, list] | None = None) -> Grid:
    """A preset name or a path to a grid file -> Grid; UsageError on anything malformed.
    `vary` (``grpo sweep --vary``) adds sensitivity values to the grid's own."""
    if spec in presets():
        name, text = spec, PRESETS.joinpath(f"{spec}.toml").read_text()
    else:
        path = Path(spec)
        if path.suffix != ".toml" or not path.is_file():
            raise UsageError(f"unknown grid {spec!r}; choose a preset ({', '.join(presets())}) or a .toml grid file")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"cannot read grid file {spec!r}: {error}") from None
        name = path.stem
    if not GRID_NAME.fullmatch(name):
        raise UsageError(f"grid name {name!r} cannot name a results folder; use letters, digits, '_', '-', '.'")
    grid = parse_grid(name, text)
    if vary:
        grid = parse_grid(name, with_sensitivity(grid, vary))
    return grid


def with_sensitivity(grid: Grid, vary: dict[str, list]) -> str:
    """The grid's text with `vary`'s fields in a [vary] table of their own at its end (kept beside
    the results, so the report knows the cells; a table of its own, as TOML lets a grid file spell
    [sensitivity] in several ways). UsageError for a field the grid varies already."""
    if VARY in tomllib.loads(grid.text):
        raise UsageError(f"--vary: grid {grid.name!r} has a [{VARY}] table already; add the values there")
    varied = grid.sensitivity or {}
    for name in vary:
        if name in varied:
            raise UsageError(f"--vary {name}: grid {grid.name!r} varies {name} already"
                             f" ({', '.join(map(str, varied[name]))}); leave it out of --vary")
    lines = "".join(f"{name} = [{', '.join(map(repr, values))}]\n" for name, values in vary.items())
    return f"{grid.text.rstrip()}\n\n[{VARY}]  # grpo sweep --vary: sensitivity values beside the grid's own\n{lines}"


def parse_grid(name: str, text: str) -> Grid:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"grid {name!r} is not valid TOML: {error}") from None
    unknown = set(data) - {"seeds", "confirm", *TABLES}
    if unknown:
        raise UsageError(f"unknown key {sorted(unknown)[0]!r} in grid {name!r}; choose from seeds, confirm,"
                         f" {', '.join(TABLES)}")
    if "grid" not in data and "random" not in data:
        raise UsageError(f"grid {name!r} has no [grid] table: it defines no configuration")
    for table in TABLES:
        if not isinstance(data.get(table, {}), dict):
            raise UsageError(f"grid {name!r}: {table!r} must be a table of TrainConfig fields")
    axes: dict[str, list[object]] = {}
    fixed: dict[str, object] = {}
    for key, value in data.get("grid", {}).items():
        key, value = _field(name, "grid", key, value, {**axes, **fixed})
        if isinstance(value, list):
            if not value:
                raise UsageError(f"grid {name!r}: axis {key!r} is empty")
            if any(isinstance(item, list | dict) for item in value):
                raise UsageError(f"grid {name!r}: axis {key!r} must list single values (numbers or names), got {value!r}")
            axes[key] = value
        elif isinstance(value, dict):
            raise UsageError(f"grid {name!r}: {key!r} must be a value or a list of values, got a table")
        else:
            fixed[key] = value
    if "random" in data and any(table in data for table in ("sensitivity", "tuning", VARY)):
        extra = next(table for table in ("sensitivity", "tuning", VARY) if table in data)
        raise UsageError(f"grid {name!r}: a [random] study cannot have [{extra}] (its report reads no cells and no tuning:"
                         " their runs would train unseen); sweep them as a grid of their own")
    seeds = parse_seeds(data.get("seeds", 1), f"grid {name!r}: seeds")
    sensitivity = _value_lists(name, "sensitivity", data["sensitivity"], axes) if "sensitivity" in data else None
    if VARY in data:
        added = _value_lists(name, VARY, data[VARY], axes)
        twice = [field for field in added if field in (sensitivity or {})]
        if twice:
            raise UsageError(f"grid {name!r}: [{VARY}] {twice[0]} is in [sensitivity] already; vary it in one place")
        sensitivity = {**(sensitivity or {}), **added}
    tuning = _tuning(name, data["tuning"], axes, seeds) if "tuning" in data else None
    random = parse_random(name, data["random"], axes, fixed) if "random" in data else None
    confirm = _confirm(name, data["confirm"], seeds, tuning) if "confirm" in data else None
    return Grid(name, text, axes, fixed, seeds, sensitivity, tuning, random, confirm)


def _confirm(grid: str, value, seeds: tuple[int, ...], tuning: Tuning | None) -> tuple[int, ...]:
    """The `confirm` seeds: never evaluated nor tuned on (UsageError in one line otherwise)."""
    confirm = parse_seeds(value, f"grid {grid!r}: confirm seeds")
    for what, used in (("evaluation", seeds), ("tuning", tuning.seeds if tuning else ())):
        overlap = sorted(set(confirm) & set(used))
        if overlap:
            raise UsageError(f"grid {grid!r}: confirm seeds overlap the {what} seeds on {len(overlap)} seed(s)"
                             f" ({', '.join(map(str, overlap[:5]))}{' ...' if len(overlap) > 5 else ''}); a"
                             " confirmation needs fresh seeds: choose disjoint ones")
    return confirm


def _field(grid: str, table: str, key: str, value, seen: dict) -> tuple[str, object]:
    """A key of [table] and its value in this project's terms (TRL's and verl's names translated
    by grpo.core.config.in_own_terms); UsageError for an unknown key or a field named twice."""
    field, value, _ = in_own_terms(key, value, f"grid {grid!r}: [{table}] {key}")
    if field is None:
        raise UsageError(f"unknown key {key!r} in [{table}] of grid {grid!r}; choose from {', '.join(CONFIG_FIELDS)}")
    if field in seen:
        raise UsageError(f"grid {grid!r}: [{table}] {key} and another key both name {field}; keep one")
    return field, value


def _value_lists(grid: str, table: str, values: dict, axes: dict) -> dict[str, list]:
    """A [sensitivity] or [tuning] table's fields: each a non-empty list, none an axis."""
    lists: dict[str, list[object]] = {}
    for key, value in values.items():
        key, value = _field(grid, table, key, value, lists)
        if key in axes:
            raise UsageError(f"grid {grid!r}: [{table}] {key} is an axis of [grid] already; vary it in one place")
        if not isinstance(value, list) or not value or any(isinstance(v, list | dict) for v in value):
            raise UsageError(f"grid {grid!r}: [{table}] {key} must be a non-empty list of values, got {value!r}")
        lists[key] = list(dict.fromkeys(value))
    if not lists:
        raise UsageError(f"grid {grid!r}: [{table}] names no field to vary")
    return lists


def _tuning(grid: str, table: dict, axes: dict, seeds: tuple[int, ...]) -> Tuning:
    table = dict(table)
    if "seeds" not in table:
        raise UsageError(f"grid {grid!r}: [tuning] needs its own seeds, disjoint from the evaluation seeds")
    tuning_seeds = parse_seeds(table.pop("seeds"), f"grid {grid!r}: [tuning] seeds")
    overlap = sorted(set(tuning_seeds) & set(seeds))
    if overlap:
        raise UsageError(f"grid {grid!r}: [tuning] seeds overlap the evaluation seeds on {len(overlap)} seed(s)"
                         f" ({', '.join(map(str, overlap[:5]))}{' ...' if len(overlap) > 5 else ''}); tuning on"
                         " evaluation seeds biases every tuned contrast: choose disjoint seeds")
    per = table.pop("per", PER_CONFIGURATION)
    if per != PER_CONFIGURATION and per not in axes:
        raise UsageError(f"grid {grid!r}: [tuning] per {per!r}: choose {PER_CONFIGURATION!r} or an axis of [grid]"
                         f" ({', '.join(axes) or 'none'})")
    fields = _value_lists(grid, "tuning", table, axes)
    candidates = tuple(dict(zip(fields, values)) for values in itertools.product(*fields.values()))
    return Tuning(candidates, per, tuning_seeds)
