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


from sciml.bench.report import BenchReport
from sciml.bench.workdir import claim_work_dir, held
from sciml.executors import make_executor
from sciml.studies.wgan_submodel import (
    QOIS,
    WGANStudySettings,
    as_settings,
    campaign_arrays,
    parameter_draws,
    preset_settings,
    run_campaign,
    time_newmark_steps,
    time_per_sample,
)
from sciml.studies.wgan_submodel_stages import (
    FULL,
    GPCA,
    WGAN,
    campaign_rows,
    figures,
    mc_qois,
    qoi_rows,
    swd_rows,
    train_generators,
)

__all__ = ["add_checks", "run_wgan_benchmark"]

#: Columns of the printed table (the JSON rows have every figure).
TABLE_COLUMNS = ["stage", "split", "model", "seed", "qoi", "source", "what", "n_runs", "n", "swd_mean", "swd_std",
                 "mean", "mean_rel_error", "q95", "q95_rel_error", "exceedance", "full_s", "submodel_s",
                 "reuse_s", "reassemble_s", "speedup", "transfer_rel_error", "wall_s"]


def _training_executor(s: WGANStudySettings) -> dict[str, Any]:
    """The executor of the WGAN-GP trainings: a local pool gets one single-threaded worker per seed,
    so that no core idles while the last seeds train."""
    spec = dict(s.executor)
    if spec.get("kind") in ("process", "dask") and spec.get("address") is None:
        spec.update({"n_workers": max(int(spec.get("n_workers", 2)), len(s.wgan_seeds)), "threads_per_worker": 1})
    return spec


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
        report.results.extend(campaign_rows(data, seconds))
        t0 = time.perf_counter()
        with make_executor(_training_executor(s)) as training:
            gans, gpca, rows = train_generators(s, data["train"], training, root_dir, say)
        report.results.extend({**r, "wall_s_all_seeds": time.perf_counter() - t0} if r["model"] == "wgan_gp" else r
                              for r in rows)
        swd, draws = swd_rows(s, gans, gpca, data["train"], data["test"])
        report.results.extend(swd)
        say("sliced Wasserstein distance to the held-out histories: "
            + ", ".join(f"{r['model']} {r['swd_mean']:.3g} +- {r['swd_std']:.2g}" for r in swd))
        shape = data["test"]["histories"].shape[1:]
        mc = {name: mc_qois(s, name, gen, executor, root_dir, shape)[0]
              for name, gen in ((WGAN, gans[s.wgan_seeds[0]]), (GPCA, gpca))}
        report.results.extend(qoi_rows(s, data["train"], data["test"], mc))
        say(f"submodel Monte Carlo: {s.n_mc} sample(s) per generator")
        report.results.extend(_timing_rows(s, say))
        figures(root, "", s, data["test"], draws, mc, gans)
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
