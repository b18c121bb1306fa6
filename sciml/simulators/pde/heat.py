"""The heat equation ``u_t = k u_xx`` of ProbConserv's GPME family, with Dirichlet ends.

Sine-series initial states vanishing at both ends of ``[0, L]``
(:class:`DirichletSineSeriesIC`), their exact solutions and masses (:func:`heat_series_solution`,
:func:`heat_series_mass`, :func:`heat_mass`) and :class:`HeatSimulator` (``"heat1d"``; ProbConserv's
problem ``u0 = sin x`` on ``[0, 2 pi]`` is :meth:`HeatSimulator.probconserv`). The numerics and the
conservation bookkeeping are those of :class:`~sciml.simulators.pde.porous_medium.GPMESimulator1D`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from sciml.errors import ParameterError
from sciml.simulators.base import Parameter, ParameterSpace
from sciml.simulators.pde._implicit_diffusion import Boundary, Diffusivity
from sciml.simulators.pde.porous_medium import GPMESimulator1D, _check_times

__all__ = ["DirichletSineSeriesIC", "HeatSimulator", "heat_mass", "heat_series_mass", "heat_series_solution"]


# =========================================================================== heat
@dataclass(frozen=True)
class DirichletSineSeriesIC:
    """Sine series ``u0(x) = sum_j a_j sin(j pi x / L)`` vanishing at both ends of ``[0, L]``.

    With ``random=False`` (default) the coefficients are those of the single mode ``mode``,
    ``a_j = 1[j == mode]``, identical for every sample: ``mode=1`` is ``sin(pi x / L)``
    (``sin(pi x)`` on ``[0, 1]``), ``mode=2`` is ``sin(2 pi x / L)`` (``sin x`` on
    ``[0, 2 pi]``, ProbConserv's heat problem); ``n_modes`` is raised to ``mode`` if smaller.
    With ``random=True``, ``a_j ~ U(-1, 1) / j**decay`` independently per sample and mode
    (``mode`` must then be 1).

    :meth:`sample` returns exact *cell averages* (the grid must be uniform cell centres).

    Parameters
    ----------
    n_modes : int
        Number of modes ``j = 1 .. n_modes``.
    random : bool
        Draw random coefficients (otherwise the single mode ``mode``).
    decay : float
        Amplitude decay exponent of the random coefficients.
    mode : int
        The mode ``j >= 1`` of the deterministic initial condition.
    """

    n_modes: int = 1
    random: bool = False
    decay: float = 1.0
    mode: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.n_modes, bool) or not isinstance(self.n_modes, int) or self.n_modes < 1:
            raise ParameterError(f"n_modes must be a positive integer, got {self.n_modes!r}")
        if not (math.isfinite(self.decay) and self.decay >= 0):
            raise ParameterError(f"decay must be a finite number >= 0, got {self.decay!r}")
        if isinstance(self.mode, bool) or not isinstance(self.mode, int) or self.mode < 1:
            raise ParameterError(f"mode must be a positive integer, got {self.mode!r}")
        if self.random and self.mode != 1:
            raise ParameterError(f"mode selects the deterministic initial condition; with random=True it must be 1, "
                                 f"got {self.mode!r}")
        if self.n_modes < self.mode:
            object.__setattr__(self, "n_modes", self.mode)

    def coefficients(self, rng: np.random.Generator, n_samples: int) -> np.ndarray:
        """Mode amplitudes, shape ``(n_samples, n_modes)``."""
        if not self.random:
            a = np.zeros((n_samples, self.n_modes))
            a[:, self.mode - 1] = 1.0
            return a
        j = np.arange(1, self.n_modes + 1)
        return rng.uniform(-1.0, 1.0, size=(n_samples, self.n_modes)) / j**self.decay

    def sample(self, rng: np.random.Generator, x: np.ndarray, n_samples: int, length: float) -> np.ndarray:
        """Cell averages of ``n_samples`` draws on cell centres ``x``, shape ``(n_samples, n_x)``."""
        x = np.asarray(x, dtype=np.float64)
        dx = length / x.size
        a = self.coefficients(rng, n_samples)
        x0 = x[0] - 0.5 * dx
        return a @ _sine_cell_averages(x - x0, dx, length, self.n_modes)

    def config(self) -> dict[str, Any]:
        return {"kind": "dirichlet_sine_series", **asdict(self)}


def _sine_cell_averages(xc: np.ndarray, dx: float, length: float, n_modes: int) -> np.ndarray:
    """Cell averages of ``sin(j pi x / L)``, shape ``(n_modes, n_x)``."""
    w = np.arange(1, n_modes + 1)[:, None] * np.pi / length
    return np.sin(w * xc[None, :]) * (2.0 * np.sin(0.5 * w * dx) / (w * dx))


def _check_length(length: Any, what: str) -> float:
    if isinstance(length, bool) or not (isinstance(length, (int, float, np.floating)) and math.isfinite(length)
                                        and length > 0):
        raise ParameterError(f"{what}: length must be a positive finite number, got {length!r}")
    return float(length)


def _heat_decay(t: Any, k: float, n_modes: int, length: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Wave numbers ``w_j = j pi / L`` (``j = 1..n_modes``) and ``exp(-w_j^2 k t)``, shape ``(*t.shape, n_modes)``."""
    w = np.arange(1, n_modes + 1, dtype=np.float64) * np.pi / length
    return w, np.exp(-(w**2) * k * np.asarray(t, dtype=np.float64)[..., None])


def heat_series_solution(x: Any, t: Any, k: float, coefficients: Any, *, length: float = 1.0) -> np.ndarray:
    """Heat equation on ``[0, L]`` with zero Dirichlet data: ``u = sum_j a_j e^{-(j pi / L)^2 k t} sin(j pi x / L)``.

    Parameters
    ----------
    x, t : array_like
        Broadcastable positions in ``[0, L]`` and times ``>= 0``.
    k : float
        Diffusivity ``> 0`` (units length^2 / time).
    coefficients : array_like, shape ``(n_modes,)`` or ``(n_samples, n_modes)``
        Mode amplitudes ``a_j`` of ``u0 = sum_j a_j sin(j pi x / L)`` (``[1.0]``: ``sin(pi x)`` on
        ``[0, 1]``; ``[0.0, 1.0]`` with ``length=2 pi``: ProbConserv's ``sin x``).
    length : float
        ``L``.

    Returns
    -------
    ndarray, shape ``(*coefficients.shape[:-1], *broadcast(x, t).shape)``
    """
    length = _check_length(length, "heat_series_solution")
    a = np.asarray(coefficients, dtype=np.float64)
    x, t = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(t, np.float64))
    w, decay = _heat_decay(t, k, a.shape[-1], length)
    basis = decay * np.sin(w * x[..., None])  # (*shape, n_modes)
    return np.einsum("...m,sm->s...", basis, np.atleast_2d(a)).reshape(a.shape[:-1] + x.shape)


