"""Numba kernels of the 1D periodic finite-volume solvers (advection, viscous Burgers).

One concept: a *fused per-sample time integrator*. The batch is split over threads
(``numba.prange`` over samples); each thread integrates one sample over all frames with a
few small work arrays (a handful of ``n_cells + 4`` vectors, i.e. tens of KiB, that stay in
L1/L2 cache), so the only traffic to main memory is writing the saved frames.

Layout
------
The state of one sample lives in a *ghosted* vector ``ug`` of length ``n + 4``: interior
cell ``j`` (``0 <= j < n``) is ``ug[j + 2]``; ``ug[0:2]`` and ``ug[n+2:n+4]`` are periodic
ghost cells, refreshed by :func:`fill_ghosts` before every stage (no modulo in the inner
loops).

Scheme
------
* MUSCL reconstruction with a slope limiter (:data:`LIMITERS`): ``none`` (unlimited
  centred/Fromm slopes), ``minmod``, ``vanleer``, ``mc`` (monotonized central).
* Face flux: upwind for linear advection; Rusanov (local Lax–Friedrichs) for Burgers
  ``f(u) = u^2 / 2`` — for a linear flux the two coincide.
* SSP-RK2 (Heun) in time.
* Burgers diffusion ``D u_xx`` (``D = nu / pi``) is split off (Strang) and integrated
  implicitly on the 3-point Laplacian, so the time step is set by the convective CFL only.
  The periodic constant-coefficient system ``(1 + 2a) y_j - a (y_{j-1} + y_{j+1}) = b_j`` is
  solved exactly in ``O(n)`` by factoring the circulant into two first-order recursions,
  ``M = (a / mu) (1 - mu S)(1 - mu S^-1)`` with ``mu = 2a / (1 + 2a + sqrt(1 + 4a))``;
  the periodic start value of each recursion is a (truncated, geometrically convergent)
  sum. This is conservative (``M`` has unit row sums) and needs no Sherman–Morrison step.
  Two time integrators are offered: Crank–Nicolson (one solve per step, A-stable) and
  TR-BDF2 with ``gamma = 2 - sqrt(2)`` (two solves with the same matrix, L-stable: stiff
  modes are damped instead of flipping sign).
"""

from __future__ import annotations

import math

import numba
import numpy as np

#: Slope limiters accepted by the MUSCL reconstruction, by name -> kernel code.
LIMITERS: dict[str, int] = {"none": 0, "minmod": 1, "vanleer": 2, "mc": 3}

#: Implicit diffusion integrators accepted by the Burgers kernel, by name -> kernel code.
DIFFUSION_SCHEMES: dict[str, int] = {"cn": 0, "trbdf2": 1}

# fast-math without 'nnan'/'ninf': NaN/inf checks must survive optimisation.
_FM = {"nsz", "arcp", "contract", "reassoc"}

_GAMMA = 2.0 - math.sqrt(2.0)
_TRBDF2_C1 = 1.0 / (_GAMMA * (2.0 - _GAMMA))


def limiter_code(limiter: str) -> int:
    """Kernel code of a limiter name; raises ``ValueError`` naming the accepted ones."""
    try:
        return LIMITERS[limiter]
    except KeyError:
        raise ValueError(f"unknown limiter {limiter!r}; accepted: {sorted(LIMITERS)}") from None


# --------------------------------------------------------------------------- building blocks
@numba.njit(cache=True, fastmath=_FM, nogil=True)
def fill_ghosts(ug: np.ndarray, n: int) -> None:
    """Refresh the two periodic ghost cells on each side of a ghosted vector (in place)."""
    ug[0] = ug[n]
    ug[1] = ug[n + 1]
    ug[n + 2] = ug[2]
    ug[n + 3] = ug[3]


