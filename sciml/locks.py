"""Exclusive locks on outputs, so that two runs never write the same files.

:func:`hold` takes an advisory lock (``fcntl.flock``) on a lock file next to an output (a
dataset file, a work dir, a workflow's output folder) for the duration of a ``with`` block and
writes the holder's host, PID, start time and command into it (``<target>.lock``, beside the
target). A second run asking for the
same lock gets a :class:`LockError` that names the holder. The kernel releases the lock when
its process dies (``kill -9`` included), so a lock left by a dead run is detected as stale and
taken over. ``flock`` locks are
reliable on local file systems; on network file systems that do not support them the lock
still records its holder but may not exclude.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sciml.errors import SciMLError

__all__ = ["LockError", "hold", "lock_path_for"]

logger = logging.getLogger(__name__)


class LockError(SciMLError):
    """Another live process holds the lock on an output."""


def lock_path_for(target: str | os.PathLike[str]) -> Path:
    """The lock file of ``target`` (a file or a folder, existing or not): ``<target>.lock`` beside it.

    It does not depend on whether ``target`` exists yet, so every run names the same lock.
    """
    path = Path(target)
    return path.with_name(path.name + ".lock")


def _holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process (no holder recorded)"
    return (f"PID {holder.get('pid')} on {holder.get('host')} since {holder.get('since')} "
            f"({holder.get('command', '?')})")


def _open_locked(path: Path, target: str | os.PathLike[str], what: str) -> int:
    """Open ``path`` and take its lock; retry if it was replaced meanwhile (a holder unlinks it on release)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockError(f"{what} {target} is in use by {_describe(_holder(path))}; wait for it to finish, "
                            f"or stop it (its lock file: {path})") from None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # locked a file that its holder had just removed: take the current one


@contextlib.contextmanager
def hold(target: str | os.PathLike[str], *, what: str = "output") -> Iterator[Path]:
    """Hold the exclusive lock of ``target`` while the block runs; yields the lock file's path.

    The lock file is removed when the block exits; after ``kill -9`` it stays, with the dead
    holder recorded, until the next run takes it over.

    Parameters
    ----------
    target : path
        The output to protect (the lock file's folder is created if missing).
    what : str
        How the error message calls ``target`` (``"output"``, ``"work dir"``, ...).

    Raises
    ------
    LockError
        A live process holds it; the message names its host, PID, start time and command.
    """
    path = lock_path_for(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _open_locked(path, target, what)
    try:
        stale = _holder(path)
        if stale:  # a holder that did not release: it died (the kernel dropped its lock)
            logger.info("taking over the stale lock of %s: %s", target, _describe(stale))
        me = {"host": socket.gethostname(), "pid": os.getpid(),
              "since": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
              "command": " ".join(sys.argv)[:500]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # before unlocking: a newcomer that opened it retries on a fresh file
        os.close(fd)  # releases the lock
