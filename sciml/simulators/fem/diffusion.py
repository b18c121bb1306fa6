"""Steady diffusion ``-div(kappa grad u) = f`` on the unit square with a Karhunen–Loève coefficient.

``kappa(x, y) = kappa_scale * exp(g(x, y))`` with ``g = sum_i xi_i sqrt(lambda_i) phi_i(x, y)`` a
truncated Karhunen–Loève expansion (:class:`KLField`) whose eigenpairs are closed-form: the
cosine modes ``phi_jk = c_j c_k cos(j pi x) cos(k pi y)`` (``c_0 = 1``, ``c_j = sqrt 2``), an
orthonormal basis of ``L2((0, 1)^2)``, with ``lambda_jk`` proportional to
``exp(-(pi l)^2 (j^2 + k^2) / 2)`` (a squared-exponential spectral density of correlation length
``l``) and normalised so that the domain-averaged variance of the full expansion is
``sigma^2``. The covariance ``C(p, q) = sum lambda_jk phi_jk(p) phi_jk(q)`` has exactly these
eigenpairs (Mercer), so the standard-normal ``xi_i`` of the ``n_modes`` largest ``lambda`` are
the simulator's parameters (bounded to ``[-3, 3]``), with the source amplitude ``source``.
Reference: Lord, Powell & Shardlow, *An Introduction to Computational Stochastic PDEs* (2014), ch. 7.

Boundary conditions: ``u = u_left`` on ``x = 0``, ``u = u_right`` on ``x = 1``, zero flux on
``y = 0`` and ``y = 1``. With every ``xi = 0`` (``kappa = kappa_scale``) the solution is
``u = u_left + (u_right - u_left) x + source x (1 - x) / (2 kappa_scale)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from sciml.errors import ParameterError
from sciml.simulators.base import Parameter, ParameterSpace
from sciml.simulators.fem.backend import import_dolfinx
from sciml.simulators.fem.base import FEResult, FESimulator, require_positive
from sciml.simulators.fem.solver import LinearSolver, SolverOptions

__all__ = ["DiffusionSimulator", "KLField", "diffusion_forms", "solve_diffusion"]

#: Bound of the standard-normal KL coefficients xi_i.
XI_BOUND = 3.0


@dataclass(frozen=True)
class KLField:
    """Truncated Karhunen–Loève expansion ``g = sum_i xi_i sqrt(lambda_i) phi_i`` on the unit square.

    Parameters
    ----------
    n_modes : int
        Number of terms (the modes of largest eigenvalue), ``>= 1``.
    correlation_length : float
        ``l > 0`` of the spectral density ``exp(-(pi l)^2 (j^2 + k^2) / 2)``.
    sigma : float
        Standard deviation ``> 0`` (domain average over the untruncated expansion).
    """

    n_modes: int = 4
    correlation_length: float = 0.3
    sigma: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.n_modes, bool) or not isinstance(self.n_modes, int) or self.n_modes < 1:
            raise ParameterError(f"n_modes must be an integer >= 1; got {self.n_modes!r}")
        require_positive("correlation_length", self.correlation_length)
        require_positive("sigma", self.sigma)

    def _weights(self, n: int) -> np.ndarray:
        return np.exp(-0.5 * (math.pi * self.correlation_length * np.arange(n)) ** 2)

    def modes(self) -> list[tuple[int, int, float]]:
        """``(j, k, lambda_jk)`` of the ``n_modes`` largest eigenvalues, largest first."""
        n = self.n_modes + 1
        while self._weights(n + 1)[-1] > 1e-300 and n < 4 * self.n_modes + 64:
            n += 1
        w = self._weights(n)
        total = w.sum() ** 2
        pairs = [(j, k, float(self.sigma**2 * w[j] * w[k] / total)) for j in range(n) for k in range(n)]
        pairs.sort(key=lambda p: (-p[2], p[0] + p[1], p[0]))
        return pairs[: self.n_modes]

    def log_kappa(self, xi: Sequence[float], x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``g(x, y)`` for broadcastable ``x``, ``y`` (NumPy)."""
        out = np.zeros(np.broadcast_shapes(np.shape(x), np.shape(y)))
        for c, (j, k, lam) in zip(self._check_xi(xi), self.modes(), strict=True):
            out = out + c * math.sqrt(lam) * _norm(j) * _norm(k) * np.cos(j * np.pi * x) * np.cos(k * np.pi * y)
        return out

    def log_kappa_ufl(self, xi: Sequence[float], X: Any) -> Any:
        """``g`` as a UFL expression of the spatial coordinate ``X``."""
        ufl = import_dolfinx().ufl
        terms = [float(c * math.sqrt(lam) * _norm(j) * _norm(k))
                 * ufl.cos(j * ufl.pi * X[0]) * ufl.cos(k * ufl.pi * X[1])
                 for c, (j, k, lam) in zip(self._check_xi(xi), self.modes(), strict=True)]
        return sum(terms[1:], terms[0])

    def _check_xi(self, xi: Sequence[float]) -> list[float]:
        values = [float(v) for v in xi]
        if len(values) != self.n_modes:
            raise ParameterError(f"expected {self.n_modes} KL coefficients; got {len(values)}")
        return values

    def config(self) -> dict[str, Any]:
        return asdict(self)


