"""Linear theory: growth factors against the growth ODE, Eisenstein-Hu against a second scalar
implementation and the paper's own approximations, sigma_8 normalisation, P(k) tables."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp

from sciml.errors import ParameterError
from sciml.simulators.cosmology.linear import (
    Cosmology,
    EisensteinHu,
    PowerSpectrumTable,
    growth_factor,
    growth_rate,
    linear_power,
    momentum_growth,
    second_order_growth,
    sigma_r,
)


def _growth_ode(om: float, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """D1, f1, D2, f2 by integrating the growth ODEs in ln a from a = 1e-3 (growing-mode start)."""
    def rhs(lna, y):
        x = math.exp(lna)
        e2 = om * x**-3 + 1 - om
        dlnh = -1.5 * om * x**-3 / e2
        oma = om * x**-3 / e2
        return [y[1], -(2 + dlnh) * y[1] + 1.5 * oma * y[0], y[3], -(2 + dlnh) * y[3] + 1.5 * oma * (y[2] - y[0] ** 2)]

    a0 = 1e-3
    sol = solve_ivp(rhs, [math.log(a0), 0.0], [a0, a0, -3 / 7 * a0**2, -6 / 7 * a0**2], rtol=1e-11, atol=1e-16,
                    dense_output=True)
    y, y1 = sol.sol(np.log(a)), sol.sol(0.0)
    return y[0] / y1[0], y[1] / y[0], y[2] / y1[0] ** 2, y[3] / y[2]


@pytest.mark.parametrize("om", [0.1, 0.3175, 0.5])
def test_growth_factor_and_rate_match_the_growth_ode(om):
    cosmo = Cosmology(Omega_m=om, Omega_b=0.04)
    a = np.array([0.02, 0.1, 0.3, 0.6, 1.0])
    d1, f1, d2, f2 = _growth_ode(om, a)
    np.testing.assert_allclose(growth_factor(a, cosmo), d1, rtol=1e-7)
    np.testing.assert_allclose(growth_rate(a, cosmo), f1, rtol=1e-7)
    approx_d2, approx_f2 = second_order_growth(a, cosmo)
    np.testing.assert_allclose(approx_d2, d2, rtol=5e-4)  # Bouchet et al. fit
    np.testing.assert_allclose(approx_f2, f2, rtol=1.5e-2)


def test_einstein_de_sitter_growth_is_a():
    cosmo = Cosmology(Omega_m=1.0, Omega_b=0.04)
    a = np.array([0.01, 0.3, 1.0])
    np.testing.assert_allclose(growth_factor(a, cosmo), a, rtol=1e-12)
    np.testing.assert_allclose(growth_rate(a, cosmo), 1.0, rtol=1e-12)


@pytest.mark.parametrize("om", [0.25, 0.3, 0.5])
def test_growth_rate_today_follows_linder_gamma(om):
    """f(z=0) = Omega_m^0.55 to better than 1 % for flat LCDM (Linder 2005)."""
    assert float(growth_rate(1.0, Cosmology(Omega_m=om, Omega_b=0.04))) == pytest.approx(om**0.55, rel=1e-2)


def test_momentum_growth_obeys_the_linear_equation_of_motion():
    """d G_p / da = 3/2 Omega_m D / (a^2 E): what makes the FastPM kick exact for the growing mode."""
    cosmo = Cosmology()
    a = np.array([0.1, 0.4, 0.9])
    eps = 1e-5
    lhs = (momentum_growth(a + eps, cosmo) - momentum_growth(a - eps, cosmo)) / (2 * eps)
    rhs = 1.5 * cosmo.Omega_m * growth_factor(a, cosmo) / (a**2 * cosmo.E(a))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-7)


def _eh_scalar(k_h: float, om: float, ob: float, h: float, tcmb: float) -> float:
    """Eisenstein & Hu 1998 eqs. 2-24 for one wavenumber (h/Mpc), written out with ``math`` only."""
    k = k_h * h
    wm, wb, th = om * h * h, ob * h * h, tcmb / 2.7
    fb, fc = ob / om, (om - ob) / om
    zeq, keq = 2.5e4 * wm / th**4, 7.46e-2 * wm / th**2
    zd = (1291 * wm**0.251 / (1 + 0.659 * wm**0.828)
          * (1 + 0.313 * wm**-0.419 * (1 + 0.607 * wm**0.674) * wb ** (0.238 * wm**0.223)))
    rd, req = 31.5 * wb / th**4 / (zd / 1e3), 31.5 * wb / th**4 / (zeq / 1e3)
    s = 2 / (3 * keq) * math.sqrt(6 / req) * math.log((math.sqrt(1 + rd) + math.sqrt(rd + req)) / (1 + math.sqrt(req)))
    ksilk = 1.6 * wb**0.52 * wm**0.73 * (1 + (10.4 * wm) ** -0.95)
    q = k / (13.41 * keq)
    alpha_c = ((46.9 * wm) ** 0.670 * (1 + (32.1 * wm) ** -0.532)) ** -fb * (
        (12.0 * wm) ** 0.424 * (1 + (45.0 * wm) ** -0.582)) ** -(fb**3)
    beta_c = 1 / (1 + 0.944 / (1 + (458 * wm) ** -0.708) * (fc ** ((0.395 * wm) ** -0.0266) - 1))

    def t0(alpha, beta):
        ln = math.log(math.e + 1.8 * beta * q)
        return ln / (ln + (14.2 / alpha + 386 / (1 + 69.9 * q**1.08)) * q * q)

    f = 1 / (1 + (k * s / 5.4) ** 4)
    tc = f * t0(1, beta_c) + (1 - f) * t0(alpha_c, beta_c)
    y = (1 + zeq) / (1 + zd)
    gy = y * (-6 * math.sqrt(1 + y) + (2 + 3 * y) * math.log((math.sqrt(1 + y) + 1) / (math.sqrt(1 + y) - 1)))
    alpha_b = 2.07 * keq * s * (1 + rd) ** -0.75 * gy
    beta_b = 0.5 + fb + (3 - 2 * fb) * math.sqrt((17.2 * wm) ** 2 + 1)
    s_tilde = s / (1 + (8.41 * wm**0.435 / (k * s)) ** 3) ** (1 / 3)
    tb = (t0(1, 1) / (1 + (k * s / 5.2) ** 2)
          + alpha_b / (1 + (beta_b / (k * s)) ** 3) * math.exp(-((k / ksilk) ** 1.4))) * math.sin(k * s_tilde) / (
        k * s_tilde)
    return fb * tb + fc * tc


@pytest.mark.parametrize("cosmo", [Cosmology(), Cosmology(Omega_m=0.25, Omega_b=0.06, h=0.8, T_cmb=2.728)])
def test_eisenstein_hu_matches_a_second_scalar_implementation(cosmo):
    k = np.array([1e-3, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0])
    ours = EisensteinHu(cosmo)(k)
    ref = [_eh_scalar(float(x), cosmo.Omega_m, cosmo.Omega_b, cosmo.h, cosmo.T_cmb) for x in k]
    np.testing.assert_allclose(ours, ref, rtol=1e-12)


def test_eisenstein_hu_limits_and_the_papers_own_approximations():
    cosmo = Cosmology()
    for wiggles in (True, False):
        assert float(EisensteinHu(cosmo, wiggles=wiggles)(1e-5)) == pytest.approx(1.0, abs=1e-4)
    # eq. 26 approximates the sound horizon of eq. 6 to ~2 % (Eisenstein & Hu 1998, sec. 4.2)
    for wm in (0.1, 0.14, 0.2, 0.3):
        for fb in (0.05, 0.15, 0.25):
            eh = EisensteinHu(Cosmology(Omega_m=wm / 0.49, Omega_b=fb * wm / 0.49, h=0.7))
            assert eh.sound_horizon == pytest.approx(eh.sound_horizon_fit, rel=0.02)
    # without baryons the full fit and the no-wiggle shape are two fits of the same CDM transfer function
    nob = Cosmology(Omega_b=0.0)
    k = np.logspace(-3, 1, 30)
    np.testing.assert_allclose(EisensteinHu(nob)(k), EisensteinHu(nob, wiggles=False)(k), rtol=1e-2)


def test_baryon_wiggles_have_the_sound_horizon_period():
    """Peaks of T_full / T_nowiggle are spaced by 2 pi / s, and the wiggles are a few per cent."""
    cosmo = Cosmology()
    eh = EisensteinHu(cosmo)
    k = np.linspace(0.1, 0.45, 8000)
    ratio = eh(k) / EisensteinHu(cosmo, wiggles=False)(k)
    assert 0.95 < ratio.min() < 0.99 and 1.01 < ratio.max() < 1.05
    peaks = k[1:-1][(ratio[1:-1] > ratio[:-2]) & (ratio[1:-1] > ratio[2:])]
    assert len(peaks) >= 4
    assert np.mean(np.diff(peaks)) == pytest.approx(2 * np.pi / (eh.sound_horizon * cosmo.h), rel=0.02)


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")  # quad on the wiggles, still 1e-6
@pytest.mark.parametrize("spectrum", ["eisenstein_hu", "eisenstein_hu_nowiggle"])
def test_linear_power_is_normalised_to_sigma_8(spectrum):
    cosmo = Cosmology(sigma_8=0.75)
    power = linear_power(cosmo, spectrum)

    def integrand(lnk):
        k = math.exp(lnk)
        x = 8.0 * k
        w = 3 * (math.sin(x) - x * math.cos(x)) / x**3
        return k**3 * float(power(k)) * w * w / (2 * math.pi**2)

    var = sum(quad(integrand, math.log(lo), math.log(hi), limit=400)[0]
              for lo, hi in ((1e-5, 1e-2), (1e-2, 1.0), (1.0, 1e2)))
    assert math.sqrt(var) == pytest.approx(0.75, rel=1e-4)
    assert sigma_r(power, 8.0) == pytest.approx(0.75, rel=1e-10)
    # the amplitude scales as sigma_8^2, the shape follows k^n_s T^2
    twice = linear_power(Cosmology(sigma_8=1.5), spectrum)
    np.testing.assert_allclose(twice(np.array([0.01, 0.1, 1.0])), 4 * power(np.array([0.01, 0.1, 1.0])), rtol=1e-10)
    k = np.array([1e-4, 2e-4])
    assert float(power(k[1]) / power(k[0])) == pytest.approx(2**cosmo.n_s, rel=1e-3)


def test_power_table_interpolates_and_extrapolates_power_laws():
    k = np.logspace(-2, 0, 9)
    table = PowerSpectrumTable(k, 3.0 * k**-1.5)
    kk = np.array([1e-3, 0.013, 0.5, 7.0])
    np.testing.assert_allclose(table(kk), 3.0 * kk**-1.5, rtol=1e-12)
    assert float(table(0.0)) == 0.0
    shape = linear_power(Cosmology(sigma_8=0.9), {"k": list(k), "p": list(3.0 * k**-1.5 * np.exp(-k))})
    assert sigma_r(shape, 8.0) == pytest.approx(0.9, rel=1e-10)


@pytest.mark.parametrize("k, p, match", [
    ([0.1, 0.3, 0.2], [1.0, 1.0, 1.0], r"not strictly increasing: k\[1\]=0.3 >= k\[2\]=0.2"),
    ([0.1, 0.1, 0.2], [1.0, 1.0, 1.0], "not strictly increasing"),
    ([0.1, 0.2], [1.0, -1.0], r"P must be > 0, got P\[1\]=-1"),
    ([0.1, 0.2], [1.0], "same length"),
    ([0.0, 0.2], [1.0, 1.0], "k must be > 0"),
    ([0.1, np.nan], [1.0, 1.0], "non-finite value at index 1"),
])
def test_bad_power_tables_are_clear_errors(k, p, match):
    with pytest.raises(ParameterError, match=match):
        PowerSpectrumTable(k, p)


def test_bad_cosmologies_and_spectra_are_clear_errors():
    with pytest.raises(ParameterError, match="Omega_b must be in"):
        Cosmology(Omega_m=0.3, Omega_b=0.3)
    with pytest.raises(ParameterError, match="Omega_m must be in"):
        Cosmology(Omega_m=0.0)
    with pytest.raises(ParameterError, match="sigma_8 must be > 0"):
        Cosmology(sigma_8=-1.0)
    with pytest.raises(ParameterError, match="unknown spectrum 'bbks'; accepted"):
        linear_power(Cosmology(), "bbks")
    with pytest.raises(ParameterError, match="keys 'k' and 'p'"):
        linear_power(Cosmology(), {"k": [0.1, 0.2]})
    with pytest.raises(ParameterError, match="scale factors must be finite and > 0"):
        growth_factor(0.0, Cosmology())


def test_camb_spectrum_agrees_with_eisenstein_hu_when_installed():
    pytest.importorskip("camb")
    cosmo = Cosmology()
    k = np.array([0.005, 0.02, 0.05, 0.1, 0.2])
    np.testing.assert_allclose(linear_power(cosmo, "camb")(k), linear_power(cosmo)(k), rtol=0.1)
