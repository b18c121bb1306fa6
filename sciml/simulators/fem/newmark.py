"""Newmark time stepping of ``M a + C v + K u = f(t)`` with Rayleigh damping and an assemble-once operator.

Newmark's scheme (default average acceleration, ``beta = 1/4``, ``gamma = 1/2``: unconditionally
stable, second order, no numerical dissipation) in displacement form: with ``a0 = 1 / (beta dt^2)``,
``a1 = gamma / (beta dt)``, every step solves

    K_eff u_{n+1} = f_{n+1} + M (a0 u_n + v_n / (beta dt) + (1 / (2 beta) - 1) a_n)
                    + C (a1 u_n + (gamma / beta - 1) v_n + dt (gamma / (2 beta) - 1) a_n),
    K_eff = K + a1 C + a0 M,        C = alpha_M M + alpha_K K,

then ``a_{n+1} = a0 (u_{n+1} - u_n) - v_n / (beta dt) - (1 / (2 beta) - 1) a_n`` and
``v_{n+1} = v_n + dt ((1 - gamma) a_n + gamma a_{n+1})``. ``K_eff`` is assembled once (with the
Dirichlet rows as identity rows) and its KSP (LU by default) reused by every step through
:class:`~sciml.simulators.fem.solver.LinearSolver`; ``M`` and ``K`` (without conditions) are
assembled once for the right-hand side and the energies. ``reassemble=True`` assembles ``M``,
``K`` and ``K_eff`` again and refactorises every step: the same numbers, only for measuring what
the reuse saves. Time-dependent Dirichlet data are written into the conditions' Functions by a
callback before each step and lifted into the right-hand side.

Energy bookkeeping (average acceleration, exact per step up to the solver's round-off, since
``u_{n+1} - u_n = dt (v_n + v_{n+1}) / 2``): with ``E = 1/2 v.Mv + 1/2 u.Ku``,

    E_{n+1} - E_n = du.(f_n + f_{n+1})/2 + du.(r_n + r_{n+1})/2 - dt vbar.C vbar,

``du = u_{n+1} - u_n``, ``vbar = (v_n + v_{n+1}) / 2`` and ``r = M a + C v + K u - f`` the
reactions (non-zero only on Dirichlet dofs). :class:`EnergyBalance` accumulates the three terms.

Reference: N. M. Newmark, "A method of computation for structural dynamics", J. Eng. Mech. Div.
ASCE 85 (1959) 67-94; T. J. R. Hughes, *The Finite Element Method* (2000), ch. 9.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sciml.errors import ParameterError
from sciml.simulators.fem.backend import import_dolfinx
from sciml.simulators.fem.solver import LinearSolver, SolverOptions

__all__ = ["EnergyBalance", "Newmark", "NewmarkScheme", "RayleighDamping"]


def _finite(name: str, value: Any, *, low: float, strict: bool) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating)) \
        and math.isfinite(value) and (value > low if strict else value >= low)
    if not ok:
        raise ParameterError(f"{name} must be a finite number {'>' if strict else '>='} {low:g}; got {value!r}")
    return float(value)


@dataclass(frozen=True)
class NewmarkScheme:
    """Newmark's ``beta``, ``gamma`` and the time step ``dt``, and the coefficients they give.

    Raises
    ------
    ParameterError
        ``dt``, ``beta`` or ``gamma`` not finite and ``> 0``.
    """

    dt: float
    beta: float = 0.25
    gamma: float = 0.5

    def __post_init__(self) -> None:
        for name in ("dt", "beta", "gamma"):
            object.__setattr__(self, name, _finite(f"Newmark {name}", getattr(self, name), low=0.0, strict=True))

    @property
    def a0(self) -> float:
        """``1 / (beta dt^2)``, the mass coefficient of ``K_eff``."""
        return 1.0 / (self.beta * self.dt**2)

    @property
    def a1(self) -> float:
        """``gamma / (beta dt)``, the damping coefficient of ``K_eff``."""
        return self.gamma / (self.beta * self.dt)

    def mass_history(self) -> tuple[float, float, float]:
        """Coefficients of ``(u_n, v_n, a_n)`` multiplied by ``M`` on the right-hand side."""
        return self.a0, 1.0 / (self.beta * self.dt), 1.0 / (2.0 * self.beta) - 1.0

    def damping_history(self) -> tuple[float, float, float]:
        """Coefficients of ``(u_n, v_n, a_n)`` multiplied by ``C`` on the right-hand side."""
        return self.a1, self.gamma / self.beta - 1.0, self.dt * (self.gamma / (2.0 * self.beta) - 1.0)


@dataclass(frozen=True)
class RayleighDamping:
    """``C = alpha_m M + alpha_k K`` (``alpha_m`` in 1/time, ``alpha_k`` in time), both ``>= 0``.

    A mode of angular frequency ``omega`` gets the damping ratio ``(alpha_m / omega + alpha_k omega) / 2``.
    """

    alpha_m: float = 0.0
    alpha_k: float = 0.0

    def __post_init__(self) -> None:
        for name in ("alpha_m", "alpha_k"):
            object.__setattr__(self, name, _finite(f"Rayleigh {name}", getattr(self, name), low=0.0, strict=False))

    @property
    def active(self) -> bool:
        return self.alpha_m > 0 or self.alpha_k > 0


@dataclass
class EnergyBalance:
    """Energies after each step (index 0: the initial state).

    Attributes
    ----------
    times, kinetic, strain : list of float
        ``t_n``, ``1/2 v.Mv`` and ``1/2 u.Ku``.
    external_work, boundary_work, dissipation : list of float
        Cumulative work of the loads ``f``, of the Dirichlet reactions, and damping dissipation.
    """

    times: list[float] = field(default_factory=list)
    kinetic: list[float] = field(default_factory=list)
    strain: list[float] = field(default_factory=list)
    external_work: list[float] = field(default_factory=list)
    boundary_work: list[float] = field(default_factory=list)
    dissipation: list[float] = field(default_factory=list)

    @property
    def energy(self) -> np.ndarray:
        """``1/2 v.Mv + 1/2 u.Ku`` per step."""
        return np.asarray(self.kinetic) + np.asarray(self.strain)

    @property
    def residual(self) -> np.ndarray:
        """``E_n - E_0 - W_ext - W_bc + D``: zero up to round-off for average acceleration."""
        return (self.energy - self.energy[0] - np.asarray(self.external_work) - np.asarray(self.boundary_work)
                + np.asarray(self.dissipation))


class Newmark:
    """Newmark integrator of ``M a + C v + K u = f(t)`` on one function space.

    Parameters
    ----------
    stiffness, mass : ufl.Form
        Bilinear forms of ``K`` and ``M`` (same trial and test space).
    bcs : sequence of dolfinx.fem.DirichletBC
        Dirichlet conditions of the displacement; their Functions may change in time.
    scheme : NewmarkScheme
        ``dt``, ``beta``, ``gamma``.
    damping : RayleighDamping, optional
        Default none.
    loads : sequence of (ufl.Form, callable)
        ``f(t) = sum_i g_i(t) F_i`` with ``F_i`` the assembled linear forms (assembled once).
    dirichlet : callable, optional
        ``dirichlet(t)`` writes the Dirichlet data at time ``t`` into the conditions' Functions.
    options : SolverOptions, optional
        Solver of ``K_eff`` (default LU).
    reassemble : bool
        Reassemble and refactorise every step (for measuring the reuse speedup only).
    track_energy : bool
        Keep an :class:`EnergyBalance` (a few matrix-vector products per step).

    Attributes
    ----------
    u, v, a : dolfinx.fem.Function
        The state at time :attr:`t` (ghosts up to date).
    energy : EnergyBalance or None
    """

    def __init__(self, stiffness: Any, mass: Any, bcs: Sequence[Any] = (), *, scheme: NewmarkScheme,
                 damping: RayleighDamping | None = None, loads: Sequence[tuple[Any, Callable[[float], float]]] = (),
                 dirichlet: Callable[[float], None] | None = None, options: SolverOptions | None = None,
                 reassemble: bool = False, track_energy: bool = True) -> None:
        m = self._m = import_dolfinx()
        self.scheme, self.damping = scheme, damping or RayleighDamping()
        self.bcs, self.dirichlet, self.reassemble = list(bcs), dirichlet, bool(reassemble)
        V = stiffness.arguments()[0].ufl_function_space()
        mesh = V.mesh
        ck = m.fem.Constant(mesh, 1.0 + scheme.a1 * self.damping.alpha_k)
        cm = m.fem.Constant(mesh, scheme.a0 + scheme.a1 * self.damping.alpha_m)
        self._k_form, self._m_form = m.fem.form(stiffness), m.fem.form(mass)
        self.solver = LinearSolver(ck * stiffness + cm * mass, self.bcs, options=options)
        self.K = m.fem_petsc.assemble_matrix(self._k_form)
        self.M = m.fem_petsc.assemble_matrix(self._m_form)
        self.K.assemble()
        self.M.assemble()
        self._loads = [(self._assemble_load(L), g) for L, g in loads]
        self.u, self.v, self.a = (m.fem.Function(V, name=n) for n in ("u", "v", "a"))
        self._u_new, self._b, self._w1, self._w2 = (m.fem.Function(V) for _ in range(4))
        self._mass_solver: LinearSolver | None = None
        self.t = 0.0
        self.steps = 0
        self.energy = EnergyBalance() if track_energy else None
        self._f_old = self._force(0.0)
        self._r_old: np.ndarray | None = None

    # ------------------------------------------------------------------ set-up
    def _assemble_load(self, L: Any) -> Any:
        fp, PETSc = self._m.fem_petsc, self._m.PETSc
        F = fp.assemble_vector(self._m.fem.form(L))
        F.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        return F

    def _force(self, t: float) -> Any:
        """``f(t)`` as an owned PETSc vector (a new one)."""
        f = self.u.x.petsc_vec.duplicate()
        f.set(0.0)
        for F, g in self._loads:
            f.axpy(float(g(t)), F)
        return f

    def initialize(self, u0: Any = None, v0: Any = None, *, t0: float = 0.0) -> None:
        """Set ``u``, ``v`` at ``t0`` and the consistent acceleration ``M a0 = f - C v0 - K u0`` (free dofs).

        Parameters
        ----------
        u0, v0 : dolfinx.fem.Function or None
            Initial displacement and velocity (default zero); the Dirichlet values at ``t0`` replace
            ``u0`` on the constrained dofs, whose acceleration starts at zero.
        """
        self.t, self.steps = float(t0), 0
        for target, source in ((self.u, u0), (self.v, v0)):
            target.x.array[:] = 0.0 if source is None else source.x.array
        if self.dirichlet is not None:
            self.dirichlet(self.t)
        self._m.fem_petsc.set_bc(self.u.x.petsc_vec, self.bcs)
        self.u.x.scatter_forward()
        self._f_old = self._force(self.t)
        r = self._f_old.copy()
        r.axpy(-1.0, self._apply(self.K, self.u))
        r.axpy(-1.0, self._damping_times(self.v))
        self._m.fem_petsc.set_bc(r, self.bcs, alpha=0.0)
        self.a.x.array[:] = 0.0
        if r.norm() > 0:
            if self._mass_solver is None:
                self._mass_solver = LinearSolver(self._m_form, self.bcs, options=self.solver.options)
            self._mass_solver.solve(r, self.a)
        self._r_old = None
        if self.energy is not None:
            self.energy = EnergyBalance()
            self._record_energy(None, None)

    # ------------------------------------------------------------------ algebra
    def _apply(self, A: Any, x: Any) -> Any:
        """``A x`` for a Function ``x``, as a new owned vector."""
        y = x.x.petsc_vec.duplicate()
        A.mult(x.x.petsc_vec, y)
        return y

    def _damping_times(self, x: Any) -> Any:
        """``C x = alpha_m M x + alpha_k K x``."""
        y = x.x.petsc_vec.duplicate()
        y.set(0.0)
        d = self.damping
        if d.alpha_m:
            y.axpy(d.alpha_m, self._apply(self.M, x))
        if d.alpha_k:
            y.axpy(d.alpha_k, self._apply(self.K, x))
        return y

    def _rhs(self, t: float, f: Any) -> Any:
        """``f + M(...) + C(...)`` with the Dirichlet data at ``t`` lifted in."""
        m, PETSc = self._m, self._m.PETSc
        cu, cv, ca = self.scheme.mass_history()
        du, dv, da = self.scheme.damping_history()
        u, v, a = self.u.x.array, self.v.x.array, self.a.x.array
        d = self.damping
        self._w1.x.array[:] = cu * u + cv * v + ca * a + d.alpha_m * (du * u + dv * v + da * a)
        b = self._b.x.petsc_vec
        self.M.mult(self._w1.x.petsc_vec, b)
        if d.alpha_k:
            self._w2.x.array[:] = d.alpha_k * (du * u + dv * v + da * a)
            self.K.multAdd(self._w2.x.petsc_vec, b, b)
        b.axpy(1.0, f)
        index_map = self.u.function_space.dofmap.index_map
        owned = index_map.size_local * self.u.function_space.dofmap.index_map_bs
        self._b.x.array[owned:] = 0.0
        m.fem_petsc.apply_lifting(b, [self.solver.a], bcs=[self.bcs])
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        m.fem_petsc.set_bc(b, self.bcs)
        return b

    def _reassemble(self) -> None:
        fp = self._m.fem_petsc
        for A, form in ((self.K, self._k_form), (self.M, self._m_form)):
            A.zeroEntries()
            fp.assemble_matrix(A, form)
            A.assemble()
        self.solver.reassemble()

    # ------------------------------------------------------------------ stepping
    def step(self) -> None:
        """Advance one step ``t -> t + dt``.

        Raises
        ------
        SimulationError
            The linear solver failed (PETSc's reason named).
        """
        s = self.scheme
        t1 = self.t + s.dt
        if self.dirichlet is not None:
            self.dirichlet(t1)
        if self.reassemble:
            self._reassemble()
        f1 = self._force(t1)
        self.solver.solve(self._rhs(t1, f1), self._u_new)
        u_old, v_old, a_old = (x.x.array.copy() for x in (self.u, self.v, self.a))
        cu, cv, ca = s.mass_history()
        a_new = cu * (self._u_new.x.array - u_old) - cv * v_old - ca * a_old
        self.v.x.array[:] = v_old + s.dt * ((1.0 - s.gamma) * a_old + s.gamma * a_new)
        self.a.x.array[:] = a_new
        self.u.x.array[:] = self._u_new.x.array
        self.t, self.steps = t1, self.steps + 1
        if self.energy is not None:
            self._record_energy((u_old, v_old), f1)
        self._f_old = f1

    def run(self, n_steps: int, callback: Callable[[Newmark], None] | None = None) -> None:
        """``n_steps`` steps, calling ``callback(self)`` after each."""
        for _ in range(int(n_steps)):
            self.step()
            if callback is not None:
                callback(self)

    # ------------------------------------------------------------------ energy
    def _dot(self, x: Any, y: Any) -> float:
        return float(x.dot(y))

    def _reaction(self, f: Any) -> Any:
        """``r = M a + C v + K u - f``."""
        r = self._apply(self.M, self.a)
        r.axpy(1.0, self._damping_times(self.v))
        r.axpy(1.0, self._apply(self.K, self.u))
        r.axpy(-1.0, f)
        return r

    def _record_energy(self, old: tuple[np.ndarray, np.ndarray] | None, f1: Any) -> None:
        e = self.energy
        assert e is not None
        u, v = self.u.x.petsc_vec, self.v.x.petsc_vec
        e.times.append(self.t)
        e.kinetic.append(0.5 * self._dot(v, self._apply(self.M, self.v)))
        e.strain.append(0.5 * self._dot(u, self._apply(self.K, self.u)))
        r_new = self._reaction(self._f_old if f1 is None else f1)
        if old is None:
            e.external_work.append(0.0)
            e.boundary_work.append(0.0)
            e.dissipation.append(0.0)
            self._r_old = r_new
            return
        u_old, v_old = old
        self._w1.x.array[:] = self.u.x.array - u_old
        du = self._w1.x.petsc_vec
        f_mean = self._f_old.copy()
        f_mean.axpy(1.0, f1)
        r_mean = r_new.copy()
        r_mean.axpy(1.0, self._r_old)
        self._w2.x.array[:] = 0.5 * (self.v.x.array + v_old)
        vbar = self._w2.x.petsc_vec
        e.external_work.append(e.external_work[-1] + 0.5 * self._dot(du, f_mean))
        e.boundary_work.append(e.boundary_work[-1] + 0.5 * self._dot(du, r_mean))
        e.dissipation.append(e.dissipation[-1] + self.scheme.dt * self._dot(vbar, self._damping_times(self._w2)))
        self._r_old = r_new

    def destroy(self) -> None:
        """Free the PETSc objects."""
        self.solver.destroy()
        if self._mass_solver is not None:
            self._mass_solver.destroy()
        for A in (self.K, self.M):
            A.destroy()
