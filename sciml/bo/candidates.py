"""Candidate points in model coordinates, and what every acquisition does with them.

Model coordinates: the design variables in the problem's physical units followed by the
fidelity rescaled to ``[0, 1]`` (``1`` = target), exactly
:meth:`~sciml.bo.problem.MultiFidelityProblem.to_model_input` (no fidelity column for a problem
without fidelity). Here: validating points, projecting to the target fidelity, fixing the
fidelity column, snapping candidates to the bounds and levels, one seeded multi-start
optimisation of an acquisition function, and the errors of the acquisition layer.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from botorch.acquisition import AcquisitionFunction, FixedFeatureAcquisitionFunction
from botorch.acquisition.utils import project_to_target_fidelity
from botorch.optim import optimize_acqf
from torch import Tensor

from sciml.bo.fidelity import DTYPE
from sciml.bo.names import AR1_EI, MFKG, MFMES, MULTI_FIDELITY_METHODS, QLOGNEI
from sciml.bo.problem import MultiFidelityProblem
from sciml.bo.settings import FAST, AcquisitionSettings
from sciml.errors import SciMLError

__all__ = [
    "AcquisitionFailedError",
    "AcquisitionInputError",
    "at_target",
    "check_points",
    "check_problem",
    "method_mismatch",
    "optimize",
    "project",
    "seeded",
    "snap",
    "with_fidelity",
]


class AcquisitionInputError(SciMLError, ValueError):
    """Bad input to an acquisition function: unknown kind, wrong shapes, missing data."""


class AcquisitionFailedError(SciMLError, RuntimeError):
    """The acquisition optimisation failed numerically (Cholesky) even with raised jitter."""


def method_mismatch(kind: str, problem: MultiFidelityProblem) -> str | None:
    """Why method ``kind`` does not apply to ``problem`` (no fidelity; ``ar1-ei`` on a continuous one), or None."""
    if kind in MULTI_FIDELITY_METHODS and problem.fidelity is None:
        return (f"{kind!r} is multi-fidelity but problem {problem.name!r} has no fidelity; use '{QLOGNEI}' for a "
                "single-fidelity problem")
    if kind == AR1_EI and problem.fidelity is not None and problem.fidelity.kind != "discrete":
        return (f"'{AR1_EI}' needs discrete fidelity levels, but problem {problem.name!r} has "
                f"{problem.fidelity.describe()} (continuous); use '{MFKG}' or '{MFMES}'")
    return None


def check_problem(problem: MultiFidelityProblem, kind: str) -> None:
    """Check that method ``kind`` applies to ``problem`` (:func:`method_mismatch`)."""
    if not isinstance(problem, MultiFidelityProblem):
        raise AcquisitionInputError(f"problem must be a MultiFidelityProblem, got {type(problem).__name__}")
    why = method_mismatch(kind, problem)
    if why is not None:
        raise AcquisitionInputError(f"acquisition {why}")


def _width(problem: MultiFidelityProblem) -> int:
    return problem.dim + (problem.fidelity is not None)


def check_points(X: Any, problem: MultiFidelityProblem, what: str) -> Tensor | None:
    """Validate ``(m, d + 1)`` model-coordinate points (``None`` / empty -> ``None``)."""
    if X is None:
        return None
    try:
        t = X.detach().to(DTYPE) if isinstance(X, Tensor) else torch.as_tensor(X, dtype=DTYPE)
    except (TypeError, ValueError) as exc:
        raise AcquisitionInputError(f"{what} must be numbers: {exc}") from None
    w = _width(problem)
    if t.ndim != 2 or t.shape[1] != w:
        raise AcquisitionInputError(f"{what} must have shape (m, {w}) in model coordinates "
                                    f"(design + unit fidelity), got {tuple(t.shape)}")
    if t.shape[0] == 0:
        return None
    if not bool(torch.isfinite(t).all()):
        raise AcquisitionInputError(f"{what} contains NaN or infinite values")
    b = problem.model_bounds
    span = b[1] - b[0]
    if bool(((t < b[0] - 1e-9 * span) | (t > b[1] + 1e-9 * span)).any()):
        raise AcquisitionInputError(f"{what} has points outside the model bounds {b.tolist()}")
    return torch.minimum(torch.maximum(t, b[0]), b[1])


def project(problem: MultiFidelityProblem) -> Callable[[Tensor], Tensor]:
    """``project_to_target_fidelity`` for this problem (identity without fidelity)."""
    if problem.fidelity is None:
        return lambda X: X
    return partial(project_to_target_fidelity, target_fidelities=problem.target_fidelities,
                   d=problem.dim + 1)


def at_target(acqf: AcquisitionFunction, problem: MultiFidelityProblem) -> AcquisitionFunction:
    """Fix the fidelity column to 1 (identity without fidelity): inputs become ``(.., d)``."""
    if problem.fidelity is None:
        return acqf
    return FixedFeatureAcquisitionFunction(acqf, d=problem.dim + 1, columns=[problem.dim], values=[1.0])


def with_fidelity(X: Tensor, problem: MultiFidelityProblem, z: float = 1.0) -> Tensor:
    """Append the unit fidelity ``z`` to designs ``(.., d)`` (no-op without fidelity)."""
    if problem.fidelity is None:
        return X
    return torch.cat([X, torch.full_like(X[..., :1], z)], dim=-1)


def snap(cands: Tensor, problem: MultiFidelityProblem) -> Tensor:
    """Clamp candidates into the model bounds and snap a discrete fidelity to its levels."""
    b = problem.model_bounds
    out = torch.minimum(torch.maximum(cands.detach().to(DTYPE), b[0]), b[1])
    f = problem.fidelity
    if f is not None and f.kind == "discrete":
        levels = torch.tensor(f.unit_values, dtype=DTYPE)
        idx = (out[:, -1:] - levels).abs().argmin(dim=1)
        out[:, -1] = levels[idx]
    return out


def seeded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``fn`` in a forked torch RNG seeded with ``settings.seed``."""

    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            settings = signature.bind(*args, **kwargs).arguments.get("settings", FAST)
        except TypeError as exc:
            raise TypeError(f"{fn.__name__}(): {exc}") from None
        seed = settings.seed if isinstance(settings, AcquisitionSettings) else 0
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return fn(*args, **kwargs)

    return wrapper


def optimize(acqf: AcquisitionFunction, bounds: Tensor, settings: AcquisitionSettings, q: int = 1,
             **kw: Any) -> tuple[Tensor, Tensor]:
    """``optimize_acqf`` with the restarts, raw samples, ``batch_limit`` and ``maxiter`` of ``settings``."""
    options = {"batch_limit": settings.batch_limit, "maxiter": settings.maxiter}
    options.update(kw.pop("options", {}))
    return optimize_acqf(acqf, bounds=bounds, q=q, num_restarts=settings.num_restarts,
                         raw_samples=settings.raw_samples, options=options, **kw)

