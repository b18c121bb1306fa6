"""Principal components of a set of histories (flattened to vectors).

``x (N, D) = mean + c V`` with ``V (k, D)`` the leading right singular vectors of the centred
data (orthonormal rows) and ``c = (x - mean) V^T`` the coefficients, whose sample standard
deviations are ``s_i / sqrt(N - 1)`` (``s_i`` the singular values).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sciml.errors import ConfigError

__all__ = ["PCABasis", "fit_pca"]


@dataclass(frozen=True)
class PCABasis:
    """``mean (D,)``, ``components (k, D)`` (orthonormal rows), ``scales (k,)`` (coefficient standard
    deviations) and ``explained (k,)`` (cumulative fraction of the total variance)."""

    mean: Tensor
    components: Tensor
    scales: Tensor
    explained: Tensor

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    def coefficients(self, x: Tensor) -> Tensor:
        """``(x - mean) V^T``, shape ``(N, k)`` for ``x (N, D)``."""
        return (x - self.mean) @ self.components.T

    def reconstruct(self, c: Tensor) -> Tensor:
        """``mean + c V``, shape ``(N, D)`` for ``c (N, k)``."""
        return self.mean + c @ self.components


def fit_pca(x: Tensor, n_components: int | None = None, *, variance_fraction: float = 0.999) -> PCABasis:
    """PCA of ``x (N, D)`` to ``n_components`` (None: the fewest that explain ``variance_fraction``).

    ``k`` is at most ``min(N - 1, D)``; data without variance give one component of scale 0.

    Raises
    ------
    ConfigError
        ``n_components`` not an integer in ``[1, min(N - 1, D)]``, ``variance_fraction`` outside ``(0, 1]``.
    """
    n, d = x.shape
    k_max = max(1, min(n - 1, d))
    if not 0.0 < variance_fraction <= 1.0:
        raise ConfigError(f"variance_fraction must be in (0, 1]; got {variance_fraction!r}")
    if n_components is not None and (isinstance(n_components, bool) or not isinstance(n_components, int)
                                     or not 1 <= n_components <= k_max):
        raise ConfigError(f"n_components must be an integer in [1, {k_max}] (N = {n} histories of {d} values); "
                          f"got {n_components!r}")
    mean = x.mean(0)
    _, s, vh = torch.linalg.svd(x - mean, full_matrices=False)
    var = s.square()
    total = float(var.sum())
    cumulative = var.cumsum(0) / total if total > 0 else torch.ones_like(var)
    if n_components is None:
        n_components = min(k_max, int((cumulative < variance_fraction - 1e-12).sum()) + 1)
    k = n_components
    return PCABasis(mean, vh[:k].clone(), s[:k] / max(n - 1, 1) ** 0.5, cumulative[:k].clone())
