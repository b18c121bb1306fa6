"""Trained neural PDE solvers as the cheapest information source of a multi-fidelity problem.

A trained autoregressive solver (CAPE, FNO, U-Net: :mod:`sciml.surrogates.neural_pde`) costs the
same whatever the physics does, where a solver's cost grows with resolution, stiffness and
dimension. :class:`NeuralSolverSimulator` makes such a model a sciml
:class:`~sciml.simulators.base.Simulator`, so that it can stand beside the solver in a
:class:`~sciml.bo.problems.SimulatorSource`: same parameters, same initial state for the same
seed, same dataset layout, so the same objective applies to both. The multi-fidelity loop then
decides when the surrogate's answer is worth its price and when to pay for the solver.

:func:`burgers_shock_time_surrogate_problem` builds the Burgers shock-time problem of
:func:`~sciml.bo.problems.burgers_shock_time_problem` with such a surrogate as source ``0``
and the solver at one or more grid sizes as sources ``1, 2, ...`` (the last one the truth);
:func:`train_burgers_surrogate` trains a CAPE-FNO for it on data from sciml's own Burgers
solver. The sources are discrete codes, so the multi-task GP (``model_kind="multitask"``),
which treats them as unordered, is the natural model; with equally spaced codes the AR(1)
model also applies.

Whether the surrogate is the *cheap* source is a measurement, not an assumption. On this 2-core
machine, one thread, with a benchmark running beside it (medians over 13 viscosities from 1e-3
to 0.3): sciml's 1-D Burgers solver took 9.5-12 ms per 51-frame run on 128 cells and 12-17 ms
on 512, and a rollout of the CAPE-FNO of :func:`train_burgers_surrogate` 0.17-0.23 s (two
trainings). Trained on 96 trajectories for 40 epochs (350 s), its shock time follows the
solver's shape with a bias: 0.36 against 0.25-0.27 for ``nu <= 0.03``, 0.22 against 0.16 at
``nu = 0.1``, 0.058 against 0.038 at 0.3; 48 trajectories and 15 epochs gave no usable shock
(0.5, the last frame, everywhere). So the problem takes the surrogate's declared cost as an
argument, and ``BOLoop(use_measured_cost=True)`` spends the measured wall times instead.
Surrogates pay where the solver is expensive (2-D/3-D, FEniCSx).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sciml.errors import ConfigError, ParameterError

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn
    import xarray as xr

    from sciml.bo.problems import SimulatorSource

__all__ = ["NeuralSolverSimulator", "burgers_shock_time_surrogate_problem", "train_burgers_surrogate"]


class NeuralSolverSimulator:
    """A trained autoregressive neural PDE solver as a sciml Simulator.

    The ``reference`` grid simulator supplies what the model does not: the parameter space,
    the grid and the frame times, the initial state (drawn from the same seed, so a surrogate
    run and a solver run with the same seed start from the same state) and the dataset layout.
    One model step advances one frame of the reference, so the model must have been trained
    on frames ``reference.t_final / (reference.n_frames - 1)`` apart (checked when
    ``frame_dt`` is given); it runs on the reference's grid (an FNO runs at any resolution;
    convolutional models such as the U-Net, and CAPE's stencils, only at the trained one).
    The module's train/eval mode is left as the caller set it: a run switches it to eval and
    back.

    Parameters
    ----------
    solver : torch.nn.Module
        A :class:`~sciml.surrogates.neural_pde.protocol.NeuralPDESolver` with one field
        variable, one spatial dimension and ``initial_step == 1`` (the first frame is the
        initial state).
    reference : PDESimulator1D
        A sciml 1-D grid simulator (``initial_state``, ``to_dataset``, ``x``, ``t``,
        ``n_frames``), e.g. :class:`~sciml.simulators.pde.burgers.BurgersSimulator`.
    parameters : sequence of str
        Names (in ``reference.parameter_space``) of the model's PDE parameters, in the order
        of its ``params`` columns; ``()`` for a parameter-blind model. Other parameters act
        through the reference's initial state only.
    cost : float
        Declared cost of one run (``> 0``), in whatever units the caller's cost model uses
        (:func:`burgers_shock_time_surrogate_problem`: relative to the target solver's 1).
    frame_dt : float, optional
        Time between the frames the model was trained on; must equal the reference's frame
        spacing (relative tolerance 1e-6).
    name : str, optional
        Default ``"<reference name>-surrogate"``.

    Raises
    ------
    ConfigError
        A model that does not fit (variables, dimensions, history length, parameter count, time
        step), or a bad cost.
    ParameterError
        A parameter name the reference does not know.
    """

    version = "1"

    def __init__(self, solver: nn.Module, reference: Any, *, parameters: Sequence[str], cost: float,
                 frame_dt: float | None = None, name: str | None = None) -> None:
        import torch

        attrs = {k: getattr(solver, k, None) for k in ("n_vars", "initial_step", "n_params", "spatial_dims")}
        if not isinstance(solver, torch.nn.Module) or any(v is None for v in attrs.values()):
            raise ConfigError(f"solver must be a neural PDE solver module (n_vars, initial_step, n_params, "
                              f"spatial_dims), got {type(solver).__name__}")
        if (attrs["n_vars"], attrs["spatial_dims"], attrs["initial_step"]) != (1, 1, 1):
            raise ConfigError(f"{type(solver).__name__}: NeuralSolverSimulator needs n_vars=1, spatial_dims=1 and "
                              f"initial_step=1 (the first frame is the initial state); got {attrs}")
        for method in ("initial_state", "to_dataset"):
            if not callable(getattr(reference, method, None)):
                raise ConfigError(f"reference must be a sciml 1-D grid simulator (with {method}), "
                                  f"got {type(reference).__name__}")
        space = reference.parameter_space
        names = [str(p) for p in parameters]
        unknown = [p for p in names if p not in space.names]
        if unknown:
            raise ParameterError(f"{reference.name}: unknown parameter(s) {unknown}; accepted: {space.describe()}")
        if len(names) != int(attrs["n_params"]):
            raise ConfigError(f"{type(solver).__name__} takes {attrs['n_params']} PDE parameter(s), "
                              f"but parameters={names}")
        if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not math.isfinite(cost) or cost <= 0:
            raise ConfigError(f"cost must be a finite number > 0, got {cost!r}")
        ref_dt = float(reference.t_final) / (int(reference.n_frames) - 1)
        if frame_dt is not None and not math.isclose(float(frame_dt), ref_dt, rel_tol=1e-6):
            raise ConfigError(f"{type(solver).__name__} steps {float(frame_dt):g} in time, but the reference's "
                              f"frames are t_final / (n_frames - 1) = {ref_dt:g} apart")
        self.solver = solver
        self.reference = reference
        self.parameters = tuple(names)
        self._cost = float(cost)
        self.name = name or f"{reference.name}-surrogate"

    @property
    def parameter_space(self) -> Any:
        """The reference simulator's parameter space."""
        return self.reference.parameter_space

    def cost(self, params: Mapping[str, float]) -> float:
        """The declared cost of one run (independent of ``params``)."""
        return self._cost

    def config(self) -> dict[str, Any]:
        """What the surrogate is: its reference, parameters, cost and model (class and size)."""
        import hashlib

        n_weights = sum(int(p.numel()) for p in self.solver.parameters())
        digest = hashlib.sha256()
        for key, value in sorted(self.solver.state_dict().items()):
            digest.update(key.encode())
            digest.update(value.detach().to("cpu").contiguous().numpy().tobytes())
        return {"kind": "neural_solver", "name": self.name, "reference": self.reference.config(),
                "parameters": list(self.parameters), "cost": self._cost,
                "model_class": f"{type(self.solver).__module__}.{type(self.solver).__qualname__}",
                "n_weights": n_weights, "weights_sha256": digest.hexdigest()}

    def run(self, params: Mapping[str, float], *, seed: int, n_samples: int = 1) -> xr.Dataset:
        """Roll the model out from the reference's initial state for ``seed``.

        Returns
        -------
        xarray.Dataset
            ``u`` of shape ``(n_samples, n_frames, n_cells)`` on the reference's grid and
            frames, in the reference's layout; ``generator`` is this simulator's name.

        Raises
        ------
        ParameterError
            Parameters outside the parameter space.
        SimulationError
            Non-finite values in the rollout.
        """
        import torch

        from sciml.data.schema import provenance_attrs
        from sciml.simulators.base import check_finite, check_n_samples
        from sciml.surrogates.neural_pde.protocol import rollout

        p = self.parameter_space.validate(params, source=self.name)
        n = check_n_samples(n_samples)
        ref = self.reference
        u0 = np.asarray(ref.initial_state(np.random.default_rng(seed), n, p), dtype=np.float64)  # (n, n_cells)
        weight = next(self.solver.parameters(), None)
        dtype = weight.dtype if weight is not None else torch.float32
        device = weight.device if weight is not None else torch.device("cpu")
        initial = torch.as_tensor(u0, dtype=dtype, device=device).reshape(n, 1, 1, u0.shape[-1])
        theta = (torch.tensor([[float(p[k]) for k in self.parameters]] * n, dtype=dtype, device=device)
                 if self.parameters else None)
        training = self.solver.training
        self.solver.eval()  # (BatchNorm and dropout in eval form; the caller's mode is restored)
        try:
            with torch.no_grad():
                traj = rollout(self.solver, initial, int(ref.n_frames) - 1, theta)  # (n, 1, n_frames, n_cells)
        finally:
            self.solver.train(training)
        u = traj[:, 0].to(device="cpu", dtype=torch.float64).numpy().astype(getattr(ref, "dtype", np.float64))
        check_finite({"u": u}, simulator=self.name, params=p, seed=seed)
        ds = ref.to_dataset(u, p, seed=seed)
        ds.attrs.update(provenance_attrs(generator=self.name, generator_version=self.version,
                                         parameters={"config": self.config(), "params": dict(p)}, seed=seed))
        return ds


def burgers_shock_time_surrogate_problem(
    solver: nn.Module,
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
) -> SimulatorSource:
    """The Burgers shock-time problem with a trained neural solver as source 0 beside the solver.

    As :func:`~sciml.bo.problems.burgers_shock_time_problem` (design ``log10(nu)``, objective
    ``-(shock_time - t_target)^2``, maximised), with the fidelity ``source``: ``0`` is
    ``solver`` rolled out on ``surrogate_n_cells`` cells (:class:`NeuralSolverSimulator`),
    ``k = 1, 2, ...`` is sciml's Burgers solver on ``solver_n_cells[k - 1]`` cells, and the
    last one is the truth. Declared costs: ``(n_cells / max(solver_n_cells))^2`` for the
    solver (the CFL step makes its work quadratic as the grid is refined; at these small grids
    fixed overheads flatten the measured ratio, see the module docstring) and
    ``surrogate_cost`` for the model, which you must measure and declare (for this 1-D problem
    the solver is not slower than the model); pass ``use_measured_cost=True`` to the loop to
    spend measured wall times instead.

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
        As for :func:`~sciml.bo.problems.burgers_shock_time_problem`.

    Returns
    -------
    SimulatorSource
        Named ``burgers_shock_time_surrogate``; fidelity ``source`` with levels
        ``0, 1, ..., len(solver_n_cells)``.
    """
    from sciml.bo.problems import Fidelity, SimulatorSource, TableFidelityCost, _shock_time_objective
    from sciml.simulators.pde.burgers import BurgersSimulator
    from sciml.simulators.pde.initial_conditions import SineIC

    grids = [int(n) for n in solver_n_cells]
    if not grids or grids != sorted(set(grids)):
        raise ConfigError(f"solver_n_cells must be distinct grid sizes in increasing order, got {list(solver_n_cells)}")
    if isinstance(surrogate_cost, bool) or not isinstance(surrogate_cost, (int, float)) \
            or not math.isfinite(surrogate_cost) or surrogate_cost <= 0:
        raise ConfigError(f"surrogate_cost must be a finite number > 0, got {surrogate_cost!r}")
    objective = _shock_time_objective(t_target, t_final)
    common = {"t_final": float(t_final), "n_frames": int(n_frames),
              "initial_condition": SineIC(amplitude=float(amplitude))}
    surrogate = NeuralSolverSimulator(solver, BurgersSimulator(n_cells=int(surrogate_n_cells), **common),
                                      parameters=("nu",), cost=float(surrogate_cost), frame_dt=model_frame_dt)
    levels = tuple(range(len(grids) + 1))
    costs = {0: float(surrogate_cost), **{k + 1: (n / grids[-1]) ** 2 for k, n in enumerate(grids)}}

    def build(*, source: int, **kwargs: Any) -> Any:
        if int(source) == 0:
            return surrogate
        return BurgersSimulator(n_cells=grids[int(source) - 1], **kwargs)

    return SimulatorSource(
        build, objective, Fidelity.discrete("source", levels),
        simulator_kwargs=common, parameters={"nu": (float(nu_bounds[0]), float(nu_bounds[1]))},
        log_scale=("nu",), seed=seed, maximize=True, cost=TableFidelityCost(costs),
        name="burgers_shock_time_surrogate", optimum_value=0.0)


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
) -> nn.Module:
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
    import tempfile
    from pathlib import Path

    import torch
    from torch.utils.data import Subset

    from sciml.simulators.pde.burgers import BurgersSimulator
    from sciml.simulators.pde.initial_conditions import SineIC
    from sciml.surrogates.neural_pde.data import InMemoryTrajectories
    from sciml.surrogates.neural_pde.factory import build_solver
    from sciml.surrogates.neural_pde.training import Trainer, TrainConfig, load_weights

    if n_trajectories < 4:
        raise ConfigError(f"n_trajectories must be >= 4, got {n_trajectories}")
    sim = BurgersSimulator(n_cells=int(n_cells), t_final=float(t_final), n_frames=int(n_frames),
                           initial_condition=SineIC(amplitude=float(amplitude)))
    rng = np.random.default_rng(seed)
    lo, hi = math.log10(nu_bounds[0]), math.log10(nu_bounds[1])
    nus = 10.0 ** rng.uniform(lo, hi, size=int(n_trajectories))
    u = np.stack([sim.run({"nu": float(nu)}, seed=seed)["u"].values[0] for nu in nus])  # (n, n_frames, n_cells)
    data = InMemoryTrajectories.from_tensors(torch.as_tensor(u[:, None], dtype=torch.float32),
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
