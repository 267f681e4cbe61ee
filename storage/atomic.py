"""Crash-safe file writes and the TinyDB storage built on them.

A write is acknowledged only once it is durably on disk: the new content goes to a temp file in
the same directory, which is flushed and fsynced, then `os.replace`d over the old file, and the
directory is fsynced so that the rename itself survives a power cut. A kill -9 at any moment
leaves either the old or the new file, never a torn one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

logger = logging.getLogger("baanwijzer.storage")

TMP_SUFFIX = ".tmp"
CORRUPT_MARK = ".corrupt-"


class CorruptFileError(Exception):
    """A file exists but cannot be parsed as what it should hold."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}{TMP_SUFFIX}")


def atomic_write_bytes(path: Path, data: bytes, *, sync_dir: bool = True) -> None:
    """Replace `path` with `data` durably: temp file, fsync, rename, fsync the directory.

    `sync_dir=False` leaves the directory's fsync to the caller, who may do it once for many
    files (group commit); the write is durable only after that fsync.
    """
    tmp = _tmp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def remove_durably(path: Path) -> bool:
    """Delete a file and fsync its directory; False if it was not there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    fsync_dir(path.parent)
    return True


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, None if there is no file; CorruptFileError if unreadable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CorruptFileError(path, f"unreadable ({exc.__class__.__name__})") from exc
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptFileError(path, f"not valid JSON ({exc.__class__.__name__})") from exc
    if not isinstance(value, dict):
        raise CorruptFileError(path, "not a JSON object")
    return value


def quarantine(path: Path, now: datetime, problems: list[str], reason: str) -> Path | None:
    """Move a corrupt file aside as `<name>.corrupt-<timestamp>`, log it and record it.

    The file is never replaced by an empty database silently: the problem is logged with the
    path and added to `problems`, which the bot can show to an administrator.
    """
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}{CORRUPT_MARK}{stamp}")
    counter = 1
    while target.exists():
        counter += 1
        target = path.with_name(f"{path.name}{CORRUPT_MARK}{stamp}-{counter}")
    try:
        os.replace(path, target)
        fsync_dir(path.parent)
    except OSError as exc:
        message = f"corrupt file {path} could not be moved aside: {exc.__class__.__name__}"
        logger.warning(message)
        problems.append(message)
        return None
    message = f"corrupt file {path} ({reason}) moved aside to {target.name}"
    logger.warning(message)
    problems.append(message)
    return target


def remove_stale_temp_files(directory: Path) -> int:
    """Delete temp files left by a write that was killed half-way (they may hold personal data)."""
    removed = 0
    if not directory.is_dir():
        return 0
    for tmp in directory.rglob(f".*{TMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed += 1
    return removed


class AtomicJSONStorage(Storage):
    """A TinyDB storage that writes crash-safely and serves reads from memory.

    TinyDB's own JSONStorage truncates and rewrites the file in place (a kill leaves it torn) and
    re-parses the whole file on every read and write. This one parses the file once, keeps the
    tables in memory, and on every write replaces the file atomically (see module docstring).
    If a write fails, the in-memory copy is dropped, so the next read comes from disk again.

    A file that exists but cannot be parsed raises CorruptFileError: the caller moves it aside;
    it is never overwritten with an empty database.

    Unlike JSONStorage, documents that TinyDB returns share nested values (lists, dicts) with
    this in-memory copy: copy them before changing them (the repositories here deep-copy).
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._cache: dict[str, dict[str, Any]] | None = None
        self._loaded = False

    def read(self) -> dict[str, dict[str, Any]] | None:
        if self._loaded:
            return self._cache
        data = read_json_object(self.path)
        if data is not None:
            for name, table in data.items():
                if not isinstance(table, dict):
                    raise CorruptFileError(self.path, f"table {name!r} is not an object")
        self._cache = data
        self._loaded = True
        return data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        try:
            atomic_write_bytes(self.path, dumps(data))
        except BaseException:
            self._cache = None
            self._loaded = False
            raise
        self._cache = data
        self._loaded = True

    def close(self) -> None:
        self._cache = None
        self._loaded = False
