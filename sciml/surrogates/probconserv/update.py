"""The ProbConserv update: conditioning a Gaussian prediction on a conservation law.

Hansen et al. (2023), "Learning Physical Models that Can Respect Conservation Laws" (ICML),
write the integral form of a conservation law on a space-time grid as a linear constraint per
time step,

.. math::  G u(t) = b(t) + \\varepsilon,\\qquad \\varepsilon \\sim N(0, \\sigma_G^2 I),

where ``u(t)`` (shape ``(n_x,)``) is the solution on the spatial grid, ``G`` (shape
``(n_c, n_x)``) holds quadrature weights (one row per conserved quantity) and ``b(t)`` is the
conserved quantity (e.g. the total mass, see :mod:`sciml.surrogates.probconserv.constraints`).
Given a Gaussian prediction ``u(t) ~ N(mu, Sigma)`` from any probabilistic model, step 2 of
ProbConserv is the exact Gaussian conditional on the constraint:

.. math::

   \\tilde\\mu &= \\mu - \\Sigma G^T (\\sigma_G^2 I + G \\Sigma G^T)^{-1} (G \\mu - b), \\\\
   \\tilde\\Sigma &= \\Sigma - \\Sigma G^T (\\sigma_G^2 I + G \\Sigma G^T)^{-1} G \\Sigma.

With ``sigma_G = 0`` (the default) the updated mean conserves exactly, ``G mu~ = b``. The
update is batched over samples and time steps (each ``(batch, time)`` pair is an independent
``n_x``-dimensional Gaussian) and differentiable (plain torch operations).

The numerics (a Cholesky factor of the small ``n_c x n_c`` matrix only, jitter when it is not
positive definite), the covariance formats and the HardC baseline are described in the Notes of
:func:`conservation_update`; :func:`conservation_gain` gives the gain ``Sigma G^T A^{-1}``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from sciml.errors import SciMLError
from sciml.surrogates.posterior import GaussianPosterior

__all__ = [
    "JITTER_LEVELS",
    "ConservationInputError",
    "ConservationJitterWarning",
    "ConservationLayer",
    "ConservedPrediction",
    "NotPositiveDefiniteError",
    "conservation_gain",
    "conservation_update",
    "conservation_update_samples",
    "mixture_moments",
    "update_components",
]

CovKind = Literal["diag", "lowrank", "dense"]
_COV_KINDS: tuple[str, ...] = ("diag", "lowrank", "dense")

#: Relative jitter levels tried, in order, when ``sigma_G^2 I + G Sigma G^T`` is not
#: numerically positive definite.
JITTER_LEVELS: tuple[float, ...] = (1e-10, 1e-9, 1e-8, 1e-7, 1e-6)


class ConservationInputError(SciMLError, ValueError):
    """Bad input to the conservation update or to a constraint builder (shape, value, kind)."""


class NotPositiveDefiniteError(ConservationInputError):
    """``sigma_G^2 I + G Sigma G^T`` stays indefinite even with the largest jitter."""


class ConservationJitterWarning(RuntimeWarning):
    """Jitter had to be added to ``sigma_G^2 I + G Sigma G^T`` to factorise it."""


@dataclass(frozen=True)
class ConservedPrediction:
    """Output of the conservation update.

    Attributes
    ----------
    mean : Tensor, shape ``(batch, n_t, n_x)``
        Updated mean ``mu~`` (units of ``u``).
    variance : Tensor, shape ``(batch, n_t, n_x)``
        Diagonal of the updated covariance, ``>= 0`` (units of ``u^2``).
    cov : Tensor, shape ``(batch, n_t, n_x, n_x)``, optional
        Full updated covariance ``Sigma~`` when requested (``None`` otherwise).
    """

    mean: Tensor
    variance: Tensor
    cov: Tensor | None = None

    def to_posterior(self) -> GaussianPosterior:
        """The marginals as a :class:`~sciml.surrogates.posterior.GaussianPosterior` (detached)."""
        return GaussianPosterior(self.mean.detach(), self.variance.detach())


# =========================================================================== validation
def _as_tensor(x: Any, name: str, *, dtype: torch.dtype | None = None,
               device: torch.device | None = None) -> Tensor:
    try:
        t = torch.as_tensor(x, device=device)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ConservationInputError(f"{name} must be a tensor or array of numbers: {exc}") from exc
    if dtype is not None:
        t = t.to(dtype)
    elif not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    return t


def _check_finite(t: Tensor, name: str) -> None:
    if not bool(torch.isfinite(t).all()):
        n_bad = int((~torch.isfinite(t)).sum())
        raise ConservationInputError(f"{name} contains {n_bad} NaN or infinite value(s); all values must be finite")


def check_sigma_g(sigma_g: float) -> float:
    try:
        s = float(sigma_g)
    except (TypeError, ValueError) as exc:
        raise ConservationInputError(f"sigma_g must be a number >= 0, got {sigma_g!r}") from exc
    if not (np.isfinite(s) and s >= 0):
        raise ConservationInputError(f"sigma_g must be a finite number >= 0, got {sigma_g!r}")
    return s


def _prepare_g(G: Any, n_x: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    g = _as_tensor(G, "G", dtype=dtype, device=device)
    if g.ndim == 1:
        g = g[None, :]
    if g.ndim != 2 or g.shape[0] < 1 or g.shape[1] != n_x:
        raise ConservationInputError(
            f"G must have shape (n_c, n_x) = (n_c, {n_x}) with n_c >= 1 (or (n_x,) for one constraint) "
            f"to match the grid of {n_x} points, got {tuple(g.shape)}")
    _check_finite(g, "G")
    return g


def _prepare_b(b: Any, batch: int, n_t: int, n_c: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    bt = _as_tensor(b, "b", dtype=dtype, device=device)
    ok = (bt.ndim in (2, 3) and bt.shape[-2] == n_t and bt.shape[-1] == n_c
          and (bt.ndim == 2 or bt.shape[0] in (1, batch)))
    if not ok:
        raise ConservationInputError(
            f"b must have shape (batch, n_t, n_c) = ({batch}, {n_t}, {n_c}) or (n_t, n_c) = ({n_t}, {n_c}) "
            f"(one value per time step and conserved quantity), got {tuple(bt.shape)}")
    _check_finite(bt, "b")
    return bt


def _check_mean(mean: Any) -> Tensor:
    mu = _as_tensor(mean, "mean")
    if mu.ndim != 3:
        raise ConservationInputError(f"mean must have shape (batch, n_t, n_x), got {tuple(mu.shape)}")
    _check_finite(mu, "mean")
    return mu


def _check_nonneg(v: Tensor, name: str) -> None:
    if bool((v < 0).any()):
        raise ConservationInputError(
            f"{name} has {int((v < 0).sum())} negative value(s) (min {float(v.min()):.3g}); "
            "variances must be >= 0 (the covariance must be positive semi-definite)")


def _prepare_cov(cov: Any, kind: str, shape: torch.Size, dtype: torch.dtype,
                 device: torch.device) -> tuple[Tensor, Tensor | None]:
    """Validated ``(main, factor)``: ``(variance, None)``, ``(diag, F)`` or ``(Sigma, None)``."""
    batch, n_t, n_x = shape
    if kind == "diag":
        var = _as_tensor(cov, "cov (variance)", dtype=dtype, device=device)
        if var.shape != shape:
            raise ConservationInputError(
                f"cov_kind='diag': cov must be the variance of shape (batch, n_t, n_x) = {tuple(shape)}, "
                f"got {tuple(var.shape)}")
        _check_finite(var, "cov (variance)")
        _check_nonneg(var, "cov (variance)")
        return var, None
    if kind == "lowrank":
        if not (isinstance(cov, Sequence) and len(cov) == 2):
            raise ConservationInputError(
                "cov_kind='lowrank': cov must be a pair (factor, diag) with factor of shape "
                f"(batch, n_t, n_x, r) = ({batch}, {n_t}, {n_x}, r) and diag of shape {tuple(shape)}")
        f = _as_tensor(cov[0], "cov factor", dtype=dtype, device=device)
        d = _as_tensor(cov[1], "cov diag", dtype=dtype, device=device)
        if f.ndim != 4 or f.shape[:3] != shape or f.shape[3] < 1:
            raise ConservationInputError(
                f"cov_kind='lowrank': factor must have shape (batch, n_t, n_x, r) = ({batch}, {n_t}, {n_x}, r) "
                f"with r >= 1, got {tuple(f.shape)}")
        if d.shape != shape:
            raise ConservationInputError(
                f"cov_kind='lowrank': diag must have shape (batch, n_t, n_x) = {tuple(shape)}, got {tuple(d.shape)}")
        _check_finite(f, "cov factor")
        _check_finite(d, "cov diag")
        _check_nonneg(d, "cov diag")
        return d, f
    if kind == "dense":
        s = _as_tensor(cov, "cov", dtype=dtype, device=device)
        if s.shape != (batch, n_t, n_x, n_x):
            raise ConservationInputError(
                f"cov_kind='dense': cov must have shape (batch, n_t, n_x, n_x) = ({batch}, {n_t}, {n_x}, {n_x}), "
                f"got {tuple(s.shape)}")
        _check_finite(s, "cov")
        _check_nonneg(torch.diagonal(s, dim1=-2, dim2=-1), "diagonal of cov")
        scale = s.detach().abs().amax().clamp_min(torch.finfo(dtype).tiny)
        asym = (s - s.transpose(-1, -2)).detach().abs().amax()
        if float(asym) > 100 * torch.finfo(dtype).eps * float(scale):
            raise ConservationInputError(
                f"cov_kind='dense': cov must be symmetric, max |cov - cov^T| = {float(asym):.3g} "
                f"(max |cov| = {float(scale):.3g})")
        return 0.5 * (s + s.transpose(-1, -2)), None
    raise ConservationInputError(f"cov_kind must be one of {list(_COV_KINDS)}, got {kind!r}")


# =========================================================================== algebra
def _cov_times_gt(main: Tensor, factor: Tensor | None, kind: str, g: Tensor) -> Tensor:
    """``Sigma G^T``, shape ``(batch, n_t, n_x, n_c)``."""
    gt = g.transpose(0, 1)  # (n_x, n_c)
    if kind == "diag":
        return main[..., None] * gt
    if kind == "lowrank":
        return factor @ (factor.transpose(-1, -2) @ gt) + main[..., None] * gt
    return main @ gt


def _dense_cov(main: Tensor, factor: Tensor | None, kind: str) -> Tensor:
    if kind == "diag":
        return torch.diag_embed(main)
    if kind == "lowrank":
        return factor @ factor.transpose(-1, -2) + torch.diag_embed(main)
    return main


def _diag_of_cov(main: Tensor, factor: Tensor | None, kind: str) -> Tensor:
    if kind == "diag":
        return main
    if kind == "lowrank":
        return main + (factor * factor).sum(-1)
    return torch.diagonal(main, dim1=-2, dim2=-1)


def _robust_cholesky(a: Tensor, scale: Tensor, what: str, stacklevel: int = 3) -> Tensor:
    """Cholesky factor of the batch of SPD matrices ``a`` (``(..., n, n)``), jittered if needed.

    ``scale`` (shape ``a.shape[:-2]``) sets the size of the jitter ``eps * scale * I``.
    """
    chol, info = torch.linalg.cholesky_ex(a)
    if not bool((info > 0).any()):
        return chol
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    bad = info > 0
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    for eps in JITTER_LEVELS:
        jitter = torch.where(bad, eps * scale, torch.zeros_like(scale))
        chol, info = torch.linalg.cholesky_ex(a + jitter[..., None, None] * eye)
        if not bool((info > 0).any()):
            warnings.warn(
                f"{what} was not numerically positive definite in {int(bad.sum())} of {bad.numel()} "
                f"matrices; added jitter {eps:g} x scale (largest absolute jitter "
                f"{float(jitter.detach().max()):.3g}) to its diagonal",
                ConservationJitterWarning, stacklevel=stacklevel)
            return chol
    raise NotPositiveDefiniteError(
        f"{what} is not positive definite in {int((info > 0).sum())} of {info.numel()} matrices even with "
        f"jitter {JITTER_LEVELS[-1]:g} x scale: the covariance is not positive semi-definite "
        "(or G has linearly dependent rows and sigma_g = 0)")


def conservation_update(
    mean: Tensor,
    cov: Tensor | tuple[Tensor, Tensor],
    G: Tensor | np.ndarray,
    b: Tensor | np.ndarray,
    *,
    sigma_g: float = 0.0,
    cov_kind: CovKind = "diag",
    hard: bool = False,
    return_full_cov: bool | None = None,
) -> ConservedPrediction:
    """Condition a Gaussian space-time prediction on the conservation law ``G u = b``.

    Parameters
    ----------
    mean : Tensor, shape ``(batch, n_t, n_x)``
        Predicted mean ``mu`` (units of ``u``).
    cov : Tensor or (Tensor, Tensor)
        Predicted covariance per ``(batch, time)``, in the format of ``cov_kind``:
        ``"diag"``: variance ``(batch, n_t, n_x)``; ``"lowrank"``: ``(factor, diag)`` of shapes
        ``(batch, n_t, n_x, r)`` and ``(batch, n_t, n_x)``, ``Sigma = F F^T + diag(d)``;
        ``"dense"``: ``(batch, n_t, n_x, n_x)``. Units of ``u^2``.
    G : Tensor or ndarray, shape ``(n_c, n_x)`` or ``(n_x,)``
        Quadrature weights of the ``n_c`` conserved quantities (units of length), see
        :func:`~sciml.surrogates.probconserv.constraints.constraint_matrix`.
    b : Tensor or ndarray, shape ``(batch, n_t, n_c)`` or ``(n_t, n_c)``
        Conserved quantities ``b(t)`` (units of ``u`` x length).
    sigma_g : float
        Standard deviation ``sigma_G >= 0`` of the constraint noise (units of ``b``);
        ``0``: exact conservation of the mean.
    cov_kind : {"diag", "lowrank", "dense"}
        Format of ``cov``.
    hard : bool
        HardC baseline (see Notes).
    return_full_cov : bool, optional
        Also return the dense updated covariance ``(batch, n_t, n_x, n_x)``. Default: ``True``
        for ``cov_kind="dense"``, ``False`` otherwise.

    Returns
    -------
    ConservedPrediction
        ``mean`` and ``variance`` of shape ``(batch, n_t, n_x)`` and ``cov`` (or ``None``), in
        the dtype and on the device of ``mean``.

    Raises
    ------
    ConservationInputError
        Wrong shapes, NaN/inf values, negative variances, an asymmetric dense covariance, an
        unknown ``cov_kind`` or a negative ``sigma_g``.
    NotPositiveDefiniteError
        ``sigma_G^2 I + G Sigma G^T`` is not positive definite even with the largest jitter.

    Notes
    -----
    Warns :class:`ConservationJitterWarning` when jitter was needed. Only ``A = sigma_G^2 I + G Sigma G^T`` (``n_c x n_c``) is factorised (``L L^T = A``,
    :func:`torch.linalg.cholesky_ex`; no inverse): with ``V = L^{-1} G Sigma``,
    ``mu~ = mu - V^T L^{-1} (G mu - b)`` and ``Sigma~ = Sigma - V^T V``, so the variance can only
    decrease (clamped at 0 against round-off). If ``A`` is not numerically positive definite, a
    jitter ``eps * s * I`` is added for ``eps`` in :data:`JITTER_LEVELS`, with ``s`` the size ``A``
    would have without correlations. ``"lowrank"`` never forms ``Sigma`` (cost
    ``O(n_x (r + n_c))``); its ``Sigma~`` comes back dense (it has no PSD low-rank-plus-diagonal
    factor of the same form). HardC replaces ``Sigma`` by the identity for the mean (the
    Euclidean projection ``mu - G^T (G G^T + sigma_G^2 I)^{-1} (G mu - b)``) and returns the
    covariance unchanged.
    """
    mu, g, bt, main, factor, s_g = _prepare(mean, cov, G, b, sigma_g, cov_kind)
    full = (cov_kind == "dense") if return_full_cov is None else bool(return_full_cov)
    residual = mu @ g.transpose(0, 1) - bt  # (batch, n_t, n_c)
    if hard:
        return _hard_update(mu, main, factor, cov_kind, g, residual, s_g, full)
    v, chol, diag_sigma = _soft_factors(main, factor, cov_kind, g, s_g)
    z = torch.linalg.solve_triangular(chol, residual[..., None], upper=False)
    new_mean = mu - (v.transpose(-1, -2) @ z).squeeze(-1)
    variance = (diag_sigma - (v * v).sum(-2)).clamp_min(0.0)
    new_cov = None
    if full:
        new_cov = _dense_cov(main, factor, cov_kind) - v.transpose(-1, -2) @ v
        new_cov = 0.5 * (new_cov + new_cov.transpose(-1, -2))
        new_cov = new_cov - torch.diag_embed(torch.diagonal(new_cov, dim1=-2, dim2=-1) - variance)
    return ConservedPrediction(new_mean, variance, new_cov)


def _prepare(mean: Any, cov: Any, G: Any, b: Any, sigma_g: float,
             cov_kind: str) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None, float]:
    """Validated ``(mu, G, b, main, factor, sigma_g)`` of :func:`conservation_update`."""
    mu = _check_mean(mean)
    dtype, device = mu.dtype, mu.device
    batch, n_t, n_x = mu.shape
    s_g = check_sigma_g(sigma_g)
    if cov_kind not in _COV_KINDS:
        raise ConservationInputError(f"cov_kind must be one of {list(_COV_KINDS)}, got {cov_kind!r}")
    g = _prepare_g(G, n_x, dtype, device)
    bt = _prepare_b(b, batch, n_t, g.shape[0], dtype, device)
    main, factor = _prepare_cov(cov, cov_kind, mu.shape, dtype, device)
    return mu, g, bt, main, factor, s_g


def _hard_update(mu: Tensor, main: Tensor, factor: Tensor | None, kind: str, g: Tensor, residual: Tensor,
                 s_g: float, full: bool) -> ConservedPrediction:
    """HardC: ``mu - G^T (G G^T + sigma_g^2 I)^{-1} (G mu - b)``, covariance unchanged."""
    n_c = g.shape[0]
    eye_c = torch.eye(n_c, dtype=mu.dtype, device=mu.device)
    a = g @ g.transpose(0, 1) + s_g**2 * eye_c
    scale = (g * g).sum(-1).amax() + s_g**2
    chol = _robust_cholesky(a, scale, "G G^T + sigma_g^2 I", stacklevel=4)
    w = torch.cholesky_solve(residual.reshape(-1, n_c).transpose(0, 1), chol)  # (n_c, batch*n_t)
    new_mean = mu - (g.transpose(0, 1) @ w).transpose(0, 1).reshape(mu.shape)
    variance = _diag_of_cov(main, factor, kind)
    return ConservedPrediction(new_mean, variance, _dense_cov(main, factor, kind) if full else None)


def _soft_factors(main: Tensor, factor: Tensor | None, kind: str, g: Tensor,
                  s_g: float) -> tuple[Tensor, Tensor, Tensor]:
    """``(V, L, diag(Sigma))`` with ``L L^T = sigma_g^2 I + G Sigma G^T`` and ``V = L^{-1} G Sigma``.

    Shapes ``(batch, n_t, n_c, n_x)``, ``(batch, n_t, n_c, n_c)``, ``(batch, n_t, n_x)``.
    """
    eye_c = torch.eye(g.shape[0], dtype=main.dtype, device=main.device)
    sgt = _cov_times_gt(main, factor, kind, g)  # Sigma G^T: (batch, n_t, n_x, n_c)
    a = g @ sgt + s_g**2 * eye_c  # (batch, n_t, n_c, n_c)
    a = 0.5 * (a + a.transpose(-1, -2))
    diag_sigma = _diag_of_cov(main, factor, kind)
    scale = ((g * g) @ diag_sigma.detach().abs()[..., None]).squeeze(-1).amax(-1) + s_g**2  # (batch, n_t)
    chol = _robust_cholesky(a, scale, "sigma_g^2 I + G Sigma G^T", stacklevel=4)
    v = torch.linalg.solve_triangular(chol, sgt.transpose(-1, -2), upper=False)
    return v, chol, diag_sigma


def conservation_gain(cov: Tensor | tuple[Tensor, Tensor], G: Tensor | np.ndarray, *, sigma_g: float = 0.0,
                      cov_kind: CovKind = "diag") -> Tensor:
    """The Kalman gain ``K = Sigma G^T (sigma_G^2 I + G Sigma G^T)^{-1}`` of the update, per ``(batch, time)``.

    With it the update is Matheron's rule: if ``u ~ N(mu, Sigma)`` and ``eps ~ N(0, sigma_G^2 I)``
    then ``u + K (b - G u - eps) ~ N(mu~, Sigma~)`` of :func:`conservation_update`; a posterior
    draws conserving samples this way.

    Parameters
    ----------
    cov : Tensor or (Tensor, Tensor)
        Covariance in the format of ``cov_kind`` (see :func:`conservation_update`), leading
        shape ``(batch, n_t, n_x)``.
    G : Tensor or ndarray, shape ``(n_c, n_x)`` or ``(n_x,)``
    sigma_g : float
    cov_kind : {"diag", "lowrank", "dense"}

    Returns
    -------
    Tensor, shape ``(batch, n_t, n_x, n_c)``
        In the dtype and on the device of the covariance.
    """
    if cov_kind not in _COV_KINDS:
        raise ConservationInputError(f"cov_kind must be one of {list(_COV_KINDS)}, got {cov_kind!r}")
    main = cov[1] if cov_kind == "lowrank" else cov
    ref = _as_tensor(main, "cov")
    shape = ref.shape if cov_kind != "dense" else ref.shape[:-1]
    if len(shape) != 3:
        raise ConservationInputError(f"cov must have leading shape (batch, n_t, n_x), got {tuple(ref.shape)}")
    main, factor = _prepare_cov(cov, cov_kind, torch.Size(shape), ref.dtype, ref.device)
    g = _prepare_g(G, shape[-1], ref.dtype, ref.device)
    v, chol, _ = _soft_factors(main, factor, cov_kind, g, check_sigma_g(sigma_g))
    # K^T = L^{-T} V
    return torch.linalg.solve_triangular(chol.transpose(-1, -2), v, upper=True).transpose(-1, -2)


def conservation_update_samples(
    means: Tensor,
    variances: Tensor | tuple[Tensor, Tensor],
    G: Tensor | np.ndarray,
    b: Tensor | np.ndarray,
    *,
    sigma_g: float = 0.0,
    cov_kind: CovKind = "diag",
    hard: bool = False,
    return_full_cov: bool = False,
) -> ConservedPrediction:
    """The update for latent-variable models: per latent sample, then mixture moments.

    Models such as the attentive neural process predict a Gaussian ``N(mu_s, Sigma_s)`` per
    latent draw ``s = 1..S``; the predictive distribution is their equally weighted mixture.
    Each component is updated with :func:`conservation_update` and the moments of the
    updated mixture are returned::

        mean     = (1/S) sum_s mu~_s
        variance = (1/S) sum_s diag(Sigma~_s) + (1/S) sum_s (mu~_s - mean)^2

    (population variance over samples, divisor ``S``).

    Parameters
    ----------
    means : Tensor, shape ``(S, batch, n_t, n_x)``
        Component means.
    variances : Tensor or (Tensor, Tensor)
        Component covariances in the format of ``cov_kind`` with a leading ``S`` axis:
        ``(S, batch, n_t, n_x)`` for ``"diag"``, ``(factor, diag)`` with shapes
        ``(S, batch, n_t, n_x, r)``, ``(S, batch, n_t, n_x)`` for ``"lowrank"``,
        ``(S, batch, n_t, n_x, n_x)`` for ``"dense"``.
    G, b, sigma_g, cov_kind, hard
        As in :func:`conservation_update`; ``b`` is shared by all samples.
    return_full_cov : bool
        Also return the mixture covariance
        ``(1/S) sum_s Sigma~_s + (1/S) sum_s (mu~_s - mean)(mu~_s - mean)^T``.

    Returns
    -------
    ConservedPrediction
        Mixture ``mean`` and ``variance`` of shape ``(batch, n_t, n_x)`` (and ``cov``).
    """
    comp = update_components(means, variances, G, b, sigma_g=sigma_g, cov_kind=cov_kind, hard=hard,
                             return_full_cov=return_full_cov)
    mix_mean, mix_var = mixture_moments(comp.mean, comp.variance)
    mix_cov = None
    if return_full_cov:
        dev = comp.mean - mix_mean
        mix_cov = comp.cov.mean(0) + (dev[..., :, None] * dev[..., None, :]).mean(0)
    return ConservedPrediction(mix_mean, mix_var, mix_cov)


def update_components(means: Tensor, variances: Tensor | tuple[Tensor, Tensor], G: Tensor | np.ndarray,
                      b: Tensor | np.ndarray, *, sigma_g: float = 0.0, cov_kind: CovKind = "diag",
                      hard: bool = False, return_full_cov: bool = False) -> ConservedPrediction:
    """:func:`conservation_update` of each of ``S`` components (inputs as :func:`conservation_update_samples`).

    Returns
    -------
    ConservedPrediction
        ``mean``, ``variance`` of shape ``(S, batch, n_t, n_x)`` (and ``cov``
        ``(S, batch, n_t, n_x, n_x)``): the updated components.
    """
    mus = _as_tensor(means, "means")
    if mus.ndim != 4:
        raise ConservationInputError(f"means must have shape (S, batch, n_t, n_x), got {tuple(mus.shape)}")
    n_s, batch, n_t, n_x = mus.shape

    def merge(x: Any, name: str, extra: int) -> Tensor:
        t = _as_tensor(x, name, dtype=mus.dtype, device=mus.device)
        if t.ndim != 4 + extra or t.shape[:2] != (n_s, batch):
            raise ConservationInputError(
                f"{name} must have leading axes (S, batch) = ({n_s}, {batch}) and {4 + extra} dims, "
                f"got {tuple(t.shape)}")
        return t.reshape(n_s * batch, *t.shape[2:])

    if cov_kind == "lowrank":
        if not (isinstance(variances, Sequence) and len(variances) == 2):
            raise ConservationInputError("cov_kind='lowrank': variances must be a pair (factor, diag)")
        cov: Any = (merge(variances[0], "variances factor", 1), merge(variances[1], "variances diag", 0))
    elif cov_kind == "dense":
        cov = merge(variances, "variances", 1)
    else:
        cov = merge(variances, "variances", 0)
    bt = _as_tensor(b, "b", dtype=mus.dtype, device=mus.device)
    if bt.ndim == 3 and bt.shape[0] == batch:
        bt = bt.expand(n_s, *bt.shape).reshape(n_s * batch, *bt.shape[1:])
    out = conservation_update(mus.reshape(n_s * batch, n_t, n_x), cov, G, bt, sigma_g=sigma_g,
                              cov_kind=cov_kind, hard=hard, return_full_cov=return_full_cov)
    return ConservedPrediction(out.mean.reshape(n_s, batch, n_t, n_x), out.variance.reshape(n_s, batch, n_t, n_x),
                               None if out.cov is None else out.cov.reshape(n_s, batch, n_t, n_x, n_x))


def mixture_moments(means: Tensor, variances: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and marginal variance of the equal mixture of ``N(means[s], diag(variances[s]))`` (axis 0).

    ``variance = mean_s variances[s] + mean_s (means[s] - mean)^2`` (population variance, divisor ``S``).
    """
    mix_mean = means.mean(0)
    dev = means - mix_mean
    return mix_mean, variances.mean(0) + (dev * dev).mean(0)


