"""The one metric accumulator: per-sample quantities gathered over batches, by name.

Every evaluation of sciml (PDEBench metrics of rollouts, :mod:`sciml.uq.pde_metrics`; the
per-function metrics of field predictions, :mod:`sciml.uq.field_metrics`) computes per-sample
quantities batch by batch and keeps them here. A quantity is kept either as a running sum over
samples (:meth:`MetricAccumulator.add_sum`: memory independent of the number of samples,
exact for uneven batches up to float64 summation order) or as the list of its per-sample values
(:meth:`MetricAccumulator.add_values`: for standard errors and worst cases); a running maximum
(:meth:`MetricAccumulator.add_max`) serves quantities such as the largest error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from torch import Tensor

__all__ = ["MetricAccumulator", "mean_and_se"]


def mean_and_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error ``std(ddof=1) / sqrt(n)`` of ``values`` (``nan`` error for ``n = 1``).

    Raises
    ------
    ValueError
        For an empty sequence.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("mean_and_se: no values")
    se = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else float("nan")
    return float(arr.mean()), se


class MetricAccumulator:
    """Running sums, per-sample values and maxima of named quantities over batches.

    Examples
    --------
    ::

        acc = MetricAccumulator()
        for batch in batches:
            acc.add_sum("rmse", per_sample_rmse)      # (batch, ...) -> running sum over samples
            acc.add_values("ll", per_sample_ll)       # kept for mean_and_se
            acc.add_max("max_error", float(err.abs().max()))
        acc.mean("rmse"), acc.summary("ll"), acc.max("max_error")
    """

    def __init__(self) -> None:
        self._sums: dict[str, Tensor] = {}
        self._counts: dict[str, int] = {}
        self._values: dict[str, list[float]] = {}
        self._maxima: dict[str, float] = {}

    def add_sum(self, key: str, per_sample: Tensor) -> None:
        """Add ``per_sample.sum(0)`` (moved to the CPU) to the running sum of ``key``.

        ``per_sample`` has the sample axis first; its other axes must match earlier calls.
        """
        total = per_sample.sum(0).cpu()
        self._sums[key] = total if key not in self._sums else self._sums[key] + total
        self._counts[key] = self._counts.get(key, 0) + int(per_sample.shape[0])

    def add_values(self, key: str, values: Iterable[float]) -> None:
        """Append per-sample scalar values of ``key``."""
        self._values.setdefault(key, []).extend(float(v) for v in values)

    def add_max(self, key: str, value: float) -> None:
        """Raise the running maximum of ``key`` to ``value`` if it is larger."""
        self._maxima[key] = max(self._maxima.get(key, -math.inf), float(value))

    def has(self, key: str) -> bool:
        """Whether anything was added under ``key``."""
        return key in self._sums or key in self._values or key in self._maxima

    def count(self, key: str) -> int:
        """Samples added under ``key`` (sums or values)."""
        return self._counts[key] if key in self._sums else len(self._require(self._values, key))

    def sum(self, key: str) -> Tensor:
        """The running sum of ``key`` over samples."""
        return self._require(self._sums, key)

    def mean(self, key: str) -> Tensor:
        """The running sum of ``key`` divided by its sample count."""
        return self._require(self._sums, key) / self._counts[key]

    def values(self, key: str) -> list[float]:
        """The per-sample values of ``key``, in the order added."""
        return self._require(self._values, key)

    def summary(self, key: str) -> tuple[float, float]:
        """Mean and standard error of the per-sample values of ``key`` (:func:`mean_and_se`)."""
        return mean_and_se(self.values(key))

    def max(self, key: str) -> float:
        """The running maximum of ``key``."""
        return self._require(self._maxima, key)

    @staticmethod
    def _require(store: dict, key: str):
        if key not in store:
            raise KeyError(f"nothing accumulated under {key!r}; accumulated: {sorted(store)}")
        return store[key]