# Loops below run over ``range(count)`` with non-negative offsets: numba's wrap-around
# handling of possibly negative indices (``x[i - 1]`` with ``i`` from ``range(a, b)``)
# otherwise blocks SIMD vectorisation (measured 5-10x slower).
@numba.njit(cache=True, fastmath=_FM, nogil=True)
def limited_slopes(ug: np.ndarray, s: np.ndarray, limiter: int) -> None:
    """Cell slopes (undivided differences) ``s[i]`` for ``1 <= i <= n + 2`` of ghosted ``ug``."""
    m = ug.shape[0] - 2
    if limiter == 0:  # unlimited centred (Fromm)
        for i in range(m):
            s[i + 1] = 0.5 * (ug[i + 2] - ug[i])
    elif limiter == 1:  # minmod(a, b), branch-free
        for i in range(m):
            a = ug[i + 1] - ug[i]
            b = ug[i + 2] - ug[i + 1]
            s[i + 1] = max(min(a, b), 0.0) + min(max(a, b), 0.0)
    elif limiter == 2:  # van Leer (harmonic mean), branch-free
        for i in range(m):
            a = ug[i + 1] - ug[i]
            b = ug[i + 2] - ug[i + 1]
            s[i + 1] = (a * abs(b) + abs(a) * b) / (abs(a) + abs(b) + 1e-300)
    else:  # monotonized central: minmod(2a, 2b, (a + b)/2), branch-free
        for i in range(m):
            a = ug[i + 1] - ug[i]
            b = ug[i + 2] - ug[i + 1]
            c = 0.25 * (a + b)
            s[i + 1] = 2.0 * (max(min(min(a, b), c), 0.0) + min(max(max(a, b), c), 0.0))


@numba.njit(cache=True, fastmath=_FM, nogil=True)
def rusanov_burgers_fluxes(ug: np.ndarray, s: np.ndarray, f: np.ndarray) -> None:
    """Rusanov flux of ``u^2/2`` at face ``i + 1/2`` into ``f[i]`` for ``1 <= i <= n + 1``."""
    m = ug.shape[0] - 3
    for i in range(m):
        ul = ug[i + 1] + 0.5 * s[i + 1]
        ur = ug[i + 2] - 0.5 * s[i + 2]
        f[i + 1] = 0.25 * (ul * ul + ur * ur) - 0.5 * max(abs(ul), abs(ur)) * (ur - ul)


@numba.njit(cache=True, fastmath=_FM, nogil=True)
def upwind_linear_fluxes(ug: np.ndarray, s: np.ndarray, f: np.ndarray, beta: float) -> None:
    """Upwind flux of ``beta u`` at face ``i + 1/2`` into ``f[i]`` for ``1 <= i <= n + 1``."""
    m = ug.shape[0] - 3
    if beta >= 0.0:
        for i in range(m):
            f[i + 1] = beta * (ug[i + 1] + 0.5 * s[i + 1])
    else:
        for i in range(m):
            f[i + 1] = beta * (ug[i + 2] - 0.5 * s[i + 2])


@numba.njit(cache=True, fastmath=_FM, nogil=True)
def fv_update(ug: np.ndarray, w: np.ndarray, f: np.ndarray, out: np.ndarray,
              alpha: float, lam: float) -> None:
    """``out_i = alpha w_i + (1 - alpha)(ug_i - lam (f_i - f_{i-1}))`` on the interior."""
    m = ug.shape[0] - 4
    beta = 1.0 - alpha
    for i in range(m):
        out[i + 2] = alpha * w[i + 2] + beta * (ug[i + 2] - lam * (f[i + 2] - f[i + 1]))


@numba.njit(cache=True, fastmath=_FM, nogil=True)
def helmholtz_coefficients(a: float, n: int, pw: np.ndarray) -> tuple[float, float, int, float]:
    """Factorisation of ``M = (1 + 2a) I - a (S + S^-1)`` on ``n`` periodic cells.

    Returns ``(mu, g, k_terms, scale)`` with ``M^-1 = g (1 - mu S)^-1 (1 - mu S^-1)^-1``,
    the number of terms of the periodic start sums (``mu^k_terms < 1e-20`` or ``n``) and
    ``1 / (1 - mu^n)``; fills ``pw[k] = mu^k`` for ``k < k_terms`` (``pw`` has length ``n``).
    """
    root = math.sqrt(1.0 + 4.0 * a)
    mu = 2.0 * a / (1.0 + 2.0 * a + root)
    g = 2.0 / (1.0 + 2.0 * a + root)
    if mu <= 0.0:
        pw[0] = 1.0
        return 0.0, 1.0, 1, 1.0
    k_terms = int(math.ceil(math.log(1e-20) / math.log(mu))) + 1
    if k_terms > n:
        k_terms = n
    scale = 1.0 / (1.0 - mu ** n)
    p = 1.0
    for k in range(k_terms):
        pw[k] = p
        p *= mu
    return mu, g, k_terms, scale


