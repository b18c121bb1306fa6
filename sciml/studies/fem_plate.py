"""The plate peak-stress study: the mesh level of a finite-element model as the fidelity of BO.

The plate with a hole under a traction pulse (:class:`~sciml.simulators.fem.elastodynamics.
PlateDynamicsSimulator`, ``"fem_plate_dynamics"``; left side clamped, pulse
``amplitude sin^2(pi t / duration) (cos angle, sin angle)`` on the right side): choose the pulse's
direction ``angle`` and ``duration`` so that the peak von Mises stress in the window around the
hole over the horizon ``t_final`` (the QoI ``peak_von_mises``) is smallest. The objective is that
peak per unit traction amplitude (:class:`PeakStressObjective`, a dynamic stress-concentration
factor; the problem is linear, so it does not depend on the amplitude), minimised. The fidelity is
the mesh ``resolution`` (cells per unit length), the truth the finest level; the declared cost of a
level is the simulator's own :meth:`~sciml.simulators.fem.base.FESimulator.cost` (degrees of
freedom x time steps) relative to the truth's.

The optimum has no closed form: :data:`REFERENCE` holds the one of the default settings, found by
:func:`reference_optimum` (a grid search on the truth, then a bounded Nelder-Mead from the best
grid points), with the settings it holds for; the problem uses it when its own settings are those.
FEniCSx (``pip install 'sciml[fem]'``) is needed to build and evaluate the problem.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr

from sciml.bo.costs import TableFidelityCost
from sciml.bo.fidelity import Fidelity
from sciml.bo.sources import SimulatorSource
from sciml.errors import ConfigError, SchemaError
from sciml.simulators.base import Simulator
from sciml.simulators.fem.backend import import_dolfinx
from sciml.simulators.fem.elastodynamics import PlateDynamicsSimulator

__all__ = [
    "DEFAULT_LEVELS",
    "REFERENCE",
    "PeakStressObjective",
    "PlateReference",
    "peak_stress_target",
    "plate_peak_stress_problem",
    "reference_optimum",
]

#: Mesh resolutions (cells per unit length) of the default problem, the last the truth.
DEFAULT_LEVELS: tuple[int, ...] = (8, 16, 32)


@dataclass(frozen=True)
class PeakStressObjective:
    """A scalar QoI of the dataset, per unit traction ``amplitude`` when ``per_amplitude`` (minimised).

    Raises
    ------
    SchemaError
        The dataset has no ``qoi`` (or no ``amplitude`` to divide by).
    """

    qoi: str = "peak_von_mises"
    per_amplitude: bool = True

    def __call__(self, ds: xr.Dataset) -> float:
        needed = [self.qoi] + (["amplitude"] if self.per_amplitude else [])
        missing = [k for k in needed if k not in ds.data_vars]
        if missing:
            raise SchemaError(f"the peak-stress objective needs {missing} in the dataset; it has "
                              f"{sorted(str(k) for k in ds.data_vars if ds[k].attrs.get('role') == 'qoi')} "
                              "as QoIs")
        value = float(ds[self.qoi].values.mean())
        return value / float(ds["amplitude"].values.mean()) if self.per_amplitude else value


def peak_stress_target(target: Simulator, *, qoi: str = "peak_von_mises", per_amplitude: bool = True
                       ) -> PeakStressObjective:
    """The peak-stress objective for sources whose truth is ``target``.

    The objective factory registered as ``"peak_stress"`` (:data:`sciml.studies.bo_problems.OBJECTIVES`).

    Raises
    ------
    ConfigError
        ``target`` does not declare ``qoi`` among its quantities of interest (``QOI_ATTRS``), or
        has no ``amplitude`` parameter while ``per_amplitude``.
    """
    qois = getattr(target, "QOI_ATTRS", {})
    if qoi not in qois:
        raise ConfigError(f"the peak-stress objective needs a simulator with the QoI {qoi!r} as the truth; "
                          f"{getattr(target, 'name', type(target).__name__)} has {sorted(qois)}")
    if per_amplitude and "amplitude" not in target.parameter_space.names:
        raise ConfigError(f"per_amplitude=True needs an 'amplitude' parameter; accepted: "
                          f"{target.parameter_space.describe()}")
    return PeakStressObjective(qoi=qoi, per_amplitude=bool(per_amplitude))


@dataclass(frozen=True)
class PlateReference:
    """The optimum of the plate problem at given settings.

    Attributes
    ----------
    value : float
        Smallest objective value at the truth (peak von Mises stress per unit amplitude).
    optimizers : tuple of (angle, duration)
        Where it is reached (the plate is symmetric about ``y = 0``: ``angle`` and ``-angle``).
    settings : mapping
        The settings it holds for (:func:`_reference_settings`).
    method : str
        How it was found.
    """

    value: float
    optimizers: tuple[tuple[float, float], ...]
    settings: Mapping[str, Any]
    method: str


def _reference_settings(levels: Sequence[int], angle_bounds: Sequence[float], duration_bounds: Sequence[float],
                        t_final: float, n_steps: int) -> dict[str, Any]:
    """What the truth's objective depends on: its resolution, the time grid and the design box."""
    return {"resolution": int(levels[-1]), "t_final": float(t_final), "n_steps": int(n_steps),
            "angle_bounds": [float(v) for v in angle_bounds], "duration_bounds": [float(v) for v in duration_bounds]}


