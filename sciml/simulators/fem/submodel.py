"""The plate problem on the window around the hole alone, driven by an interface displacement history.

The sub-domain is the window ``[-w, w]^2`` minus the hole (the same nodes and cells as the window
of the full plate mesh, :mod:`~sciml.simulators.fem.plate_mesh`); the hole is traction-free and
the interface (the window's boundary) carries the prescribed displacement history, written into a
Function every time step (:class:`InterfaceDirichlet`): linear in time between the history's
frames and linear in arc length between its points (periodic along the closed interface). The
material, damping, Newmark scheme and time grid are those of the full model
(:class:`~sciml.simulators.fem.elastodynamics.PlateDynamicsSimulator`), and so are the window's
quantities of interest, so that the submodel driven by the full model's *true* interface history
reproduces the full model's QoIs up to the interpolation of the history (exactly, up to round-off,
when the points are the interface nodes of a P1 mesh and every step is a frame).

A history has the shape ``(n_frames, n_points, 2)`` (frames of the time grid, points equally spaced
along the interface counter-clockwise from ``(w, 0)``, displacement components x and y): the layout
of :func:`~sciml.simulators.fem.elastodynamics.interface_histories`. :meth:`PlateSubmodel.evaluate`
maps an array of histories (e.g. drawn from a generator) to QoIs per history, the operator of one
material assembled and factorised once for all of them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import xarray as xr

from sciml.errors import ParameterError
from sciml.simulators.fem.backend import import_dolfinx, resolve_comm
from sciml.simulators.fem.base import FEResult, Recorder
from sciml.simulators.fem.elastodynamics import ElasticMaterial, PlateDynamicsSimulator, PlateFESimulator, march
from sciml.simulators.fem.plate_mesh import INTERFACE, PlateGeometry, PlateMesh, interface_arc_length
from sciml.simulators.fem.sampling import GridSampler, PointSampler

__all__ = ["InterfaceDirichlet", "PlateSubmodel", "check_histories"]


def check_histories(histories: Any, shape: tuple[int, int, int], n_samples: int | None = None) -> np.ndarray:
    """Interface histories as ``(n, *shape)`` float64, or :class:`ParameterError` naming both shapes.

    Parameters
    ----------
    histories : array_like, shape ``shape`` or ``(n, *shape)``
        One history or a stack of them.
    shape : (n_frames, n_points, 2)
        The expected shape of one history.
    n_samples : int, optional
        Required ``n`` (one history is repeated ``n_samples`` times).

    Raises
    ------
    ParameterError
        Wrong shape, wrong number of histories, or non-finite values.
    """
    try:
        h = np.asarray(histories, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"interface histories must be a numeric array of shape (n, *{shape}); got {exc}") from None
    if h.shape == tuple(shape):
        h = np.broadcast_to(h, (n_samples or 1, *shape))
    if h.ndim != 4 or h.shape[1:] != tuple(shape):
        raise ParameterError(f"interface histories have shape {h.shape}; expected {tuple(shape)} (n_frames, "
                             f"n_points, components) or (n, *{tuple(shape)})")
    if n_samples is not None and h.shape[0] != n_samples:
        raise ParameterError(f"got {h.shape[0]} interface histories for n_samples={n_samples}; expected shape "
                             f"{(n_samples, *shape)} or {tuple(shape)}")
    if not np.all(np.isfinite(h)):
        raise ParameterError("interface histories have non-finite values")
    return h


class InterfaceDirichlet:
    """Dirichlet data on the interface, interpolated from a sampled history, written into a Function.

    Parameters
    ----------
    V : dolfinx.fem.FunctionSpace
        Vector space of the displacement.
    plate : PlateMesh
        The window mesh (facets tagged ``INTERFACE``).
    frames : ndarray, shape ``(n_frames,)``
        Equally spaced times of the history's frames, from 0.
    n_points : int
        Points of the history, equally spaced in arc length from ``(w, 0)``.

    Attributes
    ----------
    g : dolfinx.fem.Function
        The Dirichlet values (set by calling the object with a time).
    bc : dolfinx.fem.DirichletBC
    """

    def __init__(self, V: Any, plate: PlateMesh, frames: np.ndarray, n_points: int) -> None:
        m = import_dolfinx()
        g: PlateGeometry = plate.geometry
        fdim = plate.mesh.topology.dim - 1
        self.dofs = m.fem.locate_dofs_topological(V, fdim, plate.facets(INTERFACE))
        self.g = m.fem.Function(V)
        self.bc = m.fem.dirichletbc(self.g, self.dofs)
        s = interface_arc_length(V.tabulate_dof_coordinates()[self.dofs], g.window_half_width)
        pos = s / (g.interface_length / n_points)
        self._left = np.floor(pos).astype(np.int64) % n_points
        self._right = (self._left + 1) % n_points
        self._weight = pos - np.floor(pos)
        self.frames = np.asarray(frames, dtype=np.float64)
        self._frame_dt = self.frames[1] - self.frames[0] if self.frames.size > 1 else 1.0
        self.history = np.zeros((self.frames.size, n_points, 2))

    def set_history(self, history: np.ndarray) -> None:
        """The history to follow, shape ``(n_frames, n_points, 2)``."""
        self.history = np.asarray(history, dtype=np.float64)

    def at(self, t: float) -> np.ndarray:
        """The history at time ``t`` (linear between frames, held after the last), shape ``(n_points, 2)``."""
        pos = t / self._frame_dt
        if abs(pos - round(pos)) < 1e-9:
            pos = float(round(pos))
        i = min(max(int(math.floor(pos)), 0), self.frames.size - 1)
        lam = min(max(pos - i, 0.0), 1.0)
        if lam == 0.0 or i == self.frames.size - 1:
            return self.history[i]
        return (1.0 - lam) * self.history[i] + lam * self.history[i + 1]

    def __call__(self, t: float) -> None:
        """Write the interface displacement at time ``t`` into :attr:`g`."""
        h = self.at(t)
        w = self._weight[:, None]
        self.g.x.array.reshape(-1, 2)[self.dofs] = (1.0 - w) * h[self._left] + w * h[self._right]


class PlateSubmodel(PlateFESimulator):
    """The window around the hole driven by an interface history (``"fem_plate_submodel"``).

    Same constructor fields as :class:`~sciml.simulators.fem.elastodynamics.PlateDynamicsSimulator`
    (the output grid covers the window) and the same parameters: the material ``E``, ``nu``, ``rho``
    enter the submodel; the load parameters only choose the default interface history, the true one
    of the full model at ``params`` (:meth:`true_history`).

    Raises
    ------
    ParameterError
        Bad options (as the full model), a non-positive material parameter, or interface
        histories of the wrong shape (expected and given shapes named).
    """

    name: ClassVar[str] = "fem_plate_submodel"
    version: ClassVar[str] = "1"
    REGION: ClassVar[str] = "window"

    def full_model(self) -> PlateDynamicsSimulator:
        """The full plate model with this submodel's configuration."""
        return PlateDynamicsSimulator(**self._common_config())

    def true_history(self, params: Mapping[str, float], *, comm: Any = None) -> np.ndarray:
        """The full model's interface history at ``params``, shape :attr:`history_shape`."""
        return self.full_model().interface_history(params, comm=comm)

    def run(self, params: Mapping[str, float], *, seed: int, n_samples: int = 1, interface: Any = None,
            comm: Any = None) -> xr.Dataset:
        """Solve the submodel for ``n_samples`` interface histories.

        Parameters
        ----------
        params : mapping
            Physical parameters (the material enters; the load only through the default history).
        seed : int
            Recorded (the submodel is deterministic given its histories).
        n_samples : int
            Number of samples.
        interface : array_like, optional
            One history ``(n_frames, n_points, 2)`` (repeated) or ``(n_samples, n_frames, n_points, 2)``;
            default the full model's true history at ``params``. The dataset's attribute
            ``interface_history`` says which (a given one by its sha256).
        comm : None, "self", "world" or mpi4py communicator

        Raises
        ------
        ParameterError
            Bad parameters, sample count, seed, or interface shape.
        """
        return super().run(params, seed=seed, n_samples=n_samples, comm=comm, interface=interface)

    def check_inputs(self, params: Mapping[str, float], n_samples: int, comm: Any, *,
                     interface: Any = None) -> tuple[dict[str, Any], dict[str, str]]:
        """The interface histories ``(n_samples or 1, *history_shape)`` for :meth:`solve`, and their provenance."""
        if interface is None:
            history = check_histories(self.true_history(params, comm=comm), self.history_shape)
            return {"histories": history}, {"interface_history": "true history of fem_plate_dynamics at the "
                                                                 "same parameters"}
        histories = check_histories(interface, self.history_shape, n_samples)
        digest = hashlib.sha256(np.ascontiguousarray(histories).tobytes()).hexdigest()
        return {"histories": histories}, {"interface_history": f"given, sha256 {digest}"}

    def solve(self, mesh: PlateMesh, params: Mapping[str, float], rngs: Sequence[np.random.Generator], *,
              histories: np.ndarray | None = None) -> list[FEResult]:
        """One result per history (default: the true history at ``params``, one result)."""
        if histories is None:
            histories = check_histories(self.true_history(params, comm=mesh.mesh.comm), self.history_shape)
        return self._solve_histories(mesh, self.material(params), histories, record=True)

    def evaluate(self, histories: Any, params: Mapping[str, float] | None = None, *,
                 comm: Any = None) -> dict[str, np.ndarray]:
        """The window's QoIs for each interface history (one assembly and factorisation for all).

        Parameters
        ----------
        histories : array_like, shape ``(n, n_frames, n_points, 2)`` or ``(n_frames, n_points, 2)``
        params : mapping, optional
            Material (and load) parameters; defaults for the missing ones.
        comm : None, "self", "world" or mpi4py communicator

        Returns
        -------
        dict of str to ndarray, shape ``(n,)``
            ``peak_von_mises`` and ``max_displacement``.

        Raises
        ------
        ParameterError
            Bad parameters or histories of the wrong shape.
        """
        p = self.parameter_space.validate(params or {}, source=self.name)
        self.check_parameters(p)
        h = check_histories(histories, self.history_shape)
        results = self._solve_histories(self.create_mesh(resolve_comm(comm)), self.material(p), h, record=False)
        return {k: np.array([r.qois[k] for r in results]) for k in ("peak_von_mises", "max_displacement")}

    def _solve_histories(self, mesh: PlateMesh, material: ElasticMaterial, histories: np.ndarray, *,
                         record: bool) -> list[FEResult]:
        V = self.function_space(mesh.mesh)
        interface = InterfaceDirichlet(V, mesh, self.times.frames, self.n_interface_points)
        newmark, qois = self.newmark(mesh, material, bcs=[interface.bc], dirichlet=interface, space=V)
        samplers = self._samplers(mesh) if record else None
        results = []
        for history in histories:
            interface.set_history(history)
            newmark.initialize()
            qois.reset()
            results.append(march(newmark, qois, self.times, Recorder(*samplers) if samplers else None))
        newmark.destroy()
        return results

    def _samplers(self, mesh: PlateMesh) -> tuple[GridSampler, PointSampler | None]:
        x, y = self.grid_coordinates()
        points = PointSampler(mesh.mesh, self.points) if self.points else None
        return GridSampler(mesh.mesh, x, y, fill_value=0.0), points
