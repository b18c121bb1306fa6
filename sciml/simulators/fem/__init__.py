"""Finite-element simulators on FEniCSx (DOLFINx 0.11, ``pip install 'sciml[fem]'``).

Importing this package does not import DOLFINx: the names below are loaded on first use,
and the FE entry points raise an ImportError with the install hint when it is missing.

* :mod:`~sciml.simulators.fem.backend` — :func:`import_dolfinx`, communicators;
* :mod:`~sciml.simulators.fem.base` — :class:`FESimulator`, :class:`FEResult`, :class:`Recorder`;
* :mod:`~sciml.simulators.fem.solver` — :class:`LinearSolver` (assemble once, reused KSP);
* :mod:`~sciml.simulators.fem.sampling` — grid and named-point evaluation;
* :mod:`~sciml.simulators.fem.diffusion` — :class:`DiffusionSimulator` (``"fem_diffusion2d"``);
* :mod:`~sciml.simulators.fem.newmark` — :class:`Newmark` time stepping (average acceleration,
  Rayleigh damping), :class:`EnergyBalance`;
* :mod:`~sciml.simulators.fem.plate_mesh` — the plate with a hole and its window
  (:class:`PlateGeometry`, :func:`create_plate_mesh`, :func:`plate_mesh_arrays`);
* :mod:`~sciml.simulators.fem.elastodynamics` — :class:`PlateDynamicsSimulator`
  (``"fem_plate_dynamics"``), :func:`interface_histories`;
* :mod:`~sciml.simulators.fem.submodel` — :class:`PlateSubmodel` (``"fem_plate_submodel"``),
  driven by an interface history;
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
    "converged_reason_names": "solver",
    "GridSampler": "sampling",
    "PointEvaluator": "sampling",
    "PointSampler": "sampling",
    "regular_grid": "sampling",
    "DiffusionSimulator": "diffusion",
    "KLField": "diffusion",
    "solve_diffusion": "diffusion",
    "EnergyBalance": "newmark",
    "Newmark": "newmark",
    "NewmarkScheme": "newmark",
    "RayleighDamping": "newmark",
    "PlateGeometry": "plate_mesh",
    "PlateMesh": "plate_mesh",
    "create_plate_mesh": "plate_mesh",
    "interface_arc_length": "plate_mesh",
    "interface_points": "plate_mesh",
    "plate_mesh_arrays": "plate_mesh",
    "PLATE_PARAMETERS": "elastodynamics",
    "ElasticMaterial": "elastodynamics",
    "PlateDynamicsSimulator": "elastodynamics",
    "PlateFESimulator": "elastodynamics",
    "TimeGrid": "elastodynamics",
    "TractionPulse": "elastodynamics",
    "WindowQoIs": "elastodynamics",
    "interface_histories": "elastodynamics",
    "interface_point_name": "elastodynamics",
    "InterfaceDirichlet": "submodel",
    "PlateSubmodel": "submodel",
    "check_histories": "submodel",
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
