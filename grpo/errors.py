"""The error types that every command turns into a one-line message: UsageError (bad input)
exits 2, EnvironmentFault (the machine or cluster, not the input) exits 1."""


class UsageError(ValueError):
    """Bad input from the user: an unknown mode, an impossible size, a malformed grid.

    The message names the bad value and, where there is a fixed set, the choices.
    """


class FieldError(UsageError):
    """A bad value of one named option (a TrainConfig field, ``seeds``): ``NAME VALUE: PROBLEM``.

    `renamed` puts another name in front, so the CLI can name the flag as the user typed it
    (``--kl -0.1: must be non-negative``) where the config names the field (``kl_penalty -0.1: ...``).
    """

    def __init__(self, name: str, value: object, problem: str):
        super().__init__(f"{name} {value!r}: {problem}")
        self.name, self.value, self.problem = name, value, problem

    def renamed(self, name: str) -> "FieldError":
        return FieldError(name, self.value, self.problem)


def check_choice(name: str, value: object, choices) -> None:
    """Raise FieldError unless `value` is one of `choices`."""
    if value not in choices:
        raise FieldError(name, value, f"unknown choice; choose from {', '.join(map(str, choices))}")


class EnvironmentFault(RuntimeError):
    """A fault of the environment, not of the input: a lost cluster, a locked or unusable
    folder, a full disk. One line, exit code 1."""


class LostRuntime(EnvironmentFault):
    """The Ray cluster's head stopped answering while this process was connected to it. Ray's
    client then blocks the process's exit (its exit handlers and threads wait 60 s for the head,
    then abort with a log): a command that catches this ends its process at once, after its own
    clean-up, with exit code 1."""
