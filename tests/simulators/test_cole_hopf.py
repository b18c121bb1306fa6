"""Cole–Hopf reference ``cole_hopf_solution`` against computations independent of it.

Convention: ``u_t + u u_x = D u_xx``, ``D = nu / pi``, ``u0 = A sin(2 pi x / L)`` periodic.
With ``U0(y) = A L (1 - cos(2 pi y / L)) / (2 pi)`` and the Hopf–Lax functional
``G(y) = (x - y)^2 / (2t) + U0(y)``, the exact solution is
``u = int ((x - y) / t) exp(-(G(y) - min G) / (2D)) dy / int exp(-(G(y) - min G) / (2D)) dy``
(Hopf 1950, Cole 1951), and its inviscid limit is ``(x - y*) / t`` at the global minimiser
``y*`` (Lax–Oleinik). The references below compute these by adaptive quadrature
(``scipy.integrate.quad`` with the minimisers as break points) and by direct minimisation.
For ``sin(2 pi x)`` the shock forms at ``t = 1 / (2 pi)`` and sits at ``x = 1/2``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from scipy import integrate, optimize

from sciml.simulators.pde.burgers import cole_hopf_solution

SHOCK_TIMES = (0.25, 0.4)
SMALL_NU = (0.001, 0.002, 0.003)
# away from the shock at x = 1/2 (at least 0.05: the viscous layer's tail there is
# ~exp(-|jump| 0.05 / (2D)) < 1e-16 for these nu), both sides of the expansion at x = 0
AWAY = np.array([0.0, 0.05, 0.15, 0.25, 0.35, 0.42, 0.45, 0.55, 0.58, 0.65, 0.75, 0.85, 0.95])


def hopf_lax_minimisers(x: float, t: float, amp: float = 1.0,
                        length: float = 1.0) -> tuple[list[tuple[float, float]], Callable]:
    """Local minimisers ``(G(y), y)`` of the Hopf–Lax functional, by value, and ``G``.

    Every minimiser has ``|x - y| <= |amp| t`` (``G'(y) = 0`` means ``x - y = t u0(y)``): a
    fine grid there brackets them, Brent's method refines them.
    """
    def g(y: float | np.ndarray) -> float | np.ndarray:
        return (x - y) ** 2 / (2 * t) + amp * length / (2 * math.pi) * (1 - np.cos(2 * math.pi * y / length))

    r = abs(amp) * t + 1e-3
    yy = np.linspace(x - r, x + r, 4001)
    gy = g(yy)
    found = []
    for i in range(1, yy.size - 1):
        if gy[i] <= gy[i - 1] and gy[i] <= gy[i + 1]:
            res = optimize.minimize_scalar(g, bounds=(yy[i - 1], yy[i + 1]), method="bounded",
                                           options={"xatol": 1e-14})
            found.append((float(res.fun), float(res.x)))
    return sorted(found), g


def quad_reference(x: float, t: float, nu: float, amp: float = 1.0, length: float = 1.0) -> float:
    """The Cole–Hopf ratio of integrals by adaptive quadrature, shifted by ``min G``."""
    d = nu / math.pi
    mins, g = hopf_lax_minimisers(x, t, amp, length)
    gmin = mins[0][0]
    # beyond |x - y| = |amp| t + r, G - min G >= r^2 / (2t): 30 kernel widths drop nothing
    reach = abs(amp) * t + 30 * math.sqrt(2 * d * t)
    a, b = x - reach, x + reach

    def w(y: float) -> float:
        return math.exp(-(g(y) - gmin) / (2 * d))

    kw = {"points": [y for _, y in mins], "limit": 1000, "epsrel": 1e-12}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        den = integrate.quad(w, a, b, epsabs=0.0, **kw)[0]
        num = integrate.quad(lambda y: (x - y) / t * w(y), a, b, epsabs=1e-14 * den, **kw)[0]
    return num / den


def inviscid(x: float, t: float) -> float:
    """Lax–Oleinik solution for ``u0 = sin(2 pi x)``: ``(x - y*) / t``."""
    mins, _ = hopf_lax_minimisers(x, t)
    return (x - mins[0][1]) / t


@pytest.mark.parametrize("t", SHOCK_TIMES)
@pytest.mark.parametrize("nu", SMALL_NU)
def test_matches_independent_quadrature_after_the_shock_forms(nu: float, t: float) -> None:
    # away from the shock, and inside its layer (width ~4D/|jump| ~ 1e-3) too
    x = np.concatenate([AWAY, [0.499, 0.4997, 0.5, 0.5004, 0.502]])
    ref = np.array([quad_reference(v, t, nu) for v in x])
    np.testing.assert_allclose(cole_hopf_solution(x, t, nu), ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("nu", "t"), [(0.01, 0.1), (0.01, 0.25), (0.01, 0.4), (0.1, 0.25), (0.1, 1.0)])
def test_previous_regime_matches_independent_quadrature(nu: float, t: float) -> None:
    x = np.linspace(0.0, 1.0, 11)
    ref = np.array([quad_reference(v, t, nu) for v in x])
    np.testing.assert_allclose(cole_hopf_solution(x, t, nu), ref, rtol=0, atol=1e-10)


def test_other_amplitude_sign_and_length() -> None:
    amp, length, nu, t = -2.0, 2.0, 0.002, 0.3  # shock at x = 0 (= L), expansion at L/2
    x = np.array([0.0, 0.01, 0.3, 0.9, 1.0, 1.4, 1.95, 2.7])
    ref = np.array([quad_reference(v, t, nu, amp, length) for v in x])
    got = cole_hopf_solution(x, t, nu, amplitude=amp, length=length)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)


def test_large_viscosity_resolves_the_initial_harmonics() -> None:
    # |u| ~ 1e-9 (the mode decays like exp(-D k^2 t)): the quadrature must resolve
    # exp(z cos(k y)) itself, not only the kernel; the Fourier series is exact here (|z| ~ 0.015)
    x = np.linspace(0.0, 1.0, 21)
    kw = {"amplitude": 0.3}
    np.testing.assert_allclose(cole_hopf_solution(x, 0.3, 5.0, **kw),
                               cole_hopf_solution(x, 0.3, 5.0, method="fourier", **kw),
                               rtol=0, atol=1e-15)


@pytest.mark.parametrize("t", SHOCK_TIMES)
def test_inviscid_limit_away_from_the_shock(t: float) -> None:
    # Laplace's method on the ratio of integrals: u = u_inv + D c + O(D^2) at a simple
    # minimiser y*, c = t u0''(y*) / (1 + t u0'(y*))^2 (the mean shift -2D G'''/(2 G''^2) of the
    # weight, over t); the shock layer's tail is exponentially small at these x.
    u_inv = np.array([inviscid(v, t) for v in AWAY])
    y = AWAY - t * u_inv
    c = t * -(2 * np.pi) ** 2 * np.sin(2 * np.pi * y) / (1 + 2 * np.pi * t * np.cos(2 * np.pi * y)) ** 2
    remainders = []
    for nu in SMALL_NU:
        d = nu / math.pi
        u = cole_hopf_solution(AWAY, t, nu)
        assert np.all(np.abs(u - u_inv) <= 2 * d * (1 + np.abs(c)))  # O(D)
        rem = np.abs(u - u_inv - d * c).max()
        assert rem <= 0.25 * d  # the first-order term is right: O(D^2) with D <= 1e-3
        remainders.append(rem)
    # and the remainder is second order: nu 0.003 -> 0.001 divides it by ~9
    assert remainders[0] < 0.2 * remainders[2]


@pytest.mark.parametrize("t", SHOCK_TIMES)
@pytest.mark.parametrize("nu", SMALL_NU)
def test_shock_states_match_the_inviscid_limits(nu: float, t: float) -> None:
    # inviscid states: the two minimisers competing at x = 1/2 (+-1 at t = 1/4, when the
    # crest reaches the shock). Viscous states: linear extrapolation to x = 1/2 from
    # 16 D and 32 D away, outside the layer (tanh profile of width 4D/|jump|, |jump| >= 1.6).
    d = nu / math.pi
    left, right = inviscid(0.5 - 1e-9, t), inviscid(0.5 + 1e-9, t)
    assert left > 0.8 and right == pytest.approx(-left, rel=1e-6)
    u = cole_hopf_solution(0.5 + np.array([-32, -16, 16, 32]) * d, t, nu)
    assert 2 * u[1] - u[0] == pytest.approx(left, rel=0.02)
    assert 2 * u[2] - u[3] == pytest.approx(right, rel=0.02)


@pytest.mark.parametrize("t", SHOCK_TIMES)
@pytest.mark.parametrize("nu", [0.001, 0.003])
def test_equation_residual_through_the_shock(nu: float, t: float) -> None:
    # fourth-order central differences, step D/25 (the layer is ~2D wide), in x and t
    d = nu / math.pi
    h = d / 25
    x = np.unique(np.concatenate([np.linspace(0.0, 1.0, 501), np.linspace(0.49, 0.51, 401)]))
    fx = [cole_hopf_solution(x + k * h, t, nu) for k in range(-2, 3)]
    ft = [cole_hopf_solution(x, t + k * h, nu) for k in range(-2, 3)]
    u = fx[2]
    u_x = (-fx[4] + 8 * fx[3] - 8 * fx[1] + fx[0]) / (12 * h)
    u_xx = (-fx[4] + 16 * fx[3] - 30 * u + 16 * fx[1] - fx[0]) / (12 * h * h)
    u_t = (-ft[4] + 8 * ft[3] - 8 * ft[1] + ft[0]) / (12 * h)
    scale = np.max(np.abs(u_t) + np.abs(u * u_x) + np.abs(d * u_xx))
    assert scale > 100  # the shock is resolved by the stencil
    assert np.max(np.abs(u_t + u * u_x - d * u_xx)) < 1e-6 * scale


def test_contract() -> None:
    x = np.linspace(0.0, 1.0, 12, dtype=np.float32).reshape(3, 4)
    u = cole_hopf_solution(x, 0.3, 0.001)
    assert u.shape == (3, 4) and u.dtype == np.float64
    assert cole_hopf_solution(0.25, 0.3, 0.001).shape == ()
    assert cole_hopf_solution(np.zeros(0), 0.3, 0.001).shape == (0,)
    with pytest.raises(ValueError, match="nu > 0"):
        cole_hopf_solution(x, 0.3, 0.0)
    with pytest.raises(ValueError, match="unknown method"):
        cole_hopf_solution(x, 0.3, 0.01, method="spline")
    with pytest.raises(ValueError, match="nodes"):
        cole_hopf_solution(x, 1e12, 1e-4)
