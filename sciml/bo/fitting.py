"""Fitting a GP's hyperparameters robustly, and the checks of training data every model shares.

All functions take plain float64 tensors: inputs ``X`` ``(n, d + 1)`` with ``d`` design columns
and one fidelity column rescaled to ``[0, 1]`` (``1`` = target), outputs ``Y`` ``(n, 1)`` that
are **maximised**, known noise as variances in the units of ``Y``.

:func:`fit_with_fallbacks` maximises the exact marginal log likelihood (plus BoTorch's
hyperparameter priors) with ``botorch.fit.fit_gpytorch_mll``, trying the strategies of
:data:`FIT_STRATEGIES` in order:

1. ``lbfgs``: scipy L-BFGS-B from the default initial hyperparameters (BoTorch already
   re-draws the hyperparameters from their priors and retries up to 5 times inside this);
2. ``lbfgs-jitter``: L-BFGS-B from hyperparameters drawn from their priors, with the Cholesky
   jitter raised to ``1e-6``;
3. ``adam``: ``fit_gpytorch_mll_torch`` (Adam, at most 400 steps) from hyperparameters drawn
   from their priors, with the Cholesky jitter raised to ``1e-4``.

A strategy that draws its starting point from the priors (2 and 3) tries up to
:data:`EXTRA_DRAWS` further draws when all of its restarts fail (whether a fit fails often
depends on the draw alone). An attempt fails when it raises (``ModelFittingError``,
``NotPSDError``, ``NanError``, a Cholesky ``RuntimeError`` ...), leaves a non-finite
hyperparameter or marginal likelihood, or leaves a training covariance (kernel plus noise) that
is not positive definite (:func:`check_training_covariance`). When every attempt fails,
:class:`ModelFitError` lists each attempt and its error. See ``docs/benchmarks.md`` for the
runs that motivated each rule.
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
from botorch.models.model import Model
from botorch.models.transforms.input import Normalize
from botorch.optim.fit import fit_gpytorch_mll_torch
from botorch.optim.utils import sample_all_priors
from gpytorch.mlls import ExactMarginalLogLikelihood
from linear_operator import to_dense
from linear_operator.utils.errors import NanError, NotPSDError
from torch import Tensor

from sciml.errors import SciMLError

__all__ = [
    "EXTRA_DRAWS",
    "FIT_STRATEGIES",
    "LEVEL_TOL",
    "FitStrategy",
    "InitMismatchError",
    "ModelFitError",
    "ModelInputError",
    "check_bounds",
    "check_training_covariance",
    "check_unit_fidelity",
    "check_xy",
    "column_index",
    "design_normalize",
    "fit_with_fallbacks",
    "hyperparameters",
]

DTYPE = torch.float64
#: Tolerance when matching a fidelity value to a discrete level or task value.
LEVEL_TOL = 1e-6


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
        t = a.detach().to(DTYPE)
    else:
        try:
            t = torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=DTYPE)
        except (TypeError, ValueError) as exc:
            raise ModelInputError(f"{name} must be an array of numbers: {exc}") from exc
    return t


def _bad_rows(t: Tensor) -> list[int]:
    bad = ~torch.isfinite(t).reshape(t.shape[0], -1).all(dim=-1)
    return torch.nonzero(bad).flatten().tolist()


def check_xy(
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


def column_index(index: int, n_cols: int, name: str) -> int:
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
        raise ModelInputError(f"{name} must be an integer column index, got {index!r}")
    if not -n_cols <= index < n_cols:
        raise ModelInputError(f"{name}={index} is out of range for X with {n_cols} columns")
    return int(index) % n_cols


def check_unit_fidelity(X: Tensor, col: int) -> None:
    s = X[:, col]
    lo, hi = float(s.min()), float(s.max())
    if lo < 0.0 or hi > 1.0:
        raise ModelInputError(
            f"the fidelity column {col} of X must lie in [0, 1] (1 = target fidelity), got "
            f"values in [{lo:g}, {hi:g}]; rescale it first, e.g. "
            "(s - s_min) / (s_target - s_min)"
        )


def check_bounds(bounds: Any, n_cols: int) -> Tensor | None:
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


def design_normalize(n_cols: int, fidelity_col: int, bounds: Tensor | None) -> Normalize:
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
"""Fallback sequence of :func:`fit_with_fallbacks` (every ``fit_*`` function of :mod:`sciml.bo`)."""

#: Further prior draws of a resampling strategy when all its ``n_restarts`` attempts fail.
EXTRA_DRAWS = 3

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


def fit_with_fallbacks(
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

