"""Build neural PDE solvers from a short description (used by workflows and configs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from sciml.surrogates.neural_pde.baselines import ConditionalSolver
from sciml.surrogates.neural_pde.cape import CAPE
from sciml.surrogates.neural_pde.fno import FNO

#: Model kinds :func:`build_solver` accepts.
SOLVER_KINDS = ("cape_fno", "fno", "conditional_fno", "fno_2step")


def build_solver(
    kind: str,
    *,
    n_vars: int = 1,
    n_params: int = 1,
    width: int = 24,
    modes: int = 12,
    n_layers: int = 4,
    cape_hidden: int = 16,
    cape_modes: int = 8,
    param_scale: float = 1.0,
    param_bounds: tuple[float, float] | Sequence[tuple[float, float]] | None = None,
    spatial_dims: int = 1,
    seed: int | None = None,
) -> nn.Module:
    """Construct a solver of the given kind.

    Parameters
    ----------
    kind : {"cape_fno", "fno", "conditional_fno", "fno_2step"}
        CAPE block in front of an FNO; parameter-blind FNO; FNO with the parameters as
        constant input channels; parameter-blind FNO fed two history frames.
    n_vars, n_params : int
        Field variables per frame and PDE parameters per sample.
    width, modes, n_layers : int
        FNO size.
    cape_hidden, cape_modes : int
        CAPE block size.
    param_scale : float
        Scale of the parameter transform ``sign(p) log1p(|p| / scale)``.
    param_bounds : (lo, hi) or one (lo, hi) per parameter, optional
        Clamp the parameters to this (trained) range before the transform.
    spatial_dims : int
        1 or 2.
    seed : int, optional
        Seed of the weight initialisation. The weights are drawn inside
        :func:`torch.random.fork_rng`, so the same seed gives the same model whatever ran
        before, and the caller's global RNG state is left as it was. ``None`` draws from the
        global RNG (not reproducible across processes unless the caller seeds it).

    Returns
    -------
    torch.nn.Module
        A solver following :mod:`sciml.surrogates.neural_pde.protocol`.
    """
    if kind not in SOLVER_KINDS:
        raise ValueError(f"unknown solver kind {kind!r}; accepted: {list(SOLVER_KINDS)}")
    if kind in ("cape_fno", "conditional_fno") and n_params < 1:
        raise ValueError(f"solver kind {kind!r} needs at least one PDE parameter; the data have none")
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return build_solver(kind, n_vars=n_vars, n_params=n_params, width=width, modes=modes,
                                n_layers=n_layers, cape_hidden=cape_hidden, cape_modes=cape_modes,
                                param_scale=param_scale, param_bounds=param_bounds,
                                spatial_dims=spatial_dims)
    common: dict[str, Any] = {"width": width, "modes": modes, "n_layers": n_layers, "spatial_dims": spatial_dims}
    if kind == "cape_fno":
        return CAPE(FNO(n_vars, 1, extra_in_channels=n_vars, **common), n_params=n_params,
                    hidden=cape_hidden, modes=cape_modes, param_scale=param_scale,
                    param_bounds=param_bounds)
    if kind == "conditional_fno":
        return ConditionalSolver(FNO(n_vars, 1, extra_in_channels=n_params, **common), n_params=n_params,
                                 param_scale=param_scale, param_bounds=param_bounds)
    if kind == "fno_2step":
        return FNO(n_vars, 2, **common)
    return FNO(n_vars, 1, **common)
