"""Linear elastodynamics of a plate with a hole under a traction pulse (``"fem_plate_dynamics"``).

``rho u_tt + C u_t - div sigma(u) = 0`` on the plate ``[-W, W] x [-H, H]`` minus a hole of radius
``r`` (:mod:`~sciml.simulators.fem.plate_mesh`), with ``sigma = 2 mu eps(u) + lambda tr(eps(u)) I``:

* the left side ``x = -W`` is clamped (``u = 0``); the hole, top and bottom are traction-free;
* the right side ``x = W`` carries the uniform traction pulse
  ``t(t) = amplitude sin^2(pi t / duration) (cos angle, sin angle)`` for ``t < duration``, then 0;
* the plate starts at rest; Rayleigh damping ``C = alpha_m M + alpha_k K``; Newmark average
  acceleration (:mod:`~sciml.simulators.fem.newmark`), the operator assembled once.

Plane stress (default, a thin plate: ``lambda* = E nu / (1 - nu^2)``) or plane strain
(``lambda = E nu / ((1 + nu)(1 - 2 nu))``, ``sigma_zz = lambda tr eps``). Units: consistent
nondimensional units — lengths and displacements in a unit ``L0`` (the default plate is ``4 x 1``),
moduli, tractions and stresses in a reference modulus ``E0``, density in ``rho0``, time in
``L0 sqrt(rho0 / E0)``; the parameter ranges below are in these units.

Outputs (:class:`PlateDynamicsSimulator`): the displacement ``u_x``, ``u_y`` on a regular grid of
the plate's bounding box (0 inside the hole); the *interface displacement history* — the
displacement at ``interface_points`` points equally spaced along the window's boundary, the
series ``u_x_at_interface_000`` ... over ``(sample, t)`` (:func:`interface_histories` stacks them
into ``(sample, t, point, component)``); in the window (the sub-domain of the submodel) the
series ``von_mises_max`` and ``displacement_max`` (maxima over the window at each frame) and the
quantities of interest ``peak_von_mises`` and ``max_displacement`` (their maxima over every time
step). The von Mises stress is evaluated at the interpolation points of discontinuous
``P(degree - 1)`` (cell midpoints for P1) of the window's cells.
The problem is deterministic: the seed is recorded, every sample is equal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import xarray as xr

from sciml.errors import ParameterError, SchemaError
from sciml.simulators.base import Parameter, ParameterSpace
from sciml.simulators.fem.backend import import_dolfinx
from sciml.simulators.fem.base import FEResult, FESimulator, Recorder, require_positive
from sciml.simulators.fem.newmark import Newmark, NewmarkScheme, RayleighDamping
from sciml.simulators.fem.plate_mesh import (LEFT, RIGHT, WINDOW, PlateGeometry, PlateMesh, create_plate_mesh,
                                             interface_points, plate_mesh_arrays)
from sciml.simulators.fem.sampling import GridSampler, PointSampler

__all__ = ["PLANES", "PLATE_PARAMETERS", "ElasticForms", "ElasticMaterial", "PlateDynamicsSimulator",
           "PlateFESimulator", "TimeGrid",
           "TractionPulse", "WindowQoIs", "interface_histories", "interface_point_name", "march"]

#: Accepted ``plane`` values.
PLANES: tuple[str, ...] = ("stress", "strain")

#: The physical parameters of the plate problem (nondimensional, see the module docstring).
PLATE_PARAMETERS = ParameterSpace((
    Parameter("E", 0.5, 2.0, units="1", default=1.0, description="Young's modulus E"),
    Parameter("nu", 0.05, 0.45, units="1", default=0.3, description="Poisson ratio nu"),
    Parameter("rho", 0.5, 2.0, units="1", default=1.0, description="mass density rho"),
    Parameter("amplitude", 1e-4, 1e-2, units="1", default=1e-3, description="traction pulse amplitude",
              log_scale=True),
    Parameter("duration", 0.2, 1.0, units="1", default=0.5, description="traction pulse duration"),
    Parameter("angle", -math.pi / 4, math.pi / 4, units="rad", default=0.0,
              description="traction direction, from the outward normal +x towards +y"),
))


def interface_point_name(k: int) -> str:
    """Name of the ``k``-th interface point, e.g. ``interface_007`` (series ``u_x_at_interface_007``)."""
    return f"interface_{k:03d}"


@dataclass(frozen=True)
class ElasticMaterial:
    """Isotropic linear elastic material.

    Parameters
    ----------
    E : float
        Young's modulus, ``> 0``.
    nu : float
        Poisson ratio, in ``(0, 0.5)``.
    rho : float
        Density, ``> 0``.
    plane : {"stress", "strain"}
        2-D model.

    Raises
    ------
    ParameterError
        A value outside the accepted range (named in the message).
    """

    E: float
    nu: float
    rho: float
    plane: str = "stress"

    def __post_init__(self) -> None:
        object.__setattr__(self, "E", require_positive("Young's modulus E", self.E))
        object.__setattr__(self, "rho", require_positive("density rho", self.rho))
        nu = self.nu
        if isinstance(nu, bool) or not isinstance(nu, (int, float, np.integer, np.floating)) \
                or not math.isfinite(nu) or not 0.0 < nu < 0.5:
            raise ParameterError(f"Poisson ratio nu must be in (0, 0.5); got {nu!r}")
        object.__setattr__(self, "nu", float(nu))
        if self.plane not in PLANES:
            raise ParameterError(f"plane {self.plane!r} is not accepted; accepted: {list(PLANES)}")

    @classmethod
    def from_params(cls, params: Mapping[str, float], plane: str = "stress") -> ElasticMaterial:
        return cls(E=params["E"], nu=params["nu"], rho=params["rho"], plane=plane)

    @property
    def mu(self) -> float:
        """Shear modulus ``E / (2 (1 + nu))``."""
        return self.E / (2.0 * (1.0 + self.nu))

    @property
    def lam(self) -> float:
        """The first Lamé parameter of the 2-D model (plane stress: ``E nu / (1 - nu^2)``)."""
        if self.plane == "stress":
            return self.E * self.nu / (1.0 - self.nu**2)
        return self.E * self.nu / ((1.0 + self.nu) * (1.0 - 2.0 * self.nu))

    def wave_speeds(self) -> tuple[float, float]:
        """``(c_p, c_s)``: the 2-D pressure and shear wave speeds ``sqrt((lam + 2 mu) / rho)``, ``sqrt(mu / rho)``."""
        return math.sqrt((self.lam + 2.0 * self.mu) / self.rho), math.sqrt(self.mu / self.rho)


class ElasticForms:
    """Stiffness and mass forms of a material on a vector space, material values held in Constants.

    Attributes
    ----------
    stiffness, mass : ufl.Form
        ``int sigma(u) : eps(w) dx`` and ``int rho u . w dx``.
    """

    def __init__(self, V: Any, material: ElasticMaterial) -> None:
        m = import_dolfinx()
        ufl, fem = m.ufl, m.fem
        mesh = V.mesh
        self.material = material
        self.mu, self.lam, self.rho = (fem.Constant(mesh, v) for v in (material.mu, material.lam, material.rho))
        # sigma_zz factor: 0 (plane stress) or the 3-D lambda (plane strain)
        lam3 = 0.0 if material.plane == "stress" else material.lam
        self.lam_zz = fem.Constant(mesh, lam3)
        u, w = ufl.TrialFunction(V), ufl.TestFunction(V)
        self.stiffness = ufl.inner(self.sigma(u), self.eps(w)) * ufl.dx
        self.mass = self.rho * ufl.inner(u, w) * ufl.dx

    @staticmethod
    def eps(u: Any) -> Any:
        ufl = import_dolfinx().ufl
        return ufl.sym(ufl.grad(u))

    def sigma(self, u: Any) -> Any:
        ufl = import_dolfinx().ufl
        e = self.eps(u)
        return 2.0 * self.mu * e + self.lam * ufl.tr(e) * ufl.Identity(2)

    def von_mises(self, u: Any) -> Any:
        """``sqrt(((sxx - syy)^2 + (syy - szz)^2 + (szz - sxx)^2) / 2 + 3 sxy^2)`` (UFL)."""
        ufl = import_dolfinx().ufl
        s = self.sigma(u)
        szz = self.lam_zz * ufl.tr(self.eps(u))
        j2 = 0.5 * ((s[0, 0] - s[1, 1]) ** 2 + (s[1, 1] - szz) ** 2 + (szz - s[0, 0]) ** 2) + 3.0 * s[0, 1] ** 2
        return ufl.sqrt(j2)


@dataclass(frozen=True)
class TractionPulse:
    """``amplitude sin^2(pi t / duration)`` for ``0 <= t <= duration``, then 0, along ``(cos angle, sin angle)``."""

    amplitude: float
    duration: float
    angle: float = 0.0

    def __post_init__(self) -> None:
        require_positive("pulse duration", self.duration)

    @classmethod
    def from_params(cls, params: Mapping[str, float]) -> TractionPulse:
        return cls(amplitude=params["amplitude"], duration=params["duration"], angle=params["angle"])

    def __call__(self, t: float) -> float:
        if not 0.0 <= t <= self.duration:
            return 0.0
        return self.amplitude * math.sin(math.pi * t / self.duration) ** 2

    @property
    def direction(self) -> np.ndarray:
        return np.array([math.cos(self.angle), math.sin(self.angle)])


@dataclass(frozen=True)
class TimeGrid:
    """``n_steps`` steps of ``dt = t_final / n_steps``; frames every ``record_every`` steps (``t = 0`` included).

    Raises
    ------
    ParameterError
        ``t_final`` not ``> 0``, a count not an integer ``>= 1``, or ``record_every`` not dividing ``n_steps``.
    """

    t_final: float = 4.0
    n_steps: int = 80
    record_every: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "t_final", require_positive("t_final", self.t_final))
        for name in ("n_steps", "record_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ParameterError(f"{name} must be an integer >= 1; got {v!r}")
        if self.n_steps % self.record_every:
            raise ParameterError(f"record_every={self.record_every} must divide n_steps={self.n_steps}")

    @property
    def dt(self) -> float:
        return self.t_final / self.n_steps

    @property
    def frames(self) -> np.ndarray:
        """Times of the recorded frames, shape ``(n_steps // record_every + 1,)``."""
        return np.arange(self.n_steps // self.record_every + 1) * (self.record_every * self.dt)


class WindowQoIs:
    """Maxima over the window's cells of the von Mises stress and of ``|u|``, and their running maxima.

    The von Mises stress is evaluated at the interpolation points of discontinuous ``P(degree - 1)``
    (the cell midpoint for P1) of every owned window cell; ``|u|`` at the window's dofs.

    Parameters
    ----------
    u : dolfinx.fem.Function
        The displacement (read at every call).
    forms : ElasticForms
    cells : ndarray
        Local indices of the window's cells.
    """

    def __init__(self, u: Any, forms: ElasticForms, cells: np.ndarray) -> None:
        m = self._m = import_dolfinx()
        V = u.function_space
        mesh = V.mesh
        degree = V.ufl_element().embedded_superdegree
        points = m.fem.functionspace(mesh, ("DG", degree - 1)).element.interpolation_points
        self._expr = m.fem.Expression(forms.von_mises(u), points)
        n_owned = mesh.topology.index_map(mesh.topology.dim).size_local
        self._cells = np.asarray(cells, dtype=np.int32)[np.asarray(cells) < n_owned]
        self._u_dofs = np.unique(V.dofmap.list[self._cells].ravel())
        self._values = np.zeros((self._cells.size, points.shape[0]))
        self.u, self.mesh, self.comm = u, mesh, mesh.comm
        self.peak_von_mises, self.max_displacement = 0.0, 0.0

    def reset(self) -> None:
        """Zero the running maxima."""
        self.peak_von_mises, self.max_displacement = 0.0, 0.0

    def __call__(self) -> tuple[float, float]:
        """``(max von Mises, max |u|)`` over the window now; updates the running maxima."""
        MPI = self._m.MPI
        vm = float(self._expr.eval(self.mesh, self._cells, self._values).max(initial=0.0))
        u = self.u.x.array.reshape(-1, 2)[self._u_dofs]
        disp = float(np.sqrt((u**2).sum(axis=1)).max(initial=0.0))
        if self.comm.size > 1:
            vm, disp = self.comm.allreduce(vm, op=MPI.MAX), self.comm.allreduce(disp, op=MPI.MAX)
        self.peak_von_mises = max(self.peak_von_mises, vm)
        self.max_displacement = max(self.max_displacement, disp)
        return vm, disp


def march(newmark: Newmark, qois: WindowQoIs, times: TimeGrid, recorder: Recorder | None = None) -> FEResult:
    """Run ``times.n_steps`` steps from the initialised state, recording frames and the window's QoIs.

    Returns
    -------
    FEResult
        Frames of ``recorder`` (if any), the series ``von_mises_max`` and ``displacement_max`` at the
        frames, and the QoIs ``peak_von_mises`` and ``max_displacement`` over every step.
    """
    series: dict[str, list[float]] = {"von_mises_max": [], "displacement_max": []}

    def frame() -> None:
        vm, disp = qois()
        series["von_mises_max"].append(vm)
        series["displacement_max"].append(disp)
        if recorder is not None:
            recorder.record(newmark.t, {"u": newmark.u})

    frame()
    for n in range(1, times.n_steps + 1):
        newmark.step()
        if n % times.record_every == 0:
            frame()
        else:
            qois()
    result = recorder.result() if recorder is not None else FEResult(times=times.frames)
    result.times = times.frames
    result.series.update({k: np.asarray(v) for k, v in series.items()})
    result.qois.update({"peak_von_mises": qois.peak_von_mises, "max_displacement": qois.max_displacement})
    return result


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ParameterError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def _geometry(geometry: Mapping[str, float] | PlateGeometry | None) -> PlateGeometry:
    if geometry is None or isinstance(geometry, PlateGeometry):
        return geometry or PlateGeometry()
    if not isinstance(geometry, Mapping):
        raise ParameterError(f"geometry must be a mapping of PlateGeometry fields; got {type(geometry).__name__}")
    accepted = list(PlateGeometry.__dataclass_fields__)
    unknown = sorted(set(geometry) - set(accepted))
    if unknown:
        raise ParameterError(f"unknown geometry field(s) {unknown}; accepted: {accepted}")
    return PlateGeometry(**geometry)


class PlateFESimulator(FESimulator):
    """What the full plate model and its submodel share: geometry, material, time grid, interface points.

    Parameters
    ----------
    resolution, degree, grid, solver, points
        See :class:`~sciml.simulators.fem.base.FESimulator` (``resolution``: cells per unit length).
    geometry : mapping, optional
        :class:`~sciml.simulators.fem.plate_mesh.PlateGeometry` fields.
    t_final, n_steps, record_every : float, int, int
        The :class:`TimeGrid`.
    interface_points : int
        Points sampled along the interface (``>= 4``).
    plane : {"stress", "strain"}
    alpha_m, alpha_k : float
        Rayleigh damping coefficients (``>= 0``).
    """

    VALUE_SHAPE: ClassVar[tuple[int, ...]] = (2,)
    STOCHASTIC: ClassVar[bool] = False
    PARAMETERS: ClassVar[ParameterSpace] = PLATE_PARAMETERS
    REGION: ClassVar[str] = "full"
    FIELD_ATTRS: ClassVar[dict[str, dict[str, str]]] = {
        "u_x": {"units": "1", "long_name": "displacement, x component"},
        "u_y": {"units": "1", "long_name": "displacement, y component"},
        "von_mises_max": {"units": "1", "long_name": "maximum of the von Mises stress over the window"},
        "displacement_max": {"units": "1", "long_name": "maximum of |u| over the window"},
    }
    QOI_ATTRS: ClassVar[dict[str, dict[str, str]]] = {
        "peak_von_mises": {"units": "1", "long_name": "peak von Mises stress in the window over time"},
        "max_displacement": {"units": "1", "long_name": "maximum |u| in the window over time"},
    }

    def __init__(self, *, resolution: int = 16, degree: int = 1, grid: int = 17,
                 solver: Mapping[str, Any] | None = None, points: Mapping[str, Sequence[float]] | None = None,
                 geometry: Mapping[str, float] | None = None, t_final: float = 4.0, n_steps: int = 80,
                 record_every: int = 1, interface_points: int = 32, plane: str = "stress",
                 alpha_m: float = 0.0, alpha_k: float = 0.01) -> None:
        super().__init__(resolution=resolution, degree=degree, grid=grid, solver=solver, points=points)
        clash = sorted(name for name in self.points if name.startswith("interface_"))
        if clash:
            raise ParameterError(f"point names {clash} are reserved for the interface points; choose other names")
        self.geometry = _geometry(geometry)
        self.times = TimeGrid(t_final=t_final, n_steps=n_steps, record_every=record_every)
        self.n_interface_points = _check_int("interface_points", interface_points, 4)
        if plane not in PLANES:
            raise ParameterError(f"plane {plane!r} is not accepted; accepted: {list(PLANES)}")
        self.plane = plane
        self.damping = RayleighDamping(alpha_m=alpha_m, alpha_k=alpha_k)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "geometry": self.geometry.config(), "t_final": self.times.t_final,
                "n_steps": self.times.n_steps, "record_every": self.times.record_every,
                "interface_points": self.n_interface_points, "plane": self.plane,
                "alpha_m": self.damping.alpha_m, "alpha_k": self.damping.alpha_k}

    def _common_config(self) -> dict[str, Any]:
        """Constructor fields shared by the full model and the submodel."""
        cfg = self.config()
        cfg.pop("kind")
        return cfg

    def check_parameters(self, params: Mapping[str, float]) -> None:
        ElasticMaterial.from_params(params, self.plane)

    def material(self, params: Mapping[str, float]) -> ElasticMaterial:
        return ElasticMaterial.from_params(params, self.plane)

    def grid_bounds(self) -> tuple[float, float, float, float]:
        return self.geometry.bounds(self.REGION)

    def estimated_dofs(self) -> int:
        points, cells = plate_mesh_arrays(self.geometry, self.resolution, self.REGION)
        n = points.shape[0]
        if self.degree == 2:
            edges = np.sort(np.concatenate([cells[:, [0, 1]], cells[:, [1, 2]], cells[:, [2, 0]]]), axis=1)
            n += np.unique(edges, axis=0).shape[0]
        return 2 * n

    def n_time_steps(self, params: Mapping[str, float]) -> int:
        return self.times.n_steps

    def create_mesh(self, comm: Any) -> PlateMesh:
        return create_plate_mesh(self.geometry, self.resolution, region=self.REGION, comm=comm)

    def interface_coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """Arc lengths ``(n_points,)`` and positions ``(n_points, 2)`` of the interface points."""
        return interface_points(self.geometry, self.n_interface_points)

    @property
    def history_shape(self) -> tuple[int, int, int]:
        """Shape ``(n_frames, n_points, 2)`` of one interface displacement history."""
        return (self.times.frames.size, self.n_interface_points, 2)

    def newmark(self, plate: PlateMesh, material: ElasticMaterial, *, bcs: Sequence[Any],
                loads: Sequence[tuple[Any, Callable[[float], float]]] = (),
                dirichlet: Callable[[float], None] | None = None, reassemble: bool = False,
                space: Any = None) -> tuple[Newmark, WindowQoIs]:
        """The Newmark integrator of ``material`` on ``plate`` and the window's QoI evaluator."""
        V = space if space is not None else self.function_space(plate.mesh)
        forms = ElasticForms(V, material)
        newmark = Newmark(forms.stiffness, forms.mass, bcs, scheme=NewmarkScheme(dt=self.times.dt),
                          damping=self.damping, loads=loads, dirichlet=dirichlet,
                          options=self.solver_options, reassemble=reassemble,
                          track_energy=False)
        return newmark, WindowQoIs(newmark.u, forms, plate.cells(WINDOW))


class PlateDynamicsSimulator(PlateFESimulator):
    """The full plate model (``"fem_plate_dynamics"``); see the module docstring.

    Parameters
    ----------
    resolution, degree, grid, solver, points, geometry, t_final, n_steps, record_every,
    interface_points, plane, alpha_m, alpha_k
        See :class:`PlateFESimulator`.
    reassemble : bool
        Reassemble and refactorise the operator every step (benchmarks only; same results).

    Raises
    ------
    ParameterError
        Mesh resolution below 1, a bad option, or a non-positive material parameter.
    """

    name: ClassVar[str] = "fem_plate_dynamics"
    version: ClassVar[str] = "1"

    def __init__(self, *, resolution: int = 16, degree: int = 1, grid: int = 17,
                 solver: Mapping[str, Any] | None = None, points: Mapping[str, Sequence[float]] | None = None,
                 geometry: Mapping[str, float] | None = None, t_final: float = 4.0, n_steps: int = 80,
                 record_every: int = 1, interface_points: int = 32, plane: str = "stress",
                 alpha_m: float = 0.0, alpha_k: float = 0.01, reassemble: bool = False) -> None:
        super().__init__(resolution=resolution, degree=degree, grid=grid, solver=solver, points=points,
                         geometry=geometry, t_final=t_final, n_steps=n_steps, record_every=record_every,
                         interface_points=interface_points, plane=plane, alpha_m=alpha_m, alpha_k=alpha_k)
        if not isinstance(reassemble, bool):
            raise ParameterError(f"reassemble must be True or False; got {reassemble!r}")
        self.reassemble = reassemble

    def config(self) -> dict[str, Any]:
        return {**super().config(), "reassemble": self.reassemble}

    def run(self, params: Mapping[str, float], *, seed: int, n_samples: int = 1, comm: Any = None) -> xr.Dataset:
        ds = super().run(params, seed=seed, n_samples=n_samples, comm=comm)
        s, xy = self.interface_coordinates()
        for k in range(self.n_interface_points):
            for c in ("x", "y"):
                ds[f"u_{c}_at_{interface_point_name(k)}"].attrs.update(
                    {"arc_length": float(s[k]), "point_x": float(xy[k, 0]), "point_y": float(xy[k, 1])})
        return ds

    def solve(self, mesh: PlateMesh, params: Mapping[str, float], rngs: Sequence[np.random.Generator]) -> list[FEResult]:
        newmark, qois = self.integrator(mesh, params)
        result = march(newmark, qois, self.times, self._recorder(mesh))
        newmark.destroy()
        return [result for _ in rngs]

    def integrator(self, mesh: PlateMesh, params: Mapping[str, float], *,
                   reassemble: bool | None = None) -> tuple[Newmark, WindowQoIs]:
        """The initialised Newmark integrator of the full model at validated ``params`` on ``mesh``.

        ``reassemble`` (default: the simulator's) lets a benchmark time ``Newmark.step`` with and
        without reusing the factorised operator on the same problem.
        """
        m = import_dolfinx()
        fem, ufl = m.fem, m.ufl
        V = self.function_space(mesh.mesh)
        fdim = mesh.mesh.topology.dim - 1
        clamp = fem.dirichletbc(np.zeros(2), fem.locate_dofs_topological(V, fdim, mesh.facets(LEFT)), V)
        pulse = TractionPulse.from_params(params)
        direction = fem.Constant(mesh.mesh, pulse.direction)
        ds = ufl.Measure("ds", domain=mesh.mesh, subdomain_data=mesh.facet_tags)
        load = ufl.inner(direction, ufl.TestFunction(V)) * ds(RIGHT)
        newmark, qois = self.newmark(mesh, self.material(params), bcs=[clamp], loads=[(load, pulse)],
                                     reassemble=self.reassemble if reassemble is None else reassemble, space=V)
        newmark.initialize()
        return newmark, qois

    def _recorder(self, mesh: PlateMesh) -> Recorder:
        _, xy = self.interface_coordinates()
        named = {**self.points, **{interface_point_name(k): tuple(p) for k, p in enumerate(xy)}}
        x, y = self.grid_coordinates()
        return Recorder(GridSampler(mesh.mesh, x, y, fill_value=0.0), PointSampler(mesh.mesh, named))

    def interface_history(self, params: Mapping[str, float], *, comm: Any = None) -> np.ndarray:
        """The interface displacement history at ``params``, shape :attr:`history_shape`."""
        return interface_histories(self.run(params, seed=0, n_samples=1, comm=comm))[0]


_INTERFACE_SERIES = re.compile(r"^u_(x|y)_at_interface_(\d+)$")


def interface_histories(ds: xr.Dataset) -> np.ndarray:
    """The interface displacement histories of a ``fem_plate_dynamics`` dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        Output of :class:`PlateDynamicsSimulator` (or several concatenated).

    Returns
    -------
    ndarray, shape ``(n_sample, n_t, n_points, 2)``
        ``[..., k, c]``: component ``c`` (x, y) of the displacement at interface point ``k``.

    Raises
    ------
    SchemaError
        No interface series, or a component or point missing.
    """
    found: dict[tuple[int, str], str] = {}
    for name in ds.data_vars:
        match = _INTERFACE_SERIES.match(str(name))
        if match:
            found[(int(match.group(2)), match.group(1))] = str(name)
    if not found:
        raise SchemaError("no interface series 'u_x_at_interface_000', ... in the dataset; "
                          "expected the output of fem_plate_dynamics")
    n_points = max(k for k, _ in found) + 1
    missing = [f"u_{c}_at_{interface_point_name(k)}" for k in range(n_points) for c in ("x", "y")
               if (k, c) not in found]
    if missing:
        raise SchemaError(f"interface series missing: {missing[:6]}{' ...' if len(missing) > 6 else ''}")
    return np.stack([np.stack([ds[found[(k, c)]].values for c in ("x", "y")], axis=-1) for k in range(n_points)],
                    axis=2)