@numba.njit(cache=True, fastmath=_FM, nogil=True)
def _sum_behind(b: np.ndarray, c0: int, n: int, pw: np.ndarray, k_terms: int) -> float:
    """``sum_{k < k_terms} mu^k b[2 + (c0 - k) mod n]`` (ghosted ``b``, ``0 <= c0 < n``)."""
    acc = 0.0
    k1 = min(k_terms, c0 + 1)
    for k in range(k1):
        acc += pw[k] * b[2 + c0 - k]
    for k in range(k_terms - k1):
        acc += pw[k1 + k] * b[2 + n + c0 - k1 - k]
    return acc


@numba.njit(cache=True, fastmath=_FM, nogil=True)
def _sum_ahead(z: np.ndarray, e: int, n: int, pw: np.ndarray, k_terms: int) -> float:
    """``sum_{k < k_terms} mu^k z[(e + k) mod n]`` (plain ``z``, ``0 <= e < n``)."""
    acc = 0.0
    k1 = min(k_terms, n - e)
    for k in range(k1):
        acc += pw[k] * z[e + k]
    for k in range(k_terms - k1):
        acc += pw[k1 + k] * z[k]
    return acc


@numba.njit(cache=True, fastmath=_FM, nogil=True)
def helmholtz_solve(b: np.ndarray, y: np.ndarray, z: np.ndarray, n: int, mu: float, g: float,
                    k_terms: int, scale: float, pw: np.ndarray) -> None:
    """Solve ``M y = b`` (periodic, see :func:`helmholtz_coefficients`) on ghosted vectors.

    ``b`` and ``y`` are ghosted (interior at offset 2; they may be the same array); ``z`` is
    a work vector of length ``>= n``. The two recursions ``z_j = b_j + mu z_{j-1}`` and
    ``w_j = z_j + mu w_{j+1}`` are latency-bound; when their memory is short
    (``k_terms <= n / 8``) each is split into four interleaved chains whose start values are
    the exact periodic sums, which quadruples the instruction-level parallelism.
    """
    if 8 * k_terms <= n:
        q = n // 4
        # forward, four chains starting at 0, q, 2q, 3q
        z0 = scale * _sum_behind(b, 0, n, pw, k_terms)
        z1 = scale * _sum_behind(b, q, n, pw, k_terms)
        z2 = scale * _sum_behind(b, 2 * q, n, pw, k_terms)
        z3 = scale * _sum_behind(b, 3 * q, n, pw, k_terms)
        z[0] = z0
        z[q] = z1
        z[2 * q] = z2
        z[3 * q] = z3
        for j in range(1, q):
            z0 = b[2 + j] + mu * z0
            z1 = b[2 + q + j] + mu * z1
            z2 = b[2 + 2 * q + j] + mu * z2
            z3 = b[2 + 3 * q + j] + mu * z3
            z[j] = z0
            z[q + j] = z1
            z[2 * q + j] = z2
            z[3 * q + j] = z3
        for j in range(n - 4 * q):
            z3 = b[2 + 4 * q + j] + mu * z3
            z[4 * q + j] = z3
        # backward, chains ending at q-1, 2q-1, 3q-1 and n-1
        w3 = scale * _sum_ahead(z, n - 1, n, pw, k_terms)
        y[n + 1] = g * w3
        for j in range(n - 4 * q):
            w3 = z[n - 2 - j] + mu * w3
            y[n - j] = g * w3
        w0 = scale * _sum_ahead(z, q - 1, n, pw, k_terms)
        w1 = scale * _sum_ahead(z, 2 * q - 1, n, pw, k_terms)
        w2 = scale * _sum_ahead(z, 3 * q - 1, n, pw, k_terms)
        y[q + 1] = g * w0
        y[2 * q + 1] = g * w1
        y[3 * q + 1] = g * w2
        for j in range(1, q):
            r = q - 1 - j
            w0 = z[r] + mu * w0
            w1 = z[q + r] + mu * w1
            w2 = z[2 * q + r] + mu * w2
            w3 = z[3 * q + r] + mu * w3
            y[2 + r] = g * w0
            y[2 + q + r] = g * w1
            y[2 + 2 * q + r] = g * w2
            y[2 + 3 * q + r] = g * w3
        return
    zj = scale * _sum_behind(b, 0, n, pw, k_terms)
    z[0] = zj
    for j in range(1, n):
        zj = b[2 + j] + mu * zj
        z[j] = zj
    w = scale * _sum_ahead(z, n - 1, n, pw, k_terms)
    y[n + 1] = g * w
    for j in range(1, n):
        w = z[n - 1 - j] + mu * w
        y[n + 1 - j] = g * w


