"""BoTorch's exact GPs for BO: the multi-fidelity GP and the single-fidelity baseline.

:func:`fit_multifidelity_gp` fits ``SingleTaskMultiFidelityGP`` with a continuous data-fidelity
column (``[0, 1]``, ``1`` = target); :func:`fit_singletask_gp` fits ``SingleTaskGP`` on the
target-fidelity rows only. Both are fitted with :func:`~sciml.bo.fitting.fit_with_fallbacks`.

The linear-truncated fidelity kernel multiplies its bias kernel by ``(1 - s)(1 - s')
(1 + s s')^p``. For a non-integer power ``p`` this factor is not a positive semi-definite kernel
of the fidelity (the series of ``(1 + z)^p`` has negative coefficients), and on three or more
distinct fidelities the kernel matrix can be indefinite; so :func:`fit_multifidelity_gp` fixes
``p`` to an integer (``fidelity_power``, default 1: the factor is ``(1 - s)(1 - s') + s (1 - s)
s' (1 - s')``, a sum of two rank-one kernels) with :func:`fix_fidelity_power`;
``fidelity_power=None`` keeps BoTorch's learned power. With two fidelities (``s in {0, 1}``)
``p`` has no effect. ``docs/benchmarks.md`` shows the run that found this.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from botorch.models import SingleTaskGP, SingleTaskMultiFidelityGP
from botorch.models.kernels import LinearTruncatedFidelityKernel
from botorch.models.model import Model
from botorch.models.transforms.input import ChainedInputTransform, FilterFeatures, InputTransform, Normalize
from botorch.models.transforms.outcome import Standardize
from torch import Tensor

from sciml.bo.fitting import (
    LEVEL_TOL,
    ModelInputError,
    check_bounds,
    check_unit_fidelity,
    check_xy,
    column_index,
    design_normalize,
    fit_with_fallbacks,
)

__all__ = ["fit_multifidelity_gp", "fit_singletask_gp", "fix_fidelity_power"]


def fix_fidelity_power(model: Model, power: int) -> None:
    """Fix the power of every ``LinearTruncatedFidelityKernel`` of ``model`` to an integer, not learned.

    Removes the kernel's ``power_prior`` (so that restarts drawn from the priors leave it) and
    turns off the gradient of its raw parameter (so that fitting leaves it). An integer power
    makes the fidelity factor ``(1 - s)(1 - s')(1 + s s')^p`` a positive semi-definite kernel
    (see :mod:`sciml.bo.gp`).

    Parameters
    ----------
    model : botorch Model
        E.g. a ``SingleTaskMultiFidelityGP`` built with ``linear_truncated=True``.
    power : int
        Non-negative integer.

    Raises
    ------
    ModelInputError
        ``power`` is not a non-negative integer, or the model has no such kernel.
    """
    if isinstance(power, bool) or not isinstance(power, (int, np.integer)) or power < 0:
        raise ModelInputError(
            f"fidelity_power must be a non-negative integer (a non-integer power makes the "
            f"linear-truncated fidelity kernel indefinite) or None, got {power!r}"
        )
    kernels = [k for k in model.modules() if isinstance(k, LinearTruncatedFidelityKernel)]
    if not kernels:
        raise ModelInputError("the model has no LinearTruncatedFidelityKernel whose power could be fixed")
    for k in kernels:
        k._priors.pop("power_prior", None)  # gpytorch has no public way to drop a registered prior
        k.initialize(power=float(power))
        k.raw_power.requires_grad_(False)


def fit_multifidelity_gp(
    X: Tensor,
    Y: Tensor,
    *,
    data_fidelity_dim: int = -1,
    linear_truncated: bool = True,
    noise: float | Tensor | None = None,
    bounds: Tensor | None = None,
    seed: int = 0,
    fidelity_power: int | None = 1,
    init: Mapping[str, Any] | None = None,
) -> SingleTaskMultiFidelityGP:
    """Fit BoTorch's ``SingleTaskMultiFidelityGP`` with a continuous data-fidelity column.

    Parameters
    ----------
    X : Tensor, shape (n, d + 1)
        Training inputs; column ``data_fidelity_dim`` is the fidelity in ``[0, 1]`` (1 = target).
    Y : Tensor, shape (n, 1)
        Training outputs (maximised).
    data_fidelity_dim : int
        Index of the fidelity column (negative indices allowed).
    linear_truncated : bool
        True: ``LinearTruncatedFidelityKernel``; False: ``DownsamplingKernel`` on the fidelity
        (both assume 1 = target fidelity).
    noise : float or Tensor of shape (n, 1), optional
        Known observation-noise variances in units of ``Y``; None infers one homoscedastic noise.
    bounds : Tensor, shape (2, d + 1), optional
        Design-space bounds used to normalise the design columns (the fidelity entries are
        ignored); None normalises with the training-data range.
    seed : int
        Seed of the random restarts.
    fidelity_power : int or None
        With ``linear_truncated``: the kernel's power ``p``, fixed to this non-negative integer
        (:func:`fix_fidelity_power`; default 1); None learns it as BoTorch does, which can make
        the kernel indefinite on three or more distinct fidelities (see :mod:`sciml.bo.gp`).
    init : mapping of str to Tensor, optional
        Hyperparameters to start the fit from (:func:`hyperparameters` of an earlier fit of the
        same structure); default: GPyTorch's initial values.

    Returns
    -------
    SingleTaskMultiFidelityGP
        Fitted, in eval mode, with ``Normalize`` (design columns only: the fidelity column must
        stay in its own [0, 1] scale for the fidelity kernel) and ``Standardize(m=1)``.

    Raises
    ------
    ModelInputError
        Bad shapes, NaN/inf, fidelity outside [0, 1].
    ModelFitError
        Every strategy of :data:`FIT_STRATEGIES` failed.
    """
    X, Y, Yvar = check_xy(X, Y, noise)
    col = column_index(data_fidelity_dim, X.shape[1], "data_fidelity_dim")
    check_unit_fidelity(X, col)
    b = check_bounds(bounds, X.shape[1])
    model = SingleTaskMultiFidelityGP(
        X,
        Y,
        train_Yvar=Yvar,
        data_fidelities=[col],
        linear_truncated=linear_truncated,
        input_transform=design_normalize(X.shape[1], col, b),
        outcome_transform=Standardize(m=1),
    )
    if linear_truncated and fidelity_power is not None:
        fix_fidelity_power(model, fidelity_power)
    return fit_with_fallbacks(model, seed=seed, what="multi-fidelity GP", init=init)


def fit_singletask_gp(
    X: Tensor,
    Y: Tensor,
    *,
    fidelity_dim: int | None = -1,
    target_fidelity: float = 1.0,
    noise: float | Tensor | None = None,
    bounds: Tensor | None = None,
    seed: int = 0,
    init: Mapping[str, Any] | None = None,
) -> SingleTaskGP:
    """Fit a plain ``SingleTaskGP`` on the target-fidelity rows only (single-fidelity baseline).

    Parameters
    ----------
    X : Tensor, shape (n, d + 1) or (n, d)
        Inputs; with ``fidelity_dim=None`` all columns are design columns and all rows are used.
    Y : Tensor, shape (n, 1)
        Outputs (maximised).
    fidelity_dim : int or None
        Fidelity column; only rows with ``X[:, fidelity_dim] == target_fidelity`` are used and
        the column is dropped inside the model by a ``FilterFeatures`` input transform, so
        ``posterior`` still takes ``(..., d + 1)`` inputs (and ignores their fidelity value).
    target_fidelity : float
        Fidelity value of the target rows.
    noise : float or Tensor of shape (n, 1), optional
        Known noise variances for all ``n`` rows (subset with the rows).
    bounds : Tensor, shape (2, n_cols), optional
        Bounds for normalisation over all columns of ``X`` (fidelity entries ignored).
    seed : int
        Seed of the random restarts.
    init : mapping of str to Tensor, optional
        Hyperparameters to start the fit from (:func:`hyperparameters` of an earlier fit).

    Returns
    -------
    SingleTaskGP
        Fitted model in eval mode with ``Normalize`` and ``Standardize(m=1)``.
    """
    X, Y, Yvar = check_xy(X, Y, noise, min_cols=1 if fidelity_dim is None else 2)
    b = check_bounds(bounds, X.shape[1])
    if fidelity_dim is None:
        tf: InputTransform = Normalize(d=X.shape[1], bounds=b)
    else:
        col = column_index(fidelity_dim, X.shape[1], "fidelity_dim")
        rows = (X[:, col] - target_fidelity).abs() <= LEVEL_TOL
        if not rows.any():
            raise ModelInputError(
                f"no training rows at the target fidelity {target_fidelity:g} (column {col}); "
                "the single-fidelity baseline needs target-fidelity data"
            )
        X, Y = X[rows], Y[rows]
        Yvar = None if Yvar is None else Yvar[rows]
        design = [i for i in range(X.shape[1]) if i != col]
        tf = ChainedInputTransform(
            drop_fidelity=FilterFeatures(torch.tensor(design, dtype=torch.long)),
            normalize=Normalize(d=len(design), bounds=None if b is None else b[:, design]),
        )
    model = SingleTaskGP(
        X, Y, train_Yvar=Yvar, input_transform=tf, outcome_transform=Standardize(m=1)
    )
    return fit_with_fallbacks(model, seed=seed, what="single-task GP", init=init)


