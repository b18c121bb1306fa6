"""Linear theory of flat LCDM: background, growth factors, the Eisenstein-Hu transfer function and P(k).

* :class:`Cosmology` — ``Omega_m, sigma_8, n_s, h`` (and the fixed ``Omega_b``, ``T_cmb``);
  flat, no radiation: ``E(a)^2 = Omega_m a^-3 + 1 - Omega_m``.
* :func:`growth_factor`, :func:`growth_rate` — the linear growing mode by Heath's integral
  ``D(a) ∝ E(a) int_0^a da' / (a' E(a'))^3`` (exact for flat LCDM without radiation),
  normalised to ``D(1) = 1``, and ``f = dln D / dln a`` from its derivative;
  :func:`second_order_growth` — ``D2 = -3/7 D^2 Omega_m(a)^(-1/143)``, ``f2 = 2 Omega_m(a)^(6/11)``
  (Bouchet et al. 1995, A&A 296, 575).
* :class:`EisensteinHu` — the transfer function fits of Eisenstein & Hu 1998 (ApJ 496, 605):
  the full fit with baryon acoustic oscillations (eqs. 2-24, the default) or the no-wiggle
  shape (eqs. 26-31).
* :class:`PowerSpectrumTable` — a validated ``(k, P)`` table with log-log interpolation;
  :func:`linear_power` builds the z = 0 linear spectrum ``A k^n_s T(k)^2`` normalised so that
  the top-hat variance at 8 Mpc/h is ``sigma_8^2`` (:func:`sigma_r`), from EH or from CAMB.

Units: k in h/Mpc, P in (Mpc/h)^3, R in Mpc/h.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sciml.errors import ParameterError

__all__ = [
    "SPECTRA",
    "Cosmology",
    "EisensteinHu",
    "PowerSpectrumTable",
    "growth_factor",
    "growth_rate",
    "linear_power",
    "momentum_growth",
    "second_order_growth",
    "sigma_r",
]

#: Names accepted by :func:`linear_power` (a ``{"k": [...], "p": [...]}`` mapping is also accepted).
SPECTRA: tuple[str, ...] = ("eisenstein_hu", "eisenstein_hu_nowiggle", "camb")

# Gauss-Legendre nodes for Heath's integral (integrand smooth after the substitution x = a s^2)
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(64)


@dataclass(frozen=True)
class Cosmology:
    """Flat LCDM parameters.

    Attributes
    ----------
    Omega_m : float
        Matter density today, in ``(0, 1]``.
    sigma_8 : float
        rms of the linear density field in top-hat spheres of 8 Mpc/h at z = 0, > 0.
    n_s : float
        Primordial spectral index.
    h : float
        ``H0 / (100 km/s/Mpc)``, > 0.
    Omega_b : float
        Baryon density today, in ``[0, Omega_m)`` (only the EH and CAMB spectra use it).
    T_cmb : float
        CMB temperature today (K), > 0.

    Raises
    ------
    ParameterError
        A value outside these ranges or not finite.
    """

    Omega_m: float = 0.3175
    sigma_8: float = 0.834
    n_s: float = 0.9624
    h: float = 0.6711
    Omega_b: float = 0.049
    T_cmb: float = 2.7255

    def __post_init__(self) -> None:
        for name in ("Omega_m", "sigma_8", "n_s", "h", "Omega_b", "T_cmb"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not np.isfinite(value):
                raise ParameterError(f"Cosmology.{name} must be a finite number, got {value!r}")
        if not 0.0 < self.Omega_m <= 1.0:
            raise ParameterError(f"Omega_m must be in (0, 1], got {self.Omega_m!r}")
        if not 0.0 <= self.Omega_b < self.Omega_m:
            raise ParameterError(f"Omega_b must be in [0, Omega_m={self.Omega_m:g}), got {self.Omega_b!r}")
        for name in ("sigma_8", "h", "T_cmb"):
            if getattr(self, name) <= 0:
                raise ParameterError(f"{name} must be > 0, got {getattr(self, name)!r}")

    @property
    def Omega_L(self) -> float:
        """Cosmological-constant density ``1 - Omega_m`` (flat)."""
        return 1.0 - self.Omega_m

    def E(self, a: Any) -> np.ndarray:
        """``H(a) / H0``."""
        a = np.asarray(a, dtype=np.float64)
        return np.sqrt(self.Omega_m * a**-3 + self.Omega_L)

    def Omega_m_a(self, a: Any) -> np.ndarray:
        """``Omega_m(a) = Omega_m a^-3 / E(a)^2``."""
        a = np.asarray(a, dtype=np.float64)
        return self.Omega_m * a**-3 / self.E(a) ** 2


def _check_a(a: Any) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ParameterError(f"scale factors must be finite and > 0, got {a!r}")
    return arr


def _heath_integral(a: np.ndarray, cosmo: Cosmology) -> np.ndarray:
    """``int_0^a dx / (x E(x))^3``, by Gauss-Legendre in ``s`` with ``x = a s^2``."""
    s = 0.5 * (_GL_NODES + 1.0)
    w = 0.5 * _GL_WEIGHTS
    a = a[..., None]
    x3 = (a * s**2) ** 3
    integrand = 2.0 * a**2.5 * s**4 / (cosmo.Omega_m + cosmo.Omega_L * x3) ** 1.5
    return np.sum(w * integrand, axis=-1)


def _growth_unnormalised(a: np.ndarray, cosmo: Cosmology) -> np.ndarray:
    """``D(a) = 5/2 Omega_m E(a) I(a)``, which tends to ``a`` at early times."""
    return 2.5 * cosmo.Omega_m * cosmo.E(a) * _heath_integral(a, cosmo)


def growth_factor(a: Any, cosmo: Cosmology) -> np.ndarray:
    """Linear growth factor ``D(a)`` of flat LCDM, normalised to ``D(1) = 1``.

    Reference: D. J. Heath, MNRAS 179 (1977) 351; exact for flat LCDM without radiation.
    """
    arr = _check_a(a)
    return _growth_unnormalised(arr, cosmo) / _growth_unnormalised(np.array(1.0), cosmo)


def growth_rate(a: Any, cosmo: Cosmology) -> np.ndarray:
    """Linear growth rate ``f(a) = dln D / dln a = a E'/E + 1 / (a^2 E^3 I(a))``."""
    arr = _check_a(a)
    e2 = cosmo.E(arr) ** 2
    return -1.5 * cosmo.Omega_m * arr**-3 / e2 + 1.0 / (arr**2 * e2**1.5 * _heath_integral(arr, cosmo))


