"""A trained neural PDE solver as a sciml Simulator: the Simulator contract, exact rollouts, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from sciml.data.schema import validate
from sciml.errors import ConfigError, ParameterError, SimulationError
from sciml.simulators.base import Simulator
from sciml.simulators.pde.burgers import BurgersSimulator
from sciml.simulators.pde.initial_conditions import SineIC
from sciml.surrogates.neural_pde.as_simulator import NeuralSolverSimulator
from sciml.testing import check_simulator

F64 = torch.float64
pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Decay(torch.nn.Module):
    """A "solver" with a closed-form rollout: each step multiplies by ``exp(-nu dt)``."""

    n_vars, initial_step, n_params, spatial_dims = 1, 1, 1, 1

    def __init__(self, dt: float, blow_up_above: float = math.inf) -> None:
        super().__init__()
        self.dt, self.blow_up_above = dt, blow_up_above
        self.scale = torch.nn.Parameter(torch.ones((), dtype=F64))

    def forward(self, history: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        out = self.scale * history * torch.exp(-params[:, :, None] * self.dt)
        return torch.where(params[:, :, None] > self.blow_up_above, torch.full_like(out, math.nan), out)


def _reference(n_cells: int = 64, n_frames: int = 11) -> BurgersSimulator:
    return BurgersSimulator(n_cells=n_cells, t_final=0.5, n_frames=n_frames, initial_condition=SineIC(amplitude=1.0))


def test_neural_solver_simulator_keeps_the_simulator_contract_and_rolls_out_exactly():
    ref = _reference()
    sim = NeuralSolverSimulator(Decay(0.05), ref, parameters=("nu",), cost=0.01)
    assert isinstance(sim, Simulator) and sim.name == "burgers1d-surrogate" and sim.cost({"nu": 0.1}) == 0.01
    ds = sim.run({"nu": 0.1}, seed=3, n_samples=2)
    validate(ds)
    truth = ref.run({"nu": 0.1}, seed=3, n_samples=2)
    # the reference's layout and initial state for the same seed, then the closed-form decay
    assert ds["u"].shape == truth["u"].shape == (2, 11, 64)
    np.testing.assert_array_equal(ds["t"].values, truth["t"].values)
    np.testing.assert_array_equal(ds["x"].values, truth["x"].values)
    np.testing.assert_array_equal(ds["u"].values[:, 0], truth["u"].values[:, 0])
    k = np.arange(11)[None, :, None]
    np.testing.assert_allclose(ds["u"].values, truth["u"].values[:, :1] * np.exp(-0.1 * 0.05 * k), rtol=1e-13)
    np.testing.assert_array_equal(ds["nu"].values, [0.1, 0.1])
    assert ds.attrs["generator"] == "burgers1d-surrogate" and ds.attrs["seed"] == 3
    recorded = json.loads(ds.attrs["parameters"])
    assert recorded["params"] == {"nu": 0.1} and recorded["config"]["reference"]["n_cells"] == 64
    assert recorded["config"]["n_weights"] == 1 and len(recorded["config"]["weights_sha256"]) == 64
    np.testing.assert_array_equal(sim.run({"nu": 0.1}, seed=3)["u"].values, sim.run({"nu": 0.1}, seed=3)["u"].values)


def test_neural_solver_simulator_bad_input():
    ref = _reference()
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) \['viscosity'\]"):
        NeuralSolverSimulator(Decay(0.05), ref, parameters=("viscosity",), cost=1.0)
    with pytest.raises(ConfigError, match=r"takes 1 PDE parameter\(s\), but parameters=\[\]"):
        NeuralSolverSimulator(Decay(0.05), ref, parameters=(), cost=1.0)
    for cost in (0.0, -1.0, math.nan, True):
        with pytest.raises(ConfigError, match="cost must be a finite number > 0"):
            NeuralSolverSimulator(Decay(0.05), ref, parameters=("nu",), cost=cost)
    two_frames = Decay(0.05)
    two_frames.initial_step = 2
    with pytest.raises(ConfigError, match="initial_step=1"):
        NeuralSolverSimulator(two_frames, ref, parameters=("nu",), cost=1.0)
    with pytest.raises(ConfigError, match="must be a neural PDE solver module"):
        NeuralSolverSimulator(torch.nn.Linear(2, 2), ref, parameters=("nu",), cost=1.0)
    with pytest.raises(ConfigError, match="1-D grid simulator"):
        NeuralSolverSimulator(Decay(0.05), object(), parameters=("nu",), cost=1.0)
    two_vars = Decay(0.05)
    two_vars.n_vars = 2
    with pytest.raises(ConfigError, match="needs n_vars=1, spatial_dims=1"):
        NeuralSolverSimulator(two_vars, ref, parameters=("nu",), cost=1.0)
    # a model trained on frames 0.01 apart cannot advance the reference's 0.05 frames
    with pytest.raises(ConfigError, match=r"Decay steps 0.01 in time, but the reference's frames are "
                                          r"t_final / \(n_frames - 1\) = 0.05 apart"):
        NeuralSolverSimulator(Decay(0.01), ref, parameters=("nu",), cost=1.0, frame_dt=0.01)
    assert NeuralSolverSimulator(Decay(0.05), ref, parameters=("nu",), cost=1.0, frame_dt=0.05)
    sim = NeuralSolverSimulator(Decay(0.05, blow_up_above=0.2), ref, parameters=("nu",), cost=1.0)
    with pytest.raises(ParameterError, match="out of range"):
        sim.run({"nu": 50.0}, seed=0)
    with pytest.raises(SimulationError, match="non-finite"):
        sim.run({"nu": 0.25}, seed=0)


def test_runs_leave_the_callers_mode_and_a_parameter_blind_model_works():
    class Halve(torch.nn.Module):
        n_vars, initial_step, n_params, spatial_dims = 1, 1, 0, 1

        def __init__(self) -> None:
            super().__init__()
            self.drop = torch.nn.Dropout(0.5)  # would scramble a rollout in training mode

        def forward(self, history, params=None):
            return 0.5 * self.drop(history)

    ref = _reference()
    model = Halve().train()
    sim = NeuralSolverSimulator(model, ref, parameters=(), cost=1.0)
    u = sim.run({"nu": 0.1}, seed=0)["u"].values[0]
    np.testing.assert_allclose(u, u[:1] * 0.5 ** np.arange(11)[:, None], rtol=1e-6)  # float32 model
    assert model.training  # the caller's mode is back
    assert sim.run({"nu": 0.1}, seed=0)["u"].dtype == np.float64  # the reference's dtype


def test_neural_solver_simulator_passes_the_simulator_contract_suite():
    check_simulator(NeuralSolverSimulator(Decay(0.05), _reference(n_cells=16, n_frames=5), parameters=("nu",),
                                          cost=0.01))
    # a tiny untrained CAPE-FNO of the factory, parameter-blind through the reference's space
    from sciml.surrogates.neural_pde.factory import build_solver

    model = build_solver("cape_fno", n_vars=1, n_params=1, width=4, modes=2, n_layers=1, cape_hidden=2,
                         cape_modes=2, param_scale=1e-3, seed=0)
    check_simulator(NeuralSolverSimulator(model, _reference(n_cells=16, n_frames=3), parameters=("nu",), cost=1.0))
