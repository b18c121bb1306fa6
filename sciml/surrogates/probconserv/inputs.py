"""What a field surrogate is asked: one inputs type for every ProbConserv base model.

A field surrogate predicts ``B`` functions ``u(t, x)`` on a tensor-product grid of ``n_t``
times and ``n_x`` positions, **time-major** (row ``i`` of a ``(n_t, n_x)`` prediction is the
profile ``u(t_i, .)`` on which the constraint ``G`` acts). :class:`FieldInputs` carries the
grid, what the models may condition on (context observations; the physical parameter) and the
seed of every random draw, so that ``predict(inputs)`` is a pure function of its inputs. Each
model uses what it needs (the ANP and the GP the contexts, the FNO bases the parameters) and
raises :class:`FieldInputError` if it is missing, malformed or not finite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sciml.errors import ConfigError, SciMLError
from sciml.surrogates.posterior import SeedLike

__all__ = ["FieldInputError", "FieldInputs"]


class FieldInputError(SciMLError, ValueError):
    """Bad input to a base field model (shape, missing input, NaN/inf, unfitted model)."""


@dataclass(frozen=True)
class FieldInputs:
    """A space-time grid to predict on, the conditioning data, and the seed of random draws.

    Attributes
    ----------
    t : array_like, shape ``(n_t,)``
        Strictly increasing times (units of the PDE's time).
    x : array_like, shape ``(n_x,)``
        Strictly increasing positions (units of length).
    context_x : array_like, shape ``(B, N_c, 2)``, optional
        Context points ``(t, x)`` of each function (the ANP and the GP condition on them).
    context_y : array_like, shape ``(B, N_c, 1)`` or ``(B, N_c)``, optional
        Observed values there (units of ``u``).
    params : array_like, shape ``(B,)`` or ``(B, 1)``, optional
        The physical parameter of each function (the FNO bases are told it).
    seed : int or torch.Generator
        Source of the model's random draws (ANP latents, dropout masks): an int gives the
        same prediction every call; a generator is consumed.
    n_samples : int
        Latent draws of a latent-variable model (the ANP's mixture components).
    target_chunk : int, optional
        Evaluate at most this many grid points at a time (memory only; the result does not
        depend on it).
    """

    t: Any
    x: Any
    context_x: Any = None
    context_y: Any = None
    params: Any = None
    seed: SeedLike = 0
    n_samples: int = 50
    target_chunk: int | None = None

    def grid(self) -> tuple[Tensor, Tensor]:
        """``(t, x)`` as validated float64 tensors (:class:`FieldInputError` otherwise)."""
        return grid_1d(self.t, "t"), grid_1d(self.x, "x")

    def contexts(self) -> tuple[Tensor, Tensor]:
        """``(context_x (B, N_c, 2), context_y (B, N_c))`` as validated float64 tensors."""
        return contexts(self.context_x, self.context_y)

    def parameters(self) -> Tensor:
        """``params`` as a validated float64 tensor of shape ``(B,)``."""
        return params_1d(self.params)


# =========================================================================== validation
def grid_1d(a: Any, name: str) -> Tensor:
    """A strictly increasing, finite 1D grid of at least 2 points as float64 (:class:`FieldInputError`)."""
    try:
        t = torch.tensor(np.array(a.detach().cpu() if isinstance(a, Tensor) else a, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise FieldInputError(f"{name} must be a 1D array of numbers: {exc}") from exc
    if t.ndim != 1 or t.numel() < 2:
        raise FieldInputError(f"{name} must be a 1D array with at least 2 points, got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise FieldInputError(f"{name} contains NaN or infinite values")
    if not bool((t[1:] > t[:-1]).all()):
        raise FieldInputError(f"{name} must be strictly increasing")
    return t


def finite(t: Tensor, name: str) -> None:
    """Raise :class:`FieldInputError` naming ``name`` if ``t`` holds a NaN or an infinity."""
    if not bool(torch.isfinite(t).all()):
        n_bad = int((~torch.isfinite(t)).sum())
        raise FieldInputError(f"{name} contains {n_bad} NaN or infinite value(s); all values must be finite")


def contexts(context_x: Any, context_y: Any) -> tuple[Tensor, Tensor]:
    """``(B, N_c, 2)`` and ``(B, N_c)`` float64 contexts, validated."""
    if context_x is None or context_y is None:
        raise FieldInputError("this model conditions on context points: pass context_x (B, N_c, 2) and "
                              "context_y (B, N_c, 1)")
    try:
        cx = torch.as_tensor(context_x).detach().cpu().to(torch.float64)
        cy = torch.as_tensor(context_y).detach().cpu().to(torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise FieldInputError(f"context_x / context_y must be arrays of numbers: {exc}") from exc
    if cx.ndim != 3 or cx.shape[-1] != 2 or cx.shape[1] < 1 or cx.shape[0] < 1:
        raise FieldInputError(f"context_x must have shape (B, N_c, 2) with (t, x) pairs, got {tuple(cx.shape)}")
    if cy.ndim == 3 and cy.shape[-1] == 1:
        cy = cy[..., 0]
    if cy.shape != cx.shape[:2]:
        raise FieldInputError(
            f"context_y must have shape (B, N_c, 1) or (B, N_c) = {tuple(cx.shape[:2])} to match context_x, "
            f"got {tuple(torch.as_tensor(context_y).shape)}")
    finite(cx, "context_x")
    finite(cy, "context_y")
    return cx, cy


def params_1d(params: Any) -> Tensor:
    """``(B,)`` float64 parameters, validated."""
    if params is None:
        raise FieldInputError("this model is conditioned on the physical parameter: pass params (B,) or (B, 1)")
    try:
        p = torch.as_tensor(params).detach().cpu().to(torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise FieldInputError(f"params must be numbers of shape (B,) or (B, 1): {exc}") from exc
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    elif p.ndim == 0:
        p = p[None]
    if p.ndim != 1 or p.numel() < 1:
        raise FieldInputError(f"params must have shape (B,) or (B, 1), got {tuple(torch.as_tensor(params).shape)}")
    finite(p, "params")
    return p


def check_range(r: Any, name: str) -> tuple[float, float]:
    """A finite pair ``(lo, hi)`` with ``lo < hi`` (:class:`~sciml.errors.ConfigError`)."""
    try:
        lo, hi = (float(v) for v in r)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a pair (lo, hi) of numbers, got {r!r}") from exc
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ConfigError(f"{name} must be a finite pair with lo < hi, got {r!r}")
    return lo, hi


def check_int(v: Any, name: str, low: int) -> int:
    """An integer ``>= low`` (:class:`~sciml.errors.ConfigError`)."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {v!r}")
    return int(v)
