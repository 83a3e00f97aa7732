"""How the report names a level and a configuration: one owner for the text, the tables and the
figures' legends."""


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
