"""Files the tool writes: always whole or not at all (temporary file, then rename).

A temporary file is named ``.<name>.<host>.<pid>.<random>.tmp`` beside its target and created
with the user's umask (like any file the user makes). A writer killed before its rename leaves
it behind; the next write of the same target on that host removes it once its process is gone,
and a sweep removes every temporary file of its results folder while it holds the folder's lock.
"""

import os
import secrets
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from grpo.errors import UsageError

if TYPE_CHECKING:  # only a type here: `grpo train` imports this module and no pandas (grpo.core.train)
    import pandas as pd

HOST = socket.gethostname().replace(".", "_")


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
    for stale in path.parent.glob(f".{path.name}.{HOST}.*.tmp"):
        pid = stale.name.removeprefix(f".{path.name}.{HOST}.").split(".")[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{HOST}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask decides the mode
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_parquet_atomic(frame: "pd.DataFrame", path: Path, metadata: dict[bytes, bytes] | None = None) -> None:
    """`frame` as a parquet file, its schema's metadata with `metadata` added."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **(metadata or {})})
    write_atomic(path, lambda tmp: pq.write_table(table, tmp))


def remove_stale_tmp(folder: Path) -> None:
    """Remove every temporary file under `folder`: for a caller that knows no writer is left."""
    for stale in folder.rglob(".*.tmp"):
        stale.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether a process of this host has id `pid`."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
