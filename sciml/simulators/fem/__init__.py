"""Finite-element simulators on FEniCSx (DOLFINx 0.11, ``pip install 'sciml[fem]'``).

Importing this package does not import DOLFINx: the names below are loaded on first use,
and the FE entry points raise an ImportError with the install hint when it is missing.

* :mod:`~sciml.simulators.fem.backend` — :func:`import_dolfinx`, communicators;
* :mod:`~sciml.simulators.fem.base` — :class:`FESimulator`, :class:`FEResult`, :class:`Recorder`;
* :mod:`~sciml.simulators.fem.solver` — :class:`LinearSolver` (assemble once, reused KSP);
* :mod:`~sciml.simulators.fem.sampling` — grid and named-point evaluation;
* :mod:`~sciml.simulators.fem.diffusion` — :class:`DiffusionSimulator` (``"fem_diffusion2d"``);
* :mod:`~sciml.simulators.fem.parallel` — one large solve under ``mpirun`` (:func:`run_mpi`).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "FEM_INSTALL_HINT": "backend",
    "import_dolfinx": "backend",
    "is_available": "backend",
    "resolve_comm": "backend",
    "FEResult": "base",
    "FESimulator": "base",
    "Recorder": "base",
    "require_positive": "base",
    "LinearSolver": "solver",
    "SolverOptions": "solver",
    "converged_reason_name": "solver",
    "GridSampler": "sampling",
    "PointEvaluator": "sampling",
    "PointSampler": "sampling",
    "regular_grid": "sampling",
    "DiffusionSimulator": "diffusion",
    "KLField": "diffusion",
    "solve_diffusion": "diffusion",
    "run_mpi": "parallel",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
