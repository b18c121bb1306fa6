"""The plate peak-stress study: the mesh level of the FE plate model as the fidelity of a BO problem."""

from __future__ import annotations

import ast
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import sciml.bo
from sciml.errors import ConfigError, SchemaError

F64 = torch.float64
pytestmark = pytest.mark.usefixtures("one_torch_thread")
#: A tiny version of the problem: two coarse levels, a short horizon (each run ~0.02 s).
TINY = {"levels": (2, 4), "t_final": 2.0, "n_steps": 8}


@pytest.fixture(scope="module")
def fem():
    """The study module; the test is skipped without FEniCSx."""
    pytest.importorskip("dolfinx_solver")
    from sciml.studies import fem_plate

    return fem_plate


def _direct(resolution: int, angle: float, duration: float, **kwargs) -> float:
    """The QoI of a direct run of the simulator, per unit amplitude."""
    from sciml.simulators.fem.elastodynamics import PlateDynamicsSimulator

    sim = PlateDynamicsSimulator(resolution=resolution, grid=2, interface_points=4, **kwargs)
    ds = sim.run({"angle": angle, "duration": duration, "amplitude": 1e-3}, seed=0)
    return float(ds.peak_von_mises.values[0]) / 1e-3


# ---------------------------------------------------------------- the layering rule (no FEniCSx needed)
def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_sciml_bo_has_no_finite_element_code():
    files = sorted(Path(sciml.bo.__file__).parent.rglob("*.py"))
    assert len(files) > 10
    fe = ("sciml.simulators.fem", "sciml.studies", "dolfinx", "dolfinx_solver", "ufl", "petsc4py", "mpi4py", "basix")
    for path in files:
        bad = sorted(n for n in _imports(path) if n.startswith(fe))
        assert not bad, f"{path.name} imports {bad}"
        assert "fem_plate" not in path.read_text() and "PlateDynamics" not in path.read_text(), path.name
    code = ("import sys, sciml.bo, sciml.studies.bo_problems; "
            "print(sorted(k for k in sys.modules if k.startswith(('dolfinx', 'petsc4py', 'ufl'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"  # the registry lists the problem without loading FEniCSx


def test_without_fenicsx_the_factory_says_how_to_install_it(monkeypatch):
    from sciml.simulators.fem import backend
    from sciml.studies.bo_problems import get_bo_problem

    monkeypatch.setitem(sys.modules, "dolfinx_solver", None)
    backend.import_dolfinx.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"pip install 'sciml\[fem\]'"):
            get_bo_problem("fem_plate_peak_stress")
    finally:
        backend.import_dolfinx.cache_clear()


def test_the_mfbo_bench_lists_the_problem_only_with_fenicsx(monkeypatch):
    from sciml.bench import mfbo_settings

    for available in (True, False):
        monkeypatch.setattr(mfbo_settings, "fem_available", lambda a=available: a)
        for quick in (True, False):
            s = mfbo_settings.settings_for(quick)
            names = {p.name for p in s.problems}
            assert ("fem_plate_peak_stress" in names) is available
            assert any("fem_plate_peak_stress" in n and "FEniCSx" in n for n in s.notes) is not available
            assert {"augmented_hartmann", "park91a", "burgers_shock_time"} <= names


# ---------------------------------------------------------------- the problem
@pytest.mark.fem
def test_the_fidelities_are_the_mesh_levels_and_the_costs_the_simulators(fem):
    from sciml.simulators.fem.elastodynamics import PlateDynamicsSimulator

    p = fem.plate_peak_stress_problem()
    assert p.name == "fem_plate_peak_stress" and not p.maximize and p.design_names == ("angle", "duration")
    np.testing.assert_allclose(p.bounds.numpy(), [[-math.pi / 4, 0.2], [math.pi / 4, 1.0]], rtol=1e-15)
    assert p.fidelity.name == "resolution" and p.fidelity.values == (8, 16, 32) and p.fidelity.target == 32
    for level in (8, 16, 32):
        sim = p.simulator(level)
        assert isinstance(sim, PlateDynamicsSimulator) and sim.resolution == level
        assert (sim.times.t_final, sim.times.n_steps) == (4.0, 40)
    sims = [p.simulator(level) for level in (8, 16, 32)]
    costs = p.cost(torch.tensor([8.0, 16.0, 32.0], dtype=F64))
    # cost() is dofs x steps, the same steps at every level: the declared costs are the dofs' ratios
    np.testing.assert_allclose(costs.numpy(), [s.estimated_dofs() / sims[2].estimated_dofs() for s in sims],
                               rtol=1e-15)
    assert costs[2] == 1.0 and bool((costs[1:] > costs[:-1]).all()) and costs[0] < 0.1  # > 10x cheaper
    assert p.options["fixed"] == {"amplitude": 1e-3}


@pytest.mark.fem
def test_the_objective_is_the_qoi_of_a_direct_run_at_every_level(fem):
    p = fem.plate_peak_stress_problem(**TINY)
    X = torch.tensor([[0.3, 0.5], [-0.6, 0.25]], dtype=F64)
    for level in (2, 4):
        y = p.evaluate(X, torch.full((2,), float(level), dtype=F64))
        direct = [_direct(level, *x, t_final=2.0, n_steps=8) for x in X.tolist()]
        assert y.tolist() == direct  # the same computation
    assert p.evaluate(X[:1]).item() == _direct(4, 0.3, 0.5, t_final=2.0, n_steps=8)  # default: the truth
    assert p.optimum_value is None and p.optimizers is None  # no stored reference for these settings
    # the finer mesh changes the value (the levels differ), both of the order of a concentration factor
    coarse, fine = (p.evaluate(X[:1], torch.tensor([float(v)], dtype=F64)).item() for v in (2, 4))
    assert coarse != fine and 0.1 < coarse < 5 and 0.1 < fine < 5


