"""Multi-fidelity Gaussian-process surrogates for Bayesian optimisation (BoTorch / GPyTorch).

All functions take plain float64 tensors. The training inputs ``X`` have shape ``(n, d + 1)``:
``d`` design columns and one **fidelity column** (the last one unless told otherwise) that is
already rescaled to ``[0, 1]`` with ``1`` = the target fidelity. The training outputs ``Y`` have
shape ``(n, 1)`` and are **maximised** (negate a minimisation problem before fitting). Known
observation noise is given as variances in the units of ``Y`` (a float for all points or an
``(n, 1)`` tensor).

==========================  ===================================================================
kind (:func:`model_for`)    model
==========================  ===================================================================
``"mfgp"``                  :func:`fit_multifidelity_gp`: BoTorch ``SingleTaskMultiFidelityGP``
                            (continuous fidelity, linear-truncated or downsampling kernel)
``"ar1"``                   :func:`fit_ar1_gp`: :class:`AR1MultiFidelityGP`, the Kennedy--O'Hagan
                            linear autoregressive model for ordered discrete levels
``"multitask"``             :func:`fit_multitask_gp`: BoTorch ``MultiTaskGP`` for unordered
                            information sources (intrinsic coregionalisation)
``"singletask"``            :func:`fit_singletask_gp`: plain ``SingleTaskGP`` on the
                            target-fidelity rows only (the single-fidelity baseline)
==========================  ===================================================================

Every returned model is a BoTorch ``Model`` in eval mode whose ``posterior`` accepts
``(n, d + 1)`` or q-batch ``(b, q, d + 1)`` inputs (fidelity column included, so that a
``FixedFeatureAcquisitionFunction`` at the target fidelity works for every kind), and that
un-standardises its outputs (``Standardize(m=1)`` outcome transform).

Fitting maximises the exact marginal log likelihood (plus BoTorch's default hyperparameter
priors) with ``botorch.fit.fit_gpytorch_mll``. When a fit fails it is retried with the
strategies of :data:`FIT_STRATEGIES`, in order:

1. ``lbfgs``: scipy L-BFGS-B from the default initial hyperparameters (BoTorch already
   re-draws the hyperparameters from their priors and retries up to 5 times inside this);
2. ``lbfgs-jitter``: L-BFGS-B from hyperparameters drawn from their priors, with the Cholesky
   jitter raised to ``1e-6``;
3. ``adam``: ``fit_gpytorch_mll_torch`` (Adam, at most 400 steps) from hyperparameters drawn
   from their priors, with the Cholesky jitter raised to ``1e-4``.

A strategy that draws its starting point from the priors (2 and 3) tries up to
:data:`EXTRA_DRAWS` further draws when all of its restarts fail: whether a fit fails often
depends on the draw alone (seen on a Burgers BO run: the fit failed for seed 26 and succeeded
for seeds 0-3 on the same data).

An attempt fails when it raises (``ModelFittingError``, ``NotPSDError``, ``NanError``, a
Cholesky ``RuntimeError`` ...), leaves a non-finite hyperparameter or marginal likelihood, or
leaves a training covariance (kernel plus noise) that is not positive definite
(:func:`check_training_covariance`): a fit can drive an indefinite kernel into a region where
the exact marginal likelihood is meaningless and the posterior is garbage, which no error
reveals. When every attempt fails, :class:`ModelFitError` lists each attempt and its error.

The linear-truncated fidelity kernel. BoTorch's ``LinearTruncatedFidelityKernel`` multiplies
its bias kernel by ``(1 - s)(1 - s') (1 + s s')^p`` with a learned power ``p > 0`` (prior
Gamma(3, 3)). For a non-integer ``p`` this factor is not a positive semi-definite kernel of
the fidelity (the series of ``(1 + z)^p`` has negative coefficients), and on three or more
distinct fidelities the kernel matrix can be indefinite. Seen in a Burgers MF-MES run (levels
``s = 0, 1/3, 2/3, 1``): the fit reached ``p = 0.643`` with a training covariance whose
smallest eigenvalue was ``-1e-4`` (noise included, standardised units), and the target-level
posterior mean swung between ``-0.092`` and ``+0.001`` where the data lay in ``[-0.0263, 0]``
with standard deviations of ``1e-5`` far from any data; the recommendation was a point of
regret 0.0053 while the data held one of regret ``< 1e-5``. :func:`fit_multifidelity_gp`
therefore fixes ``p`` to an integer (``fidelity_power``, default 1, where the factor is
``(1 - s)(1 - s') + s (1 - s) s' (1 - s')``, a sum of two rank-one kernels), not learned;
``fidelity_power=None`` keeps BoTorch's learned power. With two fidelities (``s in {0, 1}``)
``p`` has no effect: the factor is 1 at ``s = s' = 0`` and 0 otherwise.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gpytorch
import numpy as np
import torch
from botorch.exceptions.errors import ModelFittingError
from botorch.fit import fit_gpytorch_mll
from botorch.models import MultiTaskGP, SingleTaskGP, SingleTaskMultiFidelityGP
from botorch.models.model import Model
from botorch.models.transforms.input import (
    ChainedInputTransform,
    FilterFeatures,
    InputTransform,
    Normalize,
)
from botorch.models.transforms.outcome import OutcomeTransform, Standardize
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from botorch.optim.fit import fit_gpytorch_mll_torch
from botorch.optim.utils import sample_all_priors
from botorch.utils.types import DEFAULT, _DefaultType
from gpytorch.kernels import Kernel, ScaleKernel
from gpytorch.means import Mean
from gpytorch.mlls import ExactMarginalLogLikelihood
from linear_operator import to_dense
from linear_operator.utils.errors import NanError, NotPSDError
from torch import Tensor

from sciml.errors import SciMLError

__all__ = [
    "AR1_MAX_ITER",
    "MULTITASK_MAX_ITER",
    "FIT_STRATEGIES",
    "MODEL_KINDS",
    "AR1Kernel",
    "AR1MultiFidelityGP",
    "FitStrategy",
    "InitMismatchError",
    "LevelConstantMean",
    "ModelFitError",
    "ModelInputError",
    "check_training_covariance",
    "fit_ar1_gp",
    "fit_multifidelity_gp",
    "fix_fidelity_power",
    "fit_multitask_gp",
    "fit_singletask_gp",
    "hyperparameters",
    "model_for",
]

MODEL_KINDS: tuple[str, ...] = ("mfgp", "ar1", "multitask", "singletask")
"""The model kinds accepted by :func:`model_for`."""

_DTYPE = torch.float64
_LEVEL_TOL = 1e-6  # tolerance when matching a fidelity value to a discrete level / task value


class ModelInputError(SciMLError, ValueError):
    """Training data or model options are invalid (shapes, NaN, fidelity outside [0, 1] ...)."""


class InitMismatchError(ModelInputError):
    """``init`` hyperparameters do not match the model.

    Unknown or missing names, other shapes, non-finite values, or a value other than that of a
    fixed parameter (such as the fidelity power set by :func:`fix_fidelity_power`).
    """


class ModelFitError(SciMLError, RuntimeError):
    """Every hyperparameter-fitting attempt failed; the message lists each attempt's error."""


