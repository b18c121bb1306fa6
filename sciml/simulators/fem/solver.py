"""Assemble-once linear operator with one reused PETSc KSP.

A bilinear form ``a`` with Dirichlet conditions is assembled once into a PETSc matrix and
handed to one KSP (a direct LU factorisation is computed once and reused; an iterative
solver keeps its preconditioner); every right-hand side or time step then only assembles a
vector (:meth:`LinearSolver.rhs`) and solves (:meth:`LinearSolver.solve`). After every solve
the KSP's converged reason is checked; a negative one is a
:class:`~sciml.errors.SimulationError` that carries PETSc's name for it (``DIVERGED_MAX_IT``,
``DIVERGED_NANORINF``, ...).

Time-dependent Dirichlet data need no reassembly: the matrix rows of constrained dofs are
identity rows, and :meth:`LinearSolver.rhs` lifts the *current* values of the conditions
into the vector.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sciml.errors import ParameterError, SimulationError
from sciml.simulators.fem.backend import import_dolfinx

__all__ = ["METHODS", "PRECONDITIONERS", "LinearSolver", "SolverOptions", "converged_reason_name",
           "converged_reason_names"]

#: Accepted ``SolverOptions.method`` values: direct LU (MUMPS, serial and parallel), or Krylov.
METHODS: tuple[str, ...] = ("lu", "cg", "gmres")

#: Accepted ``SolverOptions.preconditioner`` values for the Krylov methods.
PRECONDITIONERS: tuple[str, ...] = ("gamg", "jacobi", "bjacobi", "none")


@dataclass(frozen=True)
class SolverOptions:
    """How a :class:`LinearSolver` solves.

    Parameters
    ----------
    method : {"lu", "cg", "gmres"}
        ``"lu"``: direct factorisation (MUMPS), computed once per assembled matrix;
        ``"cg"`` (symmetric positive definite operators) or ``"gmres"``: Krylov iterations.
    preconditioner : {"gamg", "jacobi", "bjacobi", "none"}
        Preconditioner of the Krylov methods (ignored by ``"lu"``).
    rtol : float
        Relative residual tolerance of the Krylov methods, in ``(0, 1)``.
    atol : float
        Absolute residual tolerance of the Krylov methods, ``>= 0``.
    max_it : int
        Largest number of Krylov iterations, ``>= 1``.

    Raises
    ------
    ParameterError
        A value outside the accepted ones (named in the message).
    """

    method: str = "lu"
    preconditioner: str = "gamg"
    rtol: float = 1e-10
    atol: float = 1e-50
    max_it: int = 1000

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ParameterError(f"solver method {self.method!r} is not accepted; accepted: {list(METHODS)}")
        if self.preconditioner not in PRECONDITIONERS:
            raise ParameterError(f"preconditioner {self.preconditioner!r} is not accepted; "
                                 f"accepted: {list(PRECONDITIONERS)}")
        if not (isinstance(self.rtol, (int, float)) and 0 < self.rtol < 1):
            raise ParameterError(f"solver rtol must be in (0, 1); got {self.rtol!r}")
        if not (isinstance(self.atol, (int, float)) and math.isfinite(self.atol) and self.atol >= 0):
            raise ParameterError(f"solver atol must be a finite number >= 0; got {self.atol!r}")
        if isinstance(self.max_it, bool) or not isinstance(self.max_it, int) or self.max_it < 1:
            raise ParameterError(f"solver max_it must be an integer >= 1; got {self.max_it!r}")

    @classmethod
    def from_config(cls, config: SolverOptions | dict[str, Any] | None) -> SolverOptions:
        """Options from ``None`` (defaults), a mapping of the fields, or options themselves.

        Raises
        ------
        ParameterError
            Unknown fields (the accepted ones are listed) or bad values.
        """
        if config is None:
            return cls()
        if isinstance(config, cls):
            return config
        if not isinstance(config, dict):
            raise ParameterError(f"solver options must be a mapping; got {type(config).__name__}")
        accepted = list(cls.__dataclass_fields__)
        unknown = sorted(set(config) - set(accepted))
        if unknown:
            raise ParameterError(f"unknown solver option(s) {unknown}; accepted: {accepted}")
        return cls(**config)

    def config(self) -> dict[str, Any]:
        """The options as a JSON-ready mapping."""
        return asdict(self)


@functools.cache
def converged_reason_names() -> dict[int, str]:
    """PETSc's ``KSP.ConvergedReason`` values and their names (the shortest where several share a value)."""
    reasons = import_dolfinx().PETSc.KSP.ConvergedReason
    table: dict[int, str] = {}
    for name in sorted((n for n in dir(reasons) if n.isupper()), key=lambda n: (len(n), n)):
        value = getattr(reasons, name)
        if isinstance(value, int):
            table.setdefault(int(value), name)
    return table


def converged_reason_name(reason: int) -> str:
    """PETSc's name of a ``KSP.ConvergedReason`` value, e.g. ``-3 -> "DIVERGED_MAX_IT"``."""
    return converged_reason_names().get(int(reason), f"UNKNOWN_REASON_{reason}")


