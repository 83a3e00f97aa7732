"""How the report names a level and a configuration: one owner for the text, the tables and the
figures' legends, and the order of the levels."""

from grpo.core.config import FIELDS

LEVEL_ORDER = {  # axis -> its choices (the config's owner of them): the seed document's order, later variants after
    name: spec.metadata["choices"] for name, spec in FIELDS.items() if spec.metadata["choices"] is not None}


def level_name(factor: str, value) -> str:
    """A level as the report names it: `kl 0.1`, `centered_rewards` (a mode), `lr=0.003` (another
    number, named with its field); with no factor, the value alone (`0.1`)."""
    if factor == "kl_penalty":
        return f"kl {value:g}"
    if not factor or isinstance(value, str):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return f"{factor}={value}"


def configuration_name(config, axes) -> str:
    """A configuration by its levels on the varying `axes`: `sort_distance / centered_rewards /
    clipped / kl 0.1`."""
    return " / ".join(level_name(name, config[name]) for name in axes) or "the one configuration"


def ordered_levels(axis: str, values) -> list:
    """Distinct values of an axis in the seed document's order (registry order; numbers sorted)."""
    values = list(dict.fromkeys(values))
    registry = list(LEVEL_ORDER.get(axis, ()))
    if registry:
        return sorted(values, key=lambda v: (registry.index(v) if v in registry else len(registry), str(v)))
    return sorted(values)
