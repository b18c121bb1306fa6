"""Atomic file writing: write under a temporary name in the same folder, then rename.

A reader (or a crash) never sees a half-written file at the final path: either the old
file (or none) or the complete new one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On any exception (including ``KeyboardInterrupt``) the temporary file is removed and
    ``path`` is left untouched.

    Examples
    --------
    >>> with atomic_path("out.nc") as tmp:          # doctest: +SKIP
    ...     ds.to_netcdf(tmp, engine="h5netcdf")
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp: Path | None = None
    try:
        with _interrupts_deferred():  # a Ctrl-C between creating the file and knowing its name
            fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
            tmp = Path(name)
            os.close(fd)
        yield tmp
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, final)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold a SIGINT back until the block ends, then deliver it (main thread only: the only
    thread Python raises ``KeyboardInterrupt`` in)."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield
        return
    received: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            signal.raise_signal(signal.SIGINT)


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
