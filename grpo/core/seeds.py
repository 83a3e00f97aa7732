"""Seed lists: the forms `grpo train --seeds` and a grid's ``seeds`` accept."""

from grpo.errors import FieldError

FORMS = "a count (20: seeds 0..19), a list (3,7,9) or a range (10-19)"
MAX_SEED = 2**63 - 1  # records store seeds as int64
MAX_COUNT = 10**6  # seeds in one list: a million stacked models already fill this machine's memory


def parse_seeds(value: int | str | list, name: str = "seeds") -> tuple[int, ...]:
    """A count N (seeds 0..N-1), a list of seeds, or a range "low-high" (both included) -> the
    seeds. A count or list may be a Python int / list (grid files) or text ("20", "3,7,9",
    "10-19": the command line). FieldError naming `name` unless the seeds are distinct,
    non-negative and at least one."""
    seeds: range | list[int] | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        seeds = range(value)
    elif isinstance(value, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in value):
        seeds = value
    elif isinstance(value, str):
        try:
            if "," in value:
                seeds = [int(part) for part in value.split(",")]
            elif "-" in value.strip("-"):
                low, high = (int(part) for part in value.split("-"))
                seeds = range(low, high + 1)
            else:
                seeds = range(int(value))
        except ValueError:
            seeds = None
    if seeds is None:
        raise FieldError(name, value, f"give {FORMS}")
    largest = seeds.stop - 1 if isinstance(seeds, range) else max(seeds, default=0)  # before a range is spelt out
    if largest > MAX_SEED:
        raise FieldError(name, value, f"seeds must be at most 2^63 - 1 = {MAX_SEED}")
    if isinstance(seeds, range) and seeds.stop - seeds.start > MAX_COUNT:
        raise FieldError(name, value, f"at most {MAX_COUNT} seeds at once")
    seeds = list(seeds)
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise FieldError(name, value, f"seeds must be distinct, non-negative, at least one; give {FORMS}")
    return tuple(seeds)