class ConservationLayer(nn.Module):
    """The ProbConserv update as an ``nn.Module`` (no trainable parameters).

    Parameters
    ----------
    G : Tensor or ndarray, shape ``(n_c, n_x)`` or ``(n_x,)``
        Constraint weights, stored as a buffer (moves with ``.to()``; cast to the dtype of the
        input mean at each call).
    sigma_g : float
        Constraint noise standard deviation ``sigma_G >= 0``.
    hard : bool
        HardC baseline (see :func:`conservation_update`).
    cov_kind : {"diag", "lowrank", "dense"}
        Default format of the covariance passed to :meth:`forward`.

    Examples
    --------
    >>> layer = ConservationLayer(constraint_matrix(x, rule="cell"))   # doctest: +SKIP
    >>> out = layer(mean, variance, b)                                 # doctest: +SKIP
    """

    def __init__(self, G: Tensor | np.ndarray, sigma_g: float = 0.0, hard: bool = False,
                 cov_kind: CovKind = "diag") -> None:
        super().__init__()
        g = _as_tensor(G, "G")
        if g.ndim == 1:
            g = g[None, :]
        if g.ndim != 2:
            raise ConservationInputError(f"G must have shape (n_c, n_x) or (n_x,), got {tuple(g.shape)}")
        _check_finite(g, "G")
        if cov_kind not in _COV_KINDS:
            raise ConservationInputError(f"cov_kind must be one of {list(_COV_KINDS)}, got {cov_kind!r}")
        self.register_buffer("G", g)
        self.sigma_g = check_sigma_g(sigma_g)
        self.hard = bool(hard)
        self.cov_kind = cov_kind

    def forward(self, mean: Tensor, variance_or_cov: Tensor | tuple[Tensor, Tensor], b: Tensor, *,
                cov_kind: CovKind | None = None, return_full_cov: bool | None = None) -> ConservedPrediction:
        """Apply :func:`conservation_update` with this layer's ``G``, ``sigma_g`` and ``hard``."""
        return conservation_update(mean, variance_or_cov, self.G, b, sigma_g=self.sigma_g,
                                   cov_kind=cov_kind or self.cov_kind, hard=self.hard,
                                   return_full_cov=return_full_cov)

    def extra_repr(self) -> str:
        return f"n_c={self.G.shape[0]}, n_x={self.G.shape[1]}, sigma_g={self.sigma_g:g}, hard={self.hard}"
