"""Benchmark reports: the common JSON layout and table printing of ``sciml bench``.

Every benchmark returns a :class:`BenchReport`; its JSON has the top level (see
``DESIGN.md`` §4)::

    {"benchmark": ..., "mode": ..., "machine": {...}, "config": {...},
     "results": [{row}, ...],
     "references": [{"name", "value", "units", "source", "date", "note"}, ...],
     "checks": [{"name", "value", "op", "target", "holds"[, "reference"]}, ...]}

Checks are computed from the results by the benchmark itself; the command never fails
because a check does not hold — it measures, it does not judge. A check's value is always a
figure of the run; figures from elsewhere (a paper, another code's run) are ``references``
with their source and date, and a check may take its target from one only if its name says
``reference``.
"""

from __future__ import annotations

import json
import operator
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sciml.data.atomic import atomic_write_text

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}


def machine_info() -> dict[str, Any]:
    """Describe the machine a benchmark ran on: cores, threads, device, versions."""
    info: dict[str, Any] = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }
    try:
        info["cpu_affinity"] = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        pass
    try:
        import numpy as np

        info["numpy"] = np.__version__
    except ImportError:  # pragma: no cover
        pass
    try:
        import numba

        info["numba"] = numba.__version__
        info["numba_threads"] = numba.config.NUMBA_NUM_THREADS
    except ImportError:  # pragma: no cover
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        info["device"] = "cpu"
    return info


@dataclass
class Check:
    """One acceptance figure: ``value op target``."""

    name: str
    value: float
    op: str
    target: float
    #: Name of the :class:`Reference` the target comes from, if any.
    reference: str | None = None

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"check op must be one of {sorted(_OPS)}, got {self.op!r}")

    @property
    def holds(self) -> bool:
        """Whether ``value op target`` is true."""
        return bool(_OPS[self.op](float(self.value), float(self.target)))

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "value": float(self.value), "op": self.op,
               "target": float(self.target), "holds": self.holds}
        if self.reference is not None:
            out["reference"] = self.reference
        return out


@dataclass(frozen=True)
class Reference:
    """A figure from outside the run: its value, units, where it comes from and when."""

    name: str
    value: float
    units: str
    source: str
    date: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": float(self.value), "units": self.units,
                "source": self.source, "date": self.date, "note": self.note}


@dataclass
class BenchReport:
    """Results of one benchmark run."""

    benchmark: str
    mode: str
    config: dict[str, Any]
    results: list[dict[str, Any]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=machine_info)
    #: Columns of the printed table (default: every key of the rows).
    table_columns: list[str] | None = None

    def add_check(self, name: str, value: float, op: str, target: float) -> Check:
        """Record an acceptance check computed from :attr:`results`."""
        c = Check(name, value, op, target)
        self.checks.append(c)
        return c

    def add_reference(self, reference: Reference) -> Reference:
        """Record a figure from outside the run (names are unique)."""
        if any(r.name == reference.name for r in self.references):
            raise ValueError(f"reference {reference.name!r} is already recorded")
        self.references.append(reference)
        return reference

    def reference(self, name: str) -> Reference:
        """The recorded reference ``name``; ``KeyError`` lists the recorded ones."""
        for r in self.references:
            if r.name == name:
                return r
        raise KeyError(f"no reference {name!r}; recorded: {[r.name for r in self.references]}")

    def add_reference_check(self, name: str, value: float, op: str, reference: str,
                            factor: float = 1.0) -> Check:
        """A check of a run's ``value`` against ``factor`` times a recorded reference.

        Raises ``ValueError`` when ``name`` does not say ``reference``, ``KeyError`` for an
        unrecorded reference.
        """
        if "reference" not in name:
            raise ValueError(f"check {name!r} compares against a reference: its name must say 'reference'")
        ref = self.reference(reference)
        c = Check(name, value, op, factor * float(ref.value), reference=ref.name)
        self.checks.append(c)
        return c

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "mode": self.mode,
            "machine": self.machine,
            "config": self.config,
            "results": self.results,
            "references": [r.to_dict() for r in self.references],
            "checks": [c.to_dict() for c in self.checks],
        }

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        """Write the report as JSON, atomically. Returns the path."""
        return atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2, default=_default) + "\n")

    def format_table(self, columns: Sequence[str] | None = None) -> str:
        """Results as a fixed-width text table followed by the checks."""
        lines = [f"benchmark: {self.benchmark} ({self.mode})"]
        lines.append(format_rows(self.results, columns or self.table_columns))
        if self.references:
            lines.append("")
            lines.append(format_rows([{"reference": r.name, "value": r.value, "units": r.units,
                                       "source": r.source, "date": r.date} for r in self.references]))
        if self.checks:
            lines.append("")
            lines.append(format_rows(
                [{"check": c.name, "value": c.value, "op": c.op, "target": c.target,
                  "holds": "yes" if c.holds else "NO"} for c in self.checks]))
        return "\n".join(lines)


def format_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Format a list of dictionaries as an aligned text table."""
    if not rows:
        return "(no rows)"
    cols = list(columns) if columns else list(dict.fromkeys(k for r in rows for k in r))
    cells = [[_fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    head = "  ".join(c.rjust(w) for c, w in zip(cols, widths))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join([head, sep, *body])


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v == 0 or 1e-3 <= abs(v) < 1e6:
            return f"{v:.4g}"
        return f"{v:.3e}"
    return str(v)


def _default(o: Any) -> Any:
    try:
        return o.item()
    except AttributeError:
        return str(o)
