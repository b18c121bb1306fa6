"""Cosmology Simulators: Zel'dovich, 2LPT and particle-mesh runs that share their white noise.

Three simulators over one parameter space (``Omega_m``, ``sigma_8``, ``n_s``, ``h``; flat LCDM):

* ``"cosmo_zeldovich"`` (:class:`ZeldovichSimulator`) — particles displaced by 1LPT;
* ``"cosmo_2lpt"`` (:class:`LPT2Simulator`) — 2LPT;
* ``"cosmo_pm"`` (:class:`PMSimulator`) — 2LPT at ``a_start``, then FastPM kick-drift-kick
  particle-mesh steps to ``a_final`` (:mod:`.pm`).

Sample ``i`` of ``run(params, seed=s)`` starts from :func:`.initial_conditions.white_noise`
``(n_particles, s, i)`` in every simulator, so a cheap and an expensive run with the same seed,
sample index and ``n_particles`` are paired realisations (the design behind control variates).

Outputs. :meth:`CosmologySimulator.run` returns a field dataset (passes
:func:`sciml.data.validate`): the CIC density contrast ``delta`` of the particles on the
``n_mesh^3`` mesh, dims ``(sample, t, x, y, z)`` with ``t`` the scale factor of each output
(particles still close to their lattice leave its pattern at the mesh Nyquist frequency when
``n_mesh = 2 n_particles``).
:meth:`CosmologySimulator.run_power` returns the summaries on ``k``: ``power`` over
``(sample, t, k)`` and ``n_modes`` over ``k`` (CIC-deconvolved, interlaced estimator of
:mod:`.power`); it passes ``validate`` too.
:meth:`CosmologySimulator.run_particles` returns the particles themselves in the trajectory
layout of :mod:`sciml.data.particles` (unit system ``"cosmology"``: ``sample`` the
realisation, ``atom`` the particle in lattice order, ``frame`` the output scale factor).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import xarray as xr

from sciml.data.particles import trajectory_dataset
from sciml.data.schema import field_dataset, provenance_attrs, validate
from sciml.errors import ParameterError
from sciml.simulators.base import Parameter, ParameterSpace, check_finite, check_n_samples
from sciml.simulators.cosmology.initial_conditions import gaussian_field_k, white_noise
from sciml.simulators.cosmology.linear import SPECTRA, Cosmology, PowerSpectrumTable, linear_power
from sciml.simulators.cosmology.lpt import lpt_displacements, lpt_state
from sciml.simulators.cosmology.mesh import check_box, check_mesh, cic_paint
from sciml.simulators.cosmology.pm import GRADIENTS, PMForce, Snapshot, pm_evolve, step_schedule
from sciml.simulators.cosmology.power import power_from_particles

__all__ = ["COSMOLOGY_PARAMETERS", "CosmologySimulator", "LPT2Simulator", "PMSimulator", "ZeldovichSimulator"]

#: The shared parameter space (ranges of the Quijote latin hypercube; defaults its fiducial cosmology).
COSMOLOGY_PARAMETERS = ParameterSpace((
    Parameter("Omega_m", 0.1, 0.5, units="1", description="matter density parameter Omega_m", default=0.3175),
    Parameter("sigma_8", 0.6, 1.0, units="1", description="rms linear density in 8 Mpc/h top-hat spheres at z=0",
              default=0.834),
    Parameter("n_s", 0.8, 1.2, units="1", description="primordial spectral index n_s", default=0.9624),
    Parameter("h", 0.5, 0.9, units="1", description="Hubble parameter h = H0 / (100 km/s/Mpc)", default=0.6711),
))

#: Critical density today, (Msun/h) / (Mpc/h)^3.
RHO_CRIT = 2.77536627e11
#: ``H0 * (1 Mpc/h)`` in km/s: the velocity unit of the momenta of :mod:`.pm`.
KM_S_PER_H0_MPC = 100.0

_DENSITY_ATTRS = {"units": "1", "long_name": "CIC density contrast delta = rho / rho_mean - 1"}
_COORD_ATTRS = {"t": {"units": "1", "long_name": "scale factor a", "standard_name": "scale_factor"},
                **{d: {"units": "Mpc/h", "long_name": f"comoving {d} of the mesh node", "axis": d.upper()}
                   for d in ("x", "y", "z")}}


def _positive_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ParameterError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_spectrum(spectrum: Any) -> str | dict[str, list[float]]:
    """A spectrum name of :data:`.linear.SPECTRA`, or a ``{"k", "p"}`` table validated now."""
    if isinstance(spectrum, Mapping):
        if set(spectrum) != {"k", "p"}:
            raise ParameterError(f"a spectrum table is a mapping with keys 'k' and 'p', got keys {sorted(spectrum)}")
        table = PowerSpectrumTable(spectrum["k"], spectrum["p"], name="spectrum")
        return {"k": table.k.tolist(), "p": table.power.tolist()}
    if spectrum not in SPECTRA:
        raise ParameterError(f"spectrum must be one of {list(SPECTRA)} or a mapping {{'k': [...], 'p': [...]}}, "
                             f"got {spectrum!r}")
    if spectrum == "camb":
        try:
            import camb  # noqa: F401
        except ImportError as exc:
            raise ImportError("spectrum='camb' needs the camb package: pip install camb") from exc
    return str(spectrum)


class CosmologySimulator:
    """Base of the cosmology simulators (not registered itself). See the module docstring.

    Parameters
    ----------
    box_size : float
        Side of the periodic box (Mpc/h), > 0.
    n_particles : int
        Particles per side (even, >= 4); also the white-noise and initial-condition mesh.
    n_mesh : int, optional
        Mesh per side (even, >= 4) of the density output, the power spectrum and the PM force;
        default ``2 * n_particles``.
    a_final : float
        Last output scale factor, in ``(0, 1]`` (1 = today).
    a_output : sequence of float, optional
        Output scale factors (the ``t`` coordinate); default ``[a_final]``. Each in ``(0, a_final]``.
    Omega_b : float
        Baryon density, in ``[0, 0.1)`` (below the lowest ``Omega_m``); used by the EH/CAMB spectra.
    spectrum : str or mapping
        ``"eisenstein_hu"`` (default, EH98 with wiggles), ``"eisenstein_hu_nowiggle"``,
        ``"camb"`` (needs camb), or a ``{"k": [...], "p": [...]}`` table whose shape is rescaled
        to ``sigma_8`` (:func:`.linear.linear_power`).
    dtype : {"float32", "float64"}
        Of the density output.

    Raises
    ------
    ParameterError
        Any option outside the ranges above (non-positive box or grid, odd mesh, bad table, ...).
    """

    name: ClassVar[str] = "cosmology"
    version: ClassVar[str] = "1.0"
    #: LPT order of the particles these simulators start from.
    lpt_order: ClassVar[int] = 2

    def __init__(self, *, box_size: float = 256.0, n_particles: int = 32, n_mesh: int | None = None,
                 a_final: float = 1.0, a_output: Sequence[float] | None = None, Omega_b: float = 0.049,
                 spectrum: str | Mapping[str, Any] = "eisenstein_hu", dtype: str = "float32") -> None:
        self.box_size = check_box(box_size)
        self.n_particles = check_mesh(n_particles, "n_particles", minimum=4)
        self.n_mesh = check_mesh(2 * self.n_particles if n_mesh is None else n_mesh, "n_mesh", minimum=4)
        if isinstance(a_final, bool) or not isinstance(a_final, (int, float)) or not 0 < a_final <= 1:
            raise ParameterError(f"a_final must be in (0, 1], got {a_final!r}")
        self.a_final = float(a_final)
        outs = [self.a_final] if a_output is None else sorted({float(a) for a in a_output})
        if not outs or not all(np.isfinite(a) and self._a_min() < a <= self.a_final for a in outs):
            raise ParameterError(f"a_output must be scale factors in ({self._a_min():g}, a_final={self.a_final:g}], "
                                 f"got {a_output!r}")
        self.a_output = outs
        self._a_output_given = a_output is not None
        if isinstance(Omega_b, bool) or not isinstance(Omega_b, (int, float)) or not 0 <= Omega_b < 0.1:
            raise ParameterError(f"Omega_b must be in [0, 0.1), got {Omega_b!r}")
        self.Omega_b = float(Omega_b)
        self.spectrum = _check_spectrum(spectrum)
        if dtype not in ("float32", "float64"):
            raise ParameterError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.dtype = dtype

    def _a_min(self) -> float:
        """Outputs must be later than this scale factor."""
        return 0.0

    # ----------------------------------------------------------------- protocol
    @property
    def parameter_space(self) -> ParameterSpace:
        """``Omega_m``, ``sigma_8``, ``n_s``, ``h`` (:data:`COSMOLOGY_PARAMETERS`)."""
        return COSMOLOGY_PARAMETERS

    def config(self) -> dict[str, Any]:
        """Numerical configuration, JSON-serialisable; ``build_simulator(sim.config())`` rebuilds it."""
        return {"kind": self.name, "box_size": self.box_size, "n_particles": self.n_particles,
                "n_mesh": self.n_mesh, "a_final": self.a_final,
                "a_output": list(self.a_output) if self._a_output_given else None,
                "Omega_b": self.Omega_b, "spectrum": self.spectrum, "dtype": self.dtype}

    def cost(self, params: Mapping[str, float]) -> float:
        """Relative cost of one sample: FFT-mesh cells processed, in millions."""
        self.parameter_space.validate(params, source=self.name)
        ffts = 4 if self.lpt_order == 1 else 14
        return float(ffts * self.n_particles**3 + len(self.a_output) * 2 * self.n_mesh**3) / 1e6

    def sample_nbytes(self, params: Mapping[str, float] | None = None) -> int:
        """Bytes of one sample's density output: ``len(a_output) * n_mesh^3 * itemsize``."""
        return len(self.a_output) * self.n_mesh**3 * np.dtype(self.dtype).itemsize

    # ----------------------------------------------------------------- physics
    def cosmology(self, params: Mapping[str, float]) -> Cosmology:
        """The :class:`.linear.Cosmology` of validated ``params`` and this simulator's ``Omega_b``."""
        p = self.parameter_space.validate(params, source=self.name)
        return Cosmology(Omega_m=p["Omega_m"], sigma_8=p["sigma_8"], n_s=p["n_s"], h=p["h"], Omega_b=self.Omega_b)

    def initial_density_k(self, params: Mapping[str, float], *, seed: int, sample: int = 0) -> np.ndarray:
        """The linear density at ``a = 1`` (rfft layout on the particle mesh) of realisation ``(seed, sample)``."""
        cosmo = self.cosmology(params)
        noise = white_noise(self.n_particles, seed, sample)
        return gaussian_field_k(noise, self.box_size, linear_power(cosmo, self.spectrum))

    def snapshots(self, params: Mapping[str, float], *, seed: int, sample: int = 0) -> list[Snapshot]:
        """Particles at each output scale factor for realisation ``(seed, sample)``."""
        cosmo = self.cosmology(params)
        psi1, psi2 = lpt_displacements(self.initial_density_k(params, seed=seed, sample=sample), self.box_size,
                                       order=self.lpt_order)
        return [Snapshot(a, *lpt_state(psi1, psi2, a, cosmo, self.box_size)) for a in self.a_output]

    def _density(self, positions: np.ndarray) -> np.ndarray:
        mesh = cic_paint(positions, self.n_mesh, self.box_size)
        return mesh * (self.n_mesh**3 / len(positions)) - 1.0

    # ----------------------------------------------------------------- outputs
    def _provenance(self, params: Mapping[str, float], seed: int, extra: Mapping[str, Any] | None = None) -> dict:
        return provenance_attrs(generator=self.name, generator_version=self.version,
                                parameters={"config": self.config(), "params": dict(params)}, seed=seed,
                                extra=extra)

    def _parameter_vars(self, p: Mapping[str, float], n: int) -> tuple[dict, dict]:
        values = {k: np.full(n, v) for k, v in p.items()}
        attrs = {q.name: {"units": q.units, "long_name": q.description or q.name} for q in self.parameter_space}
        return values, attrs

    def run(self, params: Mapping[str, float], *, seed: int, n_samples: int = 1) -> xr.Dataset:
        """``n_samples`` realisations; the CIC density contrast at each output scale factor.

        Returns
        -------
        xarray.Dataset
            Field ``delta`` ``(n_samples, len(a_output), n_mesh, n_mesh, n_mesh)``; coordinates
            ``t`` (scale factor), ``redshift`` along ``t``, ``x``/``y``/``z`` (Mpc/h); the
            parameters per sample; provenance. Passes :func:`sciml.data.validate`.

        Raises
        ------
        ParameterError
            Parameters outside :attr:`parameter_space`, a bad ``n_samples`` or seed.
        SimulationError
            Non-finite densities (names samples, parameters and seed).
        """
        p = self.parameter_space.validate(params, source=self.name)
        n = check_n_samples(n_samples)
        delta = np.empty((n, len(self.a_output)) + (self.n_mesh,) * 3, dtype=self.dtype)
        for i in range(n):
            for j, snap in enumerate(self.snapshots(p, seed=seed, sample=i)):
                delta[i, j] = self._density(snap.positions)
        check_finite({"delta": delta}, simulator=self.name, params=p, seed=seed)
        grid = np.arange(self.n_mesh) * (self.box_size / self.n_mesh)
        values, attrs = self._parameter_vars(p, n)
        ds = field_dataset({"delta": delta}, coords={"t": np.asarray(self.a_output), "x": grid, "y": grid, "z": grid},
                           parameters=values, field_attrs={"delta": _DENSITY_ATTRS}, coord_attrs=_COORD_ATTRS,
                           parameter_attrs=attrs, attrs=self._provenance(p, seed, {"box_size": self.box_size}))
        ds = ds.assign_coords(redshift=("t", 1.0 / np.asarray(self.a_output) - 1.0,
                                        {"units": "1", "long_name": "redshift z = 1/a - 1"}))
        return validate(ds, check_finite=False)

    def run_power(self, params: Mapping[str, float], *, seed: int, n_samples: int = 1, interlacing: bool = True,
                  subtract_shot_noise: bool = False, k_edges: np.ndarray | None = None) -> xr.Dataset:
        """``n_samples`` realisations; their power spectra at each output scale factor.

        Parameters
        ----------
        params, seed, n_samples
            As :meth:`run` (same seed and sample: same realisation).
        interlacing, subtract_shot_noise, k_edges
            Options of :func:`.power.power_from_particles` on the ``n_mesh`` mesh.

        Returns
        -------
        xarray.Dataset
            ``power`` ``(sample, t, k)`` in (Mpc/h)^3; ``n_modes`` ``(k,)``; coordinates ``k``
            (mean ``|k|`` of each bin, h/Mpc), ``k_low``/``k_high`` (bin edges), ``t``, ``redshift``;
            parameters per sample; provenance with ``shot_noise`` (``V / N``) and
            ``shot_noise_subtracted``. Passes :func:`sciml.data.validate`.
        """
        p = self.parameter_space.validate(params, source=self.name)
        n = check_n_samples(n_samples)
        rows, binned = [], None
        for i in range(n):
            spectra = []
            for snap in self.snapshots(p, seed=seed, sample=i):
                binned = power_from_particles(snap.positions, self.n_mesh, self.box_size, interlacing=interlacing,
                                              subtract_shot_noise=subtract_shot_noise, k_edges=k_edges)
                spectra.append(binned.power)
            rows.append(spectra)
        power = np.asarray(rows)
        check_finite({"power": power}, simulator=self.name, params=p, seed=seed)
        values, attrs = self._parameter_vars(p, n)
        data = {"power": (("sample", "t", "k"), power, {"units": "(Mpc/h)^3", "long_name": "matter power spectrum P(k)",
                                                          "role": "field"}),
                "n_modes": (("k",), binned.n_modes, {"units": "1", "long_name": "Fourier modes in the k bin",
                                                     "role": "metadata"})}
        data.update({k: (("sample",), v, {**attrs[k], "role": "parameter"}) for k, v in values.items()})
        coords = {"sample": ("sample", np.arange(n), {"units": "1", "long_name": "sample index"}),
                  "t": ("t", np.asarray(self.a_output), _COORD_ATTRS["t"]),
                  "redshift": ("t", 1.0 / np.asarray(self.a_output) - 1.0, {"units": "1", "long_name": "redshift"}),
                  "k": ("k", binned.k, {"units": "h/Mpc", "long_name": "mean wavenumber of the bin"}),
                  "k_low": ("k", binned.k_edges[:-1], {"units": "h/Mpc", "long_name": "bin lower edge"}),
                  "k_high": ("k", binned.k_edges[1:], {"units": "h/Mpc", "long_name": "bin upper edge"})}
        extra = {"box_size": self.box_size, "shot_noise": self.box_size**3 / self.n_particles**3,
                 "shot_noise_subtracted": int(bool(subtract_shot_noise)), "interlacing": int(bool(interlacing))}
        return xr.Dataset(data, coords=coords, attrs=self._provenance(p, seed, extra))

    def particle_mass(self, params: Mapping[str, float]) -> float:
        """Mass of one particle, ``Omega_m rho_crit box_size^3 / n_particles^3`` (Msun/h)."""
        return float(self.cosmology(params).Omega_m * RHO_CRIT * self.box_size**3 / self.n_particles**3)

    def run_particles(self, params: Mapping[str, float], *, seed: int, n_samples: int = 1) -> xr.Dataset:
        """``n_samples`` realisations; the particles at each output scale factor.

        Returns
        -------
        xarray.Dataset
            The trajectory layout of :mod:`sciml.data.particles`, unit system ``"cosmology"``:
            ``positions`` ``(sample, frame, atom, xyz)`` (comoving Mpc/h, in ``[0, box_size)``;
            ``atom`` the particle, lattice order), ``velocities`` (peculiar, km/s:
            ``v = a dx/dt = 100 p / a`` for the momentum ``p`` of :mod:`.pm`), ``masses``
            (:meth:`particle_mass`), ``cell`` (the box) and ``pbc`` (periodic); coordinate
            ``time`` the scale factor; the parameters per sample; provenance. Passes
            :func:`sciml.data.validate`. Painting ``positions`` with CIC gives :meth:`run`'s density.

        Raises
        ------
        ParameterError
            Parameters outside :attr:`parameter_space`, a bad ``n_samples`` or seed.
        SimulationError
            Non-finite positions or velocities.
        """
        p = self.parameter_space.validate(params, source=self.name)
        n = check_n_samples(n_samples)
        shape = (n, len(self.a_output), self.n_particles**3, 3)
        positions, velocities = np.empty(shape, dtype=self.dtype), np.empty(shape, dtype=self.dtype)
        for i in range(n):
            for j, snap in enumerate(self.snapshots(p, seed=seed, sample=i)):
                positions[i, j] = snap.positions
                velocities[i, j] = snap.momenta * (KM_S_PER_H0_MPC / snap.a)
        check_finite({"positions": positions, "velocities": velocities}, simulator=self.name, params=p, seed=seed)
        values, attrs = self._parameter_vars(p, n)
        ds = trajectory_dataset(positions, velocities=velocities, masses=np.full(shape[2], self.particle_mass(p)),
                                cell=self.box_size * np.eye(3), pbc=[True, True, True],
                                time=np.asarray(self.a_output), parameters=values, parameter_attrs=attrs,
                                unit_system="cosmology", attrs=self._provenance(p, seed, {"box_size": self.box_size}))
        return validate(ds, check_finite=False)