def momentum_growth(a: Any, cosmo: Cosmology) -> np.ndarray:
    """``G_p(a) = a^3 E(a) dD/da = a^2 E(a) f(a) D(a)``: the linear growth of the momentum
    ``p = a^2 dx/dt / H0`` (``p = G_p(a) Psi_1`` for the Zel'dovich displacement ``D Psi_1``)."""
    arr = _check_a(a)
    return arr**2 * cosmo.E(arr) * growth_rate(arr, cosmo) * growth_factor(arr, cosmo)


def second_order_growth(a: Any, cosmo: Cosmology) -> tuple[np.ndarray, np.ndarray]:
    """Second-order growth ``D2(a) = -3/7 D(a)^2 Omega_m(a)^(-1/143)`` and ``f2 = 2 Omega_m(a)^(6/11)``.

    Fits of Bouchet, Colombi, Hivon & Juszkiewicz 1995 (A&A 296, 575), accurate to well below
    a per cent for flat LCDM; ``D`` is normalised as in :func:`growth_factor`.
    """
    arr = _check_a(a)
    om = cosmo.Omega_m_a(arr)
    d1 = growth_factor(arr, cosmo)
    return -3.0 / 7.0 * d1**2 * om ** (-1.0 / 143.0), 2.0 * om ** (6.0 / 11.0)