#: The reference optimum of :func:`plate_peak_stress_problem` with its default settings.
REFERENCE = PlateReference(
    value=0.3835177675526934,
    optimizers=((0.7293719638663316, 0.2), (-0.7293719638662814, 0.2)),
    settings=_reference_settings(DEFAULT_LEVELS, (-math.pi / 4, math.pi / 4), (0.2, 1.0), 4.0, 40),
    method="reference_optimum(plate_peak_stress_problem()): a 33 x 17 grid (angle x duration) on the truth, "
           "then bounded Nelder-Mead (xatol 1e-4) from the 2 best local minima of the grid",
)


def _check_levels(levels: Sequence[int]) -> tuple[int, ...]:
    values = list(levels) if isinstance(levels, Sequence) and not isinstance(levels, str) else []
    ok = bool(values) and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in values)
    if not ok or values != sorted(set(values)):
        raise ConfigError(f"levels must be distinct mesh resolutions (integers >= 1) in increasing order, the last "
                          f"the truth; got {levels!r}")
    return tuple(int(v) for v in values)


def plate_peak_stress_problem(
    *,
    levels: Sequence[int] = DEFAULT_LEVELS,
    angle_bounds: tuple[float, float] = (-math.pi / 4, math.pi / 4),
    duration_bounds: tuple[float, float] = (0.2, 1.0),
    t_final: float = 4.0,
    n_steps: int = 40,
    amplitude: float = 1e-3,
    seed: int = 0,
) -> SimulatorSource:
    """Choose the traction pulse's ``angle`` and ``duration`` to minimise the peak stress at the hole.

    See the module docstring. Fidelity ``resolution`` (discrete, the levels, target the last,
    rescaled in ``log``); declared cost ``sim(level).cost / sim(truth).cost`` (degrees of freedom x
    time steps); material, damping and geometry are the simulator's defaults; the output grid
    and the interface points are the smallest the simulator accepts (they do not enter the QoI).
    ``optimum_value`` and ``optimizers`` are those of :data:`REFERENCE` when the settings are its
    ``settings``, otherwise ``None`` (no regret; :func:`reference_optimum` computes them).

    Parameters
    ----------
    levels : sequence of int
        Mesh resolutions, increasing; the last is the truth.
    angle_bounds, duration_bounds : (float, float)
        Design box (inside the simulator's ``[-pi/4, pi/4]`` rad and ``[0.2, 1]``).
    t_final, n_steps : float, int
        Horizon and time steps of every level (the peak is over all steps).
    amplitude : float
        Traction amplitude (fixed; the objective is per unit amplitude).
    seed : int
        Seed of every run (recorded; the problem is deterministic).

    Raises
    ------
    ConfigError
        Bad levels.
    ParameterError
        Bounds outside the parameter space, bad simulator options.
    ImportError
        FEniCSx is missing (the message says how to install it).
    """
    import_dolfinx()
    lv = _check_levels(levels)
    kwargs = {"t_final": float(t_final), "n_steps": int(n_steps), "grid": 2, "interface_points": 4}
    fid = Fidelity.discrete("resolution", lv, log_scale=True) if len(lv) > 1 else None
    params = {"angle": (float(angle_bounds[0]), float(angle_bounds[1])),
              "duration": (float(duration_bounds[0]), float(duration_bounds[1]))}
    fixed = {"amplitude": float(amplitude)}
    costs = {float(r): PlateDynamicsSimulator(resolution=r, **kwargs).cost(fixed) for r in lv}
    cost = TableFidelityCost({r: c / costs[float(lv[-1])] for r, c in costs.items()}) if fid is not None else 1.0
    settings = _reference_settings(lv, angle_bounds, duration_bounds, t_final, n_steps)
    known = settings == dict(REFERENCE.settings) and math.isfinite(REFERENCE.value)
    if fid is None:
        kwargs["resolution"] = lv[0]
    return SimulatorSource(
        PlateDynamicsSimulator, PeakStressObjective(), fid, simulator_kwargs=kwargs, parameters=params,
        fixed=fixed, seed=seed, maximize=False, cost=cost, name="fem_plate_peak_stress",
        optimum_value=REFERENCE.value if known else None,
        optimizers=[list(x) for x in REFERENCE.optimizers] if known else None)


