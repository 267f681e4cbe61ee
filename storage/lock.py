"""One process per data directory, and a directory that can really be written.

Two processes on one DATA_DIR would each keep their own index and journal and overwrite each
other's files. `hold_data_dir` takes an exclusive `flock` on `DATA_DIR/baanwijzer.lock` for as
long as the process runs; the kernel lets go of it when the process ends, also after kill -9, so
a crashed process never leaves a stale lock behind.

Whether the directory can be written is found out by writing in it: permission bits say nothing
for root, and nothing about a read-only mount.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = "baanwijzer.lock"


class DataDirError(Exception):
    """The data directory cannot be used; the message is one line that says why."""


def check_writable(data_dir: Path) -> None:
    """Create `data_dir` if needed and write a file in it; DataDirError says what failed."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        # exist_ok covers a folder only: something else has the name.
        raise DataDirError(f"{data_dir} is a file, not a folder") from None
    except NotADirectoryError:
        raise DataDirError(f"cannot create {data_dir}: a part of that path is a file") from None
    except OSError as exc:
        raise DataDirError(f"cannot create {data_dir}: {os_reason(exc)}") from None
    try:
        with tempfile.TemporaryFile(dir=data_dir, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise DataDirError(f"cannot write in {data_dir}: {os_reason(exc)}") from None


@contextlib.contextmanager
def hold_data_dir(data_dir: Path) -> Iterator[Path]:
    """Check `data_dir` and hold its lock until the block ends; yields the lock file's path.

    A second holder, in this process or another, gets DataDirError at once instead of waiting.
    """
    check_writable(data_dir)
    path = data_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise DataDirError(f"cannot create the lock file {path}: {os_reason(exc)}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            who = f" (process {holder})" if holder else ""
            raise DataDirError(
                f"{data_dir} is in use by another Baanwijzer process{who}; "
                "stop it first, or give this one its own DATA_DIR"
            ) from None
        except OSError as exc:
            raise DataDirError(f"cannot lock {path}: {os_reason(exc)}") from None
        # The holder's pid, for the message above and for an operator who looks at the file.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        # Closing the descriptor releases the lock; the file stays, so no second process can
        # lock a new file while a first still holds the old one.
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def os_reason(exc: OSError) -> str:
    """What went wrong, in a few words for the one line an operator reads."""
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return (exc.strerror or type(exc).__name__).lower()


__all__ = ["LOCK_NAME", "DataDirError", "check_writable", "hold_data_dir", "os_reason"]
