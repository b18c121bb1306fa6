"""Gaussian-PCA generator of histories: the linear-Gaussian baseline of the WGAN-GP.

Histories flattened to ``x (N, D)`` are reduced to ``k`` principal components
(:func:`~sciml.surrogates.gan.pca.fit_pca`), ``x = mean + c V``, and the coefficients get a
Gaussian with the sample mean and the full sample covariance (divisor ``N - 1``). With
parameters ``p``, ``(c, p)`` is jointly Gaussian and a history is drawn from the conditional

    c | p ~ N(mu_c + S_cp S_pp^+ (p - mu_p),  S_cc - S_cp S_pp^+ S_pc)

(``^+``: pseudo-inverse). Draws ``c = m + L eps``, ``L L^T = S`` from the eigendecomposition
(a singular covariance is fine). ``predict`` has the interface of
:class:`~sciml.surrogates.gan.wgan.WGANGP`.
"""

from __future__ import annotations

from typing import Any, Self

import torch
from torch import Tensor

from sciml.errors import ConfigError
from sciml.surrogates.gan.data import (
    GenerationRequest,
    HistoryInputError,
    as_history_data,
    as_request,
)
from sciml.surrogates.gan.pca import PCABasis, fit_pca
from sciml.surrogates.posterior import SamplePosterior

__all__ = ["GaussianPCA"]


def _psd_sqrt(cov: Tensor) -> Tensor:
    """``L`` with ``L L^T = cov`` for a symmetric positive semi-definite ``cov`` (negative round-off clipped)."""
    w, v = torch.linalg.eigh(0.5 * (cov + cov.T))
    return v * w.clamp_min(0).sqrt()


class GaussianPCA:
    """A Gaussian on ``k`` PCA coefficients of the histories (conditional on parameters when given).

    Parameters
    ----------
    n_components : int, optional
        ``k``; None: the fewest components that explain ``variance_fraction`` of the variance.
    variance_fraction : float
        In ``(0, 1]``.
    n_draws : int
        Draws per parameter row when ``predict`` is given parameters.
    """

    def __init__(self, n_components: int | None = None, *, variance_fraction: float = 0.999,
                 n_draws: int = 256) -> None:
        if isinstance(n_draws, bool) or not isinstance(n_draws, int) or n_draws < 1:
            raise ConfigError(f"n_draws must be an integer >= 1; got {n_draws!r}")
        self.n_components, self.variance_fraction, self.n_draws = n_components, variance_fraction, n_draws
        self.basis: PCABasis | None = None
        self.event_shape: tuple[int, ...] = ()
        self.param_names: tuple[str, ...] = ()

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    def fit(self, data: Any, *, variable: str | None = None, params: Any = None) -> Self:
        """Fit the basis and the Gaussian of the coefficients (and parameters) to ``data``.

        ``data``, ``variable``, ``params``: as :meth:`WGANGP.fit <sciml.surrogates.gan.wgan.WGANGP.fit>`.

        Raises
        ------
        HistoryInputError
            Bad histories or parameters.
        ConfigError
            ``n_components`` outside ``[1, min(N - 1, D)]``, ``variance_fraction`` outside ``(0, 1]``.
        """
        hd = as_history_data(data, variable=variable, params=params)
        x = hd.x.reshape(hd.x.shape[0], -1)
        basis = fit_pca(x, self.n_components, variance_fraction=self.variance_fraction)
        joint = basis.coefficients(x) if hd.params is None else torch.cat([basis.coefficients(x), hd.params], 1)
        centred = joint - joint.mean(0)
        self.joint_mean = joint.mean(0)
        self.joint_cov = centred.T @ centred / (joint.shape[0] - 1)
        self.basis, self.event_shape, self.param_names = basis, hd.event_shape, hd.param_names
        return self

    def _fitted(self) -> PCABasis:
        if self.basis is None:
            raise HistoryInputError("GaussianPCA: call fit(...) before predict(...)")
        return self.basis

    def coefficient_moments(self, params: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Mean ``(k,)`` (or ``(B, k)`` given parameters ``(B, P)``) and covariance ``(k, k)`` of the coefficients."""
        k = self._fitted().n_components
        mu_c, s_cc = self.joint_mean[:k], self.joint_cov[:k, :k]
        if params is None:
            return mu_c, s_cc
        gain = self.joint_cov[:k, k:] @ torch.linalg.pinv(self.joint_cov[k:, k:], hermitian=True)  # (k, P)
        return mu_c + (params - self.joint_mean[k:]) @ gain.T, s_cc - gain @ self.joint_cov[k:, :k]

    def history_mean(self, params: Any = None) -> Tensor:
        """The model's mean history ``event_shape`` (or ``(B, *event_shape)`` given parameters)."""
        _, p, _ = as_request(GenerationRequest(1, params), self.n_params, self.n_draws)
        mu, _ = self.coefficient_moments(p)
        out = self._fitted().reconstruct(mu.reshape(-1, mu.shape[-1]))
        return out.reshape(self.event_shape) if p is None else out.reshape(-1, *self.event_shape)

    def history_covariance(self, params: Any = None) -> Tensor:
        """The model's covariance ``V^T S V`` of flattened histories, ``(D, D)`` (the same for every parameter row)."""
        _, p, _ = as_request(GenerationRequest(1, params), self.n_params, self.n_draws)
        _, cov = self.coefficient_moments(p)
        v = self._fitted().components
        return v.T @ cov @ v

    def generate(self, n: int, params: Any = None, *, seed: int = 0) -> Tensor:
        """``n`` float64 histories ``(n, *event_shape)`` (or ``(n, B, *event_shape)`` for parameters ``(B, P)``).

        Raises
        ------
        HistoryInputError
            Not fitted; a count or parameters that do not fit the model.
        """
        basis = self._fitted()
        n, p, seed = as_request(GenerationRequest(n, params, seed), self.n_params, self.n_draws)
        mu, cov = self.coefficient_moments(p)
        rows = 1 if p is None else int(p.shape[0])
        eps = torch.randn(n, rows, basis.n_components, generator=torch.Generator().manual_seed(seed),
                          dtype=torch.float64)
        c = mu + eps @ _psd_sqrt(cov).T
        out = basis.reconstruct(c.reshape(n * rows, -1))
        return out.reshape(n, *self.event_shape) if p is None else out.reshape(n, rows, *self.event_shape)

    def predict(self, inputs: Any) -> SamplePosterior:
        """Generated histories as a :class:`~sciml.surrogates.posterior.SamplePosterior` (inputs as :class:`WGANGP`)."""
        self._fitted()
        n, p, seed = as_request(inputs, self.n_params, self.n_draws)
        return SamplePosterior(self.generate(n, p, seed=seed))
