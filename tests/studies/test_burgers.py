"""The Burgers shock-time studies: the problems built on the Burgers simulator, the amplitude
variant's scaling law, the surrogate source, the registry of named problems and objectives."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sciml.bo import TEST_PROBLEMS, AcquisitionSettings, BOLoop, Fidelity, SimulatorSource
from sciml.errors import ConfigError, ParameterError
from sciml.simulators.pde.burgers import BurgersSimulator, shock_time
from sciml.studies.bo_problems import BO_PROBLEMS, OBJECTIVES, get_bo_problem, get_objective
from sciml.studies.burgers import (
    burgers_shock_time_2d_problem,
    burgers_shock_time_problem,
    burgers_shock_time_surrogate_problem,
    train_burgers_surrogate,
)

F64 = torch.float64
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cole_hopf_steepest_time(nu: float) -> float:
    """Time of the steepest gradient of viscous Burgers from ``u0 = sin(2 pi x)``, from Cole–Hopf.

    ``u_t + u u_x = D u_xx``, ``D = nu / pi``: ``u = -2 D phi_x / phi``, ``phi`` the heat flow of
    ``exp(z cos(2 pi x))``, ``z = 1 / (4 pi D)``, i.e. ``sum_m c_m e^{-D k_m^2 t} cos(k_m x)``,
    ``c_m = (2 - [m = 0]) I_m(z)``, ``k_m = 2 pi m``. The gradient is steepest at ``x = 1/2``
    (``u = phi_x = 0`` there), where ``u_x = 2 D sum c_m (-1)^m k_m^2 e_m / sum c_m (-1)^m e_m``;
    its extremum in ``t`` is found by bounded scalar minimisation. Fine for ``z <~ 5``.
    """
    from scipy.optimize import minimize_scalar
    from scipy.special import ive

    d = nu / math.pi
    m = np.arange(80)
    c = np.where(m > 0, 2.0, 1.0) * ive(m, 1.0 / (4.0 * math.pi * d)) * (-1.0) ** m
    k2 = (2.0 * math.pi * m) ** 2

    def u_x(t: float) -> float:
        e = c * np.exp(-d * k2 * t)
        return float(2.0 * d * (e @ k2) / e.sum())

    res = minimize_scalar(u_x, bounds=(0.0, 1.0), method="bounded", options={"xatol": 1e-10})
    return float(res.x)


def test_burgers_simulator_source_two_fidelities():
    p = burgers_shock_time_problem(n_cells=(32, 64), t_final=0.4, n_frames=21, t_target=0.2)
    assert isinstance(p, SimulatorSource) and p.maximize and p.design_names == ("log10_nu",)
    np.testing.assert_allclose(p.bounds.numpy(), [[-3.0], [math.log10(0.3)]], rtol=1e-15)
    assert p.cost([32, 64]).tolist() == [0.25, 1.0]  # declared cost ~ n_cells^2
    X = torch.tensor([[-1.0], [-1.0]], dtype=F64)  # nu = 0.1
    y, seconds = p.evaluate_timed(X, [32, 64])
    assert bool(torch.isfinite(y).all()) and bool((y <= 0).all()) and bool((seconds > 0).all())
    # at nu = 0.1 the front is resolved on both grids: the shock time is the exact one (< 0.2 wanted)
    t_shock = 0.2 - np.sqrt(-y.numpy())
    t_exact = _cole_hopf_steepest_time(0.1)  # 0.18618, after the inviscid breaking time 1/(2 pi)
    assert 1.0 / (2.0 * math.pi) < t_exact < 0.2
    # measured errors 1.4e-3 (32 cells) and 8e-5 (64 cells), frames 0.02 apart
    np.testing.assert_allclose(t_shock, t_exact, atol=0.002)
    assert abs(t_shock[1] - t_exact) < abs(t_shock[0] - t_exact)
    ds = p.run([-1.0], 64)
    assert ds.u.shape == (1, 21, 64) and ds.nu.values[0] == pytest.approx(0.1, rel=1e-14)
    assert shock_time(ds) == pytest.approx(t_shock[1], abs=1e-12)
    assert p.simulator(64) is p.simulator(64) and p.simulator(32).n_cells == 32
    with pytest.raises(ParameterError, match="not levels"):
        p.evaluate(X, 48)
    # default declared cost: the simulator's own cost model, ~ n_cells^2
    src = SimulatorSource(BurgersSimulator, lambda ds: float(ds.u.values.max()),
                          Fidelity.discrete("n_cells", (32, 64)),
                          simulator_kwargs={"t_final": 0.1, "n_frames": 3}, parameters={"nu": (0.01, 0.1)})
    c = src.cost([32, 64])
    assert 3.5 < float(c[1] / c[0]) < 4.5
    assert src.design_names == ("nu",) and src.name == "burgers1d"


def test_burgers_shock_time_2d_obeys_burgers_scaling_and_reaches_the_target():
    """t_s(nu, A) = t_s(nu / A, 1) / A (u(x, t; nu, A) = A u(x, A t; nu / A, 1)); 0 is attained."""
    p2 = burgers_shock_time_2d_problem(n_cells=(64, 256))
    p1 = burgers_shock_time_problem(n_cells=(64, 256))
    assert p2.design_names == ("log10_nu", "amplitude") and p2.name == "burgers_shock_time_2d"
    np.testing.assert_allclose(p2.bounds.numpy(), [[-3.0, 0.5], [math.log10(0.3), 2.0]], rtol=1e-15)
    assert get_bo_problem("burgers_shock_time_2d").optimum_value == 0.0
    for nu, amp in ((0.02, 1.25), (0.05, 0.7)):
        t2 = shock_time(p2.run([math.log10(nu), amp], 256))
        t1 = shock_time(p1.run([math.log10(nu / amp)], 256)) / amp
        assert t2 == pytest.approx(t1, abs=2e-3)  # ~20% apart if A were ignored
    # A = 1 reproduces the 1-D problem exactly
    assert p2.evaluate(torch.tensor([[-1.0, 1.0]], dtype=F64), 64).item() == \
        p1.evaluate(torch.tensor([[-1.0]], dtype=F64), 64).item()
    # t_s - 0.2 changes sign between A = 1.2 and 1.25 at nu = 1e-3: the target is attained between them
    ts = [shock_time(p2.run([-3.0, a], 256)) for a in (1.2, 1.25)]
    assert ts[0] > 0.2 > ts[1]
    with pytest.raises(ParameterError, match="amplitude"):
        burgers_shock_time_2d_problem(amplitude_bounds=(0.01, 2.0))
    with pytest.raises(ConfigError, match=r"t_target must lie in \(0, t_final=0.5\), got 0.7"):
        burgers_shock_time_2d_problem(t_target=0.7)


# ---------------------------------------------------------------- a trained model as a source
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


# ---------------------------------------------------------------- registries
def test_named_problems_and_objectives():
    assert set(TEST_PROBLEMS) < set(BO_PROBLEMS) and {"burgers_shock_time", "burgers_shock_time_2d"} <= set(BO_PROBLEMS)
    assert get_bo_problem("park91a", cost_ratio=5.0).cost(1.0).item() == 5.0
    with pytest.raises(ConfigError, match=r"unknown problem 'rosenbrock'; accepted: \['augmented_branin'"):
        get_bo_problem("rosenbrock")
    with pytest.raises(ConfigError, match="bad arguments for problem 'burgers_shock_time'"):
        get_bo_problem("burgers_shock_time", n_levels=3)
    truth = BurgersSimulator(n_cells=32, t_final=0.5, n_frames=11)
    objective = get_objective("shock_time", truth, t_target=0.2)
    assert set(OBJECTIVES) == {"shock_time", "peak_stress"}
    ds = truth.run({"nu": 0.1}, seed=0)
    assert objective(ds) == -((shock_time(ds) - 0.2) ** 2)
    with pytest.raises(ConfigError, match=r"t_target must lie in \(0, t_final=0.5\), got 0.9"):
        get_objective("shock_time", truth, t_target=0.9)
    with pytest.raises(ConfigError, match=r"bad options for objective 'shock_time'"):
        get_objective("shock_time", truth, t_targt=0.2)
    with pytest.raises(ConfigError, match=r"unknown objective 'drag'; accepted: \['peak_stress', 'shock_time'\]"):
        get_objective("drag", truth)