class EisensteinHu:
    """Matter transfer function fits of Eisenstein & Hu 1998 (ApJ 496, 605).

    Parameters
    ----------
    cosmo : Cosmology
        Uses ``Omega_m``, ``Omega_b``, ``h``, ``T_cmb``.
    wiggles : bool
        ``True`` (default): the full fit with baryon acoustic oscillations, eqs. 2-24;
        ``False``: the no-wiggle shape, eqs. 26-31 (sound horizon from eq. 26).

    Notes
    -----
    ``__call__(k)`` takes k in h/Mpc; internally the fits use k in 1/Mpc. ``T -> 1`` as ``k -> 0``.
    Attributes ``z_eq``, ``k_eq`` (1/Mpc), ``z_drag``, ``sound_horizon`` (eq. 6, Mpc),
    ``sound_horizon_fit`` (eq. 26, Mpc) and ``k_silk`` (1/Mpc) are the paper's quantities.
    """

    def __init__(self, cosmo: Cosmology, *, wiggles: bool = True) -> None:
        self.cosmo = cosmo
        self.wiggles = bool(wiggles)
        om, ob, h = cosmo.Omega_m, cosmo.Omega_b, cosmo.h
        self.w_m, self.w_b = om * h * h, ob * h * h
        self.f_b = ob / om
        self.f_c = 1.0 - self.f_b
        self.theta = cosmo.T_cmb / 2.7
        w_m, w_b, th = self.w_m, self.w_b, self.theta
        self.z_eq = 2.50e4 * w_m * th**-4  # eq. 2
        self.k_eq = 7.46e-2 * w_m * th**-2  # eq. 3, 1/Mpc
        b1 = 0.313 * w_m**-0.419 * (1.0 + 0.607 * w_m**0.674)  # eq. 4
        b2 = 0.238 * w_m**0.223
        self.z_drag = 1291.0 * w_m**0.251 / (1.0 + 0.659 * w_m**0.828) * (1.0 + b1 * w_b**b2)
        self.R_drag, self.R_eq = self._R(self.z_drag), self._R(self.z_eq)  # eq. 5
        if w_b > 0:
            self.sound_horizon = (2.0 / (3.0 * self.k_eq) * np.sqrt(6.0 / self.R_eq) * np.log(
                (np.sqrt(1.0 + self.R_drag) + np.sqrt(self.R_drag + self.R_eq)) / (1.0 + np.sqrt(self.R_eq))))
        else:
            self.sound_horizon = 0.0
        self.sound_horizon_fit = 44.5 * np.log(9.83 / w_m) / np.sqrt(1.0 + 10.0 * w_b**0.75)  # eq. 26
        self.k_silk = 1.6 * w_b**0.52 * w_m**0.73 * (1.0 + (10.4 * w_m) ** -0.95)  # eq. 7
        self._set_cdm_and_baryon_parameters()

    def _R(self, z: float) -> float:
        """Baryon-to-photon momentum density ratio ``3 rho_b / (4 rho_gamma)`` at redshift ``z`` (eq. 5)."""
        return 31.5 * self.w_b * self.theta**-4 * (1.0e3 / z)

    def _set_cdm_and_baryon_parameters(self) -> None:
        w_m, f_b = self.w_m, self.f_b
        a1 = (46.9 * w_m) ** 0.670 * (1.0 + (32.1 * w_m) ** -0.532)  # eq. 11
        a2 = (12.0 * w_m) ** 0.424 * (1.0 + (45.0 * w_m) ** -0.582)
        self.alpha_c = a1**-f_b * a2 ** -(f_b**3)
        bb1 = 0.944 / (1.0 + (458.0 * w_m) ** -0.708)  # eq. 12
        bb2 = (0.395 * w_m) ** -0.0266
        self.beta_c = 1.0 / (1.0 + bb1 * (self.f_c**bb2 - 1.0))
        y = (1.0 + self.z_eq) / (1.0 + self.z_drag)  # eq. 15
        sq = np.sqrt(1.0 + y)
        big_g = y * (-6.0 * sq + (2.0 + 3.0 * y) * np.log((sq + 1.0) / (sq - 1.0)))
        self.alpha_b = 2.07 * self.k_eq * self.sound_horizon * (1.0 + self.R_drag) ** -0.75 * big_g  # eq. 14
        self.beta_b = 0.5 + f_b + (3.0 - 2.0 * f_b) * np.sqrt((17.2 * w_m) ** 2 + 1.0)  # eq. 24
        self.beta_node = 8.41 * w_m**0.435  # eq. 23

    def _t0_tilde(self, k: np.ndarray, alpha: float, beta: float) -> np.ndarray:
        """Eq. 19-20 with ``q = k / (13.41 k_eq)`` (eq. 10); k in 1/Mpc."""
        q = k / (13.41 * self.k_eq)
        log_term = np.log(np.e + 1.8 * beta * q)
        c = 14.2 / alpha + 386.0 / (1.0 + 69.9 * q**1.08)
        return log_term / (log_term + c * q * q)

    def _full(self, k: np.ndarray) -> np.ndarray:
        """Eq. 16-24; k in 1/Mpc."""
        s = self.sound_horizon
        f = 1.0 / (1.0 + (k * s / 5.4) ** 4)  # eq. 18
        t_c = f * self._t0_tilde(k, 1.0, self.beta_c) + (1.0 - f) * self._t0_tilde(k, self.alpha_c, self.beta_c)
        if self.f_b == 0.0:
            return t_c
        ks = k * s
        s_tilde = s / (1.0 + (self.beta_node / ks) ** 3) ** (1.0 / 3.0)  # eq. 22
        t_b = (self._t0_tilde(k, 1.0, 1.0) / (1.0 + (ks / 5.2) ** 2)
               + self.alpha_b / (1.0 + (self.beta_b / ks) ** 3) * np.exp(-((k / self.k_silk) ** 1.4)))
        t_b = t_b * np.sinc(k * s_tilde / np.pi)  # eq. 21: j0(k s~) = sin(x) / x
        return self.f_b * t_b + self.f_c * t_c  # eq. 16

    def _no_wiggle(self, k: np.ndarray) -> np.ndarray:
        """Eq. 26-31; k in 1/Mpc."""
        w_m, f_b, h = self.w_m, self.f_b, self.cosmo.h
        alpha_gamma = 1.0 - 0.328 * np.log(431.0 * w_m) * f_b + 0.38 * np.log(22.3 * w_m) * f_b**2  # eq. 31
        s = self.sound_horizon_fit
        gamma_eff = self.cosmo.Omega_m * h * (alpha_gamma + (1.0 - alpha_gamma) / (1.0 + (0.43 * k * s) ** 4))
        q = (k / h) * self.theta**2 / gamma_eff  # eq. 28
        l0 = np.log(2.0 * np.e + 1.8 * q)  # eq. 29
        c0 = 14.2 + 731.0 / (1.0 + 62.5 * q)
        return l0 / (l0 + c0 * q * q)

    def __call__(self, k: Any) -> np.ndarray:
        """``T(k)`` for k in h/Mpc (any shape; ``k <= 0`` gives 1)."""
        kk = np.asarray(k, dtype=np.float64)
        k_mpc = np.where(kk > 0, kk, 1.0) * self.cosmo.h
        t = self._full(k_mpc) if self.wiggles else self._no_wiggle(k_mpc)
        return np.where(kk > 0, t, 1.0)