@pytest.mark.fem
def test_the_stored_reference_is_the_truth_at_its_optimisers_and_beats_random_designs(fem):
    p = fem.plate_peak_stress_problem()
    ref = fem.REFERENCE
    assert p.optimum_value == ref.value and p.optimizers.shape == (len(ref.optimizers), 2)
    values = p.evaluate(p.optimizers)
    np.testing.assert_allclose(values.numpy(), ref.value, rtol=1e-12)
    assert [p.simple_regret(float(v)) for v in values] == pytest.approx([0.0, 0.0], abs=1e-12)
    angles = sorted(x[0] for x in ref.optimizers)  # the plate is symmetric about y = 0
    assert len(angles) == 2 and angles[0] == pytest.approx(-angles[1], abs=1e-3)
    engine = torch.quasirandom.SobolEngine(2, scramble=True, seed=7)
    X = p.bounds[0] + (p.bounds[1] - p.bounds[0]) * engine.draw(6, dtype=F64)
    assert bool((p.evaluate(X) > ref.value).all())
    other = fem.plate_peak_stress_problem(n_steps=20)
    assert other.optimum_value is None  # the reference holds for its own settings only


@pytest.mark.fem
def test_reference_optimum_finds_the_best_of_a_tiny_problem(fem):
    p = fem.plate_peak_stress_problem(levels=(2,), t_final=2.0, n_steps=8)
    value, optimizers = fem.reference_optimum(p, n_grid=(5, 3), n_starts=1, xatol=1e-3)
    lo, hi = p.bounds.numpy()
    grid = np.stack(np.meshgrid(np.linspace(lo[0], hi[0], 5), np.linspace(lo[1], hi[1], 3), indexing="ij"), -1)
    on_grid = p.evaluate(torch.as_tensor(grid.reshape(-1, 2)))
    assert optimizers.shape[1] == 2 and value <= float(on_grid.min())
    assert bool(((optimizers >= lo) & (optimizers <= hi)).all())
    np.testing.assert_allclose(p.evaluate(torch.as_tensor(optimizers)).numpy(), value, rtol=1e-12)


@pytest.mark.fem
def test_a_bo_loop_runs_on_the_mesh_levels(fem):
    from sciml.bo import AcquisitionSettings, BOLoop

    p = fem.plate_peak_stress_problem(**TINY)
    settings = AcquisitionSettings(num_restarts=2, raw_samples=16, q=1, candidate_set_size=64, num_mv_samples=4,
                                   maxiter=15, batch_limit=4)
    result = BOLoop(p, method="mfmes", settings=settings, n_init=4, seed=0, show_progress=False).run(
        1e9, max_iterations=2)
    assert result.n_evaluations == 6 and result.status == ["ok"] * 6
    assert set(result.fidelities.tolist()) <= {2.0, 4.0} and 4.0 in result.fidelities.tolist()
    declared = dict(zip((2.0, 4.0), p.cost(torch.tensor([2.0, 4.0], dtype=F64)).tolist(), strict=True))
    assert result.costs.tolist() == pytest.approx([declared[float(s)] for s in result.fidelities])
    i = int(torch.nonzero(result.fidelities == 4.0)[0])  # an observation at the truth is the direct run's QoI
    assert result.values[i].item() == _direct(4, *result.X[i].tolist(), t_final=2.0, n_steps=8)


# ---------------------------------------------------------------- the objective and bad input
@pytest.mark.fem
def test_the_registered_objective_and_bad_input(fem):
    from sciml.simulators.fem.elastodynamics import PlateDynamicsSimulator
    from sciml.simulators.pde.burgers import BurgersSimulator
    from sciml.studies.bo_problems import BO_PROBLEMS, get_objective

    assert BO_PROBLEMS["fem_plate_peak_stress"] is fem.plate_peak_stress_problem
    truth = PlateDynamicsSimulator(resolution=2, t_final=2.0, n_steps=8, grid=2, interface_points=4)
    objective = get_objective("peak_stress", truth)
    assert objective == fem.PeakStressObjective("peak_von_mises", per_amplitude=True)
    ds = truth.run({"angle": 0.3, "duration": 0.5, "amplitude": 2e-3}, seed=0)
    assert objective(ds) == float(ds.peak_von_mises.values[0]) / 2e-3
    assert get_objective("peak_stress", truth, qoi="max_displacement", per_amplitude=False)(ds) == \
        float(ds.max_displacement.values[0])
    with pytest.raises(SchemaError, match=r"needs \['peak_von_mises'\] in the dataset"):
        objective(ds.drop_vars("peak_von_mises"))
    with pytest.raises(ConfigError, match=r"with the QoI 'peak_von_mises' as the truth; burgers\w* has \[\]"):
        get_objective("peak_stress", BurgersSimulator(n_cells=16))
    with pytest.raises(ConfigError, match=r"with the QoI 'stress'.*has \['max_displacement', 'peak_von_mises'\]"):
        get_objective("peak_stress", truth, qoi="stress")
    for levels in ((16, 8), (8, 8), (0, 8), (), (8.5, 16)):
        with pytest.raises(ConfigError, match="levels must be distinct mesh resolutions"):
            fem.plate_peak_stress_problem(levels=levels)
