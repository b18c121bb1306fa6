"""The stages of the cosmology CARPool study as rows and figures, shared by ``sciml bench carpool``
and the ``carpool_study`` workflow step.

Each function takes the study's settings (:class:`~sciml.studies.carpool.CARPoolStudySettings`)
and the sets of runs of :func:`~sciml.studies.carpool.run_set` (``{"pairs": ..., "truth": ...,
"cheap": ...}``) and returns plain dict rows with a ``stage`` key: ``runs``, ``truth``, ``carpool``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sciml.errors import ConfigError
from sciml.studies.carpool import EXPENSIVE, SETS, CARPoolStudySettings, estimator_statistics, run_set
from sciml.viz.carpool import plot_power_ratio, plot_variance_reduction

__all__ = ["CHECK_CHEAP", "CHECK_N", "PER_BIN", "SHORT", "carpool_rows", "cpu_per_run", "figures", "run_rows",
           "run_sets"]

#: The estimator the benchmark's cosmology checks read: 2LPT as the cheap run, 10 pairs.
CHECK_CHEAP, CHECK_N = "cosmo_2lpt", 10
#: The per-bin figures of :func:`~sciml.studies.carpool.estimator_statistics` kept in a ``carpool``
#: row (as ``<name>_per_bin`` lists).
PER_BIN = ("variance_reduction", "variance_reduction_groups", "variance_reduction_carpool_median", "bias_sigma",
           "ratio_to_truth", "ratio_error", "first_ratio", "first_error", "first_plain_ratio", "first_plain_error")
#: Short names of the cheap simulators in the figures' legends.
SHORT = {"cosmo_2lpt": "2LPT", "cosmo_zeldovich": "ZA"}

Runs = dict[str, dict[str, Any]]


def run_sets(s: CARPoolStudySettings, executor: Any, work_dir: str | Path | None,
             log: Callable[[str], None] | None) -> tuple[Runs, dict[str, float]]:
    """Every set of :data:`~sciml.studies.carpool.SETS` through :func:`~sciml.studies.carpool.run_set`
    (chunks kept in and reloaded from ``work_dir``), and the wall seconds of each."""
    runs, seconds = {}, {}
    for which in SETS:
        t0 = time.perf_counter()
        runs[which] = run_set(s, which, executor=executor, work_dir=work_dir, log=log)
        seconds[which] = time.perf_counter() - t0
    return runs, seconds


def run_rows(runs: Runs, seconds: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """One ``runs`` row per set: ``n_runs`` and the mean CPU seconds ``cpu_s_<kind>`` of one run of each
    simulator; with ``seconds``, also this call's ``n_new`` (runs made now) and ``wall_s``."""
    rows = []
    for which in SETS:
        r = runs[which]
        now = {"n_new": float(r["n_new"]), "wall_s": seconds[which]} if seconds is not None else {}
        rows.append({"stage": "runs", "set": which, "n_runs": float(len(r["seeds"])), **now,
                     **{f"cpu_s_{k}": float(v.mean()) for k, v in r["cpu_s"].items()}})
    return rows


def cpu_per_run(runs: Runs, kind: str) -> float:
    """Mean CPU seconds of one run of ``kind`` over every set that ran it."""
    values = [r["cpu_s"][kind] for r in runs.values() if kind in r["cpu_s"]]
    return float(np.concatenate(values).mean())