class PowerSpectrumTable:
    """A power spectrum given as a table, interpolated linearly in ``(ln k, ln P)``.

    Parameters
    ----------
    k : array_like
        Wavenumbers (h/Mpc), 1-D, strictly increasing, > 0, at least 2 values.
    power : array_like
        ``P(k)`` ((Mpc/h)^3), same length, finite and > 0.
    name : str
        Where the table comes from (kept for messages and provenance).

    Notes
    -----
    Outside ``[k[0], k[-1]]`` the end segments are extended as power laws. ``k <= 0`` gives 0.

    Raises
    ------
    ParameterError
        Shapes, ordering, signs or non-finite values as above; the message names the first
        offending index.
    """

    def __init__(self, k: Any, power: Any, *, name: str = "table") -> None:
        k = np.asarray(k, dtype=np.float64)
        p = np.asarray(power, dtype=np.float64)
        if k.ndim != 1 or p.shape != k.shape or k.size < 2:
            raise ParameterError(f"power-spectrum table {name!r}: k and P must be 1-D of the same length >= 2, "
                                 f"got shapes {k.shape} and {p.shape}")
        bad = np.flatnonzero(~np.isfinite(k) | ~np.isfinite(p))
        if bad.size:
            raise ParameterError(f"power-spectrum table {name!r}: non-finite value at index {int(bad[0])}")
        if k[0] <= 0:
            raise ParameterError(f"power-spectrum table {name!r}: k must be > 0, got k[0]={k[0]:g}")
        step = np.flatnonzero(np.diff(k) <= 0)
        if step.size:
            i = int(step[0])
            raise ParameterError(f"power-spectrum table {name!r}: k is not strictly increasing: "
                                 f"k[{i}]={k[i]:g} >= k[{i + 1}]={k[i + 1]:g}; sort the table by k")
        neg = np.flatnonzero(p <= 0)
        if neg.size:
            raise ParameterError(f"power-spectrum table {name!r}: P must be > 0, got P[{int(neg[0])}]="
                                 f"{p[neg[0]]:g}")
        self.k, self.power, self.name = k, p, name
        self._lk, self._lp = np.log(k), np.log(p)

    def __call__(self, k: Any) -> np.ndarray:
        """``P(k)``; k in h/Mpc, any shape."""
        kk = np.asarray(k, dtype=np.float64)
        lk = np.log(np.where(kk > 0, kk, 1.0))
        lp = np.interp(lk, self._lk, self._lp)
        lo_slope = (self._lp[1] - self._lp[0]) / (self._lk[1] - self._lk[0])
        hi_slope = (self._lp[-1] - self._lp[-2]) / (self._lk[-1] - self._lk[-2])
        lp = np.where(lk < self._lk[0], self._lp[0] + lo_slope * (lk - self._lk[0]), lp)
        lp = np.where(lk > self._lk[-1], self._lp[-1] + hi_slope * (lk - self._lk[-1]), lp)
        return np.where(kk > 0, np.exp(lp), 0.0)

    def scaled(self, factor: float) -> PowerSpectrumTable:
        """The same table multiplied by ``factor`` (> 0)."""
        return PowerSpectrumTable(self.k, self.power * factor, name=self.name)


