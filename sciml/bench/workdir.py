"""Work directories of resumable benchmarks (``sciml bench NAME --work-dir DIR``).

A benchmark that can be interrupted and resumed keeps what it has finished in a work
directory. :func:`claim_work_dir` records the benchmark, mode and settings there on first use
(``settings.json``) and refuses a directory that holds a run with other ones, so that results
of different settings are never mixed; :func:`held` locks it for one run at a time.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sciml.data.atomic import atomic_write_text
from sciml.errors import ConfigError
from sciml.locks import hold

__all__ = ["claim_work_dir", "held"]


def held(work_dir: str | os.PathLike[str] | None) -> contextlib.AbstractContextManager[Any]:
    """Hold the lock of a benchmark's work dir for the duration of a run (nothing without one).

    A second run on the same work dir gets a :class:`~sciml.locks.LockError` naming the holder.
    """
    if work_dir is None:
        return contextlib.nullcontext()
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    return hold(work_dir, what="work dir")


def claim_work_dir(work_dir: str | Path, benchmark: str, mode: str | None = None,
                   settings: Mapping[str, Any] | None = None) -> Path:
    """Record ``(benchmark, mode, settings)`` in ``work_dir/settings.json``, or check they match.

    Parameters
    ----------
    work_dir : path
        Created if missing.
    benchmark : str
        Benchmark name.
    mode : str, optional
        ``"quick"``, ``"full"`` or ``"custom"``. ``None``: not recorded nor compared (for a
        benchmark whose jobs are keyed by their own inputs, so modes can share a directory).
    settings : mapping, optional
        JSON-serialisable settings of the mode (compared after a JSON round trip, so tuples
        and lists are equal). ``None``: not recorded nor compared.

    Returns
    -------
    Path
        ``work_dir``.

    Raises
    ------
    ConfigError
        ``work_dir`` holds a run of another benchmark, mode or settings (the message names
        the settings that differ), or an unreadable ``settings.json``.
    """
    wd = Path(work_dir)
    fingerprint: dict[str, Any] = {"benchmark": benchmark}
    if mode is not None:
        fingerprint["mode"] = mode
    if settings is not None:
        fingerprint["settings"] = dict(settings)
    fingerprint = json.loads(json.dumps(fingerprint))
    path = wd / "settings.json"
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}; give another work dir") from None
        if not isinstance(old, dict) or old.get("benchmark") != benchmark:
            got = old.get("benchmark") if isinstance(old, dict) else None
            what = f"of benchmark {got!r}"
        elif mode is not None and old.get("mode") != mode:
            what = f"with other mode {old.get('mode')!r}"
        elif settings is not None and old.get("settings") != fingerprint["settings"]:
            o, n = old.get("settings") or {}, fingerprint["settings"]
            what = f"with other settings ({', '.join(sorted(k for k in set(o) | set(n) if o.get(k) != n.get(k)))})"
        else:
            return wd
        raise ConfigError(f"{wd} holds a run {what}; resume it with the same benchmark, mode and "
                          f"settings, or give another work dir")
    wd.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(fingerprint, indent=1))
    return wd
