"""Multi-fidelity problems: known optima, formulas against independent numpy code, fidelity
rescaling, input checks, failure handling, and the sciml-simulator information source."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sciml.bo import (
    AffineFidelityCost,
    Fidelity,
    MultiFidelityProblem,
    PowerFidelityCost,
    SimulatorSource,
    TableFidelityCost,
    augmented_branin,
    augmented_hartmann,
    borehole,
    currin,
    forrester,
    get_test_problem,
    park91a,
    park91b,
)
from sciml.errors import ConfigError, ParameterError, SciMLError

F64 = torch.float64


# ---------------------------------------------------------------- independent numpy formulas
def np_forrester(x, low=False):
    f = (6 * x - 2) ** 2 * np.sin(12 * x - 4)
    return 0.5 * f + 10 * (x - 0.5) + 5 if low else f


def np_currin(x1, x2):
    with np.errstate(divide="ignore"):  # x2 = 0: exp(-inf) = 0
        return ((1 - np.exp(-1 / (2 * x2))) * (2300 * x1**3 + 1900 * x1**2 + 2092 * x1 + 60)
            / (100 * x1**3 + 500 * x1**2 + 4 * x1 + 20))


def np_currin_low(x1, x2):
    m = np.float64(max(0.0, x2 - 0.05))
    return (np_currin(x1 + 0.05, x2 + 0.05) + np_currin(x1 + 0.05, m)
            + np_currin(x1 - 0.05, x2 + 0.05) + np_currin(x1 - 0.05, m)) / 4


def np_park91a(x1, x2, x3, x4):
    return (x1 / 2 * (np.sqrt(1 + (x2 + x3**2) * x4 / x1**2) - 1)
            + (x1 + 3 * x4) * np.exp(1 + np.sin(x3)))


def np_park91a_low(x1, x2, x3, x4):
    return (1 + np.sin(x1) / 10) * np_park91a(x1, x2, x3, x4) - 2 * x1 + x2**2 + x3**2 + 0.5


def np_park91b(x1, x2, x3, x4):
    return 2 / 3 * np.exp(x1 + x2) - x4 * np.sin(x3) + x3


def np_borehole(rw, r, tu, hu, tl, hl, length, kw, low=False):
    c, one = (5.0, 1.5) if low else (2 * np.pi, 1.0)
    lr = np.log(r / rw)
    return c * tu * (hu - hl) / (lr * (one + 2 * length * tu / (lr * rw**2 * kw) + tu / tl))


HARTMANN_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                       [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
HARTMANN_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                              [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])


def np_hartmann(x, s):
    alpha = np.array([1.0 - 0.1 * (1 - s), 1.2, 3.0, 3.2])
    return -np.sum(alpha * np.exp(-np.sum(HARTMANN_A * (x - HARTMANN_P) ** 2, axis=1)))


def np_branin(x1, x2, s):
    b = 5.1 / (4 * np.pi**2) - 0.1 * (1 - s)
    return (x2 - b * x1**2 + 5 / np.pi * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * np.pi)) * np.cos(x1) + 10


# ---------------------------------------------------------------- known optima
def test_forrester_optimum_and_fidelities():
    p = forrester()
    assert not p.maximize and p.sign == -1.0 and p.dim == 1
    assert float(p.evaluate([[0.75725]], 1.0)[0]) == pytest.approx(-6.02074, abs=1e-4)
    assert float(p.evaluate(p.optimizers)[0]) == pytest.approx(p.optimum_value, abs=1e-12)
    assert p.optimum_value == pytest.approx(-6.02074, abs=1e-5)
    x = np.array([0.0, 0.2, 0.5, 0.9, 1.0])
    X = torch.tensor(x, dtype=F64)[:, None]
    np.testing.assert_allclose(p.evaluate(X, 1.0).numpy(), np_forrester(x), rtol=1e-14, atol=1e-13)
    np.testing.assert_allclose(p.evaluate(X, 0.0).numpy(), np_forrester(x, low=True), rtol=1e-14, atol=1e-13)
    np.testing.assert_allclose(p.evaluate(X, 0.25).numpy(),
                               0.25 * np_forrester(x) + 0.75 * np_forrester(x, low=True), rtol=1e-13)
    # f_L(0.5) = 0.5 f(0.5) + 5 = 0.5 * 0.909297... + 5 by hand
    assert float(p.evaluate([[0.5]], 0.0)[0]) == pytest.approx(0.5 * math.sin(2.0) + 5.0, rel=1e-14)
    np.testing.assert_allclose(p.cost([0.0, 0.5, 1.0]).numpy(), [1.0, 5.5, 10.0])
    assert forrester(fidelity="discrete").fidelity.kind == "discrete"


def test_augmented_hartmann_matches_hartmann6():
    from botorch.test_functions import Hartmann

    p = augmented_hartmann()
    xstar = [[0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]]
    assert float(p.evaluate(xstar, 1.0)[0]) == pytest.approx(-3.32237, abs=1e-5)
    assert p.optimum_value == pytest.approx(-3.32237, abs=1e-5)
    X = torch.rand(5, 6, dtype=F64, generator=torch.Generator().manual_seed(0))
    # BoTorch's Hartmann holds its constants in float32 (A = 0.05 -> 1e-8 relative); ours are float64
    np.testing.assert_allclose(p.evaluate(X).numpy(), Hartmann(dim=6).evaluate_true(X).numpy(), rtol=1e-7)
    for s in (0.0, 0.4, 1.0):
        np.testing.assert_allclose(p.evaluate(X, s).numpy(), [np_hartmann(x, s) for x in X.numpy()], rtol=1e-13)
    np.testing.assert_allclose(p.cost([0.0, 1.0]).numpy(), [5.0, 6.0])  # MF-KG tutorial: 5 + s


def test_augmented_branin_three_minimisers():
    from botorch.test_functions import Branin

    p = augmented_branin()
    xs = [[-math.pi, 12.275], [math.pi, 2.275], [9.42478, 2.475]]
    np.testing.assert_allclose(p.evaluate(xs, 1.0).numpy(), 0.397887, atol=1e-6)
    np.testing.assert_allclose(p.evaluate(p.optimizers).numpy(), p.optimum_value, rtol=1e-14)
    X = p.bounds[0] + (p.bounds[1] - p.bounds[0]) * torch.rand(6, 2, dtype=F64,
                                                               generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(p.evaluate(X).numpy(), Branin().evaluate_true(X).numpy(), rtol=1e-13)
    x = X.numpy()
    np.testing.assert_allclose(p.evaluate(X, 0.3).numpy(), np_branin(x[:, 0], x[:, 1], 0.3), rtol=1e-13)


@pytest.mark.parametrize(("factory", "high", "low", "point"), [
    (currin, lambda x: np_currin(*x), lambda x: np_currin_low(*x), [0.3, 0.6]),
    (currin, lambda x: np_currin(*x), lambda x: np_currin_low(*x), [0.02, 0.03]),
    (park91a, lambda x: np_park91a(*x), lambda x: np_park91a_low(*x), [0.3, 0.4, 0.5, 0.6]),
    (park91b, lambda x: np_park91b(*x), lambda x: 1.2 * np_park91b(*x) - 1, [0.3, 0.4, 0.5, 0.6]),
    (borehole, lambda x: np_borehole(*x), lambda x: np_borehole(*x, low=True),
     [0.1, 25050.0, 89335.0, 1050.0, 89.55, 760.0, 1400.0, 10950.0]),
])
def test_two_level_functions_against_numpy(factory, high, low, point):
    p = factory()
    x = np.array(point)
    assert p.maximize and p.fidelity.kind == "discrete" and p.fidelity.values == (0.0, 1.0)
    assert float(p.evaluate([point], 1.0)[0]) == pytest.approx(high(x), rel=1e-13)
    assert float(p.evaluate([point], 0.0)[0]) == pytest.approx(low(x), rel=1e-13)
    assert float(p.evaluate([point])[0]) == pytest.approx(high(x), rel=1e-13)  # default: target
    # the declared optimum is attained at the declared optimiser ...
    assert float(p.evaluate(p.optimizers)[0]) == pytest.approx(p.optimum_value, rel=1e-13)
    # ... and no random point beats it
    X = p.bounds[0] + (p.bounds[1] - p.bounds[0]) * torch.rand(2000, p.dim, dtype=F64,
                                                               generator=torch.Generator().manual_seed(2))
    assert float(p.evaluate(X).max()) <= p.optimum_value
    np.testing.assert_allclose(p.cost([0.0, 1.0]).numpy(), [1.0, 10.0])  # declared cost ratio 10
    cont = factory(fidelity="continuous")
    assert float(cont.evaluate([point], 0.5)[0]) == pytest.approx(0.5 * (high(x) + low(x)), rel=1e-13)


def test_hand_computed_values():
    # park91b(0.5, 0.5, 0.5, 0.5) = 2/3 e + 0.5 - 0.5 sin(0.5)
    assert float(park91b().evaluate([[0.5] * 4])[0]) == pytest.approx(
        2 / 3 * math.e + 0.5 - 0.5 * math.sin(0.5), rel=1e-15)
    assert park91b().optimum_value == pytest.approx(5.926037, abs=1e-6)
    # park91a(1,1,1,1) = (sqrt(3) - 1)/2 + 4 exp(1 + sin 1); at x1 = 0 the continuous limit
    assert park91a().optimum_value == pytest.approx((math.sqrt(3) - 1) / 2 + 4 * math.exp(1 + math.sin(1)), rel=1e-14)
    assert float(park91a().evaluate([[0.0, 0.5, 0.5, 0.5]])[0]) == pytest.approx(
        0.5 * math.sqrt(0.75 * 0.5) + 1.5 * math.exp(1 + math.sin(0.5)), rel=1e-14)
    # currin: the bracket is 1 on x2 = 0; the maximum 13.798722 at x1 = 13/60
    assert float(currin().evaluate([[0.0, 0.0]])[0]) == pytest.approx(3.0, rel=1e-15)
    assert currin().optimum_value == pytest.approx(13.798722, abs=1e-6)
    # borehole maximum at the corner, ~309.58 m^3/yr
    assert borehole().optimum_value == pytest.approx(
        np_borehole(0.15, 100, 115600, 1110, 116, 700, 1120, 12045), rel=1e-14)
    assert borehole().optimum_value == pytest.approx(309.5756, abs=1e-4)


# ---------------------------------------------------------------- fidelity rescaling
def test_fidelity_rescaling_round_trips():
    f = Fidelity.continuous("s", 0.0, 1.0)
    assert f.to_unit(0.3) == 0.3 and f.from_unit(0.3) == 0.3 and f.target == 1.0
    g = Fidelity.continuous("dt", 1e-3, 1e-1, target=1e-3, log_scale=True)  # smaller = better
    assert g.to_unit(1e-3) == pytest.approx(1.0, abs=1e-15) and g.to_unit(1e-1) == pytest.approx(0.0, abs=1e-15)
    assert g.to_unit(1e-2) == pytest.approx(0.5, abs=1e-14) and g.lowest == 1e-1
    s = torch.tensor([1e-3, 3e-3, 0.05, 0.1], dtype=F64)
    np.testing.assert_allclose(g.from_unit(g.to_unit(s)).numpy(), s.numpy(), rtol=1e-13)
    z = torch.linspace(0, 1, 11, dtype=F64)
    np.testing.assert_allclose(g.to_unit(g.from_unit(z)).numpy(), z.numpy(), atol=1e-14)
    h = Fidelity.discrete("n_cells", (512, 64, 256, 128), log_scale=True)
    assert h.values == (64.0, 128.0, 256.0, 512.0) and h.target == 512.0
    np.testing.assert_allclose(h.unit_values, [0, 1 / 3, 2 / 3, 1], atol=1e-15)
    lin = Fidelity.discrete("n_cells", (64, 128, 256, 512))
    np.testing.assert_allclose(lin.unit_values, [0, 64 / 448, 192 / 448, 1], atol=1e-15)
    back = h.from_unit(h.to_unit(torch.tensor([64.0, 256.0, 512.0], dtype=F64)))
    assert back.tolist() == [64.0, 256.0, 512.0]  # exact levels
    assert h.from_unit(0.3, snap=True) == 128.0


def test_fidelity_errors():
    f = Fidelity.continuous("s", 0.0, 1.0)
    h = Fidelity.discrete("n_cells", (64, 128, 256))
    with pytest.raises(ParameterError, match=r"out of range; accepted: s in \[0, 1\]"):
        f.to_unit(1.5)
    with pytest.raises(ParameterError, match="out of range"):
        f.to_unit(torch.tensor([0.5, -0.1]))
    with pytest.raises(ParameterError, match="outside"):
        f.from_unit(1.2)
    with pytest.raises(ParameterError, match=r"not levels.*n_cells in \{64, 128, 256\}"):
        h.to_unit(100)
    with pytest.raises(ParameterError, match="accepted unit values"):
        h.from_unit(0.3)
    with pytest.raises(ConfigError, match="lo < hi"):
        Fidelity.continuous("s", 1.0, 1.0)
    with pytest.raises(ConfigError, match="at least two distinct"):
        Fidelity.discrete("n", (64, 64))
    with pytest.raises(ConfigError, match="end of the range"):
        Fidelity.discrete("n", (64, 128, 256), target=128)
    with pytest.raises(ConfigError, match="positive"):
        Fidelity.continuous("s", 0.0, 1.0, log_scale=True)
    with pytest.raises(ConfigError, match="kind"):
        Fidelity("s", "fuzzy", (0.0, 1.0))  # type: ignore[arg-type]
    assert issubclass(ParameterError, ValueError) and issubclass(ConfigError, SciMLError)


# ---------------------------------------------------------------- problem construction and checks
def _square(X, s):
    return (X**2).sum(-1) if s is None else (X**2).sum(-1) * s


def test_bounds_and_cost_are_checked():
    with pytest.raises(ConfigError, match=r"lower < upper.*columns \[1\]"):
        MultiFidelityProblem(name="p", bounds=[[0.0, 1.0], [1.0, 1.0]], function=_square)
    with pytest.raises(ConfigError, match="shape"):
        MultiFidelityProblem(name="p", bounds=[0.0, 1.0], function=_square)
    with pytest.raises(ConfigError, match="finite"):
        MultiFidelityProblem(name="p", bounds=[[0.0], [math.inf]], function=_square)
    fid = Fidelity.continuous("s", 0.0, 1.0)
    with pytest.raises(ConfigError, match=r"cost must be finite and > 0.*at s=\[0\.0\]"):
        MultiFidelityProblem(name="p", bounds=[[0.0], [1.0]], function=_square, fidelity=fid,
                             cost=AffineFidelityCost(0.0, 1.0))
    with pytest.raises(ConfigError, match="> 0"):
        MultiFidelityProblem(name="p", bounds=[[0.0], [1.0]], function=_square, cost=-1.0)
    with pytest.raises(ConfigError, match="> 0"):
        MultiFidelityProblem(name="p", bounds=[[0.0], [1.0]], function=_square,
                             fidelity=Fidelity.discrete("n", (1, 2)), cost=TableFidelityCost({1: 1.0, 2: 0.0}))
    with pytest.raises(ConfigError, match=r"declared cost failed.*no declared cost for fidelity value\(s\) \[3.0\]"):
        MultiFidelityProblem(name="p", bounds=[[0.0], [1.0]], function=_square,
                             fidelity=Fidelity.discrete("n", (1, 3)), cost=TableFidelityCost({1: 1.0, 2: 2.0}))
    with pytest.raises(ConfigError, match="bad arguments for problem 'borehole'"):
        get_test_problem("borehole", n_cells=3)
    with pytest.raises(ConfigError, match="cost_ratio"):
        park91a(cost_ratio=0.0)
    with pytest.raises(ConfigError, match="distinct design names"):
        MultiFidelityProblem(name="p", bounds=[[0.0, 0.0], [1.0, 1.0]], function=_square, design_names=["a", "a"])
    with pytest.raises(ConfigError, match="unknown problem 'nope'; accepted"):
        get_test_problem("nope")
    assert get_test_problem("park91a", cost_ratio=5.0).cost(1.0).item() == 5.0
    assert PowerFidelityCost(512, 2)(torch.tensor([64.0, 512.0], dtype=F64)).tolist() == [1 / 64, 1.0]


def test_evaluate_checks_inputs_and_model_coordinates():
    p = park91a()
    with pytest.raises(ParameterError, match=r"X must have shape \(n, 4\)"):
        p.evaluate([0.5, 0.5, 0.5, 0.5])
    with pytest.raises(ParameterError, match=r"X\[0, 2\] = 1.5 \(x3\) is outside the bounds"):
        p.evaluate([[0.5, 0.5, 1.5, 0.5]])
    with pytest.raises(ParameterError, match="not levels"):
        p.evaluate([[0.5] * 4], 0.5)
    with pytest.raises(ParameterError, match=r"shape \(2,\)"):
        p.evaluate([[0.5] * 4, [0.1] * 4], [0.0, 1.0, 1.0])
    single = MultiFidelityProblem(name="q", bounds=[[0.0], [1.0]], function=_square)
    with pytest.raises(ParameterError, match="no fidelity"):
        single.evaluate([[0.5]], 1.0)
    assert single.cost().tolist() == [1.0] and single.target_fidelities == {}
    # BoTorch coordinates: fidelity rescaled to [0, 1] as the last column
    h = MultiFidelityProblem(
        name="grid", bounds=[[0.0, -1.0], [1.0, 1.0]], function=lambda X, s: X.sum(-1) / s,
        fidelity=Fidelity.discrete("n_cells", (64, 128, 256, 512), log_scale=True),
        cost=PowerFidelityCost(512, 2))
    X = torch.tensor([[0.1, 0.2], [0.3, -0.4], [0.5, 0.6]], dtype=F64)
    Z = h.to_model_input(X, [64, 128, 512])
    np.testing.assert_allclose(Z[:, -1].numpy(), [0.0, 1 / 3, 1.0], atol=1e-15)
    X2, s2 = h.from_model_input(Z)
    assert torch.equal(X2, X) and s2.tolist() == [64.0, 128.0, 512.0]
    assert h.model_bounds.tolist() == [[0.0, -1.0, 0.0], [1.0, 1.0, 1.0]]
    assert h.target_fidelities == {2: 1.0} and h.fidelity_column == 2
    assert h.fidelity_fixed_features() == [{2: z} for z in h.fidelity.unit_values]
    np.testing.assert_allclose(h.cost_unit([0.0, 1.0]).numpy(), [1 / 64, 1.0])
    assert h.evaluate(X, 128).tolist() == pytest.approx([0.3 / 128, -0.1 / 128, 1.1 / 128])
    assert p.simple_regret(20.0) == pytest.approx(p.optimum_value - 20.0)
    assert augmented_branin().simple_regret(1.0) == pytest.approx(1.0 - 5 / (4 * math.pi))


# ---------------------------------------------------------------- failures
def _flaky(X, s):
    """NaN for x < 0.1; raises for x > 0.8 (the whole batch fails with it)."""
    if bool((X[:, 0] > 0.8).any()):
        raise RuntimeError("solver diverged")
    y = X[:, 0] * 2.0
    return torch.where(X[:, 0] < 0.1, torch.full_like(y, math.nan), y)


@pytest.mark.parametrize("vectorized", [True, False])
def test_evaluate_safe_flags_nan_and_exceptions_per_point(vectorized):
    p = MultiFidelityProblem(name="flaky", bounds=[[0.0], [1.0]], function=_flaky, vectorized=vectorized)
    X = [[0.5], [0.05], [0.9], [0.3]]
    y, ok = p.evaluate_safe(X)
    assert ok.tolist() == [True, False, False, True]
    assert y[0].item() == 1.0 and y[3].item() == 0.6 and math.isnan(y[1]) and math.isnan(y[2])
    assert list(p.last_failures) == [2] and "solver diverged" in p.last_failures[2]
    with pytest.raises(RuntimeError, match="diverged"):
        p.evaluate(X)
    y_ok, _ = p.evaluate_safe([[0.2], [0.4]])
    assert y_ok.tolist() == [0.4, 0.8] and p.last_failures == {}
    with pytest.raises(ParameterError):  # a caller's mistake is raised, not recorded
        p.evaluate_safe([[2.0]])
    values, seconds = p.evaluate_timed(X, safe=True)
    assert torch.equal(torch.isfinite(values), ok) and bool((seconds > 0).all()) and seconds.shape == (4,)
    with pytest.raises(RuntimeError):
        p.evaluate_timed(X)


# ---------------------------------------------------------------- simulator source
def test_simulator_source_rejects_bad_names():
    from sciml.simulators.pde.burgers import BurgersSimulator

    fid = Fidelity.discrete("n_cells", (32, 64))
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) \['viscosity'\]; accepted: nu in"):
        SimulatorSource(BurgersSimulator, float, fid, parameters=["viscosity"])
    with pytest.raises(ParameterError, match="unknown fixed parameter"):
        SimulatorSource(BurgersSimulator, float, fid, fixed={"beta": 1.0})
    with pytest.raises(ParameterError, match=r"accepted: nu in \[0.0001, 10\]"):
        SimulatorSource(BurgersSimulator, float, fid, parameters={"nu": (1e-5, 0.1)})
    with pytest.raises(ConfigError, match="building the simulator"):
        SimulatorSource(BurgersSimulator, float, Fidelity.discrete("grid_size", (32, 64)))
