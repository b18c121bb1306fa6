"""``sciml bench wgan``: a mechanical submodel driven by a WGAN-GP (Boukraichi et al., 2022).

The stages of :mod:`sciml.studies.wgan_submodel`, one row or more each (``stage``):

* ``campaign`` — full-model runs (plate with a hole, random loads and materials) through the
  executor: the training set and the held-out set;
* ``generator`` — the WGAN-GP (one per seed) and the Gaussian-PCA baseline, conditioned on the material;
* ``swd`` — sliced Wasserstein distance of generated to held-out histories per seed, its mean and
  spread; the training set's own distance to the held-out set as the floor;
* ``qoi`` — per QoI, the estimates (mean, 95 % quantile, exceedance of the training set's
  ``exceedance_quantile``, with 95 % intervals) of the submodel Monte Carlo driven by each
  generator and of the full model on the held-out runs, with the relative errors;
* ``timing`` — per-sample seconds of the full model and of the submodel (and the submodel's error
  on the true histories), per-step seconds of Newmark with the operator assembled once or every step.

Checks (from this run's rows): submodel at least 5x faster per sample; for each QoI, the WGAN-driven
submodel's mean within 5 % and 95 % quantile within 10 % of the full model's on the held-out runs;
the mean sliced Wasserstein distance over the seeds below the Gaussian-PCA's (ratio < 1); the
assemble-once Newmark step at least 3x faster than reassembling.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sciml.bench.report import BenchReport
from sciml.bench.workdir import claim_work_dir, held
from sciml.data.atomic import atomic_path
from sciml.executors import make_executor
from sciml.studies.wgan_submodel import (
    QOIS,
    WGANStudySettings,
    as_settings,
    campaign_arrays,
    fit_gaussian_pca,
    generate_histories,
    history_distance,
    material_draws,
    parameter_draws,
    preset_settings,
    qoi_estimates,
    run_campaign,
    submodel_qois,
    time_newmark_steps,
    time_per_sample,
    train_wgan,
)
from sciml.viz.wgan import plot_history_bands, plot_qoi_histograms, plot_training_curves

__all__ = ["add_checks", "run_wgan_benchmark"]

WGAN, GPCA, FULL = "submodel_wgan", "submodel_gaussian_pca", "full_model_heldout"

#: Columns of the printed table (the JSON rows have every figure).
TABLE_COLUMNS = ["stage", "split", "model", "seed", "qoi", "source", "what", "n_runs", "n", "swd_mean", "swd_std",
                 "mean", "mean_rel_error", "q95", "q95_rel_error", "exceedance", "full_s", "submodel_s",
                 "reuse_s", "reassemble_s", "speedup", "transfer_rel_error", "wall_s"]


def _train_job(job: tuple[WGANStudySettings, np.ndarray, np.ndarray, int, str | None]) -> Any:
    """One WGAN-GP training (the module-level function executors map)."""
    settings, histories, material, seed, run_dir = job
    return train_wgan(settings, histories, material, seed=seed, run_dir=run_dir)


def _campaign_rows(s: WGANStudySettings, data: dict[str, dict[str, np.ndarray]],
                   seconds: dict[str, float]) -> list[dict[str, Any]]:
    rows = []
    for split in ("train", "test"):
        d = data[split]
        rows.append({"stage": "campaign", "split": split, "n_runs": float(len(d["histories"])),
                     "wall_s": seconds[split], "history_values": float(np.prod(d["histories"].shape[1:])),
                     **{f"{q}_mean": float(d[q].mean()) for q in QOIS}})
    return rows


def _training_executor(s: WGANStudySettings) -> dict[str, Any]:
    """The executor of the WGAN-GP trainings: a local pool gets one single-threaded worker per seed,
    so that no core idles while the last seeds train."""
    spec = dict(s.executor)
    if spec.get("kind") in ("process", "dask") and spec.get("address") is None:
        spec.update({"n_workers": max(int(spec.get("n_workers", 2)), len(s.wgan_seeds)), "threads_per_worker": 1})
    return spec


def _train_generators(s: WGANStudySettings, train: dict[str, np.ndarray], root: Path | None,
                      say: Callable[[str], None]) -> tuple[dict[int, Any], Any, list[dict[str, Any]]]:
    """The WGAN-GPs (one per seed, through the executor) and the Gaussian-PCA baseline, and their rows."""
    jobs = [(s, train["histories"], train["material"], seed,
             None if root is None else str(root / "wgan" / f"seed_{seed}")) for seed in s.wgan_seeds]
    t0 = time.perf_counter()
    trained: dict[int, Any] = {}
    with make_executor(_training_executor(s)) as executor:
        for i, gan in executor.map(_train_job, jobs, desc="WGAN-GP seeds"):
            trained[s.wgan_seeds[i]] = gan
    gans = {seed: trained[seed] for seed in s.wgan_seeds}
    wall = time.perf_counter() - t0
    gpca = fit_gaussian_pca(s, train["histories"], train["material"])
    say(f"generators: {len(gans)} WGAN-GP seed(s) trained in {wall:.0f} s; Gaussian-PCA with "
        f"{gpca.basis.n_components} component(s)")
    rows = [{"stage": "generator", "model": "wgan_gp", "seed": float(seed), "n_steps": float(gan.config.n_steps),
             "n_components": float(gan.modules.generator.get_config()["n_components"]),
             "final_wasserstein_estimate": float(gan.history[-1]["wasserstein"]) if gan.history else float("nan"),
             "wall_s_all_seeds": wall} for seed, gan in gans.items()]
    rows.append({"stage": "generator", "model": "gaussian_pca", "n_components": float(gpca.basis.n_components)})
    return gans, gpca, rows


def _swd_rows(s: WGANStudySettings, gans: dict[int, Any], gpca: Any, train: dict[str, np.ndarray],
              test: dict[str, np.ndarray]) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Per seed ``k``: the WGAN-GP of seed ``k`` and the Gaussian-PCA draw ``k`` against the held-out
    histories, on the same directions (seed ``k``); the rows and seed 0's draws for the figure."""
    shape, ref = test["histories"].shape[1:], test["histories"]
    per: dict[str, list[float]] = {"wgan_gp": [], "gaussian_pca": [], "training_set": []}
    draws: dict[str, np.ndarray] = {}
    for seed, gan in gans.items():
        for name, gen in (("wgan_gp", gan), ("gaussian_pca", gpca)):
            h = generate_histories(gen, test["material"], shape, seed=seed)
            draws.setdefault(name, h)
            per[name].append(history_distance(s, h, ref, seed=seed))
        per["training_set"].append(history_distance(s, train["histories"], ref, seed=seed))
    rows = []
    for name, values in per.items():
        v = np.asarray(values)
        rows.append({"stage": "swd", "model": name, "n_seeds": float(v.size), "swd_mean": float(v.mean()),
                     "swd_std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "swd_min": float(v.min()),
                     "swd_max": float(v.max()), **{f"swd_seed_{k}": float(x) for k, x in zip(gans, v)}})
    return rows, draws


