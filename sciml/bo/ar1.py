"""The Kennedy--O'Hagan linear autoregressive (AR(1)) multi-fidelity GP as one exact BoTorch GP.

Ordered discrete levels ``l = 0 .. L - 1`` (``L - 1`` = target) are encoded in the fidelity
column as ``l / (L - 1)``; ``f_l(x) = rho_{l-1} f_{l-1}(x) + delta_l(x)`` with independent GPs
``delta_l`` (:class:`AR1Kernel`), per-level constant means (:class:`LevelConstantMean`) and
Gaussian noise. Reference: Kennedy & O'Hagan (2000), *Biometrika* 87(1), 1-13.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from botorch.models import SingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms.input import InputTransform
from botorch.models.transforms.outcome import OutcomeTransform, Standardize
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from botorch.optim.utils import sample_all_priors
from botorch.utils.types import DEFAULT, _DefaultType
from gpytorch.kernels import Kernel, ScaleKernel
from gpytorch.means import Mean
from linear_operator import to_dense
from torch import Tensor

from sciml.bo.fitting import (
    DTYPE,
    LEVEL_TOL,
    ModelInputError,
    check_bounds,
    check_unit_fidelity,
    check_xy,
    column_index,
    design_normalize,
    fit_with_fallbacks,
)

__all__ = ["AR1_MAX_ITER", "AR1Kernel", "AR1MultiFidelityGP", "LevelConstantMean", "fit_ar1_gp"]

#: Default cap on the L-BFGS-B iterations of each starting point of :func:`fit_ar1_gp`.
AR1_MAX_ITER = 300


def _level_index(s: Tensor, n_levels: int) -> Tensor:
    """Map fidelity values ``l / (L - 1)`` to integer levels ``l`` (long tensor, same shape)."""
    s = s.detach()
    if n_levels == 1:
        if (s - 1.0).abs().max() > LEVEL_TOL:
            raise ModelInputError("with n_levels=1 the fidelity column must be 1 everywhere")
        return torch.zeros(s.shape, dtype=torch.long, device=s.device)
    scaled = s * (n_levels - 1)
    idx = scaled.round()
    off = (scaled - idx).abs() > LEVEL_TOL * (n_levels - 1)
    if off.any() or (idx < 0).any() or (idx > n_levels - 1).any():
        grid = ", ".join(f"{i / (n_levels - 1):g}" for i in range(n_levels))
        bad = s[off | (idx < 0) | (idx > n_levels - 1)].flatten()[:5].tolist()
        raise ModelInputError(
            f"fidelity values {bad} are not on the grid of the {n_levels} AR(1) levels "
            f"{{{grid}}} (level l is encoded as l / (L - 1), 1 = target)"
        )
    return idx.long()


def _infer_n_levels(s: Tensor, n_levels: int | None) -> int:
    if n_levels is not None:
        if not isinstance(n_levels, (int, np.integer)) or n_levels < 1:
            raise ModelInputError(f"n_levels must be a positive integer, got {n_levels!r}")
        _level_index(s, int(n_levels))
        return int(n_levels)
    values = torch.unique(s)
    L = len(values)
    grid = torch.linspace(0.0, 1.0, L, dtype=DTYPE) if L > 1 else torch.ones(1, dtype=DTYPE)
    if (values - grid).abs().max() > LEVEL_TOL:
        raise ModelInputError(
            f"cannot infer the AR(1) levels from the fidelity values {values.tolist()[:10]}: "
            f"they are not the equally spaced grid l / (L - 1); pass n_levels explicitly"
        )
    return L


class AR1Kernel(Kernel):
    """Joint covariance of the AR(1) (Kennedy--O'Hagan) multi-fidelity model.

    With ``f_0 = delta_0`` and ``f_l(x) = rho_{l-1} f_{l-1}(x) + delta_l(x)`` for independent
    zero-mean GPs ``delta_k ~ GP(0, k_k)``::

        cov(f_l(x), f_m(x')) = sum_{k <= min(l, m)} A[l, k] A[m, k] k_k(x, x'),
        A[l, k] = prod_{j=k}^{l-1} rho_j   (A[l, l] = 1, A[l, k] = 0 for k > l).

    Each ``k_k`` is ``ScaleKernel(Matern(nu) | RBF)`` with ARD lengthscales over the design
    columns and BoTorch's dimension-scaled lengthscale prior.

    Parameters
    ----------
    n_levels : int
        Number of ordered levels ``L``; the fidelity column holds ``l / (L - 1)``.
    n_cols : int
        Number of input columns ``d + 1``.
    fidelity_dim : int
        Index (non-negative) of the level column.
    kernel : {"matern", "rbf"}
        Family of the ``k_k``.
    nu : float
        Matern smoothness (0.5, 1.5 or 2.5).

    Attributes
    ----------
    rho : torch.nn.Parameter, shape (L - 1,)
        Unconstrained autoregressive coefficients ``rho_0 .. rho_{L-2}`` (initialised to 1).
    deltas : torch.nn.ModuleList of L ScaleKernel
        ``deltas[0]`` is the base kernel ``k_0``, ``deltas[k]`` the discrepancy kernel ``k_k``.
    """

    def __init__(
        self,
        n_levels: int,
        n_cols: int,
        fidelity_dim: int,
        kernel: str = "matern",
        nu: float = 2.5,
    ) -> None:
        super().__init__()
        if kernel not in ("matern", "rbf"):
            raise ModelInputError(f"kernel must be 'matern' or 'rbf', got {kernel!r}")
        self.n_levels = int(n_levels)
        self.fidelity_dim = int(fidelity_dim)
        self.design_dims = [i for i in range(n_cols) if i != self.fidelity_dim]
        d = len(self.design_dims)
        deltas = []
        for _ in range(self.n_levels):
            base = get_covar_module_with_dim_scaled_prior(
                ard_num_dims=d, use_rbf_kernel=kernel == "rbf"
            )
            if kernel == "matern":
                base.nu = nu
            deltas.append(ScaleKernel(base))
        self.deltas = torch.nn.ModuleList(deltas)
        self.register_parameter("rho", torch.nn.Parameter(torch.ones(self.n_levels - 1)))

    def scaling_matrix(self) -> Tensor:
        """Return ``A`` of shape ``(L, L)`` with ``A[l, k] = prod_{j=k}^{l-1} rho_j`` (k <= l)."""
        L = self.n_levels
        one = torch.ones((), dtype=self.rho.dtype, device=self.rho.device)
        zero = torch.zeros_like(one)
        rows = []
        for level in range(L):
            row: list[Tensor] = [zero] * L
            row[level] = one
            for k in range(level - 1, -1, -1):
                row[k] = self.rho[k] * row[k + 1]
            rows.append(torch.stack(row))
        return torch.stack(rows)

    def forward(
        self, x1: Tensor, x2: Tensor, diag: bool = False, last_dim_is_batch: bool = False, **params
    ) -> Tensor:
        if last_dim_is_batch:
            raise NotImplementedError("AR1Kernel does not support last_dim_is_batch")
        l1 = _level_index(x1[..., self.fidelity_dim], self.n_levels)
        l2 = _level_index(x2[..., self.fidelity_dim], self.n_levels)
        z1, z2 = x1[..., self.design_dims], x2[..., self.design_dims]
        A = self.scaling_matrix()
        a1, a2 = A[l1], A[l2]  # (..., n, L), (..., m, L)
        out: Tensor | None = None
        for k, delta in enumerate(self.deltas):
            kk = to_dense(delta.forward(z1, z2, diag=diag))
            if diag:
                term = a1[..., k] * a2[..., k] * kk
            else:
                term = a1[..., :, k].unsqueeze(-1) * a2[..., :, k].unsqueeze(-2) * kk
            out = term if out is None else out + term
        assert out is not None
        return out


class LevelConstantMean(Mean):
    """One constant mean per level: ``m(x, l) = constants[l]``.

    For the AR(1) model with constant means ``mu_k`` of ``delta_k`` the mean of ``f_l`` is
    ``sum_k A[l, k] mu_k``; since ``A`` is unit lower-triangular this is a one-to-one
    re-parametrisation, so free per-level constants are equivalent and simpler to fit.
    """

    def __init__(self, n_levels: int, fidelity_dim: int) -> None:
        super().__init__()
        self.n_levels = int(n_levels)
        self.fidelity_dim = int(fidelity_dim)
        self.register_parameter("constants", torch.nn.Parameter(torch.zeros(self.n_levels)))

    def forward(self, x: Tensor) -> Tensor:
        return self.constants[_level_index(x[..., self.fidelity_dim], self.n_levels)]


class AR1MultiFidelityGP(SingleTaskGP):
    """Kennedy--O'Hagan linear autoregressive multi-fidelity GP as an exact joint BoTorch GP.

    Ordered discrete levels ``l = 0 .. L-1`` (``L - 1`` = target) are encoded in the fidelity
    column as ``l / (L - 1)``, i.e. the same ``[0, 1]`` convention as the rest of
    :mod:`sciml.bo` (two levels: 0 = low, 1 = target; integer level ``l`` -> ``l / (L - 1)``).
    The model is ``f_l(x) = rho_{l-1} f_{l-1}(x) + delta_l(x)`` with independent GPs
    ``delta_l`` (see :class:`AR1Kernel`), per-level constant means (:class:`LevelConstantMean`)
    and Gaussian observation noise (inferred, or known variances ``train_Yvar``). All
    observations are modelled jointly, so ``posterior`` is the exact Gaussian conditional at
    any level, for inputs ``(n, d + 1)`` or q-batches ``(b, q, d + 1)``.

    Parameters
    ----------
    train_X : Tensor, shape (n, d + 1)
        Training inputs with the level column.
    train_Y : Tensor, shape (n, 1)
        Training outputs.
    train_Yvar : Tensor, shape (n, 1), optional
        Known noise variances.
    n_levels : int, optional
        Number of levels ``L``; None infers it from the distinct fidelity values, which must
        then be exactly the grid ``{0, 1/(L-1), ..., 1}``.
    fidelity_dim : int
        Index of the level column (negative allowed).
    kernel : {"matern", "rbf"}
        Family of the level kernels.
    nu : float
        Matern smoothness.
    bounds : Tensor, shape (2, d + 1), optional
        Design bounds for the default input normalisation (level entries ignored).
    input_transform : InputTransform or None
        Default: ``Normalize`` of the design columns (the level column is left untouched).
        Any custom transform must leave the level column unchanged.
    outcome_transform : OutcomeTransform or None
        Default ``Standardize(m=1)``: Y is standardised over all levels jointly and the
        posterior is un-standardised.

    Notes
    -----
    Fit with :func:`fit_ar1_gp`; a freshly constructed model has ``rho = 1`` and default
    kernel hyperparameters.
    """

    def __init__(
        self,
        train_X: Tensor,
        train_Y: Tensor,
        train_Yvar: Tensor | None = None,
        *,
        n_levels: int | None = None,
        fidelity_dim: int = -1,
        kernel: str = "matern",
        nu: float = 2.5,
        bounds: Tensor | None = None,
        input_transform: InputTransform | _DefaultType | None = DEFAULT,
        outcome_transform: OutcomeTransform | _DefaultType | None = DEFAULT,
    ) -> None:
        X, Y, Yvar = check_xy(train_X, train_Y, train_Yvar)
        col = column_index(fidelity_dim, X.shape[1], "fidelity_dim")
        check_unit_fidelity(X, col)
        L = _infer_n_levels(X[:, col], n_levels)
        if input_transform is DEFAULT:
            input_transform = design_normalize(X.shape[1], col, check_bounds(bounds, X.shape[1]))
        if outcome_transform is DEFAULT:
            outcome_transform = Standardize(m=1)
        super().__init__(
            X,
            Y,
            train_Yvar=Yvar,
            covar_module=AR1Kernel(L, X.shape[1], col, kernel=kernel, nu=nu),
            mean_module=LevelConstantMean(L, col),
            input_transform=input_transform,
            outcome_transform=outcome_transform,
        )
        self.n_levels = L
        self.fidelity_dim = col

    @property
    def rho(self) -> Tensor:
        """Fitted autoregressive coefficients, shape ``(L - 1,)`` (a detached copy)."""
        return self.covar_module.rho.detach().clone()

    @property
    def level_values(self) -> Tensor:
        """Fidelity-column value of each level, shape ``(L,)``: ``l / (L - 1)``."""
        if self.n_levels == 1:
            return torch.ones(1, dtype=DTYPE)
        return torch.linspace(0.0, 1.0, self.n_levels, dtype=DTYPE)


def _ar1_randomizer(model: Model) -> None:
    """Random restart initialisation: priors for lengthscales/noise, random rho/scales/means."""
    sample_all_priors(model)
    kern: AR1Kernel = model.covar_module
    kern.rho.copy_(1.0 + torch.randn_like(kern.rho))
    for k, delta in enumerate(kern.deltas):
        lo, hi = (0.3, 1.5) if k == 0 else (0.01, 0.5)
        delta.outputscale = torch.empty((), dtype=DTYPE).uniform_(lo, hi)
    model.mean_module.constants.copy_(0.5 * torch.randn_like(model.mean_module.constants))


def fit_ar1_gp(
    X: Tensor,
    Y: Tensor,
    *,
    fidelity_dim: int = -1,
    n_levels: int | None = None,
    noise: float | Tensor | None = None,
    kernel: str = "matern",
    nu: float = 2.5,
    bounds: Tensor | None = None,
    n_restarts: int = 4,
    seed: int = 0,
    max_iter: int | None = AR1_MAX_ITER,
    init: Mapping[str, Any] | None = None,
) -> AR1MultiFidelityGP:
    """Build an :class:`AR1MultiFidelityGP` and fit all hyperparameters jointly.

    ``rho``, the level kernels' lengthscales and outputscales, the per-level means and the noise
    maximise the exact marginal likelihood (plus BoTorch's lengthscale/noise priors) with
    L-BFGS-B from ``n_restarts`` seeded starting points (the defaults with ``rho = 1``, then
    random ``rho ~ N(1, 1)``, outputscales, means and prior-drawn lengthscales/noise); the best
    restart is kept. If every restart fails the :data:`FIT_STRATEGIES` fallbacks are tried.

    Parameters
    ----------
    X : Tensor, shape (n, d + 1)
        Inputs; the fidelity column holds ``l / (L - 1)`` for level ``l`` (1 = target).
    Y : Tensor, shape (n, 1)
        Outputs (maximised).
    fidelity_dim, n_levels, kernel, nu, bounds
        See :class:`AR1MultiFidelityGP`.
    noise : float or Tensor of shape (n, 1), optional
        Known noise variances in units of ``Y``.
    n_restarts : int
        Number of optimisation starting points.
    seed : int
        Seed of the random starting points.
    max_iter : int or None
        Cap on the L-BFGS-B iterations of each starting point (default :data:`AR1_MAX_ITER`;
        None: scipy's default of 15,000). When two levels are nearly proportional the
        discrepancy's outputscale can drift towards 0 for thousands of iterations while the
        predictions barely change (``docs/benchmarks.md``).
    init : mapping of str to Tensor, optional
        Hyperparameters the first starting point begins from instead of the defaults
        (:func:`~sciml.bo.fitting.hyperparameters` of an earlier fit with the same number of
        levels): the warm start of a BO loop (``BOLoop(model_options={"warm_start": True})``).

    Returns
    -------
    AR1MultiFidelityGP
        Fitted model in eval mode; ``model.rho`` holds the fitted coefficients.
    """
    X, Y, Yvar = check_xy(X, Y, noise)
    model = AR1MultiFidelityGP(
        X, Y, Yvar, n_levels=n_levels, fidelity_dim=fidelity_dim, kernel=kernel, nu=nu,
        bounds=bounds,
    )
    return fit_with_fallbacks(
        model, seed=seed, n_restarts=n_restarts, randomize=_ar1_randomizer, what="AR(1) GP",
        max_iter=max_iter, init=init,
    )