@numba.njit(cache=True, fastmath=_FM, nogil=True)
def implicit_diffusion(ug: np.ndarray, t1: np.ndarray, z: np.ndarray, n: int, scheme: int,
                       mu: float, g: float, k_terms: int, scale: float, pw: np.ndarray) -> None:
    """One implicit diffusion step on the interior of ghosted ``ug`` (in place).

    ``scheme`` 0: Crank–Nicolson with ``M = I - (dt D / 2) L_h``; 1: TR-BDF2 with
    ``M = I - (gamma dt D / 2) L_h``. ``(mu, g, k_terms, scale, pw)`` describe ``M``.
    """
    helmholtz_solve(ug, t1, z, n, mu, g, k_terms, scale, pw)
    if scheme == 0:
        for i in range(n):
            ug[i + 2] = 2.0 * t1[i + 2] - ug[i + 2]
    else:
        c1 = 2.0 * _TRBDF2_C1
        c2 = c1 - 1.0
        for i in range(n):
            t1[i + 2] = c1 * t1[i + 2] - c2 * ug[i + 2]
        helmholtz_solve(t1, ug, z, n, mu, g, k_terms, scale, pw)


@numba.njit(cache=True, fastmath=_FM, nogil=True)
def substeps(speed: float, frame_dt: float, dx: float, cfl: float) -> int:
    """Number of equal sub-steps of a frame interval so that ``speed dt / dx <= cfl``.

    Returns ``-1`` if ``speed`` is not finite.
    """
    if not math.isfinite(speed):
        return -1
    courant = speed * frame_dt / (cfl * dx)
    if courant <= 1.0:
        return 1
    return int(math.ceil(courant))


# --------------------------------------------------------------------------- integrators
@numba.njit(cache=True, fastmath=_FM, nogil=True)
def _burgers_one_sample(u0: np.ndarray, out: np.ndarray, frame_dt: float, dx: float,
                        diff: float, cfl: float, limiter: int, scheme: int) -> int:
    n = u0.shape[0]
    n_frames = out.shape[0]
    dt_ = u0.dtype
    ug = np.empty(n + 4, dt_)
    vg = np.empty(n + 4, dt_)
    s = np.zeros(n + 4, dt_)
    f = np.zeros(n + 4, dt_)
    t1 = np.zeros(n + 4, dt_)
    z = np.empty(n, dt_)
    pw_h = np.empty(n, np.float64)
    pw_f = np.empty(n, np.float64)
    for j in range(n):
        ug[j + 2] = u0[j]
        out[0, j] = u0[j]
    fill_ghosts(ug, n)
    # TR-BDF2 uses M = I - (gamma dt D/2) L_h, Crank-Nicolson M = I - (dt D/2) L_h
    afac = (_GAMMA if scheme == 1 else 1.0) * 0.5 * diff / (dx * dx)
    steps = 0
    for fr in range(1, n_frames):
        umax = 0.0
        finite = True
        for j in range(n):
            v = ug[j + 2]
            finite = finite and math.isfinite(v)
            umax = max(umax, abs(v))
        if not finite:
            umax = np.nan
        n_sub = substeps(umax, frame_dt, dx, cfl)
        if n_sub < 0:
            for k in range(fr, n_frames):
                for j in range(n):
                    out[k, j] = np.nan
            return steps
        dt = frame_dt / n_sub
        lam = dt / dx
        if diff > 0.0:
            mu_h, g_h, k_h, sc_h = helmholtz_coefficients(afac * 0.5 * dt, n, pw_h)
            mu_f, g_f, k_f, sc_f = helmholtz_coefficients(afac * dt, n, pw_f)
            implicit_diffusion(ug, t1, z, n, scheme, mu_h, g_h, k_h, sc_h, pw_h)
        for st in range(n_sub):
            # SSP-RK2 convective step
            fill_ghosts(ug, n)
            limited_slopes(ug, s, limiter)
            rusanov_burgers_fluxes(ug, s, f)
            fv_update(ug, ug, f, vg, 0.0, lam)
            fill_ghosts(vg, n)
            limited_slopes(vg, s, limiter)
            rusanov_burgers_fluxes(vg, s, f)
            fv_update(vg, ug, f, ug, 0.5, lam)
            # Strang: the two half diffusion steps between convective steps are merged
            if diff > 0.0:
                if st < n_sub - 1:
                    implicit_diffusion(ug, t1, z, n, scheme, mu_f, g_f, k_f, sc_f, pw_f)
                else:
                    implicit_diffusion(ug, t1, z, n, scheme, mu_h, g_h, k_h, sc_h, pw_h)
        steps += n_sub
        for j in range(n):
            out[fr, j] = ug[j + 2]
    return steps


