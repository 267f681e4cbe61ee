"""DATA_DIR: a folder the bot cannot use stops `python -m bot` with one line that names DATA_DIR
and the reason (exit 2, no traceback), and a second process on the same folder is refused.

Read-only folders: permission bits do not stop root, so as root the folder is made read-only
by a read-only bind mount in a private mount namespace (`unshare`); where that is not possible
those cases are skipped. A file in place of the folder needs no such help.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.lock import LOCK_NAME, DataDirError, hold_data_dir

# Each test runs the bot in a process of its own: the second, slow step of .ci/run.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TOKEN = "123456:ABC-def_ghi"
# A Bot API that does not exist: every case here must stop before talking to Telegram.
NOWHERE = "http://127.0.0.1:9"


def env_for(tmp_path: Path, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path),
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE": NOWHERE,
        "SERVICE_CONTACT": "Bel 070 123 45 67",
        "DATA_DIR": str(data_dir),
        **extra,
    }


def run_bot(
    tmp_path: Path,
    data_dir: Path,
    *args: str,
    read_only: Path | None = None,
    **extra: str,
) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS`, with the folder `read_only` made read-only for it."""
    command = [sys.executable, "-m", "bot", *args]
    if read_only is not None:
        command = read_only_command(read_only, command)
    return subprocess.run(
        command,
        cwd=tmp_path,  # no .env of the developer is read
        env=env_for(tmp_path, data_dir, **extra),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The run ended with exit 2 and said one thing, on one line, without a traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert result.stdout == ""
    return line


# -- read-only folders ---------------------------------------------------------------------------


def running_as_root() -> bool:
    return os.geteuid() == 0


@functools.cache
def can_mount_read_only() -> bool:
    """Whether `unshare` may give a child a read-only bind mount of a folder."""
    if shutil.which("unshare") is None:
        return False
    with tempfile.TemporaryDirectory() as folder:
        probe = subprocess.run(
            [*read_only_command(Path(folder), ["sh", "-c", f'! touch "{folder}/x"'])],
            capture_output=True,
            check=False,
            timeout=10,
        )
    return probe.returncode == 0


def read_only_command(folder: Path, command: list[str]) -> list[str]:
    if not running_as_root():
        return command  # the folder's mode already stops this user (see read_only_folder)
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    return ["unshare", "-rm", "sh", "-c", script, "sh", str(folder), *command]


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder the bot will find read-only (chmod, or a read-only mount as root)."""
    if running_as_root() and not can_mount_read_only():
        pytest.skip("running as root, and no read-only mount can be made here")
    folder = tmp_path / "read-only"
    folder.mkdir()
    (folder / "kept.txt").write_text("data of an earlier run\n", encoding="utf-8")
    if not running_as_root():
        folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)  # so tmp_path can be cleaned up


def test_a_read_only_data_dir_is_named_in_one_line(tmp_path: Path, read_only_folder: Path) -> None:
    line = one_line(run_bot(tmp_path, read_only_folder, read_only=read_only_folder))
    assert line.startswith("Setting DATA_DIR: cannot write in ")
    assert str(read_only_folder) in line
    assert line.endswith(("permission denied", "the file system is read-only"))
    assert (read_only_folder / "kept.txt").exists()


def test_a_data_dir_under_a_read_only_folder_is_named_in_one_line(
    tmp_path: Path, read_only_folder: Path
) -> None:
    data_dir = read_only_folder / "data"
    line = one_line(run_bot(tmp_path, data_dir, read_only=read_only_folder))
    assert line.startswith(f"Setting DATA_DIR: cannot create {data_dir}: ")
    assert line.endswith(("permission denied", "the file system is read-only"))
    assert not data_dir.exists()


def test_the_try_out_in_a_read_only_data_dir_is_named_in_one_line(
    tmp_path: Path, read_only_folder: Path
) -> None:
    line = one_line(run_bot(tmp_path, read_only_folder, "try", read_only=read_only_folder))
    assert line.startswith(f"Setting DATA_DIR: cannot create {read_only_folder / 'try-out'}: ")


# -- a file where the folder should be -----------------------------------------------------------


def test_a_data_dir_that_is_a_file_is_named_in_one_line(tmp_path: Path) -> None:
    data_file = tmp_path / "data"
    data_file.write_text("not a folder\n", encoding="utf-8")
    line = one_line(run_bot(tmp_path, data_file))
    assert line == f"Setting DATA_DIR: {data_file} is a file, not a folder"
    assert data_file.read_text(encoding="utf-8") == "not a folder\n"


def test_a_data_dir_under_a_file_is_named_in_one_line(tmp_path: Path) -> None:
    data_file = tmp_path / "data"
    data_file.write_text("not a folder\n", encoding="utf-8")
    line = one_line(run_bot(tmp_path, data_file / "baanwijzer"))
    assert line == (
        f"Setting DATA_DIR: cannot create {data_file / 'baanwijzer'}: a part of that path is a file"
    )


def test_the_stores_inside_a_usable_data_dir_that_cannot_be_opened(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "conversations").write_text("a file where a folder belongs\n", encoding="utf-8")
    result = run_bot(tmp_path, data_dir)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    # The stores that did open logged a line each before; the reason is the last line.
    line = result.stderr.strip().splitlines()[-1]
    assert line == (
        f"Setting DATA_DIR: cannot open the stores: {data_dir / 'conversations'} is a file, "
        "not a folder"
    )


# -- one process per data directory --------------------------------------------------------------


def test_a_second_bot_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with hold_data_dir(data_dir):  # as a running bot holds it
        line = one_line(run_bot(tmp_path, data_dir))
    assert line.startswith(f"Setting DATA_DIR: {data_dir} is in use by another Baanwijzer process")
    assert f"(process {os.getpid()})" in line


def test_a_second_try_out_is_refused_and_the_lock_goes_with_a_killed_process(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    first = subprocess.Popen(
        [sys.executable, "-m", "bot", "try"],
        cwd=tmp_path,
        env=env_for(tmp_path, data_dir),
        stdin=subprocess.PIPE,  # kept open: the first try-out waits for an answer
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        lock_file = data_dir / "try-out" / LOCK_NAME
        deadline = time.monotonic() + 30
        while not (lock_file.exists() and lock_file.read_text().strip()):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first try-out did not start"
            time.sleep(0.05)
        assert lock_file.read_text().strip() == str(first.pid)

        line = one_line(run_bot(tmp_path, data_dir, "try"))
        assert "is in use by another Baanwijzer process" in line
        assert f"(process {first.pid})" in line
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    # kill -9 leaves no stale lock: the kernel let go of it with the process.
    again = run_bot(tmp_path, data_dir, "try")
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr


def test_the_lock_refuses_a_second_holder_and_is_free_after(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with hold_data_dir(data_dir) as lock_file:
        assert lock_file == data_dir / LOCK_NAME
        with (
            pytest.raises(DataDirError, match="in use by another Baanwijzer process"),
            hold_data_dir(data_dir),
        ):
            pass
    with hold_data_dir(data_dir):
        pass  # released when the first block ended
