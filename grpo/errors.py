"""The one error type that the CLI turns into a one-line message and exit code 2."""


class UsageError(ValueError):
    """Bad input from the user: an unknown mode, an impossible size, a malformed grid.

    The message names the bad value and, where there is a fixed set, the choices.
    """


def check_choice(name: str, value: object, choices) -> None:
    """Raise UsageError unless `value` is one of `choices`."""
    if value not in choices:
        raise UsageError(f"unknown {name} {value!r}; choose from {', '.join(map(str, choices))}")
