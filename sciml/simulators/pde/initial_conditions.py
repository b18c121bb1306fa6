"""Random initial conditions for 1D periodic PDE simulators (PDEBench family).

PDEBench draws initial states as a sum of a few sine waves with random integer
wavenumbers, amplitudes and phases, then — at random — takes the absolute value, flips the
sign, and multiplies by a smooth ``tanh`` window. :class:`SineSumIC` reproduces that family;
every draw comes from an explicit :class:`numpy.random.Generator`.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np


class InitialCondition(Protocol):
    """Draws a batch of initial states on a grid."""

    def sample(self, rng: np.random.Generator, x: np.ndarray, n_samples: int, length: float) -> np.ndarray:
        """Return an array of shape ``(n_samples, x.size)``."""
        ...

    def config(self) -> dict[str, Any]:
        """JSON-serialisable description (recorded in provenance)."""
        ...


@dataclass(frozen=True)
class SineSumIC:
    """Sum of random sines, with random absolute value, sign flip and tanh window.

    ``u0(x) = sum_i A_i sin(2 pi k_i x / L + phi_i)`` with ``k_i`` uniform on
    ``{1, ..., k_max}``, ``A_i ~ U(0, amplitude)`` and ``phi_i ~ U(0, 2 pi)``. Then, each
    independently per sample: ``u0 <- |u0|`` with probability ``p_abs``; ``u0 <- -u0`` with
    probability ``p_sign_flip``; ``u0 <- u0 * w(x)`` with probability ``p_window``, where
    ``w = (tanh((x - xL)/delta) - tanh((x - xR)/delta)) / 2`` with ``xL ~ U(0.1, 0.45) L``,
    ``xR ~ U(0.55, 0.9) L`` and ``delta = window_width * L``.

    Parameters
    ----------
    n_waves : int
        Number of superposed sine waves.
    k_max : int
        Largest integer wavenumber.
    amplitude : float
        Upper bound of the amplitude of each wave.
    p_abs, p_sign_flip, p_window : float
        Probabilities of each random modification, in ``[0, 1]``.
    window_width : float
        Width of the ``tanh`` transitions as a fraction of the domain length.
    offset_range : tuple of float
        ``(lo, hi)``: a constant ``c`` with ``|c| ~ U(lo, hi)`` and a random sign is added to
        each sample last (default ``(0, 0)``: none, as in PDEBench). A non-zero mean keeps
        strongly diffusive trajectories from decaying to zero.
    """

    n_waves: int = 2
    k_max: int = 4
    amplitude: float = 1.0
    p_abs: float = 0.1
    p_sign_flip: float = 0.1
    p_window: float = 0.1
    window_width: float = 0.01
    offset_range: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if self.n_waves < 1 or self.k_max < 1:
            raise ValueError("n_waves and k_max must be >= 1")
        object.__setattr__(self, "offset_range", tuple(float(v) for v in self.offset_range))
        if len(self.offset_range) != 2 or not 0.0 <= self.offset_range[0] <= self.offset_range[1]:
            raise ValueError(f"offset_range must be (lo, hi) with 0 <= lo <= hi; got {self.offset_range}")
        for name in ("p_abs", "p_sign_flip", "p_window"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name}={p} must lie in [0, 1]")
        if self.window_width <= 0:
            raise ValueError("window_width must be > 0")

    def sample(self, rng: np.random.Generator, x: np.ndarray, n_samples: int, length: float) -> np.ndarray:
        """Draw ``n_samples`` initial states on the points ``x`` (shape ``(n_x,)``).

        Returns
        -------
        ndarray, shape ``(n_samples, n_x)``, float64
        """
        x = np.asarray(x, dtype=np.float64)
        k = rng.integers(1, self.k_max + 1, size=(n_samples, self.n_waves))
        amp = rng.uniform(0.0, self.amplitude, size=(n_samples, self.n_waves))
        phase = rng.uniform(0.0, 2.0 * np.pi, size=(n_samples, self.n_waves))
        arg = 2.0 * np.pi * k[:, :, None] * x[None, None, :] / length + phase[:, :, None]
        u = np.sum(amp[:, :, None] * np.sin(arg), axis=1)
        do_abs = rng.uniform(size=n_samples) < self.p_abs
        u[do_abs] = np.abs(u[do_abs])
        flip = rng.uniform(size=n_samples) < self.p_sign_flip
        u[flip] = -u[flip]
        window = rng.uniform(size=n_samples) < self.p_window
        x_left = rng.uniform(0.1, 0.45, size=n_samples) * length
        x_right = rng.uniform(0.55, 0.9, size=n_samples) * length
        delta = self.window_width * length
        x0 = x[0] - 0.5 * (x[1] - x[0]) if x.size > 1 else 0.0
        xi = x[None, :] - x0
        mask = 0.5 * (np.tanh((xi - x_left[:, None]) / delta) - np.tanh((xi - x_right[:, None]) / delta))
        u[window] *= mask[window]
        lo, hi = self.offset_range
        if hi > 0:
            offset = rng.uniform(lo, hi, size=n_samples) * rng.choice([-1.0, 1.0], size=n_samples)
            u += offset[:, None]
        return u

    def config(self) -> dict[str, Any]:
        cfg = {"kind": "sine_sum", **asdict(self)}
        cfg["offset_range"] = list(self.offset_range)
        return cfg


@dataclass(frozen=True)
class SineIC:
    """A single deterministic sine ``offset + amplitude sin(2 pi k x / L + phase)``.

    Useful for convergence studies: smooth, with a known exact solution for advection,
    and the classic initial state of the Cole–Hopf Burgers test.
    """

    k: int = 1
    amplitude: float = 1.0
    offset: float = 0.0
    phase: float = 0.0

    def sample(self, rng: np.random.Generator, x: np.ndarray, n_samples: int, length: float) -> np.ndarray:
        u = self.offset + self.amplitude * np.sin(2.0 * np.pi * self.k * np.asarray(x) / length + self.phase)
        return np.broadcast_to(u, (n_samples, u.size)).copy()

    def config(self) -> dict[str, Any]:
        return {"kind": "sine", **asdict(self)}


#: kind -> "module:ClassName" of every initial-condition family buildable from configuration.
INITIAL_CONDITIONS: dict[str, str] = {
    "sine_sum": "sciml.simulators.pde.initial_conditions:SineSumIC",
    "sine": "sciml.simulators.pde.initial_conditions:SineIC",
    "dirichlet_sine_series": "sciml.simulators.pde.heat:DirichletSineSeriesIC",
}


def initial_condition_from_config(cfg: dict[str, Any] | None) -> InitialCondition:
    """Build an initial condition from its :meth:`config` dictionary.

    ``cfg["kind"]`` is one of :data:`INITIAL_CONDITIONS`; the other keys are the class's
    fields. ``None`` gives the default :class:`SineSumIC`.
    """
    if cfg is None:
        return SineSumIC()
    cfg = dict(cfg)
    kind = cfg.pop("kind", "sine_sum")
    if kind not in INITIAL_CONDITIONS:
        raise ValueError(f"unknown initial condition kind {kind!r}; accepted: {sorted(INITIAL_CONDITIONS)}")
    module, _, name = INITIAL_CONDITIONS[kind].partition(":")
    cls = getattr(importlib.import_module(module), name)
    try:
        return cls(**cfg)
    except TypeError as exc:
        raise ValueError(f"bad initial condition fields for kind {kind!r}: {exc}") from None