# --------------------------------------------------------------------------------------------
# input checking
# --------------------------------------------------------------------------------------------


def _as_tensor(a: Any, name: str) -> Tensor:
    if isinstance(a, Tensor):
        t = a.detach().to(_DTYPE)
    else:
        try:
            t = torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=_DTYPE)
        except (TypeError, ValueError) as exc:
            raise ModelInputError(f"{name} must be an array of numbers: {exc}") from exc
    return t


def _bad_rows(t: Tensor) -> list[int]:
    bad = ~torch.isfinite(t).reshape(t.shape[0], -1).all(dim=-1)
    return torch.nonzero(bad).flatten().tolist()


def _check_xy(
    X: Any, Y: Any, noise: float | Tensor | None = None, *, min_cols: int = 2
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Validate and convert training data.

    Returns
    -------
    X : Tensor, shape (n, D), float64
    Y : Tensor, shape (n, 1), float64
    Yvar : Tensor, shape (n, 1), float64, or None
    """
    X = _as_tensor(X, "X")
    Y = _as_tensor(Y, "Y")
    if X.ndim != 2 or X.shape[0] == 0:
        raise ModelInputError(f"X must have shape (n, d + 1) with n >= 1, got {tuple(X.shape)}")
    if X.shape[1] < min_cols:
        raise ModelInputError(
            f"X must have at least {min_cols} columns "
            f"({'design columns and a fidelity column' if min_cols > 1 else 'design columns'}),"
            f" got shape {tuple(X.shape)}"
        )
    if Y.ndim == 1:
        Y = Y.unsqueeze(-1)
    if Y.ndim != 2 or Y.shape[1] != 1:
        raise ModelInputError(f"Y must have shape (n, 1) (one objective), got {tuple(Y.shape)}")
    if Y.shape[0] != X.shape[0]:
        raise ModelInputError(
            f"X and Y must have the same number of rows, got {X.shape[0]} and {Y.shape[0]}"
        )
    if bad := _bad_rows(X):
        raise ModelInputError(f"X contains NaN or infinite values in rows {bad[:10]}")
    if bad := _bad_rows(Y):
        raise ModelInputError(
            f"Y contains NaN or infinite values in rows {bad[:10]}; drop or repair failed "
            "evaluations before fitting"
        )
    Yvar = None
    if noise is not None:
        nv = _as_tensor(noise, "noise")
        try:
            Yvar = torch.broadcast_to(nv.reshape(-1, 1) if nv.ndim else nv, Y.shape).clone()
        except RuntimeError as exc:
            raise ModelInputError(
                f"noise must be a float or have shape (n, 1) = {tuple(Y.shape)}, "
                f"got shape {tuple(nv.shape)}"
            ) from exc
        if not torch.isfinite(Yvar).all() or (Yvar < 0).any():
            raise ModelInputError("noise variances must be finite and >= 0")
    return X, Y, Yvar


def _column(index: int, n_cols: int, name: str) -> int:
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
        raise ModelInputError(f"{name} must be an integer column index, got {index!r}")
    if not -n_cols <= index < n_cols:
        raise ModelInputError(f"{name}={index} is out of range for X with {n_cols} columns")
    return int(index) % n_cols


def _check_unit_fidelity(X: Tensor, col: int) -> None:
    s = X[:, col]
    lo, hi = float(s.min()), float(s.max())
    if lo < 0.0 or hi > 1.0:
        raise ModelInputError(
            f"the fidelity column {col} of X must lie in [0, 1] (1 = target fidelity), got "
            f"values in [{lo:g}, {hi:g}]; rescale it first, e.g. "
            "(s - s_min) / (s_target - s_min)"
        )


def _check_bounds(bounds: Any, n_cols: int) -> Tensor | None:
    if bounds is None:
        return None
    b = _as_tensor(bounds, "bounds")
    if b.shape != (2, n_cols):
        raise ModelInputError(
            f"bounds must have shape (2, {n_cols}) (rows lower, upper over all columns of X, "
            f"the fidelity/task column is ignored), got {tuple(b.shape)}"
        )
    if not torch.isfinite(b).all() or (b[1] <= b[0]).any():
        raise ModelInputError("bounds must be finite with upper > lower in every column")
    return b


def _design_normalize(n_cols: int, fidelity_col: int, bounds: Tensor | None) -> Normalize:
    """Normalize the design columns to [0, 1], leaving the fidelity/task column untouched."""
    design = [i for i in range(n_cols) if i != fidelity_col]
    return Normalize(d=n_cols, indices=design, bounds=bounds)


# --------------------------------------------------------------------------------------------
# robust fitting
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitStrategy:
    """One way of maximising the marginal likelihood (see the module docstring).

    Attributes
    ----------
    name : str
        Short name used in :class:`ModelFitError` messages.
    description : str
        What the strategy does.
    optimizer : str
        ``"scipy"`` (L-BFGS-B, BoTorch's default) or ``"torch"`` (``fit_gpytorch_mll_torch``).
    jitter : float or None
        Cholesky jitter (float64) during fitting; None keeps GPyTorch's default.
    resample : bool
        Start from hyperparameters drawn from their priors instead of the defaults.
    """

    name: str
    description: str
    optimizer: str = "scipy"
    jitter: float | None = None
    resample: bool = False


FIT_STRATEGIES: tuple[FitStrategy, ...] = (
    FitStrategy("lbfgs", "scipy L-BFGS-B from the default initial hyperparameters"),
    FitStrategy(
        "lbfgs-jitter",
        "scipy L-BFGS-B from prior-sampled hyperparameters, Cholesky jitter 1e-6",
        jitter=1e-6,
        resample=True,
    ),
    FitStrategy(
        "adam",
        "fit_gpytorch_mll_torch (Adam, <= 400 steps) from prior-sampled hyperparameters, "
        "Cholesky jitter 1e-4",
        optimizer="torch",
        jitter=1e-4,
        resample=True,
    ),
)
"""Fallback sequence used by every ``fit_*`` function of this module."""

#: Further prior draws of a resampling strategy when all its ``n_restarts`` attempts fail.
EXTRA_DRAWS = 3

#: Default cap on the L-BFGS-B iterations of each starting point of :func:`fit_ar1_gp`.
AR1_MAX_ITER = 300

#: Default cap on the L-BFGS-B iterations of :func:`fit_multitask_gp`. Uncapped, a fit to two
#: points per source ran 2,020 likelihood evaluations (34 s, the task covariance drifting
#: along a flat direction).
MULTITASK_MAX_ITER = 300

# Errors that mean "this fitting attempt failed" (anything else is a bug and propagates).
_FIT_ERRORS: tuple[type[BaseException], ...] = (
    ModelFittingError,
    NotPSDError,
    NanError,
    RuntimeError,
    ValueError,
    ArithmeticError,
)


def _mll_value(mll: ExactMarginalLogLikelihood) -> float:
    """Marginal log likelihood (per observation, plus log priors) at the current parameters."""
    model = mll.model
    mll.train()
    with torch.no_grad():
        out = model(*model.train_inputs)
        inputs = (model.transform_inputs(X=t) for t in model.train_inputs)
        value = float(mll(out, model.train_targets, *inputs).sum())
    mll.eval()
    return value


def check_training_covariance(model: Model, *, rel_jitter: float = 1e-8) -> None:
    """Raise ``ValueError`` when the model's training covariance (noise included) is not positive definite.

    The prior covariance of the training outputs plus the likelihood's noise, in the model's
    (transformed) units, must admit a Cholesky factor after adding ``rel_jitter`` times its
    mean diagonal (round-off of a valid kernel passes; an indefinite kernel does not).

    Parameters
    ----------
    model : botorch Model
        An exact GP with ``train_inputs`` (e.g. every model of this module).
    rel_jitter : float
        Relative jitter of the test.

    Raises
    ------
    ValueError
        The matrix is not positive definite; the message gives its smallest eigenvalue.
    """
    was_training = model.training
    model.train()
    try:
        with torch.no_grad():
            out = model(*model.train_inputs)  # in train mode the model transforms its inputs itself
            inputs = [model.transform_inputs(X=t) for t in model.train_inputs]
            K = to_dense(model.likelihood(out, *inputs).covariance_matrix).detach()
    finally:
        model.train(was_training)
    K = K.reshape(-1, K.shape[-2], K.shape[-1])
    jitter = rel_jitter * K.diagonal(dim1=-2, dim2=-1).mean(-1).abs().clamp_min(1e-300)
    eye = torch.eye(K.shape[-1], dtype=K.dtype, device=K.device)
    _, info = torch.linalg.cholesky_ex(K + jitter[:, None, None] * eye)
    if bool((info > 0).any()):
        smallest = float(torch.linalg.eigvalsh(K).min())
        raise ValueError(
            f"the fitted training covariance is not positive definite (smallest eigenvalue "
            f"{smallest:.3g} of a matrix with mean diagonal {float(K.diagonal(dim1=-2, dim2=-1).mean()):.3g}): "
            "the kernel is indefinite at these hyperparameters"
        )


def fix_fidelity_power(model: Model, power: int) -> None:
    """Fix the power of every ``LinearTruncatedFidelityKernel`` of ``model`` to an integer, not learned.

    Removes the kernel's ``power_prior`` (so that restarts drawn from the priors leave it) and
    turns off the gradient of its raw parameter (so that fitting leaves it). An integer power
    makes the fidelity factor ``(1 - s)(1 - s')(1 + s s')^p`` a positive semi-definite kernel
    (see the module docstring).

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
    from botorch.models.kernels import LinearTruncatedFidelityKernel

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


def _run_strategy(mll: ExactMarginalLogLikelihood, strategy: FitStrategy, max_iter: int | None = None) -> None:
    """Run one strategy; ``max_iter`` caps the L-BFGS-B iterations of a ``"scipy"`` strategy."""
    jitter = (
        gpytorch.settings.cholesky_jitter(float_value=strategy.jitter, double_value=strategy.jitter)
        if strategy.jitter is not None
        else contextlib.nullcontext()
    )
    with jitter:
        if strategy.optimizer == "torch":
            fit_gpytorch_mll(
                mll, optimizer=fit_gpytorch_mll_torch, optimizer_kwargs={"step_limit": 400}
            )
        elif max_iter is not None:
            # BoTorch logs "ITERATIONS REACHED LIMIT" at DEBUG level and keeps the result
            fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": int(max_iter)}})
        else:
            fit_gpytorch_mll(mll)


def hyperparameters(model: Model) -> dict[str, Tensor]:
    """Detached copies of a model's hyperparameters (its raw ``named_parameters``).

    Pass them as ``init`` to the ``fit_*`` function of the same kind to start a later fit (more
    data, same model structure) where this one ended -- the warm start of a BO loop.

    Returns
    -------
    dict of str to Tensor
        Parameter name to a float64 copy (raw, unconstrained values as GPyTorch stores them).
    """
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _apply_init(model: Model, init: Mapping[str, Any]) -> None:
    """Copy ``init`` (from :func:`hyperparameters`) into ``model``'s parameters; clear errors when it does not fit."""
    if not isinstance(init, Mapping):
        raise InitMismatchError(f"init must be a mapping of parameter names to tensors, got {type(init).__name__}")
    params = dict(model.named_parameters())
    unknown = sorted(set(init) - set(params))
    if unknown:
        raise InitMismatchError(f"init names parameters this model does not have: {unknown}; "
                                f"it has {sorted(params)}")
    missing = sorted(set(params) - set(init))
    if missing:
        raise InitMismatchError(f"init lacks parameters of this model: {missing}")
    values = {}
    for name, value in init.items():
        try:
            v = _as_tensor(value, f"init[{name!r}]")
        except ModelInputError as exc:
            raise InitMismatchError(str(exc)) from None
        if v.shape != params[name].shape:
            raise InitMismatchError(f"init[{name!r}] has shape {tuple(v.shape)}, the model's parameter "
                                    f"{tuple(params[name].shape)}")
        if not bool(torch.isfinite(v).all()):
            raise InitMismatchError(f"init[{name!r}] holds non-finite values")
        if not params[name].requires_grad and not torch.equal(v, params[name].detach()):
            # a fixed parameter (e.g. the fidelity kernel's power, fix_fidelity_power) keeps its value
            raise InitMismatchError(f"init[{name!r}] = {v.tolist()} differs from the model's fixed value "
                                    f"{params[name].detach().tolist()}")
        values[name] = v
    with torch.no_grad():
        for name, v in values.items():
            params[name].copy_(v)


def _fit_with_fallbacks(
    model: Model,
    *,
    seed: int,
    n_restarts: int = 1,
    randomize: Callable[[Model], None] | None = None,
    what: str = "GP",
    max_iter: int | None = None,
    init: Mapping[str, Any] | None = None,
) -> Model:
    """Fit ``model`` in place with :data:`FIT_STRATEGIES`, keeping the best of ``n_restarts``.

    Restart 0 of the first strategy starts from the model's initial hyperparameters; every other
    attempt starts from ``randomize(model)`` (default: draw from the hyperparameter priors). A
    resampling strategy whose ``n_restarts`` attempts all fail makes up to :data:`EXTRA_DRAWS`
    more. The first strategy with at least one successful attempt wins; its attempt with the
    highest marginal likelihood is kept. When nothing fails, the attempts (and so the random
    stream) are exactly ``n_restarts`` per strategy. ``max_iter`` caps the L-BFGS-B iterations
    of each attempt of a ``"scipy"`` strategy (None: scipy's default, 15,000). ``init``
    (:func:`hyperparameters` of an earlier fit) replaces the initial hyperparameters, so restart
    0 starts from it (a warm start).
    """
    if n_restarts < 1:
        raise ModelInputError(f"n_restarts must be >= 1, got {n_restarts}")
    if max_iter is not None and (isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1):
        raise ModelInputError(f"max_iter must be a positive integer or None, got {max_iter!r}")
    if init is not None:  # after the checks above: bad options leave the model untouched
        _apply_init(model, init)
    randomize = randomize or sample_all_priors
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    initial = copy.deepcopy(model.state_dict())
    errors: list[str] = []
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for strategy in FIT_STRATEGIES:
            best: tuple[float, dict[str, Tensor]] | None = None
            restart = 0
            # a strategy that starts from prior draws tries up to EXTRA_DRAWS more draws when
            # all its restarts fail (a failure often depends on the draw alone)
            limit = n_restarts + (EXTRA_DRAWS if strategy.resample else 0)
            while restart < limit and (restart < n_restarts or best is None):
                restart += 1
                model.load_state_dict(initial)
                mll.train()
                try:
                    if strategy.resample or restart > 1:
                        with torch.no_grad():
                            randomize(model)
                    _run_strategy(mll, strategy, max_iter)
                    if not all(torch.isfinite(p).all() for p in model.parameters()):
                        raise ValueError("fit left non-finite hyperparameters")
                    value = _mll_value(mll)
                    if not math.isfinite(value):
                        raise ValueError(f"non-finite marginal log likelihood {value}")
                    check_training_covariance(model)
                except _FIT_ERRORS as exc:
                    errors.append(
                        f"{strategy.name} (restart {restart - 1}): {type(exc).__name__}: {exc}"
                    )
                    continue
                if best is None or value > best[0]:
                    best = (value, copy.deepcopy(model.state_dict()))
            if best is not None:
                model.load_state_dict(best[1])
                model.eval()
                return model
    model.load_state_dict(initial)
    tried = "\n".join(f"  - {e}" for e in errors)
    raise ModelFitError(
        f"could not fit the {what} hyperparameters; tried, in order:\n{tried}\n"
        "check the data (duplicated inputs with different outputs, outliers, constant Y) or "
        "pass a known noise level"
    )


# --------------------------------------------------------------------------------------------
# SingleTaskMultiFidelityGP
# --------------------------------------------------------------------------------------------


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
        the kernel indefinite on three or more distinct fidelities (see the module docstring).
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
    X, Y, Yvar = _check_xy(X, Y, noise)
    col = _column(data_fidelity_dim, X.shape[1], "data_fidelity_dim")
    _check_unit_fidelity(X, col)
    b = _check_bounds(bounds, X.shape[1])
    model = SingleTaskMultiFidelityGP(
        X,
        Y,
        train_Yvar=Yvar,
        data_fidelities=[col],
        linear_truncated=linear_truncated,
        input_transform=_design_normalize(X.shape[1], col, b),
        outcome_transform=Standardize(m=1),
    )
    if linear_truncated and fidelity_power is not None:
        fix_fidelity_power(model, fidelity_power)
    return _fit_with_fallbacks(model, seed=seed, what="multi-fidelity GP", init=init)


# --------------------------------------------------------------------------------------------
# AR(1) Kennedy-O'Hagan model
# --------------------------------------------------------------------------------------------


def _level_index(s: Tensor, n_levels: int) -> Tensor:
    """Map fidelity values ``l / (L - 1)`` to integer levels ``l`` (long tensor, same shape)."""
    s = s.detach()
    if n_levels == 1:
        if (s - 1.0).abs().max() > _LEVEL_TOL:
            raise ModelInputError("with n_levels=1 the fidelity column must be 1 everywhere")
        return torch.zeros(s.shape, dtype=torch.long, device=s.device)
    scaled = s * (n_levels - 1)
    idx = scaled.round()
    off = (scaled - idx).abs() > _LEVEL_TOL * (n_levels - 1)
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
    grid = torch.linspace(0.0, 1.0, L, dtype=_DTYPE) if L > 1 else torch.ones(1, dtype=_DTYPE)
    if (values - grid).abs().max() > _LEVEL_TOL:
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
        X, Y, Yvar = _check_xy(train_X, train_Y, train_Yvar)
        col = _column(fidelity_dim, X.shape[1], "fidelity_dim")
        _check_unit_fidelity(X, col)
        L = _infer_n_levels(X[:, col], n_levels)
        if input_transform is DEFAULT:
            input_transform = _design_normalize(X.shape[1], col, _check_bounds(bounds, X.shape[1]))
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
            return torch.ones(1, dtype=_DTYPE)
        return torch.linspace(0.0, 1.0, self.n_levels, dtype=_DTYPE)


def _ar1_randomizer(model: Model) -> None:
    """Random restart initialisation: priors for lengthscales/noise, random rho/scales/means."""
    sample_all_priors(model)
    kern: AR1Kernel = model.covar_module
    kern.rho.copy_(1.0 + torch.randn_like(kern.rho))
    for k, delta in enumerate(kern.deltas):
        lo, hi = (0.3, 1.5) if k == 0 else (0.01, 0.5)
        delta.outputscale = torch.empty((), dtype=_DTYPE).uniform_(lo, hi)
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
        None: scipy's default of 15,000). When two levels are nearly proportional (Borehole:
        ``f_H ~ 1.257 f_L``) the discrepancy's outputscale drifts towards 0 for thousands of
        iterations while the predictions barely change. Measured on 33 Borehole points of a BO
        run (2 starting points, one thread beside a 2-worker benchmark on 2 cores): uncapped
        42 s, ``rho = 1.2548``, target-level RMSE 3.99 over 512 Sobol points (range 15-257);
        capped at 300: 6.6 s, ``rho = 1.2567`` (``2 pi / 5 = 1.2566``), RMSE 4.51.

    init : mapping of str to Tensor, optional
        Hyperparameters the first starting point begins from instead of the defaults
        (:func:`hyperparameters` of an earlier fit with the same number of levels): the warm
        start of a BO loop (``BOLoop(model_options={"warm_start": True})``). Measured on the
        stored data of full-mode AR1+MF-EI runs (one thread, fit at ``n`` points started from the
        fit at ``n - 1``, both capped at 300 iterations): Burgers (4 levels, n = 30/45/55) 4.4 /
        3.8 / 5.1 s with one warm start vs 9.0 / 6.5 / 10.4 s with two cold starts, and a higher
        marginal log likelihood per point each time (2.05 / 2.35 / 2.67 vs 1.73 / 2.29 / 2.52);
        Borehole (n = 30/45/55) 2.0 / 4.4 / 3.8 s vs 6.4 / 8.4 / 6.4 s, -0.92 / 0.11 / 0.55 vs
        -0.99 / 0.06 / 0.41.

    Returns
    -------
    AR1MultiFidelityGP
        Fitted model in eval mode; ``model.rho`` holds the fitted coefficients.
    """
    X, Y, Yvar = _check_xy(X, Y, noise)
    model = AR1MultiFidelityGP(
        X, Y, Yvar, n_levels=n_levels, fidelity_dim=fidelity_dim, kernel=kernel, nu=nu,
        bounds=bounds,
    )
    return _fit_with_fallbacks(
        model, seed=seed, n_restarts=n_restarts, randomize=_ar1_randomizer, what="AR(1) GP",
        max_iter=max_iter, init=init,
    )


# --------------------------------------------------------------------------------------------
# MultiTaskGP for unordered sources
# --------------------------------------------------------------------------------------------


class _TaskValueToIndex(InputTransform):
    """Replace the task column's raw values (e.g. fidelities 0, 0.5, 1) by indices 0..T-1."""

    def __init__(self, task_col: int, values: Tensor) -> None:
        super().__init__()
        self.transform_on_train = True
        self.transform_on_eval = True
        self.transform_on_fantasize = True
        self.task_col = int(task_col)
        self.register_buffer("values", values.clone())

    def transform(self, X: Tensor) -> Tensor:
        col = X[..., self.task_col]
        dist = (col.unsqueeze(-1) - self.values).abs()
        best, idx = dist.min(dim=-1)
        if (best > _LEVEL_TOL).any():
            bad = col[best > _LEVEL_TOL].flatten()[:5].tolist()
            raise ModelInputError(
                f"task values {bad} are not among the training task values "
                f"{self.values.tolist()}"
            )
        X = X.clone()
        X[..., self.task_col] = idx.to(X.dtype)
        return X

    def equals(self, other: InputTransform) -> bool:
        return (
            isinstance(other, _TaskValueToIndex)
            and other.task_col == self.task_col
            and torch.equal(other.values, self.values)
        )


class _SourceMultiTaskGP(MultiTaskGP):
    """``MultiTaskGP`` whose task column holds raw source values mapped by an input transform.

    ``posterior`` of inputs without the task column predicts the target source.
    """

    _target_value: float

    def posterior(self, X: Tensor, output_indices: list[int] | None = None, **kwargs: Any):
        if X.shape[-1] == self.num_non_task_features:
            if output_indices is not None:
                raise ModelInputError(
                    "output_indices is not supported: include the task column in X instead"
                )
            tf = self._task_feature
            col = torch.full_like(X[..., :1], self._target_value)
            X = torch.cat([X[..., :tf], col, X[..., tf:]], dim=-1)
        return super().posterior(X, output_indices=output_indices, **kwargs)


def fit_multitask_gp(
    X: Tensor,
    Y: Tensor,
    task_column: int = -1,
    *,
    target_task: float | None = None,
    noise: float | Tensor | None = None,
    rank: int | None = None,
    bounds: Tensor | None = None,
    seed: int = 0,
    max_iter: int | None = MULTITASK_MAX_ITER,
    init: Mapping[str, Any] | None = None,
) -> MultiTaskGP:
    """Fit BoTorch's ``MultiTaskGP`` (ICM kernel) for unordered information sources.

    Each distinct value of the task column is one source; the values may be integer task
    indices ``0, 1, ...`` or any discrete codes such as rescaled fidelities ``0, 0.5, 1``. They
    are mapped to task indices by an input transform, so ``posterior`` takes the same raw
    values (an input whose value is not a training value is an error). The model's output task
    is the target source.

    Parameters
    ----------
    X : Tensor, shape (n, d + 1)
        Inputs with the task column.
    Y : Tensor, shape (n, 1)
        Outputs (maximised).
    task_column : int
        Index of the task column (negative allowed).
    target_task : float, optional
        Raw task value of the target source; default: the largest value (the target fidelity
        1 under the fidelity convention, or the highest task index).
    noise : float or Tensor of shape (n, 1), optional
        Known noise variances; None infers one noise level per task.
    rank : int, optional
        Rank of the task covariance; default the number of tasks.
    bounds : Tensor, shape (2, d + 1), optional
        Design bounds for normalisation (task entries ignored).
    seed : int
        Seed of the random restarts.
    max_iter : int or None
        Cap on the L-BFGS-B iterations (default :data:`MULTITASK_MAX_ITER`; None: scipy's).
    init : mapping of str to Tensor, optional
        Hyperparameters to start the fit from (:func:`hyperparameters` of an earlier fit with the
        same tasks).

    Returns
    -------
    MultiTaskGP
        Fitted model in eval mode with ``Standardize(m=1)``; ``posterior(X)`` accepts
        ``(..., d + 1)`` inputs with raw task values, or ``(..., d)`` inputs for the target.
    """
    X, Y, Yvar = _check_xy(X, Y, noise)
    col = _column(task_column, X.shape[1], "task_column")
    values = torch.unique(X[:, col])
    if len(values) > 1 and float(torch.diff(values).min()) <= 2 * _LEVEL_TOL:
        raise ModelInputError(
            f"task values must be distinct codes at least {2 * _LEVEL_TOL:g} apart, "
            f"got {values.tolist()[:10]}"
        )
    if target_task is None:
        target_value = float(values.max())
    else:
        matches = ((values - float(target_task)).abs() <= _LEVEL_TOL).nonzero().flatten()
        if len(matches) == 0:
            raise ModelInputError(
                f"target_task={target_task!r} has no training data; task values are "
                f"{values.tolist()}"
            )
        target_value = float(values[matches[0]])
    target_index = int(((values - target_value).abs() <= _LEVEL_TOL).nonzero()[0, 0])
    tf = ChainedInputTransform(
        tasks=_TaskValueToIndex(col, values),
        normalize=_design_normalize(X.shape[1], col, _check_bounds(bounds, X.shape[1])),
    )
    model = _SourceMultiTaskGP(
        X,
        Y,
        task_feature=col,
        train_Yvar=Yvar,
        output_tasks=[target_index],
        rank=rank,
        input_transform=tf,
        outcome_transform=Standardize(m=1),
        validate_task_values=False,  # raw values are validated by _TaskValueToIndex
    )
    model._target_value = target_value
    return _fit_with_fallbacks(model, seed=seed, what="multi-task GP", max_iter=max_iter, init=init)


# --------------------------------------------------------------------------------------------
# single-fidelity baseline
# --------------------------------------------------------------------------------------------


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
    X, Y, Yvar = _check_xy(X, Y, noise, min_cols=1 if fidelity_dim is None else 2)
    b = _check_bounds(bounds, X.shape[1])
    if fidelity_dim is None:
        tf: InputTransform = Normalize(d=X.shape[1], bounds=b)
    else:
        col = _column(fidelity_dim, X.shape[1], "fidelity_dim")
        rows = (X[:, col] - target_fidelity).abs() <= _LEVEL_TOL
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
    return _fit_with_fallbacks(model, seed=seed, what="single-task GP", init=init)


# --------------------------------------------------------------------------------------------
# factory
# --------------------------------------------------------------------------------------------


def model_for(
    kind: str,
    X: Tensor,
    Y: Tensor,
    *,
    fidelity_dim: int = -1,
    noise: float | Tensor | None = None,
    seed: int = 0,
    **kw: Any,
) -> Model:
    """Fit a surrogate of the given kind (see :data:`MODEL_KINDS` and the module table).

    Parameters
    ----------
    kind : {"mfgp", "ar1", "multitask", "singletask"}
        Model kind.
    X : Tensor, shape (n, d + 1)
        Inputs with the fidelity (level / task) column at ``fidelity_dim``.
    Y : Tensor, shape (n, 1)
        Outputs (maximised).
    fidelity_dim : int
        Passed as ``data_fidelity_dim`` / ``fidelity_dim`` / ``task_column``.
    noise : float or Tensor of shape (n, 1), optional
        Known noise variances.
    seed : int
        Seed of the random restarts.
    **kw
        Further keyword arguments of the kind's ``fit_*`` function.

    Returns
    -------
    botorch.models.model.Model
        Fitted model whose ``posterior`` takes ``(..., d + 1)`` inputs.
    """
    if kind == "mfgp":
        return fit_multifidelity_gp(
            X, Y, data_fidelity_dim=fidelity_dim, noise=noise, seed=seed, **kw
        )
    if kind == "ar1":
        return fit_ar1_gp(X, Y, fidelity_dim=fidelity_dim, noise=noise, seed=seed, **kw)
    if kind == "multitask":
        return fit_multitask_gp(X, Y, task_column=fidelity_dim, noise=noise, seed=seed, **kw)
    if kind == "singletask":
        return fit_singletask_gp(X, Y, fidelity_dim=fidelity_dim, noise=noise, seed=seed, **kw)
    raise ModelInputError(
        f"unknown model kind {kind!r}; accepted kinds: {', '.join(MODEL_KINDS)}"
    )