def _mc_qois(s: WGANStudySettings, name: str, generator: Any, executor: Any, root: Path | None,
             shape: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """The submodel Monte Carlo driven by ``generator`` (kept as ``mc_<name>.npz`` in the work dir)."""
    path = None if root is None else root / f"mc_{name}.npz"
    if path is not None and path.exists():
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    material = material_draws(s)
    histories = generate_histories(generator, material, shape, seed=s.seed)
    out = {"material": material, **submodel_qois(s, histories, material, executor=executor)}
    if path is not None:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **out)
    return out


def _qoi_rows(s: WGANStudySettings, train: dict[str, np.ndarray], test: dict[str, np.ndarray],
              mc: dict[str, dict[str, np.ndarray]]) -> list[dict[str, Any]]:
    rows = []
    for q in QOIS:
        threshold = float(np.quantile(train[q], s.exceedance_quantile))
        ref = qoi_estimates(test[q], threshold)
        rows.append({"stage": "qoi", "qoi": q, "source": FULL, **ref})
        for source, values in mc.items():
            est = qoi_estimates(values[q], threshold)
            rows.append({"stage": "qoi", "qoi": q, "source": source, **est,
                         "mean_rel_error": abs(est["mean"] - ref["mean"]) / abs(ref["mean"]),
                         "q95_rel_error": abs(est["q95"] - ref["q95"]) / abs(ref["q95"]),
                         "exceedance_abs_error": abs(est["exceedance"] - ref["exceedance"])})
    return rows


def _timing_rows(s: WGANStudySettings, say: Callable[[str], None]) -> list[dict[str, Any]]:
    points = parameter_draws(s, "test", s.timing_samples)
    per_sample = time_per_sample(s, points)
    say(f"timing: full model {per_sample['full_s']:.3f} s, submodel {per_sample['submodel_s']:.3f} s per sample "
        f"({per_sample['speedup']:.1f}x)")
    steps = time_newmark_steps(s, points[0])
    say(f"timing: Newmark step {steps['reuse_s'] * 1e3:.2f} ms assembled once, {steps['reassemble_s'] * 1e3:.2f} ms "
        f"reassembled ({steps['speedup']:.1f}x)")
    return [{"stage": "timing", "what": "per_sample", **per_sample},
            {"stage": "timing", "what": "newmark_step", **steps}]


def _figures(root: Path, s: WGANStudySettings, test: dict[str, np.ndarray], draws: dict[str, np.ndarray],
             mc: dict[str, dict[str, np.ndarray]], gans: dict[int, Any]) -> None:
    ref = test["histories"]
    n_t, n_points, _ = ref.shape[1:]
    spread = ref.reshape(len(ref), n_t, -1).std(axis=(0, 1))
    k = int(np.argmax(spread))
    point, comp = divmod(k, 2)
    times = np.linspace(0.0, s.t_final, n_t)
    sets = {"full model (held-out)": ref[:, :, point, comp], "WGAN-GP": draws["wgan_gp"][:, :, point, comp],
            "Gaussian-PCA": draws["gaussian_pca"][:, :, point, comp]}
    plot_history_bands(times, sets, root / "histories.png", ylabel=f"u_{'xy'[comp]} at interface point {point}",
                       title="interface histories given the held-out materials")
    samples = {"full model (held-out)": {q: test[q] for q in QOIS}}
    samples.update({("submodel + WGAN-GP" if name == WGAN else "submodel + Gaussian-PCA"): {q: v[q] for q in QOIS}
                    for name, v in mc.items()})
    plot_qoi_histograms(samples, root / "qoi_histograms.png")
    plot_training_curves({f"seed {seed}": gan.history for seed, gan in gans.items()}, root / "wgan_training.png")