def heat_series_mass(t: Any, k: float, coefficients: Any, *, length: float = 1.0) -> np.ndarray:
    """``int_0^L u dx = sum_j a_j e^{-(j pi / L)^2 k t} L (1 - (-1)^j) / (j pi)`` of :func:`heat_series_solution`.

    Even modes carry no mass (exactly 0: ProbConserv's ``sin x`` on ``[0, 2 pi]``).

    Returns
    -------
    ndarray, shape ``(*coefficients.shape[:-1], *t.shape)``
    """
    length = _check_length(length, "heat_series_mass")
    a = np.asarray(coefficients, dtype=np.float64)
    w, decay = _heat_decay(t, k, a.shape[-1], length)
    j = np.arange(1, a.shape[-1] + 1, dtype=np.float64)
    out = np.einsum("...m,sm->s...", (1.0 - (-1.0) ** j) / w * decay, np.atleast_2d(a))
    return out.reshape(a.shape[:-1] + out.shape[1:])


def heat_mass(t: Any, k: float) -> np.ndarray:
    """Mass of the unit-interval heat problem, ``int_0^1 e^{-pi^2 k t} sin(pi x) dx = (2/pi) e^{-pi^2 k t}``.

    ``u_t = k u_xx`` on ``[0, 1]``, ``u(0, t) = u(1, t) = 0``, ``u0 = sin(pi x)`` (the default
    :class:`HeatSimulator`): a mass that decays through the boundary fluxes. ProbConserv's heat
    problem (``sin x`` on ``[0, 2 pi]``) has mass 0 (:func:`heat_series_mass`).

    Parameters
    ----------
    t : array_like
        Times ``>= 0``.
    k : float
        Diffusivity ``> 0``.

    Returns
    -------
    ndarray, shape of ``t``

    Raises
    ------
    ParameterError
        ``k <= 0`` or times negative or not finite.
    """
    if not (np.isfinite(k) and k > 0):
        raise ParameterError(f"heat_mass: k must be > 0, got {k!r}")
    return heat_series_mass(_check_times(t, None, "heat_mass"), k, _ONE_MODE)