def carpool_rows(s: CARPoolStudySettings, runs: Runs) -> list[dict[str, Any]]:
    """The ``truth`` row and one ``carpool`` row per cheap simulator and pair count.

    A ``carpool`` row holds the per-bin lists of :data:`PER_BIN` (``<name>_per_bin``) and ``k``;
    the minimum variance reduction over the bins below ``k_max`` (``vr_min_k_lt_kmax``, also of the
    empirical and median figures) and up to half the particle Nyquist wavenumber; the band bias and
    the largest per-bin bias in sigma; the CPU seconds of CARPool (``N`` pairs and ``M`` cheap runs,
    and without the ``M`` runs) and of the plain mean at equal accuracy in the band's least-improved
    bin (``N`` times the minimum reduction PM runs), and their ratios.

    Raises
    ------
    ConfigError
        ``k_max`` below the first k bin.
    """
    k = runs["pairs"]["k"]
    truth_runs = runs["truth"]["power"][EXPENSIVE]
    y = runs["pairs"]["power"][EXPENSIVE]
    band, half = k < s.k_max, k <= s.k_half_nyquist
    if not band.any():
        raise ConfigError(f"k_max = {s.k_max:g} h/Mpc lies below the first k bin ({k[0]:.4g} h/Mpc): no bin to check")
    rows: list[dict[str, Any]] = [{
        "stage": "truth", "n_runs": float(len(truth_runs)), "k": k.tolist(),
        "n_modes": runs["pairs"]["n_modes"].tolist(), "power": truth_runs.mean(axis=0).tolist(),
        "power_error": (truth_runs.std(axis=0, ddof=1) / np.sqrt(len(truth_runs))).tolist()}]
    t_pm = cpu_per_run(runs, EXPENSIVE)
    m = s.n_cheap
    for kind in s.cheap:
        c, cheap = runs["pairs"]["power"][kind], runs["cheap"]["power"][kind]
        t_c = cpu_per_run(runs, kind)
        for n in s.n_pairs:
            st = estimator_statistics(y, c, cheap, truth_runs, n, band)
            vr_min = float(st["variance_reduction"][band].min())
            cpu_carpool, cpu_plain = n * (t_pm + t_c) + m * t_c, n * vr_min * t_pm
            rows.append({
                "stage": "carpool", "cheap": kind, "n_pairs": float(n), "n_cheap": float(m),
                "n_groups": float(st["n_groups"]), "k_max": s.k_max, "k_half_nyquist": s.k_half_nyquist,
                "vr_min_k_lt_kmax": vr_min,
                "vr_min_half_nyquist": float(st["variance_reduction"][half].min()) if half.any() else float("nan"),
                "vr_groups_min_k_lt_kmax": float(st["variance_reduction_groups"][band].min()),
                "vr_carpool_median_min_k_lt_kmax": float(st["variance_reduction_carpool_median"][band].min()),
                "variance_calibration": st["variance_calibration"],
                "bias_band": st["bias_band"], "bias_band_sigma": st["bias_band_sigma"],
                "max_abs_bias_sigma": float(np.abs(st["bias_sigma"][band]).max()),
                "n_bins_beyond_2sigma": float(np.sum(np.abs(st["bias_sigma"][band]) > 2.0)),
                "n_bins_band": float(band.sum()),
                "cpu_s_pm": t_pm, "cpu_s_cheap": t_c, "cpu_s_carpool": cpu_carpool,
                "cpu_s_carpool_without_mu_c": n * (t_pm + t_c), "n_pm_equal": n * vr_min,
                "cpu_s_plain_equal": cpu_plain, "cpu_speedup": cpu_plain / cpu_carpool,
                "cpu_speedup_mu_c_amortised": cpu_plain / (n * (t_pm + t_c)),
                "k": k.tolist(), **{f"{key}_per_bin": np.asarray(st[key]).tolist() for key in PER_BIN}})
    return rows


def figures(folder: str | Path, s: CARPoolStudySettings, rows: list[dict[str, Any]],
            prefix: str = "") -> dict[str, Path]:
    """The CARPool figures of the ``truth`` and ``carpool`` rows of :func:`carpool_rows`.

    Writes ``<folder>/<prefix>variance_reduction.png`` (the pooled variance reduction against k per
    cheap simulator and ``N``, the factor-1 line, ``k_max`` and half the particle Nyquist
    wavenumber) and ``<prefix>power_ratio.png`` (P(k) over the truth with one-sigma bands: the
    plain mean of one group of ``N`` PM runs and its CARPool estimates, ``N`` the pair count
    nearest :data:`CHECK_N`). Returns ``{"variance_reduction": path, "power_ratio": path}``.
    """
    folder = Path(folder)
    cp = [r for r in rows if r["stage"] == "carpool"]
    truth = next(r for r in rows if r["stage"] == "truth")
    k = np.asarray(cp[0]["k"])
    curves = {f"{SHORT[r['cheap']]}, N={int(r['n_pairs'])}": np.asarray(r["variance_reduction_per_bin"]) for r in cp}
    out = {"variance_reduction": plot_variance_reduction(
        k, curves, folder / f"{prefix}variance_reduction.png",
        marks={"k_max": s.k_max, "k_Nyq,p / 2": s.k_half_nyquist},
        title=f"CARPool: PM vs cheap runs, M = {s.n_cheap} cheap runs for mu_c")}
    n_fig = min(s.n_pairs, key=lambda n: (abs(n - CHECK_N), n))  # the pair count nearest the checks'
    ratios = {}
    for r in cp:
        if int(r["n_pairs"]) == n_fig:
            if not ratios:
                ratios[f"plain mean of {n_fig} PM"] = (r["first_plain_ratio_per_bin"], r["first_plain_error_per_bin"])
            ratios[f"CARPool {SHORT[r['cheap']]}, N={n_fig}"] = (r["first_ratio_per_bin"], r["first_error_per_bin"])
    out["power_ratio"] = plot_power_ratio(
        k, ratios, folder / f"{prefix}power_ratio.png",
        title=f"P(k) / truth ({int(truth['n_runs'])} PM runs), one group of {n_fig} pairs")
    return out