def _tophat(x: np.ndarray) -> np.ndarray:
    """Fourier transform of the unit top-hat sphere, ``3 (sin x - x cos x) / x^3``."""
    small = x < 1e-3
    xs = np.where(small, 1.0, x)
    return np.where(small, 1.0 - x * x / 10.0, 3.0 * (np.sin(xs) - xs * np.cos(xs)) / xs**3)


def sigma_r(power: Callable[[np.ndarray], np.ndarray], radius: float = 8.0, *, k_min: float = 1e-5,
            k_max: float = 1e3, n_k: int = 8192) -> float:
    """rms of the density field smoothed by a top-hat sphere of ``radius`` (Mpc/h).

    ``sigma^2(R) = int dln k  k^3 P(k) W^2(k R) / (2 pi^2)``, integrated by Simpson's rule on
    ``n_k`` points uniform in ``ln k`` over ``[k_min, k_max]`` (h/Mpc).
    """
    from scipy.integrate import simpson

    lk = np.linspace(np.log(k_min), np.log(k_max), n_k)
    k = np.exp(lk)
    integrand = k**3 * power(k) * _tophat(k * radius) ** 2 / (2.0 * np.pi**2)
    return float(np.sqrt(simpson(integrand, x=lk)))


def _camb_table(cosmo: Cosmology, k_max: float) -> PowerSpectrumTable:
    """Linear matter P(k) at z = 0 from CAMB (shape only; renormalised by the caller)."""
    try:
        import camb
    except ImportError as exc:
        raise ImportError("spectrum='camb' needs the camb package: pip install camb") from exc
    h = cosmo.h
    pars = camb.set_params(H0=100.0 * h, ombh2=cosmo.Omega_b * h * h,
                           omch2=(cosmo.Omega_m - cosmo.Omega_b) * h * h, mnu=0.0, omk=0.0,
                           ns=cosmo.n_s, As=2.1e-9, TCMB=cosmo.T_cmb)
    pars.set_matter_power(redshifts=[0.0], kmax=k_max * h * 1.1)
    results = camb.get_results(pars)
    kh, _, pk = results.get_matter_power_spectrum(minkh=1e-4, maxkh=k_max, npoints=800)
    return PowerSpectrumTable(kh, pk[0], name="camb")


