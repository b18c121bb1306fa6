"""CARPool for the matter power spectrum: particle-mesh runs with 2LPT / Zel'dovich control variates.

The expensive run is the particle-mesh N-body (``cosmo_pm``), the cheap runs 2LPT
(``cosmo_2lpt``) and Zel'dovich (``cosmo_zeldovich``) started from the same white noise
(same seed: paired realisations). The QoI is ``P(k)`` at ``a_final`` on the ``n_mesh`` mesh
(:meth:`~sciml.simulators.cosmology.simulators.CosmologySimulator.run_power`). Three sets of
runs, with disjoint seeds, go through an executor in chunks (:func:`run_set`):

* ``pairs`` — ``n_pool`` seeds, each run by PM and every cheap simulator;
* ``truth`` — ``n_truth`` further PM runs: the large-N truth (their mean) and its error;
* ``cheap`` — ``n_cheap`` (``M``) independent cheap runs: ``mu_c`` (their mean).

How the variance reduction is measured (per k-bin, against the plain mean of the same ``N``
PM runs, :func:`estimator_statistics`):

* ``variance_reduction`` (the headline) — the expected reduction at ``N`` pairs from moments
  pooled over all ``n_pool`` pairs: ``(s_y^2 / N) / (f_N s_r^2 / N + beta^2 s_c^2 / M)``, with
  ``beta`` the pooled univariate coefficient, ``s_r^2`` the variance of ``y - beta c``
  (``n_pool - 2`` degrees of freedom), ``f_N = (N - 2) / (N - 3)`` the inflation of a ``beta``
  fitted on ``N`` pairs and ``s_c^2 / M`` the variance of ``mu_c`` — the variance
  :func:`~sciml.uq.control_variates.carpool` assigns, at ``N = n_pool`` its
  ``variance_reduction`` exactly;
* ``variance_reduction_groups`` — empirical, over the ``G = n_pool // N`` disjoint groups of
  ``N`` pairs: ``Var_g(plain mean) / (Var_g(CARPool) + beta^2 Var(mu_c))``; the groups share
  ``mu_c``, so its variance (which no group-to-group scatter shows) is added from the formula;
* ``variance_calibration`` — ``(Var_g(CARPool) + beta^2 Var(mu_c))`` over the mean of the groups'
  own :func:`carpool` variances (1 when those are honest).

Bias: the mean of the ``G`` group estimates against the truth, in units of
``sqrt(Var_g / G + beta^2 Var(mu_c) + Var(truth) / n_truth)``, per bin and for the fractional
bias averaged over the bins below ``k_max`` (:func:`band_bias`).

Reference: N. Chartier, B. Wandelt, Y. Akrami, F. Villaescusa-Navarro, "CARPool: fast, accurate
computation of large-scale structure statistics by pairing costly and cheap cosmological
simulations", MNRAS 503 (2021) 1897.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from sciml.config import StrictModel, as_config
from sciml.data.atomic import atomic_path
from sciml.errors import ConfigError, ParameterError
from sciml.executors import InProcessExecutor
from sciml.uq.control_variates import CARPoolEstimate, carpool

__all__ = [
    "CARPoolStudySettings",
    "EXPENSIVE",
    "SETS",
    "as_settings",
    "band_bias",
    "estimator_statistics",
    "group_estimates",
    "pooled_variance_reduction",
    "preset_settings",
    "run_set",
    "run_seeds",
    "simulator_configs",
]

#: The expensive simulator.
EXPENSIVE = "cosmo_pm"
#: The sets of runs and the simulators each runs.
SETS: tuple[str, ...] = ("pairs", "truth", "cheap")
CheapKind = Literal["cosmo_2lpt", "cosmo_zeldovich"]
_SEED_STRIDE = 1_000_000  # seeds of the sets: seed * 3 * stride + set * stride + index


class CARPoolStudySettings(StrictModel):
    """Sizes and randomness of the cosmology CARPool study (the benchmark's modes are instances).

    ``params`` are the cosmological parameters of every run (defaults: the fiducial cosmology of
    :data:`~sciml.simulators.cosmology.simulators.COSMOLOGY_PARAMETERS`). ``burgers`` is passed
    as is to the Burgers/CAPE pair of :mod:`sciml.studies.carpool_burgers` (``None``: its preset).
    """

    box_size: float = Field(256.0, gt=0)
    n_particles: int = Field(32, ge=4)
    n_mesh: int = Field(64, ge=4)
    a_start: float = Field(0.1, gt=0, lt=1)
    a_final: float = Field(1.0, gt=0, le=1)
    n_steps: int = Field(10, ge=1)
    params: dict[str, float] = Field(default_factory=dict)
    cheap: list[CheapKind] = Field(default_factory=lambda: ["cosmo_2lpt", "cosmo_zeldovich"], min_length=1)
    n_pairs: list[int] = Field(default_factory=lambda: [5, 10, 30], min_length=1)
    n_pool: int = Field(300, ge=8, lt=_SEED_STRIDE)
    n_truth: int = Field(200, ge=2, lt=_SEED_STRIDE)
    n_cheap: int = Field(400, ge=2, lt=_SEED_STRIDE)
    k_max: float = Field(0.2, gt=0)
    seed: int = Field(0, ge=0, le=1000)
    chunk_size: int = Field(8, ge=1)
    executor: dict[str, Any] = Field(default_factory=lambda: {"kind": "process", "n_workers": 2})
    run_burgers: bool = True
    burgers: dict[str, Any] | None = None

    @field_validator("n_pairs")
    @classmethod
    def _check_n_pairs(cls, value: list[int]) -> list[int]:
        bad = [n for n in value if n < 4]
        if bad or len(set(value)) != len(value):
            raise ValueError(f"pair counts must be distinct integers >= 4 (a fitted beta needs N >= 4); got {value}")
        return value

    @field_validator("params")
    @classmethod
    def _check_params(cls, value: dict[str, float]) -> dict[str, float]:
        from sciml.simulators.cosmology.simulators import COSMOLOGY_PARAMETERS

        try:
            COSMOLOGY_PARAMETERS.validate(value, source="params")
        except ParameterError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _check_sizes(self) -> CARPoolStudySettings:
        if self.n_pool < 2 * max(self.n_pairs):
            raise ValueError(f"n_pool = {self.n_pool} must hold at least 2 disjoint groups of the largest N = "
                             f"{max(self.n_pairs)} pairs (n_pool >= {2 * max(self.n_pairs)})")
        try:
            for config in simulator_configs(self).values():
                _build(config)
        except (ParameterError, ConfigError) as exc:
            raise ValueError(f"simulator settings: {exc}") from None
        return self

    @property
    def k_half_nyquist(self) -> float:
        """Half the particle Nyquist wavenumber ``pi n_particles / (2 box_size)`` (h/Mpc)."""
        return float(np.pi * self.n_particles / (2.0 * self.box_size))


def as_settings(settings: CARPoolStudySettings | Mapping[str, Any] | None) -> CARPoolStudySettings:
    """``settings`` validated (``None``: the defaults).

    Raises
    ------
    ConfigError
        A bad field: one line per field with the bad value and what is accepted.
    """
    return as_config(settings, CARPoolStudySettings, "CARPool study settings")


def preset_settings(quick: bool) -> CARPoolStudySettings:
    """The benchmark's quick (32^3 particles, 64^3 mesh: minutes on 2 CPU cores) or full sizes."""
    if quick:
        return CARPoolStudySettings()
    return CARPoolStudySettings(box_size=512.0, n_particles=64, n_mesh=128, n_steps=20, n_pool=480, n_truth=480,
                                n_cheap=2000, chunk_size=4)


# ----------------------------------------------------------------------------- runs
def _build(config: Mapping[str, Any]) -> Any:
    from sciml.simulators.registry import build_simulator

    return build_simulator(config, source="carpool study")


def simulator_configs(settings: CARPoolStudySettings) -> dict[str, dict[str, Any]]:
    """The simulator configurations ``{kind: config}`` of the study (PM first, then the cheap ones)."""
    common = {"box_size": settings.box_size, "n_particles": settings.n_particles, "n_mesh": settings.n_mesh,
              "a_final": settings.a_final}
    out = {EXPENSIVE: {"kind": EXPENSIVE, **common, "a_start": settings.a_start, "n_steps": settings.n_steps}}
    out.update({kind: {"kind": kind, **common} for kind in settings.cheap})
    return out


def _set_kinds(settings: CARPoolStudySettings, which: str) -> list[str]:
    return {"pairs": [EXPENSIVE, *settings.cheap], "truth": [EXPENSIVE], "cheap": list(settings.cheap)}[which]


def run_seeds(settings: CARPoolStudySettings, which: str) -> np.ndarray:
    """The seeds of a set (``"pairs"``, ``"truth"`` or ``"cheap"``), disjoint across sets and study seeds.

    Raises
    ------
    ConfigError
        An unknown set (the accepted ones listed).
    """
    if which not in SETS:
        raise ConfigError(f"unknown set of runs {which!r}; accepted: {list(SETS)}")
    n = {"pairs": settings.n_pool, "truth": settings.n_truth, "cheap": settings.n_cheap}[which]
    first = (3 * settings.seed + SETS.index(which)) * _SEED_STRIDE
    return np.arange(first, first + n, dtype=np.int64)


def _run_chunk(job: tuple[dict[str, dict[str, Any]], dict[str, float], list[int]]) -> dict[str, np.ndarray]:
    """P(k) and CPU seconds of each simulator of ``configs`` at each seed (module level: executors map it)."""
    configs, params, seeds = job
    out: dict[str, np.ndarray] = {}
    for kind, config in configs.items():
        sim = _build(config)
        power, cpu = [], []
        for seed in seeds:
            t0 = time.process_time()
            ds = sim.run_power(params, seed=int(seed))
            cpu.append(time.process_time() - t0)
            power.append(ds["power"].values[0, -1])
        out[f"power_{kind}"], out[f"cpu_s_{kind}"] = np.asarray(power), np.asarray(cpu)
        out["k"], out["n_modes"] = ds["k"].values, ds["n_modes"].values
    out["seeds"] = np.asarray(seeds, dtype=np.int64)
    return out


def _load_chunk(path: Path, seeds: Sequence[int], kinds: Sequence[str]) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        data = {k: f[k] for k in f.files}
    if not np.array_equal(data.get("seeds"), np.asarray(seeds)) or any(f"power_{k}" not in data for k in kinds):
        raise ConfigError(f"{path} holds other runs than this study's chunk (seeds {seeds[0]}..{seeds[-1]}, "
                          f"simulators {list(kinds)}); remove it or give another work dir")
    return data


def run_set(settings: CARPoolStudySettings, which: str, *, executor: Any = None, work_dir: str | Path | None = None,
            log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run a set of the study (:func:`run_seeds`) in chunks of ``chunk_size`` seeds through ``executor``.

    With ``work_dir`` each finished chunk is kept (``runs/<set>-<k>.npz``); a rerun loads them and
    runs only the missing chunks.

    Returns
    -------
    dict
        ``power`` ``{kind: (n, B)}`` in (Mpc/h)^3, ``cpu_s`` ``{kind: (n,)}`` (process CPU seconds
        of each run), ``seeds`` ``(n,)``, ``k`` and ``n_modes`` ``(B,)``, ``n_new`` (runs made now).

    Raises
    ------
    ConfigError
        An unknown set, or a kept chunk of other seeds or simulators.
    """
    kinds = _set_kinds(settings, which)
    configs = {k: v for k, v in simulator_configs(settings).items() if k in kinds}
    seeds = run_seeds(settings, which).tolist()
    size = settings.chunk_size
    chunks = [seeds[i:i + size] for i in range(0, len(seeds), size)]
    path = (lambda i: Path(work_dir) / "runs" / f"{which}-{i:04d}.npz") if work_dir is not None else None
    parts: dict[int, dict[str, np.ndarray]] = {}
    for i, chunk in enumerate(chunks):
        if path is not None and path(i).exists():
            parts[i] = _load_chunk(path(i), chunk, kinds)
    todo = [i for i in range(len(chunks)) if i not in parts]
    jobs = [(configs, dict(settings.params), chunks[i]) for i in todo]
    for j, data in (executor or InProcessExecutor(show_progress=False)).map(_run_chunk, jobs, desc=f"{which} runs"):
        parts[todo[j]] = data
        if path is not None:
            with atomic_path(path(todo[j])) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, **data)
    ordered = [parts[i] for i in range(len(chunks))]
    out = {"power": {k: np.concatenate([p[f"power_{k}"] for p in ordered]) for k in kinds},
           "cpu_s": {k: np.concatenate([p[f"cpu_s_{k}"] for p in ordered]) for k in kinds},
           "seeds": np.concatenate([p["seeds"] for p in ordered]), "k": ordered[0]["k"],
           "n_modes": ordered[0]["n_modes"], "n_new": sum(len(chunks[i]) for i in todo)}
    if log is not None:
        log(f"runs {which}: {len(seeds)} seed(s) x {kinds} ({out['n_new']} run now)")
    return out


# ----------------------------------------------------------------------------- estimators
def _center(a: np.ndarray) -> np.ndarray:
    return a - a.mean(axis=0)


def pooled_variance_reduction(y: np.ndarray, c: np.ndarray, cheap: np.ndarray, n: int) -> np.ndarray:
    """Expected per-bin variance reduction of CARPool with ``n`` pairs and the ``M`` cheap runs, from
    moments pooled over all pairs (module docstring).

    Parameters
    ----------
    y, c : ndarray, shape ``(P, B)``
        Expensive and cheap QoIs of ``P >= 4`` pairs.
    cheap : ndarray, shape ``(M, B)``
        Independent cheap QoIs (``M >= 2``).
    n : int
        Pairs per estimate, ``>= 4``.

    Returns
    -------
    ndarray, shape ``(B,)``
        ``(s_y^2 / n) / (f_n s_r^2 / n + beta^2 s_c^2 / M)``; equal to ``carpool(y, c, cheap=cheap)
        .variance_reduction`` at ``n = P``.

    Raises
    ------
    ValueError
        ``n < 4`` or ``P < 4``.
    """
    y, c = np.asarray(y, dtype=np.float64), np.asarray(c, dtype=np.float64)
    p = y.shape[0]
    if n < 4 or p < 4:
        raise ValueError(f"the pooled variance reduction needs n >= 4 and >= 4 pairs; got n={n}, {p} pairs")
    pooled = carpool(y, c, cheap=cheap)
    beta = pooled.beta
    s_r2 = np.sum(_center(y - beta * c) ** 2, axis=0) / (p - 2)
    s_y2 = y.var(axis=0, ddof=1)
    denominator = (n - 2) / (n - 3) * s_r2 / n + beta**2 * pooled.mu_c_variance
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, (s_y2 / n) / np.where(denominator > 0, denominator, 1.0), np.inf)


def group_estimates(y: np.ndarray, c: np.ndarray, cheap: np.ndarray, n: int) -> list[CARPoolEstimate]:
    """:func:`carpool` on each of the ``P // n`` disjoint groups of ``n`` consecutive pairs (``mu_c`` from ``cheap``).

    Raises
    ------
    ValueError
        Fewer than 2 groups.
    """
    groups = y.shape[0] // n
    if groups < 2:
        raise ValueError(f"{y.shape[0]} pairs hold {groups} group(s) of N = {n}; need >= 2")
    return [carpool(y[g * n:(g + 1) * n], c[g * n:(g + 1) * n], cheap=cheap) for g in range(groups)]


def band_bias(estimates: np.ndarray, mu_term_runs: np.ndarray, truth_runs: np.ndarray,
              band: np.ndarray) -> tuple[float, float]:
    """Fractional bias over a band of bins, ``mean_b (x_b / t_b - 1)``, and its value in sigma.

    Parameters
    ----------
    estimates : ndarray, shape ``(G, B)``
        Independent estimates (their mean is tested).
    mu_term_runs : ndarray, shape ``(M, B)``
        ``beta c`` of the cheap runs behind the shared ``mu_c`` (its error is common to the estimates).
    truth_runs : ndarray, shape ``(T, B)``
        The truth runs; ``t`` is their mean.
    band : ndarray of bool, shape ``(B,)``

    Returns
    -------
    (bias, bias_sigma) : float
        ``bias / sqrt(Var_g(u)/G + Var_m(w)/M + Var_t(v)/T)`` with ``u, w, v`` the band means of
        ``x / t``, ``beta c / t`` and ``y / t`` of each run.
    """
    t = truth_runs.mean(axis=0)
    u = (estimates[:, band] / t[band]).mean(axis=1)
    w = (mu_term_runs[:, band] / t[band]).mean(axis=1)
    v = (truth_runs[:, band] / t[band]).mean(axis=1)
    bias = float(u.mean() - 1.0)
    sigma = float(np.sqrt(u.var(ddof=1) / u.size + w.var(ddof=1) / w.size + v.var(ddof=1) / v.size))
    return bias, bias / sigma


def estimator_statistics(y: np.ndarray, c: np.ndarray, cheap: np.ndarray, truth_runs: np.ndarray, n: int,
                         band: np.ndarray) -> dict[str, Any]:
    """Per-bin figures of CARPool with ``n`` pairs against the plain mean of ``n`` PM runs (module docstring).

    Returns
    -------
    dict
        Arrays ``(B,)``: ``variance_reduction`` (pooled formula), ``variance_reduction_groups``
        (empirical), ``variance_reduction_carpool_median`` (median of the groups' own
        :func:`carpool` figure), ``bias_sigma``, ``ratio_to_truth`` and ``ratio_error`` (mean of the
        group estimates over the truth, and its one-sigma error), ``first_ratio``/``first_error`` and
        ``first_plain_ratio``/``first_plain_error`` (group 0's CARPool and plain mean, for the figure);
        scalars ``n_groups``, ``variance_calibration`` (band mean), ``bias_band`` and ``bias_band_sigma``.
    """
    ests = group_estimates(y, c, cheap, n)
    x = np.stack([e.mean for e in ests])
    plain = np.stack([e.plain_mean for e in ests])
    mu_term = np.mean([e.beta**2 * e.mu_c_variance for e in ests], axis=0)
    var_x = x.var(axis=0, ddof=1) + mu_term
    truth = truth_runs.mean(axis=0)
    sigma = np.sqrt(x.var(axis=0, ddof=1) / len(ests) + mu_term + truth_runs.var(axis=0, ddof=1) / len(truth_runs))
    beta_bar = np.mean([e.beta for e in ests], axis=0)
    bias, bias_sigma = band_bias(x, cheap * beta_bar, truth_runs, band)
    first = ests[0]
    return {"n_groups": len(ests),
            "variance_reduction": pooled_variance_reduction(y, c, cheap, n),
            "variance_reduction_groups": plain.var(axis=0, ddof=1) / var_x,
            "variance_reduction_carpool_median": np.median([e.variance_reduction for e in ests], axis=0),
            "variance_calibration": float(np.mean((var_x / np.mean([e.variance for e in ests], axis=0))[band])),
            "bias_sigma": (x.mean(axis=0) - truth) / sigma,
            "ratio_to_truth": x.mean(axis=0) / truth, "ratio_error": sigma / truth,
            "first_ratio": first.mean / truth, "first_error": first.std_error / truth,
            "first_plain_ratio": first.plain_mean / truth, "first_plain_error": np.sqrt(first.plain_variance) / truth,
            "bias_band": bias, "bias_band_sigma": bias_sigma}
