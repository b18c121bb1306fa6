"""The surrogate of a BO loop: a registered model kind (:data:`MODELS`) or any model factory.

A **model factory** is any callable

    ``factory(train_X, train_Y, *, seed, bounds, fidelity, **options) -> botorch Model``

* ``train_X`` ``(n, w)`` float64, model coordinates: the design in physical units, then (for a
  problem with a fidelity) the fidelity rescaled to ``[0, 1]`` (``1`` = target) as the last
  column; ``w = d + 1`` (``d`` without a fidelity);
* ``train_Y`` ``(n, 1)`` float64, **maximised** (the loop passes ``problem.sign * y``);
* ``seed`` the seed of this fit, ``bounds`` ``(2, w)`` the model bounds (fidelity column
  ``[0, 1]``), ``fidelity`` the problem's :class:`~sciml.bo.fidelity.Fidelity` or ``None``;
* ``options`` the loop's ``model_options`` (and ``init``, the previous fit's hyperparameters,
  with ``warm_start``).

The model must be a BoTorch ``Model`` whose ``posterior`` takes ``(..., w)`` inputs in the same
coordinates and returns un-standardised values.

==================  ===========================================================================
kind                model
==================  ===========================================================================
``"mfgp"``          :func:`~sciml.bo.gp.fit_multifidelity_gp`: ``SingleTaskMultiFidelityGP``
``"ar1"``           :func:`~sciml.bo.ar1.fit_ar1_gp`: Kennedy--O'Hagan AR(1), ordered levels
``"multitask"``     :func:`~sciml.bo.multitask.fit_multitask_gp`: unordered sources (ICM)
``"singletask"``    :func:`~sciml.bo.gp.fit_singletask_gp`: target-fidelity rows only (baseline)
==================  ===========================================================================
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from botorch.models.model import Model
from torch import Tensor

from sciml.bo.ar1 import fit_ar1_gp
from sciml.bo.fidelity import DTYPE, Fidelity
from sciml.bo.fitting import ModelInputError
from sciml.bo.gp import fit_multifidelity_gp, fit_singletask_gp
from sciml.bo.multitask import fit_multitask_gp
from sciml.bo.names import AR1, MFGP, MODEL_KINDS, MULTI_FIDELITY_METHODS, MULTITASK, QLOGNEI, SINGLETASK, ModelKind
from sciml.bo.problem import MultiFidelityProblem
from sciml.errors import ConfigError

__all__ = [
    "LOOP_SET_OPTIONS",
    "MODELS",
    "ModelEntry",
    "ModelFactory",
    "check_model",
    "fit_surrogate",
    "model_for",
    "model_label",
    "model_options",
    "takes_init",
]


class ModelFactory(Protocol):
    """``factory(train_X, train_Y, *, seed, bounds, fidelity, **options) -> Model`` (module docstring)."""

    def __call__(self, train_X: Tensor, train_Y: Tensor, *, seed: int, bounds: Tensor,
                 fidelity: Fidelity | None, **options: Any) -> Model: ...


#: Keyword arguments a loop sets itself; ``model_options`` may not set them.
LOOP_SET_OPTIONS = frozenset({"bounds", "seed", "fidelity", "fidelity_dim", "data_fidelity_dim", "task_column",
                              "n_levels", "init", "X", "Y"})


# ------------------------------------------------------------------------------ registered kinds
def _mfgp(X: Tensor, Y: Tensor, *, seed: int, bounds: Tensor, fidelity: Fidelity | None, **options: Any) -> Model:
    return fit_multifidelity_gp(X, Y, data_fidelity_dim=-1, seed=seed, bounds=bounds, **options)


def _ar1(X: Tensor, Y: Tensor, *, seed: int, bounds: Tensor, fidelity: Fidelity | None, **options: Any) -> Model:
    assert fidelity is not None  # checked by check_model
    return fit_ar1_gp(X, Y, fidelity_dim=-1, seed=seed, bounds=bounds, n_levels=len(fidelity.values), **options)


def _multitask(X: Tensor, Y: Tensor, *, seed: int, bounds: Tensor, fidelity: Fidelity | None,
               **options: Any) -> Model:
    return fit_multitask_gp(X, Y, task_column=-1, seed=seed, bounds=bounds, **options)


def _singletask(X: Tensor, Y: Tensor, *, seed: int, bounds: Tensor, fidelity: Fidelity | None,
                **options: Any) -> Model:
    return fit_singletask_gp(X, Y, fidelity_dim=None if fidelity is None else -1, seed=seed, bounds=bounds,
                             **options)


def _needs_fidelity(problem: MultiFidelityProblem) -> None:
    if problem.fidelity is None:
        raise ConfigError(f"problem {problem.name!r} has no fidelity: only model_kind='{SINGLETASK}' applies")


def _check_mfgp(problem: MultiFidelityProblem, method: str) -> None:
    _needs_fidelity(problem)


def _check_ar1(problem: MultiFidelityProblem, method: str) -> None:
    _needs_fidelity(problem)
    f = problem.fidelity
    assert f is not None
    if f.kind != "discrete":
        raise ConfigError(f"model_kind='{AR1}' needs a discrete fidelity; problem {problem.name!r} has "
                          f"{f.describe()}")
    units = torch.tensor(f.unit_values, dtype=DTYPE)
    grid = torch.linspace(0.0, 1.0, len(units), dtype=DTYPE)
    if float((units - grid).abs().max()) > 1e-6:
        raise ConfigError(f"model_kind='{AR1}' needs levels equally spaced in unit coordinates "
                          f"(l / (L - 1)); {f.describe()} maps to {units.tolist()}")


def _check_multitask(problem: MultiFidelityProblem, method: str) -> None:
    _needs_fidelity(problem)
    f = problem.fidelity
    if f is not None and f.kind != "discrete":
        raise ConfigError(f"model_kind='{MULTITASK}' treats each fidelity value as a source, so it needs "
                          f"discrete levels; problem {problem.name!r} has {f.describe()}; use model_kind '{MFGP}'")


def _check_singletask(problem: MultiFidelityProblem, method: str) -> None:
    if method in MULTI_FIDELITY_METHODS:
        raise ConfigError(f"method {method!r} with model_kind='{SINGLETASK}' cannot work: that model fits the "
                          "target-level rows only, so the cheaper levels the method pays for never inform "
                          f"it; use model_kind '{MFGP}', '{AR1}' or '{MULTITASK}' (or method '{QLOGNEI}')")


@dataclass(frozen=True)
class ModelEntry:
    """A registered model kind.

    Attributes
    ----------
    factory : ModelFactory
        Fits the model (module docstring).
    fit : callable
        The ``fit_*`` function behind it; its keyword arguments not in :data:`LOOP_SET_OPTIONS`
        are the kind's ``model_options``.
    check : callable
        ``check(problem, method)`` raises :class:`~sciml.errors.ConfigError` when the kind
        cannot serve ``method`` on ``problem``.
    """

    factory: ModelFactory
    fit: Callable[..., Model]
    check: Callable[[MultiFidelityProblem, str], None]

    @property
    def options(self) -> frozenset[str]:
        """Names a loop's ``model_options`` may set."""
        return frozenset(inspect.signature(self.fit).parameters) - LOOP_SET_OPTIONS


