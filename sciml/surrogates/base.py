"""The Surrogate protocol and the posterior objects surrogates return.

A surrogate is fitted from a sciml Dataset and predicts a *posterior-like* object::

    surrogate = SomeSurrogate(...).fit(train_ds)          # returns self
    post = surrogate.predict(inputs)
    post.mean        # array-like
    post.variance    # same shape; zeros for deterministic surrogates
    post.sample(n, seed=0)   # (n, *mean.shape)

Deterministic surrogates (a trained FNO, say) return a :class:`DeterministicPosterior`:
zero variance, honestly labelled (``is_deterministic = True``), and ``sample`` repeats the
mean. Anything that satisfies :class:`Surrogate` can be a fidelity source in Bayesian
optimisation or the model of a UQ study.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Posterior(Protocol):
    """What a surrogate's prediction provides."""

    @property
    def mean(self) -> np.ndarray: ...

    @property
    def variance(self) -> np.ndarray: ...

    def sample(self, n: int, *, seed: int = 0) -> np.ndarray: ...


@dataclass(frozen=True)
class DeterministicPosterior:
    """A point prediction: zero variance, samples equal to the mean.

    Attributes
    ----------
    mean : ndarray
        The prediction, any shape.
    """

    mean: np.ndarray
    is_deterministic: bool = True

    @property
    def variance(self) -> np.ndarray:
        """Zeros of the mean's shape: a deterministic model carries no uncertainty."""
        return np.zeros_like(np.asarray(self.mean))

    def sample(self, n: int, *, seed: int = 0) -> np.ndarray:
        """``n`` copies of the mean, shape ``(n, *mean.shape)`` (``seed`` is unused)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        m = np.asarray(self.mean)
        return np.broadcast_to(m, (n, *m.shape)).copy()


@dataclass(frozen=True)
class GaussianPosterior:
    """Independent Gaussian marginals: ``mean`` and ``variance`` of the same shape."""

    mean: np.ndarray
    variance: np.ndarray
    is_deterministic: bool = False

    def __post_init__(self) -> None:
        if np.shape(self.mean) != np.shape(self.variance):
            raise ValueError(
                f"mean and variance shapes differ: {np.shape(self.mean)} vs {np.shape(self.variance)}"
            )
        if np.any(np.asarray(self.variance) < 0):
            raise ValueError("variance must be non-negative")

    def sample(self, n: int, *, seed: int = 0) -> np.ndarray:
        """``n`` independent draws, shape ``(n, *mean.shape)``."""
        rng = np.random.default_rng(seed)
        m = np.asarray(self.mean)
        return m + np.sqrt(np.asarray(self.variance)) * rng.standard_normal((n, *m.shape))


@runtime_checkable
class Surrogate(Protocol):
    """Fitted from a Dataset; ``predict`` returns a :class:`Posterior`."""

    def fit(self, dataset: Any, *args: Any, **kwargs: Any) -> Surrogate: ...

    def predict(self, inputs: Any, *args: Any, **kwargs: Any) -> Posterior: ...