def reference_optimum(problem: SimulatorSource, *, n_grid: Sequence[int] = (33, 17), n_starts: int = 2,
                      xatol: float = 1e-4) -> tuple[float, np.ndarray]:
    """The best objective value of ``problem`` at its target fidelity, by a dense search.

    A grid of ``n_grid`` points per design variable over the box (the evaluations of the
    problem), then a bounded Nelder-Mead (SciPy) from each of the ``n_starts`` best grid points
    that are local minima of the grid.

    Parameters
    ----------
    problem : SimulatorSource
        The problem (e.g. :func:`plate_peak_stress_problem`; minimised or maximised as it says).
    n_grid : sequence of int
        Grid points per design variable (``>= 2`` each, one per variable).
    n_starts : int
        Nelder-Mead starts (``>= 1``).
    xatol : float
        Nelder-Mead's tolerance on the design (physical units).

    Returns
    -------
    value : float
        The best value found (grid or refined).
    optimizers : ndarray, shape ``(k, d)``
        The refined optimisers within ``1e-9`` relative of ``value`` (one per start reaching it).

    Raises
    ------
    ConfigError
        ``n_grid`` does not give ``>= 2`` points for each design variable, or ``n_starts < 1``.
    """
    from scipy.optimize import minimize

    lo, hi = problem.bounds[0].numpy(), problem.bounds[1].numpy()
    if len(n_grid) != lo.size or any(int(n) < 2 for n in n_grid):
        raise ConfigError(f"n_grid must give >= 2 points for each of the {lo.size} design variables; got {n_grid!r}")
    if n_starts < 1:
        raise ConfigError(f"n_starts must be >= 1; got {n_starts!r}")
    axes = [np.linspace(lo[i], hi[i], n) for i, n in enumerate(n_grid)]
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    X = torch.as_tensor(mesh.reshape(-1, len(axes)))
    grid = (-problem.sign * problem.evaluate(X)).numpy().reshape(mesh.shape[:-1])  # minimised

    def f(x: np.ndarray) -> float:
        return float(-problem.sign * problem.evaluate(torch.as_tensor(np.clip(x, lo, hi)[None]))[0])

    starts = [np.unravel_index(k, grid.shape) for k in np.argsort(grid, axis=None)]
    starts = [ij for ij in starts if _grid_local_min(grid, ij)][:n_starts]
    found = []
    for ij in starts:
        res = minimize(f, mesh[ij], method="Nelder-Mead", bounds=list(zip(lo, hi, strict=True)),
                       options={"xatol": xatol, "fatol": 0.0, "maxiter": 400})
        found.append((float(res.fun), np.clip(res.x, lo, hi)))
    best = min(v for v, _ in found)  # a start is a grid point: no refined value is above it
    optimizers = np.array([x for v, x in found if v <= best + 1e-9 * abs(best)]).reshape(-1, len(axes))
    return -problem.sign * best, optimizers


def _grid_local_min(grid: np.ndarray, ij: tuple[int, ...]) -> bool:
    """Whether ``grid[ij]`` is no larger than its neighbours (diagonal ones included)."""
    window = tuple(slice(max(0, i - 1), i + 2) for i in ij)
    return bool(grid[ij] <= grid[window].min())