#: The registered model kinds (:data:`~sciml.bo.names.MODEL_KINDS`).
MODELS: dict[ModelKind, ModelEntry] = {
    MFGP: ModelEntry(_mfgp, fit_multifidelity_gp, _check_mfgp),
    AR1: ModelEntry(_ar1, fit_ar1_gp, _check_ar1),
    MULTITASK: ModelEntry(_multitask, fit_multitask_gp, _check_multitask),
    SINGLETASK: ModelEntry(_singletask, fit_singletask_gp, _check_singletask),
}


# ------------------------------------------------------------------------------ any model
def model_label(model: str | ModelFactory) -> str:
    """The name a loop records for ``model``: the kind, or ``callable:<module>.<qualname>``."""
    if isinstance(model, str):
        return model
    name = getattr(model, "__qualname__", None) or type(model).__qualname__
    return f"callable:{getattr(model, '__module__', '?')}.{name}"


def check_model(model: Any, problem: MultiFidelityProblem, method: str) -> None:
    """Check that ``model`` (a kind or a factory) can serve ``method`` on ``problem``.

    Raises
    ------
    ConfigError
        An unknown kind (the message lists :data:`MODELS`), a callable whose signature does not
        take ``(train_X, train_Y, *, seed, bounds, fidelity)``, or a kind that does not fit the
        problem or the method.
    """
    if isinstance(model, str):
        if model not in MODELS:
            raise ConfigError(f"unknown model_kind {model!r}; accepted: {list(MODEL_KINDS)} or a callable "
                              "(train_X, train_Y, *, seed, bounds, fidelity, **options) -> botorch Model")
        MODELS[model].check(problem, method)  # type: ignore[index]
        return
    if not callable(model):
        raise ConfigError(f"model_kind must be one of {list(MODEL_KINDS)} or a callable returning a botorch Model, "
                          f"got {model!r}")
    try:
        inspect.signature(model).bind(problem.model_bounds, problem.model_bounds, seed=0,
                                      bounds=problem.model_bounds, fidelity=problem.fidelity)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model {model_label(model)} must take (train_X, train_Y, *, seed, bounds, fidelity, "
                          f"**options) and return a botorch Model: {exc}") from None


