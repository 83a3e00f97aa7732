"""Progress of long work on stderr: the one display of `grpo train` (epochs), `grpo sweep`
(configurations trained), and `grpo report`, `grpo claims` and `grpo export` (configurations
read).

On a terminal, a tqdm bar redrawn in place. Anywhere else (a log file, a pipe, CI) a ``\\r``
frame would pile up in the file, so the display is line-based instead: once the work has lasted
QUIET_SECONDS, one line each time another tenth of it is done or 30 s have passed since the last
line, whichever comes first; and one at the end (work shorter than QUIET_SECONDS prints that
line alone)::

    configurations: 12/120 config (10%), 0:41 elapsed, ~6:09 left

Readers deep in the library (``grpo.experiment.results.Results.iter_records``) count their work
with ``counted``, which shows nothing unless a command asked for progress (``shown()``), so the
library stays quiet when imported.
"""

import contextlib
import contextvars
import sys
import time
from collections.abc import Callable, Iterable, Iterator

from tqdm import tqdm

PARTS = 10  # a line each time another 1/PARTS of the work is done ...
EVERY_SECONDS = 30.0  # ... or this long after the last line, whichever comes first
QUIET_SECONDS = 5.0  # no line before the work has lasted this long: a 0.7 s `grpo train` prints its last line only
_SHOWN = contextvars.ContextVar("grpo_progress_shown", default=False)


def is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def clock_text(seconds: float) -> str:
    """0:41, 6:09, 1:02:03."""
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    """`total` units of work: ``update(n)`` as they are done; a context manager. `enabled`
    False shows nothing; `stream` defaults to stderr; `clock` (seconds) is for tests."""

    def __init__(self, total: int, desc: str, unit: str, enabled: bool = True, stream=None,
                 clock: Callable[[], float] = time.monotonic):
        self.total, self.desc, self.unit, self.enabled, self.clock = total, desc, unit, enabled, clock
        self.stream = sys.stderr if stream is None else stream
        self.bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream) if enabled and is_terminal(self.stream) else None
        self.done = self.shown_done = 0
        self.start = self.shown_at = clock()

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled and self.clock() - self.start >= QUIET_SECONDS and (
                self.tenth(self.done) > self.tenth(self.shown_done) or self.clock() - self.shown_at >= EVERY_SECONDS):
            self.line()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and self.done != self.shown_done:
            self.line()

    def tenth(self, done: int) -> int:
        return done * PARTS // self.total if self.total else 0  # integers: 6 of 20 is 3 tenths, not 2.999

    def line(self) -> None:
        now = self.clock()
        elapsed = now - self.start
        text = f"{self.desc}: {self.done}/{self.total} {self.unit}"
        if self.total:
            text += f" ({100 * self.done / self.total:.0f}%)"
        text += f", {clock_text(elapsed)} elapsed"
        if 0 < self.done < self.total:
            text += f", ~{clock_text(elapsed / self.done * (self.total - self.done))} left"
        print(text, file=self.stream, flush=True)
        self.shown_done, self.shown_at = self.done, now


@contextlib.contextmanager
def shown() -> Iterator[None]:
    """Within this block, ``counted`` shows its progress (a command's choice, not the library's)."""
    token = _SHOWN.set(True)
    try:
        yield
    finally:
        _SHOWN.reset(token)


def counted(items: Iterable, total: int, desc: str, unit: str) -> Iterator:
    """`items`, advancing a Progress of `total` as each is consumed; shows nothing outside ``shown()``."""
    with Progress(total, desc, unit, enabled=_SHOWN.get()) as progress:
        for item in items:
            yield item
            progress.update()
