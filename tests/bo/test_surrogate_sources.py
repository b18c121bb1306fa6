"""A trained neural PDE solver as a fidelity source: the Simulator contract, exact rollouts, the problem."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from sciml.bo.acquisition import AcquisitionSettings
from sciml.bo.loop import BOLoop
from sciml.bo.problems import burgers_shock_time_problem, shock_time
from sciml.bo.surrogate_sources import (
    NeuralSolverSimulator,
    burgers_shock_time_surrogate_problem,
    train_burgers_surrogate,
)
from sciml.data.schema import validate
from sciml.errors import ConfigError, ParameterError, SimulationError
from sciml.simulators.base import Simulator
from sciml.simulators.pde.burgers import BurgersSimulator
from sciml.simulators.pde.initial_conditions import SineIC

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


def test_surrogate_problem_sources_costs_and_failures():
    dt = 0.5 / 50
    p = burgers_shock_time_surrogate_problem(Decay(dt, blow_up_above=0.2), surrogate_cost=0.03,
                                             solver_n_cells=(64, 128))
    assert p.name == "burgers_shock_time_surrogate"
    assert p.fidelity.values == (0.0, 1.0, 2.0) and p.fidelity.target == 2.0
    assert p.cost_unit(torch.tensor([0.0, 0.5, 1.0], dtype=F64)).tolist() == pytest.approx([0.03, 0.25, 1.0])
    nu = 0.05
    X = torch.tensor([[math.log10(nu)]], dtype=F64)
    # the solver sources are the plain Burgers problem at those grids, bit for bit
    plain = burgers_shock_time_problem(n_cells=(64, 128))
    for source, n_cells in ((1.0, 64.0), (2.0, 128.0)):
        assert torch.equal(p.evaluate(X, torch.tensor([source], dtype=F64)),
                           plain.evaluate(X, torch.tensor([n_cells], dtype=F64)))
    # the surrogate source is the objective of the surrogate's rollout (128 cells)
    ds = p.simulator(0.0).run({"nu": nu}, seed=0)
    assert ds["u"].shape == (1, 51, 128)
    expected = -((shock_time(ds) - 0.2) ** 2)
    assert float(p.evaluate(X, torch.tensor([0.0], dtype=F64))[0]) == pytest.approx(expected, rel=1e-12)
    # a surrogate that blows up is a recorded failure, not a crash
    values, ok = p.evaluate_safe(torch.tensor([[math.log10(0.25)]], dtype=F64), torch.tensor([0.0], dtype=F64))
    assert bool(torch.isnan(values).all()) and not bool(ok.any())
    assert "SimulationError" in p.last_failures[0] and "non-finite" in p.last_failures[0]
    with pytest.raises(ConfigError, match="increasing order"):
        burgers_shock_time_surrogate_problem(Decay(dt), surrogate_cost=0.1, solver_n_cells=(128, 64))
    with pytest.raises(ConfigError, match="surrogate_cost must be a finite number > 0"):
        burgers_shock_time_surrogate_problem(Decay(dt), surrogate_cost=0.0)


def test_a_loop_over_surrogate_and_solver_sources():
    p = burgers_shock_time_surrogate_problem(Decay(0.5 / 50), surrogate_cost=0.02, solver_n_cells=(64, 128))
    settings = AcquisitionSettings(num_restarts=2, raw_samples=16, q=2, candidate_set_size=64, num_mv_samples=5,
                                   maxiter=15, batch_limit=4)
    loop = BOLoop(p, method="mfmes", model_kind="multitask", settings=settings, n_init=6, seed=0,
                  model_options={"max_iter": 50})
    result = loop.run(1e9, max_iterations=1)
    # the design visits every source, the target first; then one batch of two
    assert result.fidelities[:6].tolist() == [2.0, 1.0, 0.0, 2.0, 1.0, 0.0]
    assert result.n_evaluations == 8 and set(result.fidelities[6:].tolist()) <= {0.0, 1.0, 2.0}
    declared = {0.0: 0.02, 1.0: 0.25, 2.0: 1.0}
    assert result.costs.tolist() == pytest.approx([declared[float(s)] for s in result.fidelities])
    assert result.status == ["ok"] * 8 and result.recommendations[-1]["regret"] >= 0.0


def test_train_burgers_surrogate_gives_a_source_for_the_problem(tmp_path):
    # a tiny training run: what is checked is the wiring (data from the solver, the clamped
    # parameter range, the best checkpoint reloaded), not the model's accuracy
    model = train_burgers_surrogate(n_trajectories=6, n_cells=32, n_frames=11, epochs=2, width=8, modes=4,
                                    seed=1, run_dir=tmp_path / "cape")
    assert not model.training and model.n_params == 1 and model.initial_step == 1
    assert (tmp_path / "cape" / "best.pt").exists()
    # the parameter is clamped to the viscosities it was trained on (6 draws, log-uniform, seed 1)
    nus = 10.0 ** np.random.default_rng(1).uniform(-3.0, math.log10(0.3), size=6)
    assert model.transform.lower.item() == pytest.approx(nus.min(), rel=1e-6)
    assert model.transform.upper.item() == pytest.approx(nus.max(), rel=1e-6)
    p = burgers_shock_time_surrogate_problem(model, surrogate_cost=0.5, model_frame_dt=0.05, surrogate_n_cells=32,
                                             solver_n_cells=(32,), n_frames=11)
    ds = p.simulator(0.0).run({"nu": 0.01}, seed=0)
    assert ds["u"].shape == (1, 11, 32) and bool(np.isfinite(ds["u"].values).all())
    # the same weights as the best checkpoint
    best = torch.load(tmp_path / "cape" / "best.pt", weights_only=True)["model_state"]
    assert all(torch.equal(v, best[k]) for k, v in model.state_dict().items())