def _norm(j: int) -> float:
    """``c_j`` of the L2-normalised cosine ``c_j cos(j pi x)`` on ``(0, 1)``."""
    return 1.0 if j == 0 else math.sqrt(2.0)


def diffusion_forms(V: Any, kappa: Any, f: Any, *, quadrature_degree: int | None = None) -> tuple[Any, Any]:
    """UFL forms ``a(u, v) = (kappa grad u, grad v)`` and ``L(v) = (f, v)`` on the space ``V``.

    ``quadrature_degree`` defaults to ``2 p + 2`` for the Lagrange degree ``p`` of ``V``.
    """
    ufl = import_dolfinx().ufl
    p = V.ufl_element().embedded_superdegree
    dx = ufl.Measure("dx", domain=V.mesh, metadata={"quadrature_degree": quadrature_degree or 2 * p + 2})
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    return ufl.inner(kappa * ufl.grad(u), ufl.grad(v)) * dx, ufl.inner(f, v) * dx


def solve_diffusion(V: Any, kappa: Any, f: Any, bcs: Sequence[Any], *,
                    options: SolverOptions | None = None) -> tuple[Any, LinearSolver]:
    """Solve ``-div(kappa grad u) = f`` with Dirichlet ``bcs`` (natural zero flux elsewhere).

    Parameters
    ----------
    V : dolfinx.fem.FunctionSpace
        Scalar Lagrange space.
    kappa, f : UFL expressions
        Coefficient (``> 0``) and source.
    bcs : sequence of dolfinx.fem.DirichletBC
    options : SolverOptions, optional

    Returns
    -------
    (dolfinx.fem.Function, LinearSolver)
        The solution and the solver (its operator assembled once, reusable for other sources).

    Raises
    ------
    SimulationError
        The linear solver did not converge.
    """
    m = import_dolfinx()
    a, L = diffusion_forms(V, kappa, f)
    solver = LinearSolver(a, bcs, options=options)
    uh = m.fem.Function(V)
    solver.solve(solver.rhs(L), uh)
    return uh, solver