class LinearSolver:
    """One assembled operator ``A`` of the bilinear form ``a`` and one KSP, reused for many solves.

    Parameters
    ----------
    a : ufl.Form or dolfinx.fem.Form
        Bilinear form (compiled here if given as UFL).
    bcs : sequence of dolfinx.fem.DirichletBC
        Dirichlet conditions; their rows of ``A`` are identity rows.
    options : SolverOptions, optional
        How to solve (default: direct LU).

    Attributes
    ----------
    A : petsc4py.PETSc.Mat
        The assembled operator.
    ksp : petsc4py.PETSc.KSP
        The solver, set up once (the LU factors are computed at the first solve).
    n_solves, last_iterations, last_reason : int, int, str
        Solves done, Krylov iterations and converged-reason name of the last one.
    """

    def __init__(self, a: Any, bcs: Sequence[Any] = (), *, options: SolverOptions | None = None) -> None:
        self._m = import_dolfinx()
        self.options = options or SolverOptions()
        self.a = self._compile(a)
        self.bcs = list(bcs)
        self.A = self._m.fem_petsc.assemble_matrix(self.a, bcs=self.bcs)
        self.A.assemble()
        self.comm = self.a.mesh.comm
        self.ksp = self._make_ksp()
        self.n_solves = 0
        self.last_iterations = 0
        self.last_reason = ""

    def _compile(self, form: Any) -> Any:
        return form if isinstance(form, self._m.fem.Form) else self._m.fem.form(form)

    def _make_ksp(self) -> Any:
        PETSc = self._m.PETSc
        ksp = PETSc.KSP().create(self.comm)
        ksp.setOperators(self.A)
        pc = ksp.getPC()
        opts = self.options
        if opts.method == "lu":
            ksp.setType("preonly")
            pc.setType("lu")
            pc.setFactorSolverType("mumps")
        else:
            ksp.setType(opts.method)
            pc.setType(opts.preconditioner)
            ksp.setTolerances(rtol=opts.rtol, atol=opts.atol, max_it=opts.max_it)
        return ksp

    def reassemble(self) -> None:
        """Assemble ``a`` again into ``A`` (coefficients changed) and make the KSP refactorise."""
        self.A.zeroEntries()
        self._m.fem_petsc.assemble_matrix(self.A, self.a, bcs=self.bcs)
        self.A.assemble()
        self.ksp.setOperators(self.A)

    def rhs(self, L: Any, b: Any = None) -> Any:
        """Assemble the linear form ``L`` with the Dirichlet data lifted in.

        Parameters
        ----------
        L : ufl.Form or dolfinx.fem.Form
            Linear form on the test space of ``a`` (compile it once with ``dolfinx.fem.form``
            when it is assembled many times).
        b : petsc4py.PETSc.Vec, optional
            Vector to assemble into (reused across time steps); a new one when omitted.

        Returns
        -------
        petsc4py.PETSc.Vec
            ``b - A_bc g`` on free dofs and the current values ``g`` on constrained ones.
        """
        fp, PETSc = self._m.fem_petsc, self._m.PETSc
        L = self._compile(L)
        if b is None:
            b = fp.assemble_vector(L)
        else:
            with b.localForm() as local:
                local.set(0.0)
            fp.assemble_vector(b, L)
        fp.apply_lifting(b, [self.a], bcs=[self.bcs])
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        fp.set_bc(b, self.bcs)
        return b

    def solve(self, b: Any, u: Any) -> int:
        """Solve ``A x = b`` into the Function ``u`` (ghosts updated).

        Returns
        -------
        int
            Krylov iterations (1 for LU).

        Raises
        ------
        SimulationError
            The KSP did not converge (its converged-reason name in the message) or PETSc
            failed (e.g. a zero pivot in the factorisation).
        """
        PETSc = self._m.PETSc
        try:
            self.ksp.solve(b, u.x.petsc_vec)
        except PETSc.Error as exc:
            raise SimulationError(f"PETSc failed in the linear solve ({self._describe()}): {exc}") from exc
        u.x.scatter_forward()
        reason = int(self.ksp.getConvergedReason())
        self.n_solves += 1
        self.last_iterations = int(self.ksp.getIterationNumber())
        self.last_reason = converged_reason_name(reason)
        if reason < 0:
            raise SimulationError(
                f"the linear solver did not converge: {self.last_reason} after {self.last_iterations} "
                f"iteration(s) ({self._describe()}, residual norm {self.ksp.getResidualNorm():.3e})"
            )
        return self.last_iterations

    def _describe(self) -> str:
        o = self.options
        if o.method == "lu":
            return "method=lu (MUMPS)"
        return f"method={o.method}, preconditioner={o.preconditioner}, rtol={o.rtol:g}, max_it={o.max_it}"

    def destroy(self) -> None:
        """Free the PETSc objects (the solver is unusable afterwards)."""
        self.ksp.destroy()
        self.A.destroy()
