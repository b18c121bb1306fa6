"""ProbConserv problem suite: exact solutions, conserved quantities, residuals, sampling."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad

from sciml.errors import ParameterError
from sciml.simulators.pde import HeatSimulator, PorousMediumSimulator, StefanSimulator
from sciml.simulators.pde.stefan import stefan_alpha
from sciml.surrogates.probconserv.problem_suite import (
    CONSERVATION_PROBLEMS,
    AdvectionProblem,
    BurgersProblem,
    HeatProblem,
    StefanProblem,
    conservation_problem,
)
from sciml.surrogates.probconserv.problems import (
    ConservationProblem,
    ProblemBatch,
    evaluation_slice,
    grid_points,
    nearest_time_index,
)

NAMES = ("heat", "pme", "stefan", "advection", "burgers")
TWO_PI = 2.0 * math.pi

#: the unit-interval heat problem sin(pi x) on [0, 1] (the old "heat" entry; not ProbConserv's)
UNIT_HEAT = HeatProblem(name="heat_unit", param_name="k", train_range=(1.0, 5.0), test_values=(1.0, 5.0),
                        x_range=(0.0, 1.0), mode=1)


# =========================================================================== registry
def test_registry_metadata_matches_the_paper_set_up():
    assert set(CONSERVATION_PROBLEMS) == set(NAMES)
    for name in NAMES:
        pr = conservation_problem(name)
        assert pr is CONSERVATION_PROBLEMS[name] and pr.name == name
        assert (pr.n_t, pr.n_x) == (201, 201)
        # ProbConserv's heat problem lives on [0, 2 pi] (3b_heat_var_c.yaml: x_range [0, 6.283185307179586])
        assert pr.x_range == ((0.0, TWO_PI) if name == "heat" else (0.0, 1.0))
        assert pr.t_range[0] <= pr.eval_time <= pr.t_range[1]
    expected = {
        "heat": ("k", (1.0, 5.0), (1.0, 5.0), (0.0, 1.0), 0.5),
        "pme": ("m", (1.0, 6.0), (1.0, 3.0, 6.0), (0.0, 1.0), 0.5),
        "stefan": ("u_star", (0.55, 0.7), (0.6, 0.5), (0.0, 0.1), 0.05),
        "advection": ("beta", (1.0, 5.0), (1.0, 3.0, 5.0), (0.0, 0.1), 0.05),
        "burgers": ("u_left", (1.0, 2.0), (1.0, 1.5, 2.0), (0.0, 0.5), 0.25),
    }
    for name, (param, train, test, t_range, t_eval) in expected.items():
        pr = CONSERVATION_PROBLEMS[name]
        assert (pr.param_name, pr.train_range, pr.test_values, pr.t_range, pr.eval_time) == (
            param, train, test, t_range, t_eval)
    with pytest.raises(ParameterError, match=r"unknown ProbConserv problem 'gpme'.*'advection', 'burgers'"):
        conservation_problem("gpme")
    with pytest.raises(dataclasses.FrozenInstanceError):
        CONSERVATION_PROBLEMS["pme"].eval_time = 0.3  # type: ignore[misc]


# =========================================================================== b(t) = int u dx
def _quad_mass(pr: ConservationProblem, t: float, p: float) -> float:
    """int u(x, t) dx over x_range by adaptive quadrature, split at the front / shock."""
    def f(x: float) -> float:
        return float(pr.exact(np.array(x), np.array(t), p))

    front = pr.front_position(np.array(t), p)
    if front is None:
        lo, hi = pr.x_range
        return quad(f, lo, hi, epsabs=0.0, epsrel=1e-12, limit=200)[0]
    xf = float(np.clip(front, 0.0, 1.0))
    left = quad(f, 0.0, xf, epsabs=0.0, epsrel=1e-12, limit=200)[0] if xf > 0 else 0.0
    right = quad(f, xf, 1.0, epsabs=0.0, epsrel=1e-12, limit=200)[0] if xf < 1 else 0.0
    return left + right


@pytest.mark.parametrize("name", NAMES)
def test_conserved_equals_the_integral_of_the_exact_solution(name):
    pr = CONSERVATION_PROBLEMS[name]
    lo, hi = pr.t_range
    ts = np.array([0.1, 0.37, 0.5, 0.83, 1.0]) * (hi - lo) + lo
    for p in sorted({*pr.train_range, *pr.test_values, 0.5 * sum(pr.train_range)}):
        b = pr.conserved(ts, p)
        assert b.shape == ts.shape
        if name == "heat":  # int_0^{2 pi} e^{-k t} sin x dx = 0: the halves +-2 e^{-k t} cancel; b is exactly 0
            np.testing.assert_array_equal(b, 0.0)
            for t in ts:
                def f(x: float, t: float = t) -> float:
                    return float(pr.exact(np.array(x), np.array(t), p))
                left = quad(f, 0.0, math.pi, epsabs=0.0, epsrel=1e-12)[0]
                right = quad(f, math.pi, TWO_PI, epsabs=0.0, epsrel=1e-12)[0]
                assert left == pytest.approx(2.0 * math.exp(-p * t), rel=1e-10)
                assert abs(left + right) < 1e-14
            continue
        ref = np.array([_quad_mass(pr, t, p) for t in ts])
        np.testing.assert_allclose(b, ref, rtol=1e-8, atol=1e-300)


@pytest.mark.parametrize("k", [1.0, 2.5, 5.0])
def test_unit_heat_configuration_mass_equals_its_integral(k):
    ts = np.array([0.0, 0.1, 0.37, 0.5, 1.0])
    np.testing.assert_allclose(UNIT_HEAT.conserved(ts, k), [_quad_mass(UNIT_HEAT, t, k) for t in ts],
                               rtol=1e-8, atol=1e-300)


def test_conserved_closed_form_values():
    # heat (sin x on [0, 2 pi]): 0 at every time and k; the unit configuration sin(pi x) on [0, 1]:
    # (2/pi) e^{-pi^2 k t}; pme: m^(1+1/m) t^(1+1/m) / (m+1)
    for k in (1.0, 5.0):
        np.testing.assert_array_equal(CONSERVATION_PROBLEMS["heat"].conserved([0.0, 0.5, 1.0], k), 0.0)
        np.testing.assert_array_equal(CONSERVATION_PROBLEMS["heat"].conserved_for([0.0, 0.5], [k]), 0.0)
    heat_b = UNIT_HEAT.conserved([0.5], 1.0)[0]
    assert heat_b == pytest.approx(2 / math.pi * math.exp(-math.pi**2 / 2), rel=1e-14)
    assert CONSERVATION_PROBLEMS["pme"].conserved([0.5], 3.0)[0] == pytest.approx(1.5 ** (4 / 3) / 4, rel=1e-14)
    assert CONSERVATION_PROBLEMS["pme"].conserved([0.5], 3.0)[0] == pytest.approx(0.42926784096, rel=1e-10)
    # advection: b = 0.25 + beta t ; burgers: b = 0.25 u_L + t u_L^2 / 2
    np.testing.assert_allclose(CONSERVATION_PROBLEMS["advection"].conserved([0.0, 0.05, 0.1], 3.0), [0.25, 0.4, 0.55], rtol=1e-14)
    np.testing.assert_allclose(CONSERVATION_PROBLEMS["burgers"].conserved([0.0, 0.25], 2.0), [0.5, 1.0], rtol=1e-14)
    # Stefan: the flux form (constraints.stefan_mass) equals the simulator's integral of the profile
    sim = StefanSimulator()
    ts = np.array([0.01, 0.05, 0.1])
    np.testing.assert_allclose(CONSERVATION_PROBLEMS["stefan"].conserved(ts, 0.6),
                               sim.conserved_quantity(ts, {"u_star": 0.6}), rtol=1e-12)
    b = CONSERVATION_PROBLEMS["stefan"].conserved_for(ts, np.array([0.55, 0.6, 0.5]))
    assert b.shape == (3, 3, 1)
    np.testing.assert_allclose(b[1, :, 0], CONSERVATION_PROBLEMS["stefan"].conserved(ts, 0.6), rtol=0)


# =========================================================================== agreement with the simulators
def test_heat_is_probconservs_sin_x_on_zero_two_pi():
    """Reference HeatEquation: u0 = sin x on [0, 2 pi]; u = e^{-k t} sin x, k in [1, 5], test 1, 5, t = 0.5."""
    pr = CONSERVATION_PROBLEMS["heat"]
    t = np.linspace(0.0, 1.0, 11)[:, None]
    x = np.linspace(0.0, TWO_PI, 65)[None, :]
    sim = HeatSimulator.probconserv()
    for k in (1.0, 2.5, 5.0):
        truth = np.exp(-k * t) * np.sin(x)
        np.testing.assert_allclose(pr.exact(x, t, k), truth, rtol=0, atol=1e-15)
        np.testing.assert_allclose(sim.exact_solution(x, t, {"k": k}), truth, rtol=0, atol=1e-15)
        np.testing.assert_allclose(pr.exact(x, t, k), sim.exact_solution(x, t, {"k": k}), rtol=0, atol=1e-15)
        np.testing.assert_array_equal(sim.conserved_quantity(t[:, 0], {"k": k}), 0.0)
    # at the evaluation time the test profiles are far from degenerate: max e^{-k/2} = 0.607 (k=1), 0.0821 (k=5)
    for k, peak in ((1.0, 0.6065306597126334), (5.0, 0.0820849986238988)):
        u = pr.exact(np.linspace(0.0, TWO_PI, 201), np.array(pr.eval_time), k)
        assert u.max() == pytest.approx(peak, rel=1e-6) and u.min() == pytest.approx(-peak, rel=1e-6)
    with pytest.raises(ParameterError, match=r"positions must lie in the domain x in \[0, 6.28319\]"):
        pr.exact(np.array([7.0]), np.array([0.5]), 1.0)
    with pytest.raises(ParameterError, match="mode must be a positive integer"):
        dataclasses.replace(pr, mode=0)
    # another domain: sin(2 (x - 1)) on [1, 1 + pi] decays as e^{-4 k t}
    shifted = dataclasses.replace(pr, x_range=(1.0, 1.0 + math.pi))
    xs = np.linspace(1.0, 1.0 + math.pi, 9)
    np.testing.assert_allclose(shifted.exact(xs, np.array(0.3), 2.0), np.exp(-2.4) * np.sin(2 * (xs - 1.0)),
                               rtol=0, atol=1e-15)


def test_exact_solutions_agree_with_the_repo_simulators():
    t = np.linspace(0.0, 1.0, 7)[:, None]
    x = np.linspace(0.0, 1.0, 33)[None, :]
    np.testing.assert_allclose(UNIT_HEAT.exact(x, t, 2.5),
                               HeatSimulator().exact_solution(x, t, {"k": 2.5}), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(CONSERVATION_PROBLEMS["heat"].exact(TWO_PI * x, t, 2.5),
                               HeatSimulator.probconserv().exact_solution(TWO_PI * x, t, {"k": 2.5}),
                               rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(CONSERVATION_PROBLEMS["pme"].exact(x, t, 3.0),
                               PorousMediumSimulator(problem="front").exact_solution(x, t, {"m": 3.0}),
                               rtol=1e-13, atol=0)
    ts = np.linspace(0.0, 0.1, 5)[:, None]
    sim = StefanSimulator()
    np.testing.assert_allclose(CONSERVATION_PROBLEMS["stefan"].exact(x, ts, 0.6),
                               sim.exact_solution(x, ts, {"u_star": 0.6}), rtol=1e-13, atol=0)
    np.testing.assert_allclose(CONSERVATION_PROBLEMS["stefan"].front_position(ts[:, 0], 0.6),
                               sim.front_position(ts[:, 0], {"u_star": 0.6}), rtol=1e-14)
    assert CONSERVATION_PROBLEMS["stefan"].valid_until(0.6) == pytest.approx(sim.valid_until({"u_star": 0.6}), rel=1e-14)
    # the out-of-distribution test value u* = 0.5 is in the simulator's space (the training range
    # [0.55, 0.7] belongs to the problem's design); below the simulator's range it refuses
    np.testing.assert_allclose(CONSERVATION_PROBLEMS["stefan"].exact(x, ts, 0.5),
                               sim.exact_solution(x, ts, {"u_star": 0.5}), rtol=1e-13, atol=0)
    assert CONSERVATION_PROBLEMS["stefan"].train_range == (0.55, 0.7)
    with pytest.raises(ParameterError, match=r"u_star=0.3 is out of range; accepted: u_star in \[0.42, 0.99\]"):
        sim.exact_solution(x, ts, {"u_star": 0.3})
    assert CONSERVATION_PROBLEMS["stefan"].exact(np.array(0.0), np.array(0.05), 0.5) == pytest.approx(1.0, abs=1e-15)


def test_exact_shape_broadcasts_t_and_x():
    pr = CONSERVATION_PROBLEMS["pme"]
    t, x = pr.target_grid(5, 7)
    assert pr.exact(x[None, :], t[:, None], 2.0).shape == (5, 7)
    assert pr.exact(x, 0.5, 2.0).shape == (7,)
    assert pr.exact(0.25, t, 2.0).shape == (5,)
    u = pr.solution_on_grid([1.0, 2.0], t, x)
    assert u.shape == (2, 5, 7)
    np.testing.assert_array_equal(u[1], pr.exact(x[None, :], t[:, None], 2.0))


# =========================================================================== fronts and shocks
def test_burgers_shock_moves_at_the_rankine_hugoniot_speed():
    pr = CONSERVATION_PROBLEMS["burgers"]
    assert isinstance(pr, BurgersProblem)
    for u_l in (1.0, 1.5, 2.0, 2.5):
        s = pr.shock_speed(u_l)
        assert s == pytest.approx((u_l + 0.0) / 2, rel=1e-15)
        ts = np.array([0.1, 0.25, 0.5])
        xs = pr.front_position(ts, u_l)
        np.testing.assert_allclose(xs, 0.25 + s * ts, rtol=1e-15)
        np.testing.assert_array_equal(pr.exact(xs - 1e-9, ts, u_l), np.full(3, u_l))
        np.testing.assert_array_equal(pr.exact(xs + 1e-9, ts, u_l), np.zeros(3))
        # RH from the integral form: d b / dt = s [u] = (u_L^2 - u_R^2) / 2
        b = pr.conserved(ts, u_l)
        assert (b[2] - b[0]) / (ts[2] - ts[0]) == pytest.approx(s * u_l, rel=1e-13)
    assert pr.valid_until(2.0) == pytest.approx(0.75, rel=1e-15)  # shock reaches x = 1


def test_advection_front_and_pme_front_positions():
    adv = CONSERVATION_PROBLEMS["advection"]
    ts = np.array([0.02, 0.05, 0.1])
    xf = adv.front_position(ts, 5.0)
    np.testing.assert_allclose(xf, [0.35, 0.5, 0.75], rtol=1e-14)
    np.testing.assert_array_equal(adv.exact(xf - 1e-9, ts, 5.0), np.ones(3))
    np.testing.assert_array_equal(adv.exact(xf + 1e-9, ts, 5.0), np.zeros(3))
    assert float(adv.exact(np.array(0.3), np.array(0.05), 1.0)) == 0.5  # mean value on the jump
    pme = CONSERVATION_PROBLEMS["pme"]
    for m in (1.0, 3.0, 6.0):
        np.testing.assert_array_equal(pme.front_position(ts, m), ts)
        # behind the front u = (m (t - x))^(1/m) > 0, at and beyond it 0
        np.testing.assert_allclose(pme.exact(ts - 1e-3, ts, m), (m * 1e-3) ** (1 / m), rtol=1e-9)
        np.testing.assert_array_equal(pme.exact(ts, ts, m), np.zeros(3))
        np.testing.assert_array_equal(pme.exact(ts + 1e-6, ts, m), np.zeros(3))


def test_stefan_front_jump_and_stefan_condition():
    pr = CONSERVATION_PROBLEMS["stefan"]
    assert isinstance(pr, StefanProblem)
    for u_star in (0.5, 0.6, 0.7):
        a = pr.alpha(u_star)
        assert a == pytest.approx(stefan_alpha(u_star), rel=1e-15)
        t = np.array([0.02, 0.05, 0.1])
        xf = pr.front_position(t, u_star)
        np.testing.assert_allclose(xf, 2 * a * np.sqrt(t), rtol=1e-15)
        # u jumps from u* to 0 at the front
        np.testing.assert_allclose(pr.exact(xf * (1 - 1e-12), t, u_star), u_star, rtol=1e-9)
        np.testing.assert_array_equal(pr.exact(xf * (1 + 1e-9), t, u_star), np.zeros(3))
        # Stefan condition: front speed * u* = flux behind the front = -u_x(x*^-)
        h = 1e-7
        u_x = (pr.exact(xf - h, t, u_star) - pr.exact(xf - 2 * h, t, u_star)) / h
        np.testing.assert_allclose(a / np.sqrt(t) * u_star, -u_x, rtol=1e-5)
    # alpha(0.6) reference value (root of u* a sqrt(pi) erf(a) e^{a^2} = 1 - u*)
    a = pr.alpha(0.6)
    assert 0.6 * a * math.sqrt(math.pi) * math.erf(a) * math.exp(a * a) == pytest.approx(0.4, rel=1e-12)


# =========================================================================== PDE residuals
def _derivs(fn, t: torch.Tensor, x: torch.Tensor):
    t = t.clone().requires_grad_(True)
    x = x.clone().requires_grad_(True)
    u = fn(t, x)
    u_t, u_x = torch.autograd.grad(u.sum(), (t, x), create_graph=True)
    (u_xx,) = torch.autograd.grad(u_x.sum(), x, allow_unused=True)
    if u_xx is None:  # u linear in x
        u_xx = torch.zeros_like(x)
    return u.detach(), u_t.detach(), u_x.detach(), u_xx.detach()


def _torch_exact(name: str, p: float):
    if name == "heat":
        return lambda t, x: torch.exp(-p * t) * torch.sin(x)
    if name == "pme":
        return lambda t, x: torch.clamp(p * (t - x), min=0.0) ** (1.0 / p)
    if name == "stefan":
        a = stefan_alpha(p)
        return lambda t, x: 1.0 - (1.0 - p) * torch.erf(x / (2 * torch.sqrt(t))) / math.erf(a)
    raise AssertionError(name)


@pytest.mark.parametrize(("name", "p"), [("heat", 1.0), ("heat", 3.7), ("pme", 1.0), ("pme", 3.0),
                                         ("pme", 6.0), ("stefan", 0.6), ("stefan", 0.5)])
def test_gpme_residual_of_the_exact_solution_vanishes_at_smooth_points(name, p):
    pr = CONSERVATION_PROBLEMS[name]
    rng = np.random.default_rng(3)
    t_hi = pr.t_range[1]
    t = rng.uniform(0.2 * t_hi, t_hi, size=64)
    if name == "heat":
        x = rng.uniform(0.02, 0.98, size=64) * TWO_PI
    else:  # strictly behind the front
        x = rng.uniform(0.02, 0.9, size=64) * pr.front_position(t, p)
    tt, xt = torch.tensor(t, dtype=torch.float64), torch.tensor(x, dtype=torch.float64)
    fn = _torch_exact(name, p)
    u, u_t, u_x, u_xx = _derivs(fn, tt, xt)
    np.testing.assert_allclose(u.numpy(), pr.exact(x, t, p), rtol=1e-12, atol=1e-300)  # same function
    res = pr.pde_residual(u, u_t, u_x, u_xx, p)
    scale = float(u_t.abs().max())
    assert scale > 1e-8
    assert float(res.abs().max()) < 1e-10 * max(scale, 1.0)
    if name != "stefan":  # not trivially zero: a wrong parameter gives an O(1) relative residual
        assert float(pr.pde_residual(u, u_t, u_x, u_xx, 2.0 * p).abs().max()) > 1e-2 * scale


def test_residuals_formulas_and_broadcasting():
    u = torch.tensor([0.5, 2.0]); u_t = torch.tensor([1.0, -1.0])
    u_x = torch.tensor([3.0, 0.5]); u_xx = torch.tensor([2.0, 4.0])
    # heat: u_t - k u_xx
    np.testing.assert_allclose(CONSERVATION_PROBLEMS["heat"].pde_residual(u, u_t, u_x, u_xx, 2.0).numpy(), [-3.0, -9.0])
    # PME m = 2: u_t - 2 u u_x^2 - u^2 u_xx
    np.testing.assert_allclose(CONSERVATION_PROBLEMS["pme"].pde_residual(u, u_t, u_x, u_xx, 2.0).numpy(),
                               [1 - 2 * 0.5 * 9 - 0.25 * 2, -1 - 2 * 2 * 0.25 - 4 * 4], rtol=1e-6)
    # Stefan u* = 0.6: k = 0 below the threshold, 1 above
    np.testing.assert_allclose(CONSERVATION_PROBLEMS["stefan"].pde_residual(u, u_t, u_x, u_xx, 0.6).numpy(), [1.0, -5.0])
    # advection: u_t + beta u_x ; Burgers: u_t + u u_x
    np.testing.assert_allclose(CONSERVATION_PROBLEMS["advection"].pde_residual(u, u_t, u_x, u_xx, 2.0).numpy(), [7.0, 0.0])
    np.testing.assert_allclose(CONSERVATION_PROBLEMS["burgers"].pde_residual(u, u_t, u_x, u_xx, 2.0).numpy(), [2.5, 0.0])
    # a tensor parameter of shape (B, 1, 1) broadcasts over (B, n_t, n_x)
    uu = torch.full((2, 3, 4), 0.5)
    m = torch.tensor([1.0, 3.0]).view(2, 1, 1)
    res = CONSERVATION_PROBLEMS["pme"].pde_residual(uu, torch.zeros_like(uu), torch.ones_like(uu), torch.zeros_like(uu), m)
    assert res.shape == (2, 3, 4)
    np.testing.assert_allclose(res[:, 0, 0].numpy(), [-1.0, -3 * 0.25], rtol=1e-6)
    # a model mean undershooting 0 gives a finite PME residual (k(u) = max(u, 0)^m)
    r = CONSERVATION_PROBLEMS["pme"].pde_residual(torch.tensor([-0.1]), torch.tensor([1.0]), torch.tensor([1.0]),
                                     torch.tensor([1.0]), 2.5)
    assert float(r) == 1.0


def test_hyperbolic_residuals_vanish_on_smooth_solutions_and_on_the_exact_steps():
    rng = np.random.default_rng(4)
    t = torch.tensor(rng.uniform(0.0, 0.1, 50), dtype=torch.float64)
    x = torch.tensor(rng.uniform(0.0, 1.0, 50), dtype=torch.float64)
    beta = 3.0
    adv = CONSERVATION_PROBLEMS["advection"]
    # any u = f(x - beta t) solves u_t + beta u_x = 0
    u, u_t, u_x, u_xx = _derivs(lambda t, x: torch.tanh(20 * (x - beta * t - 0.3)), t, x)
    assert float(adv.pde_residual(u, u_t, u_x, u_xx, beta).abs().max()) < 1e-12
    assert float(adv.pde_residual(u, u_t, u_x, u_xx, 2 * beta).abs().max()) > 1.0  # wrong speed
    # Burgers: u = x / (1 + t) is a smooth (rarefaction-type) solution
    bur = CONSERVATION_PROBLEMS["burgers"]
    u, u_t, u_x, u_xx = _derivs(lambda t, x: x / (1 + t), t, x)
    assert float(bur.pde_residual(u, u_t, u_x, u_xx, 2.0).abs().max()) < 1e-14
    # the exact piecewise-constant solutions: zero derivatives away from the jump -> zero residual
    for pr, p in ((adv, beta), (bur, 2.0)):
        tn, xn = t.numpy(), x.numpy()
        keep = np.abs(xn - pr.front_position(tn, p)) > 1e-3
        h = 1e-5
        un = pr.exact(xn[keep], tn[keep], p)
        ut = (pr.exact(xn[keep], tn[keep] + h, p) - pr.exact(xn[keep], tn[keep] - h, p)) / (2 * h)
        ux = (pr.exact(np.minimum(xn[keep] + h, 1), tn[keep], p) - pr.exact(xn[keep] - h, tn[keep], p)) / (2 * h)
        res = pr.pde_residual(torch.tensor(un), torch.tensor(ut), torch.tensor(ux), torch.zeros(int(keep.sum())), p)
        assert int(keep.sum()) > 40 and float(res.abs().max()) == 0.0


# =========================================================================== grids and constraint
def test_grid_points_are_time_major_and_round_trip_through_reshape():
    pr = CONSERVATION_PROBLEMS["heat"]
    t, x = pr.target_grid(4, 6)
    np.testing.assert_allclose(t, [0, 1 / 3, 2 / 3, 1], rtol=1e-15)
    assert x.shape == (6,) and x[0] == 0.0 and x[-1] == TWO_PI
    pts = grid_points(t, x)
    assert pts.shape == (24, 2)
    for i in range(4):
        for j in range(6):
            np.testing.assert_array_equal(pts[i * 6 + j], [t[i], x[j]])
    np.testing.assert_array_equal(pr.grid_points(t, x), pts)
    vals = pr.exact(pts[:, 1], pts[:, 0], 2.0)
    np.testing.assert_array_equal(vals.reshape(4, 6), pr.exact(x[None, :], t[:, None], 2.0))
    t0, x0 = pr.target_grid()
    assert (t0.size, x0.size) == (201, 201)
    small = pr.with_grid(11, 21)
    assert [a.size for a in small.target_grid()] == [11, 21] and small.name == "heat"


def test_heat_constraint_of_the_exact_solution_is_zero_to_round_off():
    pr = CONSERVATION_PROBLEMS["heat"]
    t, x = pr.target_grid()
    g, b_fn = pr.constraint(t, x)
    assert g.shape == (1, 201)
    assert g.sum() == pytest.approx(TWO_PI, rel=1e-14)
    b = b_fn(np.array([1.0, 5.0]))
    assert b.shape == (2, 201, 1)
    np.testing.assert_array_equal(b, 0.0)
    for k in (1.0, 5.0):
        u = pr.exact(x[None, :], t[:, None], k)  # (n_t, n_x)
        # the trapezoid rule integrates a full period of sin x exactly: G u = 0 up to round-off
        assert np.abs(u @ g.T).max() < 1e-14


def test_constraint_g_and_b_match_the_quadrature_of_the_exact_solution():
    pr = UNIT_HEAT  # sin(pi x) on [0, 1]: a nonzero mass and a nonzero trapezoid error
    t, x = pr.target_grid()
    g, b_fn = pr.constraint(t, x)
    assert g.shape == (1, 201)
    assert g.sum() == pytest.approx(1.0, rel=1e-14)
    b = b_fn(np.array([1.0, 5.0]))
    assert b.shape == (2, 201, 1)
    for k_idx, k in enumerate((1.0, 5.0)):
        u = pr.exact(x[None, :], t[:, None], k)  # (n_t, n_x)
        gu = (u @ g.T)[:, 0]
        # trapezoid rule error for sin(pi x) with h = 1/200: pi^2 h^2 / 12 ~ 2.1e-5 relative
        np.testing.assert_allclose(gu, b[k_idx, :, 0], rtol=2.1e-5, atol=0)
        assert np.max(np.abs(gu / b[k_idx, :, 0] - 1)) == pytest.approx(math.pi**2 / 200**2 / 12, rel=1e-3)
    # PME with m = 1 is piecewise linear with the kink on grid nodes: exact
    pme = CONSERVATION_PROBLEMS["pme"]
    g, b_fn = pme.constraint(t, x)
    u = pme.exact(x[None, :], t[:, None], 1.0)
    np.testing.assert_allclose((u @ g.T)[:, 0], b_fn([1.0])[0, :, 0], rtol=1e-12, atol=1e-15)
    with pytest.raises(ParameterError, match=r"must run from 0 to 1 \(the whole domain\)"):
        pr.constraint(t, x[:-1])


def test_evaluation_slice_picks_the_nearest_time_row():
    t = np.linspace(0.0, 1.0, 11)
    u = np.arange(11 * 3, dtype=float).reshape(11, 3)
    assert nearest_time_index(t, 0.5) == 5
    assert nearest_time_index(t, 0.54) == 5 and nearest_time_index(t, 0.56) == 6
    np.testing.assert_array_equal(evaluation_slice(u, t, 0.5), [15.0, 16.0, 17.0])
    ut = torch.tensor(np.stack([u, -u]))  # (B, n_t, n_x)
    np.testing.assert_array_equal(evaluation_slice(ut, t, 0.31).numpy(), [[9.0, 10.0, 11.0], [-9.0, -10.0, -11.0]])
    pr = CONSERVATION_PROBLEMS["stefan"]
    tg, _ = pr.target_grid()
    assert tg[nearest_time_index(tg, pr.eval_time)] == pytest.approx(0.05, abs=1e-15)
    with pytest.raises(ParameterError, match=r"eval_time = 1.5 lies outside the time grid \[0, 1\]"):
        evaluation_slice(u, t, 1.5)
    with pytest.raises(ParameterError, match=r"n_t = len\(t\) = 11"):
        evaluation_slice(u[:5], t, 0.5)


# =========================================================================== sampling
def test_sample_params_train_and_test_splits():
    pr = CONSERVATION_PROBLEMS["pme"]
    p1 = pr.sample_params(1000, np.random.default_rng(7))
    p2 = pr.sample_params(1000, np.random.default_rng(7))
    np.testing.assert_array_equal(p1, p2)
    assert p1.shape == (1000,) and p1.min() >= 1.0 and p1.max() <= 6.0
    assert p1.mean() == pytest.approx(3.5, abs=0.15)
    np.testing.assert_array_equal(p1, np.random.default_rng(7).uniform(1.0, 6.0, 1000))
    pt = pr.sample_params(60, np.random.default_rng(0), split="test")
    assert set(pt.tolist()) == {1.0, 3.0, 6.0}
    with pytest.raises(ParameterError, match="split must be 'train' or 'test'"):
        pr.sample_params(3, np.random.default_rng(0), split="val")
    with pytest.raises(ParameterError, match="n must be an integer >= 1"):
        pr.sample_params(0, np.random.default_rng(0))
    with pytest.raises(ParameterError, match="rng must be a numpy.random.Generator"):
        pr.sample_params(3, 0)


@pytest.mark.parametrize("name", NAMES)
def test_sample_batch_context_is_a_subset_of_the_grid_with_exact_values(name):
    pr = CONSERVATION_PROBLEMS[name]
    n_t, n_x = 9, 13
    params = pr.sample_params(3, np.random.default_rng(1))
    batch = pr.sample_batch(params, n_context=20, rng=np.random.default_rng(2), grid=(n_t, n_x),
                            dtype=torch.float64)
    assert isinstance(batch, ProblemBatch) and batch.dense and batch.grid_shape == (n_t, n_x)
    assert batch.context_x.shape == (3, 20, 2) and batch.context_y.shape == (3, 20, 1)
    assert batch.target_x.shape == (3, n_t * n_x, 2) and batch.target_y.shape == (3, n_t * n_x, 1)
    assert batch.params.shape == (3, 1) and batch.context_index.shape == (3, 20)
    assert batch.context_x.dtype == torch.float64
    np.testing.assert_array_equal(batch.params[:, 0].numpy(), params)
    t, x = pr.target_grid(n_t, n_x)
    pts = grid_points(t, x)
    u = pr.solution_on_grid(params, t, x)
    for b in range(3):
        idx = batch.context_index[b].numpy()
        assert len(set(idx.tolist())) == 20 and np.all(np.diff(idx) > 0)  # distinct, sorted
        np.testing.assert_array_equal(batch.context_x[b].numpy(), pts[idx])
        # the values are the exact solution at those (t, x)
        ref = np.array([float(pr.exact(xx, tt, params[b])) for tt, xx in pts[idx]])
        np.testing.assert_allclose(batch.context_y[b, :, 0].numpy(), ref, rtol=1e-15, atol=0)
        # dense targets: time-major, reshape to (n_t, n_x)
        np.testing.assert_array_equal(batch.target_x[b].numpy(), pts)
        np.testing.assert_array_equal(batch.target_y[b, :, 0].reshape(n_t, n_x).numpy(), u[b])
    assert not torch.equal(batch.context_index[0], batch.context_index[1])  # independent draws


def test_sample_batch_is_deterministic_and_supports_subsets_noise_and_torch_generators():
    pr = CONSERVATION_PROBLEMS["burgers"]
    kw = dict(n_context=30, n_target=50, grid=(21, 21))
    b1 = pr.sample_batch([1.0, 2.0], rng=np.random.default_rng(5), **kw)
    b2 = pr.sample_batch(np.array([[1.0], [2.0]]), rng=np.random.default_rng(5), **kw)
    b3 = pr.sample_batch([1.0, 2.0], rng=np.random.default_rng(6), **kw)
    for f in ("context_x", "context_y", "target_x", "target_y", "context_index", "target_index"):
        assert torch.equal(getattr(b1, f), getattr(b2, f))
    assert not torch.equal(b1.context_index, b3.context_index)
    assert b1.context_x.dtype == torch.float32 and b1.target_x.shape == (2, 50, 2) and not b1.dense
    t, x = pr.target_grid(21, 21)
    pts = grid_points(t, x)
    u = pr.solution_on_grid([1.0, 2.0], t, x).reshape(2, -1)
    for b in range(2):
        idx = b1.target_index[b].numpy()
        np.testing.assert_allclose(b1.target_x[b].numpy(), pts[idx], rtol=1e-7)
        np.testing.assert_allclose(b1.target_y[b, :, 0].numpy(), u[b, idx], rtol=1e-7)
    # torch.Generator: reproducible too
    g1 = pr.sample_batch([1.5], rng=torch.Generator().manual_seed(3), **kw)
    g2 = pr.sample_batch([1.5], rng=torch.Generator().manual_seed(3), **kw)
    assert torch.equal(g1.context_index, g2.context_index) and torch.equal(g1.target_y, g2.target_y)
    # noise only on the context values, with the requested standard deviation
    heat = CONSERVATION_PROBLEMS["heat"]
    clean = heat.sample_batch([2.0], n_context=4000, rng=np.random.default_rng(9), grid=(101, 101),
                              dtype=torch.float64)
    noisy = heat.sample_batch([2.0], n_context=4000, rng=np.random.default_rng(9), grid=(101, 101),
                              noise_std=0.1, dtype=torch.float64)
    assert torch.equal(clean.context_index, noisy.context_index)
    assert torch.equal(clean.target_y, noisy.target_y)
    eps = (noisy.context_y - clean.context_y).numpy().ravel()
    assert eps.std() == pytest.approx(0.1, rel=0.05) and abs(eps.mean()) < 0.01
    moved = noisy.to("cpu")
    assert torch.equal(moved.context_y, noisy.context_y) and moved.target_index is None


# =========================================================================== bad input
@pytest.mark.parametrize(("name", "bad", "accepted"), [
    ("heat", 0.0, "k > 0"),
    ("heat", -1.0, "k > 0"),
    ("pme", 0.0, "m > 0"),
    ("stefan", 1.0, "0 < u_star < 1"),
    ("stefan", 0.0, "0 < u_star < 1"),
    ("advection", -2.0, "beta > 0"),
    ("burgers", 0.0, "u_left > u_right = 0"),
    ("pme", float("nan"), "m > 0"),
])
def test_inadmissible_parameters_raise_with_the_accepted_range(name, bad, accepted):
    pr = CONSERVATION_PROBLEMS[name]
    t, x = pr.target_grid(5, 5)
    for call in (lambda: pr.exact(x, t, bad), lambda: pr.conserved(t, bad),
                 lambda: pr.sample_batch([1.0 if name != "stefan" else 0.6, bad], n_context=3,
                                         rng=np.random.default_rng(0), grid=(5, 5))):
        with pytest.raises(ParameterError, match=rf"{pr.param_name} = .* is not admissible; accepted: {accepted}"):
            call()


def test_times_and_positions_outside_the_validity_of_the_closed_form_raise():
    with pytest.raises(ParameterError, match=r"for m = 3 holds for 0 <= t <= 1 .*got t = 1.2"):
        CONSERVATION_PROBLEMS["pme"].conserved([0.5, 1.2], 3.0)
    # u* = 0.02: the Stefan front leaves [0, 1] before t = 0.1
    tmax = CONSERVATION_PROBLEMS["stefan"].valid_until(0.02)
    assert tmax < 0.1
    with pytest.raises(ParameterError, match=r"u_star = 0.02 holds for 0 <= t <= 0.0"):
        CONSERVATION_PROBLEMS["stefan"].exact(0.5, 0.1, 0.02)
    assert CONSERVATION_PROBLEMS["stefan"].exact(0.5, tmax, 0.02).shape == ()
    with pytest.raises(ParameterError, match=r"beta = 10 holds for 0 <= t <= 0.075"):
        CONSERVATION_PROBLEMS["advection"].exact(0.5, 0.1, 10.0)
    with pytest.raises(ParameterError, match="times must be finite and >= 0"):
        CONSERVATION_PROBLEMS["heat"].exact(0.5, -0.1, 1.0)
    with pytest.raises(ParameterError, match=r"positions must lie in the domain x in \[0, 1\]"):
        CONSERVATION_PROBLEMS["pme"].exact(1.5, 0.1, 1.0)
    with pytest.raises(ParameterError, match="u_left must be a real number"):
        CONSERVATION_PROBLEMS["burgers"].exact(0.5, 0.1, np.array([1.0, 2.0]))


def test_bad_sampling_arguments_raise():
    pr = CONSERVATION_PROBLEMS["heat"]
    rng = np.random.default_rng(0)
    with pytest.raises(ParameterError, match=r"n_context = 26 exceeds the 25 points of the 5 x 5 grid; "
                                             r"accepted: 1 <= n_context <= 25"):
        pr.sample_batch([1.0], n_context=26, rng=rng, grid=(5, 5))
    with pytest.raises(ParameterError, match=r"n_target = 30 exceeds the 25 points"):
        pr.sample_batch([1.0], n_context=5, n_target=30, rng=rng, grid=(5, 5))
    with pytest.raises(ParameterError, match="n_context must be an integer >= 1"):
        pr.sample_batch([1.0], n_context=0, rng=rng, grid=(5, 5))
    with pytest.raises(ParameterError, match="n_t must be an integer >= 2"):
        pr.sample_batch([1.0], n_context=1, rng=rng, grid=(1, 5))
    with pytest.raises(ParameterError, match="n_x must be an integer >= 2"):
        pr.target_grid(5, 2.5)
    with pytest.raises(ParameterError, match=r"grid must be a pair \(n_t, n_x\)"):
        pr.sample_batch([1.0], n_context=1, rng=rng, grid=(5,))
    with pytest.raises(ParameterError, match="noise_std must be a finite number >= 0"):
        pr.sample_batch([1.0], n_context=1, rng=rng, grid=(5, 5), noise_std=-0.1)
    with pytest.raises(ParameterError, match="dtype must be a floating torch dtype"):
        pr.sample_batch([1.0], n_context=1, rng=rng, grid=(5, 5), dtype=torch.int64)
    with pytest.raises(ParameterError, match="rng must be a numpy.random.Generator or a torch.Generator"):
        pr.sample_batch([1.0], n_context=1, rng=42, grid=(5, 5))
    with pytest.raises(ParameterError, match=r"params must have shape \(B,\) or \(B, 1\)"):
        pr.sample_batch(np.ones((2, 2)), n_context=1, rng=rng, grid=(5, 5))
    with pytest.raises(ParameterError, match="n_t must be an integer >= 2"):
        pr.with_grid(1, 5)


def test_bad_problem_definitions_raise():
    with pytest.raises(ParameterError, match=r"eval_time 0.5 outside t_range \(0.0, 0.1\)"):
        dataclasses.replace(CONSERVATION_PROBLEMS["stefan"], eval_time=0.5)
    with pytest.raises(ParameterError, match=r"u_star = 0.55 holds for 0 <= t <= "):
        dataclasses.replace(CONSERVATION_PROBLEMS["stefan"], t_range=(0.0, 1.0), eval_time=0.5)  # front leaves [0, 1]
    with pytest.raises(ParameterError, match=r"u_star = 1.2 is not admissible"):
        dataclasses.replace(CONSERVATION_PROBLEMS["stefan"], test_values=(0.6, 1.2))
    with pytest.raises(ParameterError, match=r"train_range must satisfy lo <= hi"):
        dataclasses.replace(CONSERVATION_PROBLEMS["heat"], train_range=(5.0, 1.0))
    with pytest.raises(ParameterError, match=r"PMEProblem is set on x_range \(0, 1\)"):
        dataclasses.replace(CONSERVATION_PROBLEMS["pme"], x_range=(0.0, 2.0))
    with pytest.raises(ParameterError, match=r"x0 must lie inside x_range"):
        AdvectionProblem(name="a", param_name="beta", train_range=(1.0, 2.0), test_values=(1.0,), x0=1.5,
                         t_range=(0.0, 0.1), eval_time=0.05)
    # the Riemann problems may live on another domain
    wide = AdvectionProblem(name="a", param_name="beta", train_range=(1.0, 2.0), test_values=(1.0,),
                            x_range=(-1.0, 1.0), x0=0.0, t_range=(0.0, 0.5), eval_time=0.25)
    assert wide.conserved([0.0, 0.5], 2.0) == pytest.approx([1.0, 2.0], rel=1e-14)
    assert _quad_mass_on(wide, 0.3, 2.0) == pytest.approx(float(wide.conserved([0.3], 2.0)[0]), rel=1e-10)


def _quad_mass_on(pr: ConservationProblem, t: float, p: float) -> float:
    lo, hi = pr.x_range
    xf = float(pr.front_position(np.array(t), p))
    f = lambda x: float(pr.exact(np.array(x), np.array(t), p))  # noqa: E731
    return quad(f, lo, xf)[0] + quad(f, xf, hi)[0]
