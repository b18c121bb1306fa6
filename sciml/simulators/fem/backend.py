"""The one place that imports FEniCSx (DOLFINx, UFL, PETSc, MPI) for :mod:`sciml.simulators.fem`.

DOLFINx comes from the ``dolfinx-solver-real`` wheel (the ``fem`` extra); ``dolfinx_solver``
must be imported before ``dolfinx`` (it loads ``mpi4py.MPI`` ahead of the compiled bindings), and
``h5py`` before ``petsc4py`` (h5py cannot initialise once PETSc has loaded the wheel's HDF5).
Every FE module gets the libraries through :func:`import_dolfinx`, so that ``import sciml``
works without them and the FE entry points fail with an install hint.

Communicators: a simulator solves on ``MPI.COMM_SELF`` unless it is given another one
(:func:`resolve_comm`), so that many small solves can run side by side in executor workers;
one large solve under ``mpirun -n k`` passes ``"world"`` (:mod:`sciml.simulators.fem.parallel`).
"""

from __future__ import annotations

import contextlib
import functools
import types
from dataclasses import dataclass
from typing import Any

__all__ = ["FEM_INSTALL_HINT", "FEModules", "import_dolfinx", "is_available", "resolve_comm", "is_root"]

#: The message of the ImportError raised when FEniCSx is missing.
FEM_INSTALL_HINT = ("the finite-element simulators need FEniCSx (DOLFINx 0.11 from the dolfinx-solver-real wheel); "
                    "install it with: pip install 'sciml[fem]'")


@dataclass(frozen=True)
class FEModules:
    """The FEniCSx modules, imported in the right order.

    Attributes
    ----------
    dolfinx, fem, fem_petsc, mesh, geometry, ufl, PETSc, MPI : module or class
        ``dolfinx``, ``dolfinx.fem``, ``dolfinx.fem.petsc``, ``dolfinx.mesh``,
        ``dolfinx.geometry``, ``ufl``, ``petsc4py.PETSc`` and ``mpi4py.MPI``.
    """

    dolfinx: types.ModuleType
    fem: types.ModuleType
    fem_petsc: types.ModuleType
    mesh: types.ModuleType
    geometry: types.ModuleType
    ufl: types.ModuleType
    PETSc: Any
    MPI: Any


@functools.cache
def import_dolfinx() -> FEModules:
    """Import ``dolfinx_solver`` then DOLFINx, UFL, petsc4py and mpi4py.

    Returns
    -------
    FEModules

    Raises
    ------
    ImportError
        FEniCSx is not installed; the message says ``pip install 'sciml[fem]'``.
    """
    with contextlib.suppress(ImportError):
        # h5py first: it fails to initialise ("Not a datatype") once PETSc has loaded the
        # wheel's own HDF5 library, while the other order works.
        import h5py  # noqa: F401
    try:
        import dolfinx_solver  # noqa: F401  (orders mpi4py.MPI ahead of the compiled bindings)
        import dolfinx
        import dolfinx.fem
        import dolfinx.fem.petsc
        import dolfinx.geometry
        import dolfinx.mesh
        import ufl
        from mpi4py import MPI
        from petsc4py import PETSc
    except ImportError as exc:
        raise ImportError(f"{FEM_INSTALL_HINT} ({exc})") from exc
    return FEModules(dolfinx=dolfinx, fem=dolfinx.fem, fem_petsc=dolfinx.fem.petsc, mesh=dolfinx.mesh,
                     geometry=dolfinx.geometry, ufl=ufl, PETSc=PETSc, MPI=MPI)


def is_available() -> bool:
    """Whether FEniCSx can be imported (without raising)."""
    try:
        import_dolfinx()
    except ImportError:
        return False
    return True


def resolve_comm(comm: Any = None) -> Any:
    """The MPI communicator to solve on.

    Parameters
    ----------
    comm : None, {"self", "world"} or mpi4py communicator
        ``None`` and ``"self"``: ``MPI.COMM_SELF`` (one process per solve); ``"world"``:
        ``MPI.COMM_WORLD`` (one solve over every rank of ``mpirun``); a communicator is
        returned as is.

    Raises
    ------
    ValueError
        Any other value; the message lists the accepted ones.
    """
    MPI = import_dolfinx().MPI
    if comm is None or comm == "self":
        return MPI.COMM_SELF
    if comm == "world":
        return MPI.COMM_WORLD
    if isinstance(comm, MPI.Comm):
        return comm
    raise ValueError(f"comm must be None, 'self', 'world' or an mpi4py communicator; got {comm!r}")


def is_root(comm: Any) -> bool:
    """Whether this process is rank 0 of ``comm``."""
    return comm.rank == 0
