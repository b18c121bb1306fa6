"""The Burgers shock-time studies: choose the viscosity (and the initial amplitude) of viscous
Burgers so that the shock forms at a target time, with the solver's resolution or a trained
neural surrogate as the cheaper information sources.

The objective is ``-(shock_time - t_target)^2`` (maximised; :func:`~sciml.simulators.pde.burgers.
shock_time`), designed over ``log10(nu)``. For ``u0 = sin(2 pi x)`` the shock time rises from
~0.245 (``nu = 1e-3``) to ~0.273 (``nu ~ 0.03``), then falls to 0 (``nu >~ 0.5``: the gradient
only decays), so ``t_target = 0.2`` is reached once, near ``nu ~ 0.09`` (``docs/benchmarks.md``
has the dense scan behind these numbers).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch.utils.data import Subset

from sciml.bo.costs import PowerFidelityCost
from sciml.bo.fidelity import Fidelity
from sciml.bo.sources import MultiSourceProblem, SimulatorSource, Source
from sciml.data.torch_dataset import InMemoryTrajectoryDataset
from sciml.errors import ConfigError
from sciml.simulators.base import Simulator
from sciml.simulators.pde.burgers import BurgersAmplitudeSimulator, BurgersSimulator, shock_time
from sciml.simulators.pde.initial_conditions import SineIC
from sciml.surrogates.neural_pde.as_simulator import NeuralSolverSimulator
from sciml.surrogates.neural_pde.factory import build_solver
from sciml.surrogates.neural_pde.training import Trainer, TrainConfig, load_weights

__all__ = [
    "ShockTimeObjective",
    "burgers_shock_time_2d_problem",
    "burgers_shock_time_problem",
    "burgers_shock_time_surrogate_problem",
    "shock_time_objective",
    "shock_time_target",
    "train_burgers_surrogate",
]


@dataclass(frozen=True)
class ShockTimeObjective:
    """``-(shock_time(ds) - t_target)^2``: 0 when the shock forms at ``t_target`` (maximised)."""

    t_target: float

    def __call__(self, ds: xr.Dataset) -> float:
        return -((shock_time(ds) - self.t_target) ** 2)


def shock_time_objective(t_target: float, t_final: float) -> ShockTimeObjective:
    """:class:`ShockTimeObjective` after checking ``0 < t_target < t_final``.

    Raises
    ------
    ConfigError
        ``t_target`` outside ``(0, t_final)``.
    """
    if not (math.isfinite(t_target) and 0.0 < t_target < t_final):
        raise ConfigError(f"t_target must lie in (0, t_final={t_final:g}), got {t_target!r}")
    return ShockTimeObjective(float(t_target))


def shock_time_target(target: Simulator, *, t_target: float) -> ShockTimeObjective:
    """The shock-time objective for sources whose truth is ``target`` (a 1-D grid simulator).

    The objective factory registered as ``"shock_time"`` (:data:`sciml.studies.bo_problems.OBJECTIVES`):
    ``t_target`` is checked against the truth's ``t_final``.
    """
    t_final = getattr(target, "t_final", None)
    if t_final is None:
        raise ConfigError(f"the shock-time objective needs a grid simulator with t_final as the truth, got "
                          f"{type(target).__name__}")
    return shock_time_objective(t_target, float(t_final))


def _grid_fidelity(n_cells: Sequence[int]) -> Fidelity:
    return Fidelity.discrete("n_cells", tuple(int(n) for n in n_cells), log_scale=True)


def burgers_shock_time_problem(
    *,
    t_target: float = 0.2,
    n_cells: Sequence[int] = (64, 128, 256, 512),
    nu_bounds: tuple[float, float] = (1e-3, 0.3),
    amplitude: float = 1.0,
    t_final: float = 0.5,
    n_frames: int = 51,
    seed: int = 0,
) -> SimulatorSource:
    """Choose the Burgers viscosity so that the shock forms at ``t_target``.

    Viscous Burgers (:class:`~sciml.simulators.pde.burgers.BurgersSimulator`, diffusion
    ``nu / pi``) from ``u0 = amplitude sin(2 pi x)`` on the periodic unit interval; the
    objective :class:`ShockTimeObjective` is maximised over ``log10(nu)``. Fidelity:
    ``n_cells`` (discrete, target the largest, rescaled in ``log``), declared cost
    ``(n_cells / max(n_cells))^2`` (the CFL time step makes the work quadratic in ``n_cells``).
    ``optimum_value = 0`` assumes ``t_target`` is reachable within ``nu_bounds`` (for
    ``amplitude = 1``, targets in ``(0.245, 0.273)`` are reached twice, see the module docstring).

    Parameters
    ----------
    t_target : float
        Wanted shock time (time units of the simulator), in ``(0, t_final)``.
    n_cells : sequence of int
        Grid sizes (fidelity levels).
    nu_bounds : (float, float)
        Range of ``nu`` (inside the simulator's ``[1e-4, 10]``).
    amplitude : float
        Amplitude of the initial sine (not a design variable).
    t_final, n_frames : float, int
        Simulated time and saved frames (the shock time is refined between frames).
    seed : int
        Seed of every run.
    """
    objective = shock_time_objective(t_target, t_final)
    fid = _grid_fidelity(n_cells)
    return SimulatorSource(
        BurgersSimulator, objective, fid,
        simulator_kwargs={"t_final": float(t_final), "n_frames": int(n_frames),
                          "initial_condition": SineIC(amplitude=float(amplitude))},
        parameters={"nu": (float(nu_bounds[0]), float(nu_bounds[1]))}, log_scale=("nu",),
        seed=seed, maximize=True, cost=PowerFidelityCost(reference=fid.hi, exponent=2.0),
        name="burgers_shock_time", optimum_value=0.0)


def burgers_shock_time_2d_problem(
    *,
    t_target: float = 0.2,
    n_cells: Sequence[int] = (64, 128, 256, 512),
    nu_bounds: tuple[float, float] = (1e-3, 0.3),
    amplitude_bounds: tuple[float, float] = (0.5, 2.0),
    t_final: float = 0.5,
    n_frames: int = 51,
    seed: int = 0,
) -> SimulatorSource:
    """Choose the Burgers viscosity *and* initial amplitude so that the shock forms at ``t_target``.

    As :func:`burgers_shock_time_problem`, with ``u0 = A sin(2 pi x)``
    (:class:`~sciml.simulators.pde.burgers.BurgersAmplitudeSimulator`) and the design
    ``(log10 nu, A)``. Burgers' scaling gives the shock time ``t_s(nu, A) = t_s(nu / A, 1) / A``,
    so with the default bounds ``t_target = 0.2`` is reached along a curve ``A ~ 1.2-1.4`` for
    small ``nu`` that continues to ``A = 1``, ``nu ~ 0.09``: a set of optima (value 0) rather
    than one narrow peak. Fidelity and declared cost as in :func:`burgers_shock_time_problem`.

    Parameters
    ----------
    amplitude_bounds : (float, float)
        Range of ``A`` (inside ``[0.05, 20]``).
    t_target, n_cells, nu_bounds, t_final, n_frames, seed
        As for :func:`burgers_shock_time_problem`.
    """
    objective = shock_time_objective(t_target, t_final)
    fid = _grid_fidelity(n_cells)
    return SimulatorSource(
        BurgersAmplitudeSimulator, objective, fid,
        simulator_kwargs={"t_final": float(t_final), "n_frames": int(n_frames),
                          "initial_condition": SineIC(amplitude=1.0)},
        parameters={"nu": (float(nu_bounds[0]), float(nu_bounds[1])),
                    "amplitude": (float(amplitude_bounds[0]), float(amplitude_bounds[1]))},
        log_scale=("nu",), seed=seed, maximize=True, cost=PowerFidelityCost(reference=fid.hi, exponent=2.0),
        name="burgers_shock_time_2d", optimum_value=0.0)


def burgers_shock_time_surrogate_problem(
    solver: torch.nn.Module,
    *,
    surrogate_cost: float,
    model_frame_dt: float | None = None,
    surrogate_n_cells: int = 128,
    solver_n_cells: Sequence[int] = (128, 512),
    t_target: float = 0.2,
    nu_bounds: tuple[float, float] = (1e-3, 0.3),
    amplitude: float = 1.0,
    t_final: float = 0.5,
    n_frames: int = 51,
    seed: int = 0,
) -> MultiSourceProblem:
    """The Burgers shock-time problem with a trained neural solver as source 0 beside the solver.

    As :func:`burgers_shock_time_problem`, with the fidelity ``source``: ``0`` is ``solver``
    rolled out on ``surrogate_n_cells`` cells
    (:class:`~sciml.surrogates.neural_pde.as_simulator.NeuralSolverSimulator`), ``k = 1, 2,
    ...`` is sciml's Burgers solver on ``solver_n_cells[k - 1]`` cells, the last one the truth.
    Declared costs: ``(n_cells / max(solver_n_cells))^2`` for the solver and ``surrogate_cost``
    for the model, which you must measure and declare (for this 1-D problem the solver is not
    slower than the model, ``docs/benchmarks.md``); pass ``use_measured_cost=True`` to the loop
    to spend measured wall times instead. The sources are unordered codes: the multi-task GP
    (``model_kind="multitask"``) is the natural model.

    Parameters
    ----------
    solver : torch.nn.Module
        Trained on Burgers trajectories from ``amplitude * sin(2 pi x)`` with frames
        ``t_final / (n_frames - 1)`` apart and ``nu`` as its one PDE parameter (see
        :func:`train_burgers_surrogate`).
    surrogate_cost : float
        Declared cost of one surrogate run (``> 0``) relative to the target's 1.
    model_frame_dt : float, optional
        Time between the frames ``solver`` was trained on (checked against
        ``t_final / (n_frames - 1)``); :func:`train_burgers_surrogate` trains on exactly that.
    surrogate_n_cells : int
        Grid of the surrogate's rollout.
    solver_n_cells : sequence of int
        Grids of the solver sources, increasing; the last is the truth.
    t_target, nu_bounds, amplitude, t_final, n_frames, seed
        As for :func:`burgers_shock_time_problem`.

    Returns
    -------
    MultiSourceProblem
        Named ``burgers_shock_time_surrogate``; fidelity ``source`` with levels
        ``0, 1, ..., len(solver_n_cells)``.
    """
    grids = [int(n) for n in solver_n_cells]
    if not grids or grids != sorted(set(grids)):
        raise ConfigError(f"solver_n_cells must be distinct grid sizes in increasing order, got {list(solver_n_cells)}")
    if isinstance(surrogate_cost, bool) or not isinstance(surrogate_cost, (int, float)) \
            or not math.isfinite(surrogate_cost) or surrogate_cost <= 0:
        raise ConfigError(f"surrogate_cost must be a finite number > 0, got {surrogate_cost!r}")
    objective = shock_time_objective(t_target, t_final)
    common = {"t_final": float(t_final), "n_frames": int(n_frames),
              "initial_condition": SineIC(amplitude=float(amplitude))}
    surrogate = NeuralSolverSimulator(solver, BurgersSimulator(n_cells=int(surrogate_n_cells), **common),
                                      parameters=("nu",), cost=float(surrogate_cost), frame_dt=model_frame_dt)
    sources = [Source(surrogate, cost=float(surrogate_cost))]
    sources += [Source(BurgersSimulator(n_cells=n, **common), cost=(n / grids[-1]) ** 2) for n in grids]
    return MultiSourceProblem(
        sources, objective, parameters={"nu": (float(nu_bounds[0]), float(nu_bounds[1]))}, log_scale=("nu",),
        seed=seed, maximize=True, name="burgers_shock_time_surrogate", optimum_value=0.0)


def train_burgers_surrogate(
    *,
    n_trajectories: int = 96,
    n_cells: int = 128,
    nu_bounds: tuple[float, float] = (1e-3, 0.3),
    amplitude: float = 1.0,
    t_final: float = 0.5,
    n_frames: int = 51,
    epochs: int = 30,
    width: int = 16,
    modes: int = 12,
    seed: int = 0,
    run_dir: Any = None,
) -> torch.nn.Module:
    """Train a CAPE-FNO on sciml's Burgers solver for :func:`burgers_shock_time_surrogate_problem`.

    Draws ``n_trajectories`` viscosities log-uniformly in ``nu_bounds`` (seeded), solves
    Burgers from ``amplitude * sin(2 pi x)`` on ``n_cells`` cells with ``n_frames`` frames up to
    ``t_final``, and trains a CAPE-FNO (``nu`` as its PDE parameter, clamped to the trained
    range) with :class:`~sciml.surrogates.neural_pde.training.Trainer` (teacher forcing then
    autoregressive rollouts; 10% of the trajectories for validation).

    Parameters
    ----------
    n_trajectories, n_cells, nu_bounds, amplitude, t_final, n_frames
        The training data.
    epochs, width, modes
        Training length and FNO size.
    seed : int
        Seed of the viscosity draw, the weights and the training.
    run_dir : path, optional
        Where the checkpoints go (default: a temporary folder, deleted afterwards).

    Returns
    -------
    torch.nn.Module
        The best (validation) model, in eval mode; one step advances
        ``t_final / (n_frames - 1)`` (pass it as ``model_frame_dt`` to
        :func:`burgers_shock_time_surrogate_problem`).
    """
    if n_trajectories < 4:
        raise ConfigError(f"n_trajectories must be >= 4, got {n_trajectories}")
    sim = BurgersSimulator(n_cells=int(n_cells), t_final=float(t_final), n_frames=int(n_frames),
                           initial_condition=SineIC(amplitude=float(amplitude)))
    rng = np.random.default_rng(seed)
    lo, hi = math.log10(nu_bounds[0]), math.log10(nu_bounds[1])
    nus = 10.0 ** rng.uniform(lo, hi, size=int(n_trajectories))
    u = np.stack([sim.run({"nu": float(nu)}, seed=seed)["u"].values[0] for nu in nus])  # (n, n_frames, n_cells)
    data = InMemoryTrajectoryDataset.from_tensors(torch.as_tensor(u[:, None], dtype=torch.float32),
                                                  torch.as_tensor(nus[:, None], dtype=torch.float32))
    order = np.random.default_rng(seed + 1).permutation(len(data))
    n_val = max(1, len(data) // 10)
    train, val = Subset(data, order[n_val:].tolist()), Subset(data, order[:n_val].tolist())
    model = build_solver("cape_fno", n_vars=1, n_params=1, width=width, modes=modes, n_layers=3, cape_hidden=8,
                         cape_modes=8, param_scale=1e-3, param_bounds=(float(nus.min()), float(nus.max())), seed=seed)
    config = TrainConfig(epochs=int(epochs), batch_size=16, lr=3e-3, warmup_epochs=min(3, int(epochs) - 1),
                         relative_floor=0.01, aux_loss_weight=0.3, seed=int(seed), progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(run_dir) if run_dir is not None else Path(tmp)
        result = Trainer(model, config, out).fit(train, val)
        load_weights(model, result.best_checkpoint)
    return model.eval()