def linear_power(cosmo: Cosmology, spectrum: str | Mapping[str, Any] = "eisenstein_hu", *,
                 k_min: float = 1e-5, k_max: float = 1e3, per_decade: int = 256) -> PowerSpectrumTable:
    """The linear matter power spectrum at z = 0, normalised to ``cosmo.sigma_8``.

    Parameters
    ----------
    cosmo : Cosmology
    spectrum : {"eisenstein_hu", "eisenstein_hu_nowiggle", "camb"} or mapping
        ``A k^n_s T(k)^2`` with the full EH98 fit (default) or its no-wiggle shape; CAMB's
        linear spectrum (needs ``camb``); or a table ``{"k": [...], "p": [...]}`` whose shape
        is kept. In every case the amplitude is set so that :func:`sigma_r` at 8 Mpc/h equals
        ``sigma_8``.
    k_min, k_max, per_decade
        Tabulation of the analytic spectra (h/Mpc; points per decade of k).

    Returns
    -------
    PowerSpectrumTable

    Raises
    ------
    ParameterError
        Unknown spectrum name, or a bad table (see :class:`PowerSpectrumTable`).
    ImportError
        ``"camb"`` without the camb package.
    """
    if isinstance(spectrum, Mapping):
        if set(spectrum) != {"k", "p"}:
            raise ParameterError(f"a spectrum table is a mapping with keys 'k' and 'p', got keys {sorted(spectrum)}")
        shape = PowerSpectrumTable(spectrum["k"], spectrum["p"], name="table")
    elif spectrum in ("eisenstein_hu", "eisenstein_hu_nowiggle"):
        k = np.logspace(np.log10(k_min), np.log10(k_max), int(per_decade * np.log10(k_max / k_min)) + 1)
        t = EisensteinHu(cosmo, wiggles=spectrum == "eisenstein_hu")(k)
        shape = PowerSpectrumTable(k, k**cosmo.n_s * t**2, name=str(spectrum))
    elif spectrum == "camb":
        shape = _camb_table(cosmo, k_max=min(k_max, 50.0))
    else:
        raise ParameterError(f"unknown spectrum {spectrum!r}; accepted: {list(SPECTRA)} or a mapping "
                             "{'k': [...], 'p': [...]}")
    return shape.scaled((cosmo.sigma_8 / sigma_r(shape, 8.0)) ** 2)