def run_wgan_benchmark(*, quick: bool = False, settings: WGANStudySettings | dict[str, Any] | None = None,
                       work_dir: str | Path | None = None, log: Callable[[str], None] | None = None) -> BenchReport:
    """Run the benchmark (see the module docstring); return the report.

    Parameters
    ----------
    quick : bool
        Small sizes (minutes on 2 CPU cores).
    settings : WGANStudySettings or mapping, optional
        Override the mode's sizes (tests use tiny ones).
    work_dir : path, optional
        Keep the campaigns, WGAN-GP runs, Monte Carlo samples and figures here; a rerun reuses
        them (a folder of other settings is refused).
    log : callable, optional
        One line per finished stage (default: print).

    Raises
    ------
    ConfigError
        Bad settings, or a work dir of other settings.
    """
    start = time.perf_counter()
    s = as_settings(settings) if settings is not None else preset_settings(quick)
    mode = "custom" if settings is not None else ("quick" if quick else "full")
    say = log or print
    report = BenchReport(benchmark="wgan", mode=mode, config={"settings": s.model_dump(mode="json"),
                                                               "interface_points": s.interface_points},
                         table_columns=TABLE_COLUMNS)
    root_dir = None if work_dir is None else claim_work_dir(work_dir, "wgan", mode, s.model_dump(mode="json"))
    with tempfile.TemporaryDirectory(prefix="sciml-bench-wgan-") as tmp, held(root_dir), \
            make_executor(dict(s.executor)) as executor:
        root = Path(root_dir if root_dir is not None else tmp)
        data, seconds = {}, {}
        for split in ("train", "test"):
            t0 = time.perf_counter()
            ds = run_campaign(s, split, executor=executor, work_dir=root_dir, log=say)
            data[split], seconds[split] = campaign_arrays(ds), time.perf_counter() - t0
        report.results.extend(_campaign_rows(s, data, seconds))
        gans, gpca, rows = _train_generators(s, data["train"], root_dir, say)
        report.results.extend(rows)
        swd, draws = _swd_rows(s, gans, gpca, data["train"], data["test"])
        report.results.extend(swd)
        say("sliced Wasserstein distance to the held-out histories: "
            + ", ".join(f"{r['model']} {r['swd_mean']:.3g} +- {r['swd_std']:.2g}" for r in swd))
        shape = data["test"]["histories"].shape[1:]
        first = gans[s.wgan_seeds[0]]
        mc = {name: _mc_qois(s, name, gen, executor, root_dir, shape) for name, gen in ((WGAN, first), (GPCA, gpca))}
        report.results.extend(_qoi_rows(s, data["train"], data["test"], mc))
        say(f"submodel Monte Carlo: {s.n_mc} sample(s) per generator")
        report.results.extend(_timing_rows(s, say))
        _figures(root, s, data["test"], draws, mc, gans)
    report.results.append({"stage": "total", "wall_s": time.perf_counter() - start})
    add_checks(report)
    return report


# ----------------------------------------------------------------------------- checks
def _find(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items())), None)


def add_checks(report: BenchReport) -> None:
    """The acceptance checks of issue 18 from this run's rows (those whose rows exist)."""
    rows = report.results
    per_sample = _find(rows, stage="timing", what="per_sample")
    if per_sample is not None:
        report.add_check("submodel_speedup_per_sample", per_sample["full_s"] / per_sample["submodel_s"], ">=", 5.0)
    for q in QOIS:
        ref, wgan = _find(rows, stage="qoi", qoi=q, source=FULL), _find(rows, stage="qoi", qoi=q, source=WGAN)
        if ref is None or wgan is None:
            continue
        report.add_check(f"wgan_submodel_mean_rel_error_{q}", abs(wgan["mean"] - ref["mean"]) / abs(ref["mean"]),
                         "<=", 0.05)
        report.add_check(f"wgan_submodel_q95_rel_error_{q}", abs(wgan["q95"] - ref["q95"]) / abs(ref["q95"]),
                         "<=", 0.10)
    swd_w, swd_g = _find(rows, stage="swd", model="wgan_gp"), _find(rows, stage="swd", model="gaussian_pca")
    if swd_w is not None and swd_g is not None:
        report.add_check("swd_mean_ratio_wgan_over_gaussian_pca", swd_w["swd_mean"] / swd_g["swd_mean"], "<", 1.0)
    step = _find(rows, stage="timing", what="newmark_step")
    if step is not None:
        report.add_check("newmark_assemble_once_speedup_per_step", step["reassemble_s"] / step["reuse_s"], ">=", 3.0)