def model_options(model: str | ModelFactory) -> frozenset[str] | None:
    """The ``model_options`` ``model`` accepts (``None``: any, a factory with ``**options``)."""
    if isinstance(model, str):
        return MODELS[model].options  # type: ignore[index]
    params = inspect.signature(model).parameters.values()
    if any(p.kind == p.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params if p.kind == p.KEYWORD_ONLY or p.kind == p.POSITIONAL_OR_KEYWORD
                     ) - LOOP_SET_OPTIONS - {"train_X", "train_Y"}


def takes_init(model: str | ModelFactory) -> bool:
    """Whether ``model`` accepts ``init=`` (the hyperparameters a warm start begins from)."""
    if isinstance(model, str):
        return True
    params = inspect.signature(model).parameters.values()
    return any(p.kind == p.VAR_KEYWORD or p.name == "init" for p in params)


def fit_surrogate(model: str | ModelFactory, train_X: Tensor, train_Y: Tensor, *, seed: int, bounds: Tensor,
                  fidelity: Fidelity | None, **options: Any) -> Model:
    """Fit ``model`` (a registered kind or a factory) to the training data (module docstring).

    Raises
    ------
    ConfigError
        A factory that returns something other than a BoTorch ``Model``.
    ModelInputError, ModelFitError
        From the registered kinds' fits.
    """
    factory = MODELS[model].factory if isinstance(model, str) else model  # type: ignore[index]
    out = factory(train_X, train_Y, seed=seed, bounds=bounds, fidelity=fidelity, **options)
    if not isinstance(out, Model):
        raise ConfigError(f"model {model_label(model)} returned {type(out).__name__}, not a botorch Model")
    return out


_FIT_BY_KIND: dict[ModelKind, tuple[Callable[..., Model], str]] = {
    MFGP: (fit_multifidelity_gp, "data_fidelity_dim"),
    AR1: (fit_ar1_gp, "fidelity_dim"),
    MULTITASK: (fit_multitask_gp, "task_column"),
    SINGLETASK: (fit_singletask_gp, "fidelity_dim"),
}


def model_for(kind: str, X: Tensor, Y: Tensor, *, fidelity_dim: int = -1, noise: float | Tensor | None = None,
              seed: int = 0, **kw: Any) -> Model:
    """Fit a registered kind directly on training data with the fidelity column at ``fidelity_dim``.

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

    Raises
    ------
    ModelInputError
        An unknown kind (the message lists the accepted ones), bad data or options.
    """
    if kind not in _FIT_BY_KIND:
        raise ModelInputError(f"unknown model kind {kind!r}; accepted kinds: {', '.join(MODEL_KINDS)}")
    fit, column = _FIT_BY_KIND[kind]  # type: ignore[index]
    return fit(X, Y, **{column: fidelity_dim}, noise=noise, seed=seed, **kw)
