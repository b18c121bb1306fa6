"""A mechanical submodel driven by a WGAN-GP, after Boukraichi, Akkari, Casenave and Ryckelynck (2022).

The large model is the plate with a hole under a traction pulse
(:class:`~sciml.simulators.fem.elastodynamics.PlateDynamicsSimulator`), its loads and material
random; the submodel is the window around the hole
(:class:`~sciml.simulators.fem.submodel.PlateSubmodel`), driven by an interface displacement
history. The study:

1. **campaign** — full-model runs at parameters drawn from the study's distribution
   (:func:`parameter_draws`): a training set (Latin hypercube) and a held-out set of independent
   draws (plain Monte Carlo), run in chunks through an executor into one Dataset each
   (:func:`run_campaign`);
2. **generators** — a WGAN-GP and the Gaussian-PCA baseline trained on the training histories;
3. **submodel Monte Carlo** — histories drawn from a generator, the submodel's QoIs
   (:func:`submodel_qois`), estimated with confidence intervals (:func:`qoi_estimates`);
4. **reference** — the same estimates from the full model's held-out runs;
5. **timings** — per-sample seconds of the full model and of the submodel
   (:func:`time_per_sample`), per-step seconds of Newmark with the operator assembled once or
   every step (:func:`time_newmark_steps`);
6. **distances** — sliced Wasserstein distance of generated to held-out histories
   (:func:`history_distance`).

How the randomness enters: the submodel is parametrised by its material (``E``, ``nu``,
``rho``), which it needs to solve, while the loads act outside it and reach it only through
the interface. The generators are therefore *conditioned on the material* and the load
randomness is their noise: a "randomised and parametrised" generator of interface histories.
A Monte Carlo sample draws a material from its distribution, a history from the generator
given that material, and runs the submodel with both.

The interface points are the interface's mesh nodes (``4 n_s`` per degree, see
:mod:`~sciml.simulators.fem.plate_mesh`) and every time step is a frame, so the submodel driven
by the *true* history reproduces the full model's QoIs to round-off; the submodel's error is
then the generator's alone.

Functions return plain arrays, dicts and models; ``sciml bench wgan`` turns them into rows
and checks.

The networks (:func:`wgan_networks`): the PCA-MLP generator of
:mod:`sciml.surrogates.gan` fed a bounded latent (:class:`~sciml.surrogates.gan.UniformLatentGenerator`: the loads
have bounded support, and a piecewise-linear generator extrapolates a Gaussian latent's tails
beyond it), and a layer-norm critic on the same principal components
(:class:`~sciml.surrogates.gan.ProjectedCritic`: it sees the generator's whole span, at a fraction of the cost of a
critic on every history value).

Reference: H. Boukraichi, N. Akkari, F. Casenave, D. Ryckelynck, "Uncertainty quantification in
a mechanical submodel driven by a Wasserstein-GAN", IFAC-PapersOnLine (2022).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from pydantic import Field, model_validator
from torch import nn

from sciml.config import StrictModel, as_config
from sciml.errors import ConfigError, ParameterError
from sciml.executors import InProcessExecutor
from sciml.simulators.design import space_filling_design
from sciml.simulators.fem.elastodynamics import PLATE_PARAMETERS
from sciml.surrogates.gan import (
    WGANGP,
    GaussianPCA,
    GenerationRequest,
    ProjectedCritic,
    UniformLatentGenerator,
    WGANConfig,
    fit_pca,
)
from sciml.surrogates.gan.wgan import history_scale
from sciml.uq.distances import sliced_wasserstein_distance
from sciml.uq.monte_carlo import mc_exceedance, mc_mean, mc_quantile

__all__ = [
    "LOADS",
    "MATERIAL",
    "QOIS",
    "WGANStudySettings",
    "as_settings",
    "campaign_arrays",
    "check_distribution",
    "generator_basis",
    "fit_gaussian_pca",
    "from_channels",
    "full_model",
    "generate_histories",
    "history_distance",
    "material_draws",
    "parameter_draws",
    "preset_settings",
    "qoi_estimates",
    "run_campaign",
    "submodel",
    "submodel_qois",
    "time_newmark_steps",
    "time_per_sample",
    "to_channels",
    "train_wgan",
    "wgan_networks",
]

#: The submodel's quantities of interest (maxima over the window and over time).
QOIS: tuple[str, ...] = ("peak_von_mises", "max_displacement")
#: The material parameters: inputs of the submodel and the generators' conditioning.
MATERIAL: tuple[str, ...] = ("E", "nu", "rho")
#: The load parameters: outside the submodel, their randomness is the generators' noise.
LOADS: tuple[str, ...] = ("amplitude", "duration", "angle")

_SPLITS = ("train", "test")


def _default_distribution() -> dict[str, tuple[float, float]]:
    return {"E": (0.8, 1.2), "nu": (0.25, 0.35), "rho": (0.9, 1.1), "amplitude": (5e-4, 1.5e-3),
            "duration": (0.3, 0.7), "angle": (-0.4, 0.4)}


def _default_wgan() -> WGANConfig:
    return WGANConfig(n_steps=4000, noise_dim=8, batch_size=64, hidden=128, n_layers=3, critic_hidden=128,
                      critic_layers=3, n_draws=1, checkpoint_every=500, log_every=10, progress=False)


class WGANStudySettings(StrictModel):
    """Sizes and randomness of one study (the benchmark's quick and full modes are instances).

    ``distribution`` maps a parameter of
    :data:`~sciml.simulators.fem.elastodynamics.PLATE_PARAMETERS` to ``(low, high)``: uniform
    (log-uniform for the names in ``log_uniform``), a fixed value when ``low == high``; a
    parameter left out takes its default. ``interface_points`` is derived (the interface nodes).
    """

    resolution: int = Field(16, ge=1)
    geometry: dict[str, float] = Field(default_factory=lambda: {"half_width": 3.0, "half_height": 1.5,
                                                                "hole_radius": 0.15, "window_half_width": 0.3})
    t_final: float = Field(4.5, gt=0)
    n_steps: int = Field(60, ge=1)
    alpha_k: float = Field(0.01, ge=0)
    grid: int = Field(5, ge=2)
    distribution: dict[str, tuple[float, float]] = Field(default_factory=_default_distribution)
    log_uniform: list[str] = Field(default_factory=list)
    seed: int = Field(0, ge=0)
    n_train: int = Field(600, ge=2)
    n_test: int = Field(600, ge=2)
    n_mc: int = Field(2000, ge=2)
    chunk_size: int = Field(25, ge=1)
    executor: dict[str, Any] = Field(default_factory=lambda: {"kind": "process", "n_workers": 2})
    wgan: WGANConfig = Field(default_factory=_default_wgan)
    wgan_seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    critic_components: int | None = Field(None, ge=1)
    gpca_variance_fraction: float = Field(0.999, gt=0, le=1)
    swd_projections: int = Field(256, ge=1)
    exceedance_quantile: float = Field(0.9, gt=0, lt=1)
    timing_samples: int = Field(4, ge=1)
    timing_repeats: int = Field(3, ge=1)
    timing_steps: int = Field(20, ge=1)

    @model_validator(mode="after")
    def _check_distribution(self) -> WGANStudySettings:
        check_distribution(self.distribution, self.log_uniform)
        return self

    @property
    def interface_points(self) -> int:
        """The interface's mesh nodes: ``4 n_s`` with ``n_s = 2 ceil(w resolution)`` segments a side."""
        w = self.geometry.get("window_half_width", 0.3)
        return 8 * math.ceil(w * self.resolution)

    def simulator_config(self) -> dict[str, Any]:
        """Constructor fields shared by the full model and the submodel (P1, every step a frame)."""
        return {"resolution": self.resolution, "degree": 1, "grid": self.grid, "geometry": dict(self.geometry),
                "t_final": self.t_final, "n_steps": self.n_steps, "record_every": 1,
                "interface_points": self.interface_points, "alpha_k": self.alpha_k}


def check_distribution(distribution: Mapping[str, Sequence[float]], log_uniform: Sequence[str] = ()) -> None:
    """Check a parameter distribution against the plate's parameter space.

    Raises
    ------
    ValueError
        An unknown parameter (the accepted ones listed), ``low > high``, a bound outside the
        parameter's range or a non-positive material value (named with the bad value), a
        log-uniform parameter that is not in ``distribution`` or has ``low <= 0``.
    """
    names = PLATE_PARAMETERS.names
    for name, bounds in distribution.items():
        if name not in names:
            raise ValueError(f"distribution: unknown parameter {name!r}; accepted: {list(names)}")
        low, high = (float(b) for b in bounds)
        if not low <= high:
            raise ValueError(f"distribution: {name} needs low <= high; got ({low!r}, {high!r})")
        for value in (low, high):
            if name in MATERIAL and not value > 0:
                raise ValueError(f"distribution: material parameter {name} must be > 0; got {value!r}")
            try:
                PLATE_PARAMETERS.validate({name: value}, source="distribution")
            except ParameterError as exc:
                raise ValueError(str(exc)) from None
    for name in log_uniform:
        if name not in distribution or float(distribution[name][0]) <= 0:
            raise ValueError(f"log_uniform: {name!r} needs positive bounds in distribution; "
                             f"distribution has {sorted(distribution)}")


def as_settings(settings: WGANStudySettings | Mapping[str, Any] | None) -> WGANStudySettings:
    """``settings`` validated (``None``: the defaults).

    Raises
    ------
    ConfigError
        A bad field: one line per field with the bad value and what is accepted.
    """
    return as_config(settings, WGANStudySettings, "WGAN study settings")


def preset_settings(quick: bool) -> WGANStudySettings:
    """The benchmark's quick (minutes on 2 CPU cores) or full sizes."""
    if quick:
        return WGANStudySettings()
    return WGANStudySettings(resolution=24, n_steps=120, n_train=2000, n_test=2000, n_mc=8000, chunk_size=50,
                             wgan=_default_wgan().model_copy(update={"n_steps": 10000}), timing_samples=8)


# ----------------------------------------------------------------------------- models and draws
def full_model(settings: WGANStudySettings) -> Any:
    """The full plate model of the study."""
    from sciml.simulators.fem.elastodynamics import PlateDynamicsSimulator

    return PlateDynamicsSimulator(**settings.simulator_config())


def submodel(settings: WGANStudySettings) -> Any:
    """The window submodel of the study (same mesh on the window, time grid and interface points)."""
    from sciml.simulators.fem.submodel import PlateSubmodel

    return PlateSubmodel(**settings.simulator_config())


def _stream(settings: WGANStudySettings, what: str) -> int:
    """An independent seed per use of the study's randomness."""
    streams = {"train": 0, "test": 1, "mc": 2}
    return int(np.random.SeedSequence([settings.seed, streams[what]]).generate_state(1)[0])


def parameter_draws(settings: WGANStudySettings, split: str, n: int | None = None) -> list[dict[str, float]]:
    """``n`` parameter points of ``split``: ``"train"`` a Latin hypercube of the distribution,
    ``"test"`` and ``"mc"`` independent draws; parameters outside the distribution at their default.

    Raises
    ------
    ConfigError
        An unknown split (the accepted ones listed).
    """
    if split not in (*_SPLITS, "mc"):
        raise ConfigError(f"unknown split {split!r}; accepted: {[*_SPLITS, 'mc']}")
    n = {"train": settings.n_train, "test": settings.n_test, "mc": settings.n_mc}[split] if n is None else n
    dist, log = settings.distribution, set(settings.log_uniform)
    fixed = {p.name: float(p.default) for p in PLATE_PARAMETERS if p.name not in dist}
    varied = {k: (float(lo), float(hi)) for k, (lo, hi) in dist.items() if hi > lo}
    fixed.update({k: float(lo) for k, (lo, hi) in dist.items() if hi == lo})
    seed = _stream(settings, split)
    if not varied:
        return [dict(fixed) for _ in range(n)]
    if split == "train":
        points = space_filling_design("lhs", n, varied, seed=seed, log=[k for k in varied if k in log])
    else:
        rng = np.random.default_rng(seed)
        points = []
        for _ in range(n):
            u = rng.random(len(varied))
            points.append({k: float(lo * (hi / lo) ** ui if k in log else lo + ui * (hi - lo))
                           for ui, (k, (lo, hi)) in zip(u, varied.items())})
    return [{**fixed, **p} for p in points]


def material_draws(settings: WGANStudySettings, n: int | None = None) -> np.ndarray:
    """``n`` (default ``n_mc``) independent materials of the Monte Carlo, shape ``(n, 3)`` (``E, nu, rho``)."""
    points = parameter_draws(settings, "mc", n)
    return np.array([[p[k] for k in MATERIAL] for p in points])


# ----------------------------------------------------------------------------- campaign
def _full_model_chunk(job: tuple[dict[str, Any], list[dict[str, float]], int]) -> xr.Dataset:
    """Run the full model at each point of a chunk (seed: the sample's index); one Dataset."""
    from sciml.data import concat
    from sciml.simulators.fem.elastodynamics import PlateDynamicsSimulator

    config, points, first = job
    sim = PlateDynamicsSimulator(**config)
    return concat([sim.run(p, seed=first + i) for i, p in enumerate(points)])


def run_campaign(settings: WGANStudySettings, split: str, *, executor: Any = None,
                 work_dir: str | Path | None = None, log: Callable[[str], None] | None = None) -> xr.Dataset:
    """Full-model runs at the points of ``split`` (:func:`parameter_draws`), in chunks of
    ``chunk_size`` through ``executor`` (default in-process), as one Dataset in the simulator's layout.

    With ``work_dir`` each finished chunk is kept (``campaign/<split>-<k>.nc``) and the merged
    dataset saved as ``<split>.nc``; a rerun loads what is there and runs only the missing chunks.
    """
    from sciml.data import concat, open_dataset, save

    points = parameter_draws(settings, split)
    final = None if work_dir is None else Path(work_dir) / f"{split}.nc"
    if final is not None and final.exists():
        with open_dataset(final) as ds:
            return _check_runs(ds.load(), points, final)
    size = settings.chunk_size
    jobs = [(settings.simulator_config(), points[k:k + size], k) for k in range(0, len(points), size)]
    parts: dict[int, xr.Dataset] = {}
    part_path = (lambda k: Path(work_dir) / "campaign" / f"{split}-{k:04d}.nc") if work_dir is not None else None
    for k in range(len(jobs)):
        if part_path is not None and part_path(k).exists():
            with open_dataset(part_path(k)) as ds:
                parts[k] = _check_runs(ds.load(), jobs[k][1], part_path(k))
    todo = [k for k in range(len(jobs)) if k not in parts]
    for i, ds in (executor or InProcessExecutor(show_progress=False)).map(
            _full_model_chunk, [jobs[k] for k in todo], desc=f"full model ({split})"):
        parts[todo[i]] = ds
        if part_path is not None:
            save(ds, part_path(todo[i]), chunk_samples=size)
    merged = concat([parts[k] for k in range(len(jobs))])
    if final is not None:
        save(merged, final, chunk_samples=size)
        for k in range(len(jobs)):
            part_path(k).unlink(missing_ok=True)
    if log is not None:
        log(f"campaign {split}: {merged.sizes['sample']} full-model runs ({len(todo)} chunk(s) run now)")
    return merged


def _check_runs(ds: xr.Dataset, points: Sequence[Mapping[str, float]], path: Path) -> xr.Dataset:
    """``ds`` if it holds the runs of ``points`` (same count and parameters), else :class:`ConfigError`."""
    same = ds.sizes.get("sample") == len(points) and all(
        name in ds and np.allclose(ds[name].values, [p[name] for p in points], rtol=1e-12, atol=0)
        for name in PLATE_PARAMETERS.names)
    if not same:
        raise ConfigError(f"{path} holds other full-model runs than this campaign's ({len(points)} runs); "
                          f"remove it or give another work dir")
    return ds


def campaign_arrays(ds: xr.Dataset) -> dict[str, np.ndarray]:
    """Histories ``(N, n_t, n_points, 2)``, materials ``(N, 3)``, every parameter ``(N, 6)`` and the QoIs ``(N,)``.

    Raises
    ------
    SchemaError
        Not the full model's output (no interface series).
    """
    from sciml.simulators.fem.elastodynamics import interface_histories

    out = {"histories": interface_histories(ds),
           "material": np.stack([ds[k].values for k in MATERIAL], axis=1),
           "params": np.stack([ds[k].values for k in PLATE_PARAMETERS.names], axis=1)}
    out.update({q: np.asarray(ds[q].values, dtype=np.float64) for q in QOIS})
    return out


# ----------------------------------------------------------------------------- generators
def to_channels(histories: np.ndarray) -> np.ndarray:
    """Histories ``(N, n_t, n_points, 2)`` as generator data ``(N, n_points * 2, n_t)`` (time last)."""
    h = np.asarray(histories)
    return np.ascontiguousarray(h.transpose(0, 2, 3, 1).reshape(h.shape[0], -1, h.shape[1]))


def from_channels(x: Any, shape: tuple[int, int, int]) -> np.ndarray:
    """Generator output ``(N, n_points * 2, n_t)`` back to histories ``(N, *shape)``, float64.

    Raises
    ------
    ParameterError
        ``x`` does not hold histories of ``shape`` (both shapes named).
    """
    arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    n_t, n_points, c = shape
    if arr.ndim != 3 or arr.shape[1:] != (n_points * c, n_t):
        raise ParameterError(f"generated histories have shape {arr.shape}; expected (N, {n_points * c}, {n_t}) "
                             f"for histories of shape {tuple(shape)}")
    return arr.reshape(arr.shape[0], n_points, c, n_t).transpose(0, 3, 1, 2).copy()


def generator_basis(histories: np.ndarray, config: WGANConfig, n_components: int | None = None) -> Any:
    """The PCA basis (:class:`~sciml.surrogates.gan.PCABasis`) of the histories standardised as the
    WGAN-GP does (training mean per channel and time, one overall scale): ``n_components``
    directions, or (None) those of ``config`` (``config.n_components`` or ``config.variance_fraction``)."""
    x = torch.as_tensor(to_channels(histories), dtype=torch.float64)
    flat = ((x - x.mean(0)) / history_scale(x)).reshape(x.shape[0], -1)
    if n_components is not None:
        return fit_pca(flat, min(n_components, x.shape[0] - 1))
    return fit_pca(flat, config.n_components, variance_fraction=config.variance_fraction)


def wgan_networks(settings: WGANStudySettings, histories: np.ndarray, seed: int) -> tuple[nn.Module, nn.Module]:
    """The study's generator (:class:`UniformLatentGenerator` on the PCA basis of ``settings.wgan``) and
    critic (:class:`ProjectedCritic` on the same basis, or ``critic_components`` directions), their
    weights drawn from ``seed``."""
    config = settings.wgan
    basis = generator_basis(histories, config)
    critic_basis = basis if settings.critic_components is None else \
        generator_basis(histories, config, settings.critic_components)
    _, n_channels, n_time = to_channels(histories[:1]).shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = UniformLatentGenerator(config.noise_dim, len(MATERIAL), n_channels, n_time, basis.n_components,
                                           hidden=config.hidden, n_layers=config.n_layers)
        critic = ProjectedCritic(critic_basis.components.float(), len(MATERIAL), hidden=config.critic_hidden,
                                 n_layers=config.critic_layers)
    generator.set_basis(basis.components.float(), basis.scales.float())
    return generator, critic


def train_wgan(settings: WGANStudySettings, histories: np.ndarray, material: np.ndarray, *, seed: int,
               run_dir: str | Path | None = None) -> WGANGP:
    """The WGAN-GP of ``settings.wgan`` (seed ``seed``, networks :func:`wgan_networks`) trained on the
    histories conditioned on the material; with ``run_dir`` a finished run is reloaded from its
    checkpoint, an interrupted one continues."""
    generator, critic = wgan_networks(settings, histories, seed)
    config = settings.wgan.model_copy(update={"seed": int(seed)})
    return WGANGP(config, generator=generator, critic=critic).fit(
        to_channels(histories), params=np.asarray(material, dtype=np.float64), run_dir=run_dir,
        resume=run_dir is not None)


def fit_gaussian_pca(settings: WGANStudySettings, histories: np.ndarray, material: np.ndarray) -> GaussianPCA:
    """The Gaussian-PCA baseline on the same data (coefficients jointly Gaussian with the material)."""
    return GaussianPCA(variance_fraction=settings.gpca_variance_fraction, n_draws=1).fit(
        to_channels(histories), params=np.asarray(material, dtype=np.float64))


def generate_histories(generator: WGANGP | GaussianPCA, material: np.ndarray, shape: tuple[int, int, int], *,
                       seed: int) -> np.ndarray:
    """One history per material row ``(B, 3)`` from a conditional generator: ``(B, *shape)``."""
    draws = generator.predict(GenerationRequest(1, params=np.asarray(material, dtype=np.float64), seed=int(seed)))
    return from_channels(draws.draws[0], shape)


# ----------------------------------------------------------------------------- submodel Monte Carlo
def _submodel_chunk(job: tuple[dict[str, Any], np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    """The submodel's QoIs for each (history, material) pair of a chunk."""
    from sciml.simulators.fem.submodel import PlateSubmodel

    config, histories, material = job
    sub = PlateSubmodel(**config)
    out: dict[str, list[float]] = {q: [] for q in QOIS}
    for h, m in zip(histories, material):
        qois = sub.evaluate(h[None], dict(zip(MATERIAL, (float(v) for v in m))))
        for q in QOIS:
            out[q].append(float(qois[q][0]))
    return {q: np.asarray(v) for q, v in out.items()}


def submodel_qois(settings: WGANStudySettings, histories: np.ndarray, material: np.ndarray, *,
                  executor: Any = None) -> dict[str, np.ndarray]:
    """The submodel's QoIs for histories ``(n, n_t, n_points, 2)``, each with its material row ``(n, 3)``,
    in chunks of ``chunk_size`` through ``executor`` (default in-process).

    Raises
    ------
    ParameterError
        Histories that are not ``(n, *history_shape)``, a material count that differs, or a
        bad material (the submodel's message).
    """
    from sciml.simulators.fem.submodel import check_histories

    shape = submodel(settings).history_shape
    h = check_histories(histories, shape)
    m = np.asarray(material, dtype=np.float64)
    if m.ndim != 2 or m.shape != (h.shape[0], len(MATERIAL)):
        raise ParameterError(f"material must have shape ({h.shape[0]}, {len(MATERIAL)}) (one row E, nu, rho per "
                             f"history); got {m.shape}")
    size = settings.chunk_size
    jobs = [(settings.simulator_config(), h[k:k + size], m[k:k + size]) for k in range(0, h.shape[0], size)]
    done: dict[int, dict[str, np.ndarray]] = {}
    for i, out in (executor or InProcessExecutor(show_progress=False)).map(_submodel_chunk, jobs,
                                                                           desc="submodel Monte Carlo"):
        done[i] = out
    return {q: np.concatenate([done[i][q] for i in range(len(jobs))]) for q in QOIS}


def qoi_estimates(x: np.ndarray, threshold: float, *, level: float = 0.95) -> dict[str, float]:
    """Mean, 95 % quantile and ``P(X > threshold)`` of a QoI sample with their ``level`` intervals."""
    mean, q95 = mc_mean(x, level=level), mc_quantile(x, 0.95, level=level)
    exc = mc_exceedance(x, threshold, level=level)
    return {"n": float(mean.n), "mean": mean.estimate, "mean_lower": mean.lower, "mean_upper": mean.upper,
            "mean_std_error": mean.std_error, "q95": q95.estimate, "q95_lower": q95.lower, "q95_upper": q95.upper,
            "threshold": float(threshold), "exceedance": exc.estimate, "exceedance_lower": exc.lower,
            "exceedance_upper": exc.upper}


# ----------------------------------------------------------------------------- distances
def history_distance(settings: WGANStudySettings, generated: np.ndarray, reference: np.ndarray, *,
                     seed: int = 0) -> float:
    """Sliced Wasserstein distance (``p = 2``, ``swd_projections`` directions of ``seed``) between two
    sets of histories, each flattened to a point."""
    return sliced_wasserstein_distance(np.asarray(generated).reshape(len(generated), -1),
                                       np.asarray(reference).reshape(len(reference), -1),
                                       n_projections=settings.swd_projections, seed=seed)


# ----------------------------------------------------------------------------- timings
def _full_qois(sim: Any, params: Mapping[str, float]) -> dict[str, float]:
    """One full-model solve from scratch (mesh, assembly, factorisation, steps), the window's QoIs only."""
    from sciml.simulators.fem.backend import resolve_comm
    from sciml.simulators.fem.elastodynamics import march

    mesh = sim.create_mesh(resolve_comm(None))
    newmark, qois = sim.integrator(mesh, params)
    result = march(newmark, qois, sim.times)
    newmark.destroy()
    return dict(result.qois)


def time_per_sample(settings: WGANStudySettings, points: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Per-sample seconds of the full model and of the submodel on the same ``points``, best of
    ``timing_repeats`` interleaved rounds, each solve from scratch (mesh, assembly, factorisation).

    Returned: ``full_s`` (the full model, window QoIs only), ``full_recorded_s`` (the full model's
    ``run``, interface and grid recorded), ``submodel_s`` (``evaluate`` on one true history and its
    material), ``speedup`` = ``full_s / submodel_s``, and ``transfer_rel_error``: the largest
    ``|submodel - full| / full`` over the points and QoIs (the submodel on the true histories).
    """
    full, sub = full_model(settings), submodel(settings)
    histories = [full.interface_history(p) for p in points]  # also compiles every form once
    sub.evaluate(histories[0], points[0])
    best = {"full_s": math.inf, "full_recorded_s": math.inf, "submodel_s": math.inf}
    error = 0.0
    for _ in range(settings.timing_repeats):
        spent = dict.fromkeys(best, 0.0)
        for p, h in zip(points, histories):
            t0 = time.perf_counter()
            q_full = _full_qois(full, p)
            t1 = time.perf_counter()
            full.run(p, seed=0)
            t2 = time.perf_counter()
            q_sub = sub.evaluate(h, p)
            t3 = time.perf_counter()
            spent["full_s"] += t1 - t0
            spent["full_recorded_s"] += t2 - t1
            spent["submodel_s"] += t3 - t2
            error = max(error, *(abs(q_sub[q][0] - q_full[q]) / abs(q_full[q]) for q in QOIS))
        best = {k: min(best[k], spent[k] / len(points)) for k in best}
    return {**best, "speedup": best["full_s"] / best["submodel_s"], "transfer_rel_error": float(error),
            "n_points": float(len(points))}


def time_newmark_steps(settings: WGANStudySettings, params: Mapping[str, float]) -> dict[str, float]:
    """Per-step seconds of the full model's Newmark step with ``K_eff`` assembled and factorised once
    (``reuse_s``) and reassembled and refactorised every step (``reassemble_s``): best of
    ``timing_repeats`` rounds of ``timing_steps`` steps; ``speedup`` = ``reassemble_s / reuse_s``;
    ``max_abs_difference``: the largest difference of the two displacements after the steps."""
    from sciml.simulators.fem.backend import resolve_comm

    sim = full_model(settings)
    mesh = sim.create_mesh(resolve_comm(None))
    best = {"reuse_s": math.inf, "reassemble_s": math.inf}
    diff = 0.0
    for _ in range(settings.timing_repeats):
        finals = []
        for key, reassemble in (("reuse_s", False), ("reassemble_s", True)):
            newmark, _ = sim.integrator(mesh, params, reassemble=reassemble)
            newmark.step()  # the first step outside the timing
            t0 = time.perf_counter()
            for _ in range(settings.timing_steps):
                newmark.step()
            best[key] = min(best[key], (time.perf_counter() - t0) / settings.timing_steps)
            finals.append(newmark.u.x.array.copy())
            newmark.destroy()
        diff = max(diff, float(np.abs(finals[0] - finals[1]).max()))
    return {**best, "speedup": best["reassemble_s"] / best["reuse_s"], "max_abs_difference": diff,
            "n_steps": float(settings.timing_steps)}
