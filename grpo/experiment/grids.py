"""Sweep grids: TOML data naming TrainConfig fields, expanded into configurations.

A grid is a preset name (a file in ``grpo/presets/``) or a path to a ``.toml`` file::

    seeds = 20                   # a count (seeds 0..19), a list [0, 3, 7] or a range "10-19"

    [grid]                       # keys are TrainConfig fields
    loss_mode = ["naive", "clipped"]   # a list is an axis of the cross product
    kl_penalty = [0.0, 0.1]
    epochs = 50                  # a scalar is fixed for every configuration
    epsilon = 0.2                # applies to the clipped rows only (see below)

A value that does not apply to a row of the cross product (``epsilon`` on a ``naive`` row,
``kl_estimator`` on a ``kl_penalty = 0`` row, ``task_length`` on a seed-task row) is dropped for
that row, and rows that become equal collapse into one configuration; a key that applies to no
row at all is an error. Grid files are data: they are parsed with tomllib and nothing in them
is evaluated.
"""

import itertools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from grpo.core.config import CONFIG_FIELDS, TASK_FIELDS, TrainConfig, applicable_only, inapplicable
from grpo.core.seeds import parse_seeds
from grpo.errors import UsageError

PRESETS = resources.files("grpo") / "presets"
GRID_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def presets() -> list[str]:
    return sorted(path.name.removesuffix(".toml") for path in PRESETS.iterdir()
                  if path.name.endswith(".toml"))


@dataclass(frozen=True)
class Grid:
    name: str  # the results folder: results/<name>/
    text: str  # the TOML it came from, kept beside the results
    axes: dict[str, list]  # field -> values, in file order
    fixed: dict[str, object]  # field -> value for every configuration
    seeds: tuple[int, ...]

    def configs(self) -> list[TrainConfig]:
        """Every configuration of the cross product, validated, without repeats; a value that does
        not apply to a row is dropped for that row."""
        names = list(self.axes)
        configs, applied, why = {}, set(), {}
        for values in itertools.product(*self.axes.values()):
            row = {**self.fixed, **dict(zip(names, values))}
            why.update(inapplicable(row))
            applied |= set(applicable_only(row))
            config = TrainConfig(**applicable_only(row))
            configs.setdefault(config.config_id, config)
        for name in [*self.fixed, *self.axes]:
            if name not in applied:
                raise UsageError(f"grid {self.name!r}: {name} applies to no configuration ({why[name]})")
        tasks = {}
        for config in configs.values():
            tasks.setdefault((config.task, *(getattr(config, name) for name in TASK_FIELDS)), config)
        for config in tasks.values():  # impossible task sizes fail before anything runs; each task once
            config.make_task()
        return list(configs.values())


def load_grid(spec: str) -> Grid:
    """A preset name or a path to a grid file -> Grid; UsageError on anything malformed."""
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
    return parse_grid(name, text)


def parse_grid(name: str, text: str) -> Grid:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"grid {name!r} is not valid TOML: {error}") from None
    unknown = set(data) - {"seeds", "grid"}
    if unknown:
        raise UsageError(f"unknown key {sorted(unknown)[0]!r} in grid {name!r}; choose from seeds, grid")
    if "grid" not in data:
        raise UsageError(f"grid {name!r} has no [grid] table: it defines no configuration")
    table = data["grid"]
    if not isinstance(table, dict):
        raise UsageError(f"grid {name!r}: 'grid' must be a table of TrainConfig fields")
    axes, fixed = {}, {}
    for key, value in table.items():
        if key not in CONFIG_FIELDS:
            raise UsageError(f"unknown key {key!r} in grid {name!r}; choose from {', '.join(CONFIG_FIELDS)}")
        if isinstance(value, list):
            if not value:
                raise UsageError(f"grid {name!r}: axis {key!r} is empty")
            axes[key] = value
        elif isinstance(value, dict):
            raise UsageError(f"grid {name!r}: {key!r} must be a value or a list of values, got a table")
        else:
            fixed[key] = value
    return Grid(name, text, axes, fixed, parse_seeds(data.get("seeds", 1), f"grid {name!r}: seeds"))