#: the amplitudes of the single mode ``u0 = sin(pi x)`` on ``[0, 1]``
_ONE_MODE = np.array([1.0])


class HeatSimulator(GPMESimulator1D):
    """Heat equation ``u_t = k u_xx`` on ``[0, L]`` with ``u(0, t) = u(L, t) = 0``.

    ``k(u) = k`` constant. The initial states are sine series ``sum_j a_j sin(j pi x / L)``
    (:class:`DirichletSineSeriesIC`) and the exact solution is
    ``sum_j a_j exp(-k (j pi / L)^2 t) sin(j pi x / L)``; the coefficients of a random run are
    :meth:`coefficients` ``(seed, n_samples)``.

    * Default: ``L = 1``, ``u0 = sin(pi x)``, exact ``exp(-pi^2 k t) sin(pi x)``, mass
      ``(2 / pi) exp(-pi^2 k t)`` decaying through the boundary fluxes (:func:`heat_mass`).
    * ProbConserv's heat problem (Hansen et al. 2023; reference ``HeatEquation``, ``u0 = sin x``
      on ``[0, 2 pi]``, periodic there, which for ``sin x`` is the same solution as zero
      Dirichlet ends): ``length=2 pi``, ``initial_condition=DirichletSineSeriesIC(mode=2)``,
      exact ``exp(-k t) sin x``, mass 0 at all times; :meth:`probconserv` builds it.

    Physical parameter: ``k`` in ``[1, 5]`` (diffusivity; ProbConserv's train range, test
    ``k`` in ``{1, 5}``). Default integrator: Crank–Nicolson (``theta = 0.5``) with
    ``dt = dx / 4``, second order in ``dx`` and ``dt``.

    See :class:`GPMESimulator1D` for the numerical parameters; ``t_final`` defaults to 0.1;
    ``length`` (default 1) is the domain length ``L``.
    """

    name: ClassVar[str] = "heat1d"
    version: ClassVar[str] = "1"
    DEFAULT_THETA: ClassVar[float] = 0.5
    DEFAULT_DT_OVER_DX: ClassVar[float] = 0.25
    PARAMETERS: ClassVar[ParameterSpace] = ParameterSpace((
        Parameter("k", 1.0, 5.0, units="1", description="diffusivity k", default=None),
    ))

    def __init__(
        self,
        *,
        n_cells: int = 256,
        t_final: float = 0.1,
        n_frames: int = 101,
        dt: float | None = None,
        theta: float | None = None,
        initial_condition: DirichletSineSeriesIC | None = None,
        dtype: str = "float64",
        length: float = 1.0,
    ) -> None:
        ic = initial_condition or DirichletSineSeriesIC()
        if not isinstance(ic, DirichletSineSeriesIC):
            raise ParameterError(
                f"HeatSimulator needs a DirichletSineSeriesIC initial condition, got {type(ic).__name__}"
            )
        super().__init__(n_cells=n_cells, t_final=t_final, n_frames=n_frames, dt=dt, theta=theta,
                         dtype=dtype, initial_condition=ic, length=length)

    @classmethod
    def probconserv(cls, **kwargs: Any) -> HeatSimulator:
        """ProbConserv's heat problem: ``u0 = sin x`` on ``[0, 2 pi]``, ``t in [0, 1]``.

        ``HeatSimulator(length=2 pi, initial_condition=DirichletSineSeriesIC(mode=2),
        t_final=1.0, **kwargs)``; exact solution ``exp(-k t) sin x``, mass 0.
        """
        kwargs.setdefault("t_final", 1.0)
        return cls(length=2.0 * math.pi, initial_condition=DirichletSineSeriesIC(mode=2), **kwargs)

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg["length"] = self.length
        return cfg

    def coefficients(self, seed: int, n_samples: int = 1) -> np.ndarray:
        """Sine-series coefficients of ``run(params, seed=seed, n_samples=n_samples)``.

        Returns
        -------
        ndarray, shape ``(n_samples, n_modes)``
        """
        return self.initial_condition.coefficients(np.random.default_rng(seed), n_samples)

    def _coef(self, coefficients: np.ndarray | None) -> np.ndarray:
        if coefficients is None:
            if self.initial_condition.random:
                raise ParameterError("random initial condition: pass coefficients=self.coefficients(seed, n)")
            return self.initial_condition.coefficients(np.random.default_rng(0), 1)[0]
        return np.asarray(coefficients, dtype=np.float64)

    def diffusivity(self, params: Mapping[str, float]) -> Diffusivity:
        return Diffusivity.constant(params["k"])

    def boundaries(self, params: Mapping[str, float]) -> tuple[Boundary, Boundary]:
        return Boundary("dirichlet", 0.0), Boundary("dirichlet", 0.0)

    def describe_pde(self, params: Mapping[str, float]) -> str:
        return f"u_t = (k(u) u_x)_x on x in [0, {self.length:g}], k(u) = k (heat equation)"

    def _modes(self, t: np.ndarray, params: Mapping[str, float], coefficients: np.ndarray | None):
        a = self._coef(coefficients)
        w, decay = _heat_decay(t, params["k"], a.shape[-1], self.length)
        return a, w, decay

    def exact_solution(self, x: np.ndarray, t: np.ndarray, params: Mapping[str, float], *,
                       coefficients: np.ndarray | None = None) -> np.ndarray:
        """``u(x, t) = sum_j a_j exp(-k (j pi / L)^2 t) sin(j pi x / L)``.

        Parameters
        ----------
        x, t : array_like
            Broadcastable positions and times.
        params : mapping
            ``{"k": ...}``.
        coefficients : ndarray, shape ``(n_modes,)`` or ``(n_samples, n_modes)``, optional
            Mode amplitudes ``a_j``; default: those of the deterministic initial condition.

        Returns
        -------
        ndarray, shape ``(*coefficients.shape[:-1], *broadcast(x, t).shape)``
        """
        p = self.parameter_space.validate(params, source=self.name)
        return heat_series_solution(x, t, p["k"], self._coef(coefficients), length=self.length)

    def _exact_antiderivative(self, x, t, params, coefficients=None):
        x, t = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(t, np.float64))
        a, w, decay = self._modes(t, params, coefficients)
        basis = decay * (-np.cos(w * x[..., None]) / w)
        return np.einsum("...m,sm->s...", basis, np.atleast_2d(a)).reshape(a.shape[:-1] + x.shape)

    def exact_cell_averages(self, t: np.ndarray | float, params: Mapping[str, float], *,
                            coefficients: np.ndarray | None = None) -> np.ndarray:
        """Exact cell averages, shape ``(*coefficients.shape[:-1], *t.shape, n_cells)``."""
        p = self.parameter_space.validate(params, source=self.name)
        t = np.asarray(t, dtype=np.float64)
        big = self._exact_antiderivative(self.edges, t[..., None], p, coefficients)
        return np.diff(big, axis=-1) / self.dx

    def boundary_flux(self, t: np.ndarray, params: Mapping[str, float], *,
                      coefficients: np.ndarray | None = None) -> np.ndarray:
        """``(F(0, t), F(L, t))``, ``F = -k u_x = -k sum_j a_j w_j e^{-k w_j^2 t} cos(w_j x)``, ``w_j = j pi / L``.

        Returns
        -------
        ndarray, shape ``(*coefficients.shape[:-1], *t.shape, 2)``
        """
        p = self.parameter_space.validate(params, source=self.name)
        a, w, decay = self._modes(np.asarray(t, np.float64), p, coefficients)
        a2 = np.atleast_2d(a)
        sign = (-1.0) ** np.arange(1, a.shape[-1] + 1)
        f0 = -p["k"] * np.einsum("...m,sm->s...", decay * w, a2)
        f1 = -p["k"] * np.einsum("...m,sm->s...", decay * w * sign, a2)
        out = np.stack([f0, f1], axis=-1)
        return out.reshape(a.shape[:-1] + out.shape[1:])

    def conserved_quantity(self, t: np.ndarray, params: Mapping[str, float], *,
                           coefficients: np.ndarray | None = None) -> np.ndarray:
        """``M(t) = sum_j a_j e^{-k w_j^2 t} (1 - (-1)^j) / w_j``, ``w_j = j pi / L``.

        ``(2 / pi) e^{-pi^2 k t}`` for ``sin(pi x)`` on ``[0, 1]``; 0 for ``sin x`` on ``[0, 2 pi]``.

        Returns
        -------
        ndarray, shape ``(*coefficients.shape[:-1], *t.shape)``
        """
        p = self.parameter_space.validate(params, source=self.name)
        return heat_series_mass(t, p["k"], self._coef(coefficients), length=self.length)
