"""Files the tool writes: always whole or not at all (temporary file, then rename)."""

import os
import tempfile
from pathlib import Path

import pandas as pd

from grpo.errors import UsageError


def check_writable_dir(directory: Path) -> None:
    """UsageError unless `directory` exists (or can be created) and is writable."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create folder {str(directory)!r}: {error.strerror}") from None
    if not os.access(directory, os.W_OK):
        raise UsageError(f"folder {str(directory)!r} is not writable")


def write_atomic(path: Path, write) -> None:
    """Call `write(tmp_path)`, then rename tmp_path to `path`: readers see the old file or
    the whole new one, never a part."""
    path = Path(path)
    descriptor, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(descriptor)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> None:
    write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))