class ZeldovichSimulator(CosmologySimulator):
    """Particles displaced by the Zel'dovich approximation (1LPT) at each output (``"cosmo_zeldovich"``)."""

    name: ClassVar[str] = "cosmo_zeldovich"
    lpt_order: ClassVar[int] = 1


class LPT2Simulator(CosmologySimulator):
    """Particles displaced by second-order LPT at each output (``"cosmo_2lpt"``)."""

    name: ClassVar[str] = "cosmo_2lpt"
    lpt_order: ClassVar[int] = 2


class PMSimulator(CosmologySimulator):
    """Particle-mesh N-body from 2LPT at ``a_start`` (``"cosmo_pm"``); see :mod:`.pm`.

    Parameters
    ----------
    a_start : float
        Scale factor of the 2LPT initial conditions, in ``(0, a_final)`` and below every output.
    n_steps : int
        Kick-drift-kick steps uniform in ``a`` (outputs add step boundaries), >= 1.
    gradient : {"fd4", "spectral"}
        Gradient kernel of the force (:class:`.pm.PMForce`).
    deconvolve : bool
        Divide the force by the squared CIC window.
    **kwargs
        The options of :class:`CosmologySimulator`.
    """

    name: ClassVar[str] = "cosmo_pm"

    def __init__(self, *, a_start: float = 0.1, n_steps: int = 10, gradient: str = "fd4", deconvolve: bool = False,
                 **kwargs: Any) -> None:
        if isinstance(a_start, bool) or not isinstance(a_start, (int, float)) or not 0 < a_start < 1:
            raise ParameterError(f"a_start must be in (0, 1), got {a_start!r}")
        a_final = kwargs.get("a_final", 1.0)
        if isinstance(a_final, (int, float)) and not isinstance(a_final, bool) and a_start >= a_final:
            raise ParameterError(f"a_start={a_start!r} must be below a_final={a_final!r}")
        self.a_start = float(a_start)
        super().__init__(**kwargs)
        if gradient not in GRADIENTS:
            raise ParameterError(f"gradient must be one of {list(GRADIENTS)}, got {gradient!r}")
        self.n_steps = _positive_int(n_steps, "n_steps", 1)
        self.gradient, self.deconvolve = gradient, bool(deconvolve)
        step_schedule(self.a_start, self.a_final, self.n_steps, self.a_output)

    def _a_min(self) -> float:
        return self.a_start

    def config(self) -> dict[str, Any]:
        return {**super().config(), "a_start": self.a_start, "n_steps": self.n_steps, "gradient": self.gradient,
                "deconvolve": self.deconvolve}

    def cost(self, params: Mapping[str, float]) -> float:
        """Relative cost: the 2LPT start plus one force evaluation (~5 mesh FFTs) per step."""
        n_force = len(step_schedule(self.a_start, self.a_final, self.n_steps, self.a_output))
        return super().cost(params) + 5.0 * n_force * self.n_mesh**3 / 1e6

    def snapshots(self, params: Mapping[str, float], *, seed: int, sample: int = 0) -> list[Snapshot]:
        cosmo = self.cosmology(params)
        psi1, psi2 = lpt_displacements(self.initial_density_k(params, seed=seed, sample=sample), self.box_size,
                                       order=2)
        x, p = lpt_state(psi1, psi2, self.a_start, cosmo, self.box_size)
        force = PMForce(self.n_mesh, self.box_size, gradient=self.gradient, deconvolve=self.deconvolve)
        return pm_evolve(x, p, cosmo, force, a_start=self.a_start, a_final=self.a_final, n_steps=self.n_steps,
                         a_output=self.a_output)
