"""Gaussian initial conditions on a periodic mesh from seed-determined white noise.

The white noise is drawn in *real space* on the particle lattice (``n^3`` independent
standard normals) from ``(seed, sample)`` alone, so that every method run with the same seed,
sample index and ``n`` — Zel'dovich, 2LPT, particle-mesh, any box size or spectrum — starts
from the same noise: the paired design of fast and expensive simulations. The linear density
is the noise coloured by the spectrum in Fourier space,

    delta_k = W_k sqrt(P(|k|) n^3 / V),     W_k = sum_x w(x) exp(-i k.x),

so that ``<|delta_k|^2> = n^6 P(k) / V`` (DFT convention of :mod:`.mesh`, ``V`` the box
volume): the field has the power spectrum ``P``. A real noise field makes ``delta_k``
Hermitian (``delta_{-k} = conj(delta_k)``) by construction. The ``k = 0`` mode is set to 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sciml.errors import ParameterError
from sciml.simulators.cosmology.mesh import check_box, check_mesh, irfft3, k_magnitude

__all__ = ["gaussian_field", "gaussian_field_k", "white_noise"]


def white_noise(n: int, seed: int, sample: int = 0) -> np.ndarray:
    """Unit-variance Gaussian white noise on an ``n^3`` mesh, determined by ``(seed, sample)``.

    Parameters
    ----------
    n : int
        Cells per side (even).
    seed : int
        Non-negative seed of the run.
    sample : int
        Index of the realisation within the run (``numpy.random.SeedSequence(seed,
        spawn_key=(sample,))``), so that sample ``i`` of two runs with the same seed agree.

    Returns
    -------
    ndarray
        ``(n, n, n)`` float64.
    """
    n = check_mesh(n, "n")
    for name, value in (("seed", seed), ("sample", sample)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ParameterError(f"{name} must be a non-negative integer, got {value!r}")
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(sample),)))
    return rng.standard_normal((n, n, n))


def gaussian_field_k(noise: np.ndarray, box_size: float, power: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Fourier modes (rfft layout) of the Gaussian field with spectrum ``power`` coloured from ``noise``.

    Parameters
    ----------
    noise : ndarray
        ``(n, n, n)`` real white noise (:func:`white_noise`).
    box_size : float
        Box side (Mpc/h).
    power : callable
        ``P(k)`` in (Mpc/h)^3 for k in h/Mpc (e.g. :func:`.linear.linear_power`).

    Returns
    -------
    ndarray
        ``(n, n, n // 2 + 1)`` complex: the unnormalised DFT of the density contrast, ``k = 0``
        mode zero.
    """
    noise = np.asarray(noise, dtype=np.float64)
    if noise.ndim != 3 or len(set(noise.shape)) != 1:
        raise ParameterError(f"noise must be a cubic (n, n, n) array, got shape {noise.shape}")
    n = check_mesh(noise.shape[0], "noise mesh size")
    box = check_box(box_size)
    k = k_magnitude(n, box)
    amplitude = np.sqrt(np.maximum(power(k), 0.0) * n**3 / box**3)
    amplitude[0, 0, 0] = 0.0
    return np.fft.rfftn(noise) * amplitude


def gaussian_field(noise: np.ndarray, box_size: float, power: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The real-space Gaussian density contrast, ``(n, n, n)``, of :func:`gaussian_field_k`."""
    delta_k = gaussian_field_k(noise, box_size, power)
    return irfft3(delta_k, noise.shape[0])