@numba.njit(cache=True, fastmath=_FM, parallel=True)
def burgers_batch(u0: np.ndarray, out: np.ndarray, frame_dt: float, dx: float, diff: float,
                  cfl: float, limiter: int, scheme: int, steps: np.ndarray) -> None:
    """Integrate viscous Burgers ``u_t + (u^2/2)_x = diff u_xx`` for a batch (in place).

    Parameters
    ----------
    u0 : ndarray, shape (n_samples, n_cells)
        Initial cell averages.
    out : ndarray, shape (n_samples, n_frames, n_cells)
        Receives the frames at ``k * frame_dt``; frame 0 is ``u0``.
    frame_dt, dx, diff, cfl : float
        Frame interval, cell width, diffusion coefficient, Courant number.
    limiter, scheme : int
        Codes from :data:`LIMITERS` and :data:`DIFFUSION_SCHEMES`.
    steps : ndarray of int64, shape (n_samples,)
        Receives the number of time steps taken per sample.

    Each frame interval is split into ``ceil(frame_dt max|u| / (cfl dx))`` equal steps, with
    ``max|u|`` taken at the start of the interval (Burgers obeys a maximum principle).
    A sample whose state becomes non-finite gets NaN in all later frames.
    """
    for i in numba.prange(u0.shape[0]):
        steps[i] = _burgers_one_sample(u0[i], out[i], frame_dt, dx, diff, cfl, limiter, scheme)


@numba.njit(cache=True, fastmath=_FM, nogil=True)
def _advection_one_sample(u0: np.ndarray, out: np.ndarray, n_sub: int, lam: float,
                          beta: float, limiter: int) -> None:
    n = u0.shape[0]
    n_frames = out.shape[0]
    dt_ = u0.dtype
    ug = np.empty(n + 4, dt_)
    vg = np.empty(n + 4, dt_)
    s = np.zeros(n + 4, dt_)
    f = np.zeros(n + 4, dt_)
    for j in range(n):
        ug[j + 2] = u0[j]
        out[0, j] = u0[j]
    for fr in range(1, n_frames):
        for st in range(n_sub):
            fill_ghosts(ug, n)
            limited_slopes(ug, s, limiter)
            upwind_linear_fluxes(ug, s, f, beta)
            fv_update(ug, ug, f, vg, 0.0, lam)
            fill_ghosts(vg, n)
            limited_slopes(vg, s, limiter)
            upwind_linear_fluxes(vg, s, f, beta)
            fv_update(vg, ug, f, ug, 0.5, lam)
        for j in range(n):
            out[fr, j] = ug[j + 2]


@numba.njit(cache=True, fastmath=_FM, parallel=True)
def advection_batch(u0: np.ndarray, out: np.ndarray, n_sub: int, lam: float, beta: float,
                    limiter: int) -> None:
    """Integrate ``u_t + beta u_x = 0`` for a batch (in place).

    Parameters
    ----------
    u0 : ndarray, shape (n_samples, n_cells)
        Initial cell averages.
    out : ndarray, shape (n_samples, n_frames, n_cells)
        Receives the frames; frame 0 is ``u0``.
    n_sub : int
        Time steps per frame interval.
    lam : float
        ``dt / dx``.
    beta : float
        Advection velocity.
    limiter : int
        Code from :data:`LIMITERS`.
    """
    for i in numba.prange(u0.shape[0]):
        _advection_one_sample(u0[i], out[i], n_sub, lam, beta, limiter)