class DiffusionSimulator(FESimulator):
    """2-D steady diffusion with a KL log-coefficient (``"fem_diffusion2d"``); see the module docstring.

    Parameters
    ----------
    resolution, degree, grid, solver, points
        See :class:`~sciml.simulators.fem.base.FESimulator` (cells per side, P1/P2, ...).
    n_modes, correlation_length, sigma : int, float, float
        The :class:`KLField` (parameters ``xi_1 .. xi_<n_modes>``).
    kappa_scale : float
        Material scale ``> 0`` of ``kappa``.
    u_left, u_right : float
        Dirichlet values on ``x = 0`` and ``x = 1``.

    Notes
    -----
    Outputs: fields ``u`` and ``kappa`` on the grid (one frame, ``t = 0``); quantities of interest
    ``u_mean`` (``int u dx``), ``outflow_left``, ``outflow_right`` (outward fluxes
    ``int -kappa grad u . n ds``, computed variationally as ``L(w) - a(u, w)`` with ``w`` the
    indicator of the boundary's dofs, so that ``outflow_left + outflow_right = source`` to
    round-off). The problem is deterministic: the seed is recorded and every sample is equal.

    Raises
    ------
    ParameterError
        Bad mesh, KL or solver options, or ``kappa_scale <= 0``.
    """

    name: ClassVar[str] = "fem_diffusion2d"
    version: ClassVar[str] = "1"
    STOCHASTIC: ClassVar[bool] = False
    FIELD_ATTRS: ClassVar[dict[str, dict[str, str]]] = {
        "u": {"units": "1", "long_name": "solution u of -div(kappa grad u) = f"},
        "kappa": {"units": "1", "long_name": "diffusion coefficient kappa"},
    }
    QOI_ATTRS: ClassVar[dict[str, dict[str, str]]] = {
        "u_mean": {"units": "1", "long_name": "mean of u over the unit square"},
        "outflow_left": {"units": "1", "long_name": "outward flux of -kappa grad u through x = 0"},
        "outflow_right": {"units": "1", "long_name": "outward flux of -kappa grad u through x = 1"},
    }

    def __init__(self, *, resolution: int = 16, degree: int = 1, grid: int = 33,
                 solver: Mapping[str, Any] | None = None, points: Mapping[str, Sequence[float]] | None = None,
                 n_modes: int = 4, correlation_length: float = 0.3, sigma: float = 1.0,
                 kappa_scale: float = 1.0, u_left: float = 1.0, u_right: float = 0.0) -> None:
        super().__init__(resolution=resolution, degree=degree, grid=grid, solver=solver, points=points)
        self.field = KLField(n_modes=n_modes, correlation_length=correlation_length, sigma=sigma)
        self.kappa_scale = require_positive("kappa_scale", kappa_scale)
        self.u_left, self.u_right = (_finite(n, v) for n, v in (("u_left", u_left), ("u_right", u_right)))
        self._space = ParameterSpace(tuple(
            Parameter(f"xi_{i + 1}", -XI_BOUND, XI_BOUND, units="1", default=0.0,
                      description=f"KL coefficient of mode (j, k) = ({j}, {k})")
            for i, (j, k, _) in enumerate(self.field.modes())
        ) + (Parameter("source", 0.0, 10.0, units="1", default=1.0, description="source amplitude f"),))

    @property
    def parameter_space(self) -> ParameterSpace:
        return self._space

    def config(self) -> dict[str, Any]:
        return {**super().config(), **self.field.config(), "kappa_scale": self.kappa_scale,
                "u_left": self.u_left, "u_right": self.u_right}

    def xi(self, params: Mapping[str, float]) -> list[float]:
        """The KL coefficients of validated ``params``, in mode order."""
        return [params[f"xi_{i + 1}"] for i in range(self.field.n_modes)]

    def kappa(self, params: Mapping[str, float], x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``kappa(x, y)`` at broadcastable points (NumPy, exact)."""
        p = self.parameter_space.validate(params, source=self.name)
        return self.kappa_scale * np.exp(self.field.log_kappa(self.xi(p), x, y))

    def create_mesh(self, comm: Any) -> Any:
        m = import_dolfinx()
        n = self.resolution
        return m.mesh.create_unit_square(comm, n, n, m.mesh.CellType.triangle, ghost_mode=m.mesh.GhostMode.shared_facet)

    def solve(self, mesh: Any, params: Mapping[str, float], rngs: Sequence[np.random.Generator]) -> list[FEResult]:
        m = import_dolfinx()
        ufl, fem = m.ufl, m.fem
        V = self.function_space(mesh)
        kappa = self.kappa_scale * ufl.exp(self.field.log_kappa_ufl(self.xi(params), ufl.SpatialCoordinate(mesh)))
        f = fem.Constant(mesh, float(params["source"]))
        left, right = _side_dofs(V, 0.0), _side_dofs(V, 1.0)
        bcs = [fem.dirichletbc(self.u_left, left, V), fem.dirichletbc(self.u_right, right, V)]
        a, L = diffusion_forms(V, kappa, f)
        solver = self.linear_solver(a, bcs)
        u = fem.Function(V, name="u")
        solver.solve(solver.rhs(L), u)
        qois = {"u_mean": _integrate(u * ufl.dx(domain=mesh), mesh),
                "outflow_left": _outflow(V, a, L, u, left), "outflow_right": _outflow(V, a, L, u, right)}
        solver.destroy()
        recorder = self.recorder(mesh)
        recorder.record(0.0, {"u": u})
        result = recorder.result(qois)
        x, y = self.grid_coordinates()
        result.fields["kappa"] = self.kappa(params, x[:, None], y[None, :])[None]
        return [result for _ in rngs]


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParameterError(f"{name} must be a finite number; got {value!r}")
    return float(value)


def _side_dofs(V: Any, x0: float) -> np.ndarray:
    """Dofs of ``V`` on the side ``x = x0`` of the unit square."""
    m = import_dolfinx()
    mesh = V.mesh
    facets = m.mesh.locate_entities_boundary(mesh, mesh.topology.dim - 1, lambda x: np.isclose(x[0], x0))
    return m.fem.locate_dofs_topological(V, mesh.topology.dim - 1, facets)


def _integrate(form: Any, mesh: Any) -> float:
    m = import_dolfinx()
    return float(mesh.comm.allreduce(m.fem.assemble_scalar(m.fem.form(form)), op=m.MPI.SUM))


def _outflow(V: Any, a: Any, L: Any, u: Any, dofs: np.ndarray) -> float:
    """Outward flux ``int -kappa grad u . n ds`` through the boundary of ``dofs``: ``L(w) - a(u, w)``."""
    m = import_dolfinx()
    w = m.fem.Function(V)
    w.x.array[dofs] = 1.0
    ufl = m.ufl
    v = L.arguments()[0]
    residual = ufl.replace(L, {v: w}) - ufl.replace(ufl.action(a, u), {v: w})
    return _integrate(residual, mesh=V.mesh)
