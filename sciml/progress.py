"""Progress that stays readable whoever is watching.

:func:`progress` wraps :class:`tqdm.tqdm`. On a terminal it shows the usual bar; when standard
error is not a terminal (Slurm, CI, ``2> log``) it writes plain lines instead, at most one per
``log_interval`` seconds plus the last one, e.g.::

    mfbo bench: 3/36 jobs (8%) elapsed 2m10s, ~41m left

``enabled=False`` silences both (workers and nested loops pass it).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tqdm.auto import tqdm

__all__ = ["LOG_INTERVAL", "progress"]

T = TypeVar("T")

#: default seconds between two progress lines when stderr is not a terminal
LOG_INTERVAL = 30.0

#: units that read wrong with a plural "s"
_UNCOUNTED = frozenset({"it", "cost", "B"})


def progress(iterable: Iterable[T] | None = None, *, enabled: bool | None = None,
             log_interval: float | None = None, **kwargs: Any) -> tqdm:
    """Return a tqdm progress bar, or plain progress lines when stderr is not a terminal.

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate over (as for :class:`tqdm.tqdm`).
    enabled : bool or None
        ``True``: always a bar; ``False``: nothing at all; ``None`` (default): a bar when
        ``sys.stderr.isatty()``, else one plain line on stderr per update, at most one per
        ``log_interval`` seconds, plus a last line when the work ends (at ``total``, the end
        of the iterable, or ``close()``) with progress not yet reported.
    log_interval : float, optional
        Minimum seconds between two lines (default :data:`LOG_INTERVAL`, 30 s; 0: a line per
        update). Only used for plain lines.
    **kwargs
        Passed to :class:`tqdm.tqdm` (``total``, ``desc``, ``unit``, ...).

    Notes
    -----
    The lines go to ``sys.stderr`` directly rather than through :mod:`logging`: they replace a
    bar that tqdm draws on stderr, so they land where the bar would have (a Slurm ``.err``
    file, a CI log) without the application having to configure logging first, and
    ``enabled=False`` remains the one switch that silences them. A line reads
    ``"<desc>: <n>/<total> <unit>s (<pct>%) elapsed <t>, ~<eta> left, <postfix>"``; the parts
    that are unknown (no total, no postfix) are left out.
    """
    if enabled is None:
        if bool(getattr(sys.stderr, "isatty", lambda: False)()):
            return tqdm(iterable, disable=False, **kwargs)
        interval = LOG_INTERVAL if log_interval is None else float(log_interval)
        if not interval >= 0:
            raise ValueError(f"log_interval must be >= 0 seconds; got {log_interval!r}")
        return _LineProgress(iterable, log_interval=interval, **kwargs)
    return tqdm(iterable, disable=not enabled, **kwargs)


def _duration(seconds: float) -> str:
    """``"45s"``, ``"2m10s"``, ``"1h02m03s"``."""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m{s:02d}s"
    return f"{m}m{s:02d}s" if m else f"{s}s"


def _count(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else f"{n:.4g}"


class _LineProgress(tqdm):  # type: ignore[misc]
    """A tqdm that draws nothing and writes a plain, rate-limited line to stderr per update."""

    def __init__(self, iterable: Iterable[Any] | None = None, *, log_interval: float, desc: str | None = None,
                 unit: str = "it", **kwargs: Any) -> None:
        super().__init__(iterable, desc=desc, unit=unit, disable=True, **kwargs)
        self.desc = f"{desc}: " if desc else ""  # as tqdm's set_description stores it
        self.unit = unit
        self.postfix: str | None = None  # set by set_postfix / set_postfix_str
        self.log_interval = log_interval
        self.start_t = time.monotonic()
        self._logged_t = self.start_t
        self._logged_n = self.n
        self._open = True

    def __iter__(self) -> Iterator[Any]:
        try:
            for obj in self.iterable:
                yield obj
                self.update(1)
        finally:
            self.close()

    def update(self, n: float | None = 1) -> bool:
        self.n += 1 if n is None else n
        now = time.monotonic()
        finished = self.total is not None and self.n >= self.total
        if self._open and self.n != self._logged_n and (finished or now - self._logged_t >= self.log_interval):
            self._log(now)
        return True

    def refresh(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to redraw."""

    def close(self) -> None:
        if getattr(self, "_open", False):
            self._open = False
            if self.n != self._logged_n:
                self._log(time.monotonic())
        super().close()

    def line(self, now: float | None = None) -> str:
        """The progress line for the current state."""
        elapsed = (time.monotonic() if now is None else now) - self.start_t
        label = self.desc.rstrip(": ") or "progress"
        unit = self.unit if self.unit in _UNCOUNTED or self.unit.endswith("s") else self.unit + "s"
        parts = []
        if self.total:
            pct = math.floor(100 * self.n / self.total)
            parts.append(f"{_count(self.n)}/{_count(self.total)} {unit} ({pct}%) elapsed {_duration(elapsed)}")
            if 0 < self.n < self.total:
                parts.append(f"~{_duration(elapsed * (self.total - self.n) / self.n)} left")
        else:
            parts.append(f"{_count(self.n)} {unit} elapsed {_duration(elapsed)}")
        if self.postfix:
            parts.append(str(self.postfix))
        return f"{label}: " + ", ".join(parts)

    def _log(self, now: float) -> None:
        self._logged_t, self._logged_n = now, self.n
        try:
            sys.stderr.write(self.line(now) + "\n")
            sys.stderr.flush()
        except (AttributeError, OSError, ValueError):  # a missing or closed stream must not stop the work
            pass
