"""``sciml bench potentials``: Bayesian neural-network potentials after Thaler et al. (JCTC 2023).

* **data** — reference MD of the Lennard-Jones fluid (reduced units, rho* = 0.8442, T* = 1,
  108 atoms) and of EMT copper (300 K): three independent runs each (train, validation, test);
* **models** — SchNet (:class:`~sciml.surrogates.potentials.SchNetPotential`) by force matching:
  a deep ensemble (MAP members from different seeds) and SG-MCMC chains (pSGLD by default)
  started from the members; one chain alone is the paper's pitfall;
* **uncertainty** — the spread of forces over weight samples, recalibrated by one variance scale
  fitted on the validation frames, scored on the test frames (:mod:`sciml.uq.calibration`);
* **observables** — one MD per posterior sample, all samples in one batched run
  (:mod:`sciml.surrogates.potentials.batched_md`): the RDF's 95 % band against the reference
  RDF; the batched run's steps/s against sequential ASE runs of the same model and ASE's
  analytic Lennard-Jones calculator.

Checks (computed from this run's rows): MAP force RMSE below 5 % (LJ) and 10 % (EMT) of the
test forces' standard deviation; after recalibration, multi-chain SG-MCMC and the ensemble have
miscalibration area < 0.1 and Spearman > 0.3 (per-atom std vs force error); one chain is worse calibrated (before
recalibration) than all chains; the reference RDF inside the band in >= 90 % of bins; batched
MD over the posterior samples >= 5x faster than sequential ASE runs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pydantic import Field

from sciml.bench.report import BenchReport
from sciml.bench.workdir import claim_work_dir, held
from sciml.config import StrictModel
from sciml.executors import make_executor
from sciml.studies.potentials import (
    POSTERIOR_MD_SIZES,
    PotentialStudySettings,
    chain_subset,
    force_errors,
    force_predictions,
    frames_summary,
    model_factory,
    preset_settings,
    rdf_band,
    reference_frames,
    sample_chains,
    spread_samples,
    train_members,
    uncertainty_metrics,
)
from sciml.surrogates.potentials.batched_md import run_posterior_md
from sciml.surrogates.potentials.md_timing import time_posterior_md
from sciml.surrogates.sgmcmc import WeightSamples
from sciml.uq.calibration import calibration_curve
from sciml.viz.potentials import plot_calibration_curves, plot_rdf_band

__all__ = ["PotentialsBenchSettings", "bench_settings", "run_potentials_benchmark"]


class PotentialsBenchSettings(StrictModel):
    """The systems of one benchmark run and the posterior-MD sizes."""

    lj: PotentialStudySettings
    emt: PotentialStudySettings | None = None
    workers: int = Field(2, ge=1)
    md_samples: int = Field(16, ge=2)
    md_steps: int = Field(400, ge=1)
    md_equilibrate: int = Field(100, ge=0)
    md_stride: int = Field(10, ge=1)
    md_timestep: float = Field(0.005, gt=0)
    speed_steps: int = Field(20, ge=2)
    rdf_bins: int = Field(50, ge=5)


def bench_settings(quick: bool) -> PotentialsBenchSettings:
    """The quick (minutes on 2 CPU cores) or full sizes (:func:`~sciml.studies.potentials.preset_settings`)."""
    return PotentialsBenchSettings(lj=preset_settings("lj", quick), emt=preset_settings("emt", quick),
                                   **POSTERIOR_MD_SIZES[quick])


def _uncertainty_row(base: dict[str, Any], method: str, samples: WeightSamples, state: dict[str, Any],
                     curves: dict[str, Any]) -> dict[str, Any]:
    frames, factory = state["frames"], state["factory"]
    val, test = force_predictions(samples, factory, frames["val"]), force_predictions(samples, factory, frames["test"])
    row = {**base, "method": method, "n_samples": float(len(samples)), **uncertainty_metrics(val, test)}
    mean, var, y = test
    curves[f"{method} (raw)"] = calibration_curve(mean, var, y)
    curves[f"{method} (recalibrated)"] = calibration_curve(mean, row["scale"] * var, y)
    return row


def _system_rows(name: str, s: PotentialStudySettings, executor: Any, root: Path, resume: bool,
                 log: Callable[[str], None]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    frames = reference_frames(s)
    log(f"{name}: reference MD done")
    factory = model_factory(s, frames["train"])
    members = train_members(s, factory, frames["train"], executor=executor, run_dir=str(root / name / "members"),
                            resume=resume)
    log(f"{name}: {len(members)} ensemble member(s) trained")
    base = {"system": name, **frames_summary(frames)}
    rows = [{**base, "method": "map", **force_errors(chain_subset(members, [0]), factory, frames["test"])}]
    state: dict[str, Any] = {"frames": frames, "factory": factory, "members": members}
    if len(members) < 2:
        return rows, state
    curves: dict[str, Any] = {}
    rows.append(_uncertainty_row(base, "ensemble", members, state, curves))
    chains = sample_chains(s, factory, frames["train"], members, executor=executor, run_dir=str(root / name / "chains"),
                           resume=resume)
    log(f"{name}: {len(members)} SG-MCMC chain(s) sampled ({len(chains)} samples)")
    rows.append(_uncertainty_row(base, "sgmcmc_multi_chain", chains, state, curves))
    rows.append(_uncertainty_row(base, "sgmcmc_single_chain", chain_subset(chains, [0]), state, curves))
    plot_calibration_curves(curves, root / f"calibration_{name}.png", title=f"{name}: force uncertainty calibration")
    state["chains"] = chains
    return rows, state


def run_potentials_benchmark(*, quick: bool = False, settings: PotentialsBenchSettings | None = None,
                             work_dir: str | Path | None = None,
                             log: Callable[[str], None] | None = None) -> BenchReport:
    """Run the benchmark (see the module docstring); return the report.

    Parameters
    ----------
    quick : bool
        Small sizes (minutes on 2 CPU cores).
    settings : PotentialsBenchSettings, optional
        Override the mode's sizes (tests use tiny ones).
    work_dir : path, optional
        Keep training runs, chains and figures here (a folder of other settings is refused).
    log : callable, optional
        One line per finished stage (default: print).
    """
    s = settings or bench_settings(quick)
    mode = "custom" if settings is not None else ("quick" if quick else "full")
    say = log or print
    report = BenchReport(benchmark="potentials", mode=mode, config={"settings": s.model_dump()})
    root_dir = None if work_dir is None else claim_work_dir(work_dir, "potentials", mode, s.model_dump())
    threads = max(1, torch.get_num_threads() // s.workers)
    with tempfile.TemporaryDirectory(prefix="sciml-bench-potentials-") as tmp, held(root_dir), \
            make_executor({"kind": "process", "n_workers": s.workers, "threads_per_worker": threads}
                          if s.workers > 1 else {"kind": "inprocess"}) as executor:
        root = Path(root_dir if root_dir is not None else tmp)
        rows, lj_state = _system_rows("lj", s.lj, executor, root, root_dir is not None, say)
        report.results.extend(rows)
        if s.emt is not None:
            emt_rows, _ = _system_rows("emt", s.emt, executor, root, root_dir is not None, say)
            report.results.extend(emt_rows)
        report.results.extend(posterior_md_rows(s, lj_state, root, say))
    add_checks(report)
    return report


# ----------------------------------------------------------------------------- posterior MD
def posterior_md_rows(b: PotentialsBenchSettings, state: dict[str, Any], root: Path,
                      say: Callable[[str], None]) -> list[dict[str, Any]]:
    """The RDF band of MD with ``md_samples`` posterior samples (one batched run) against the reference
    MD, and the batched run's speed against sequential ASE runs and ASE's analytic LJ."""
    s, frames, factory = b.lj, state["frames"], state["factory"]
    samples = spread_samples(state.get("chains", state["members"]), b.md_samples)
    reference = frames["dataset"]
    initial = reference.isel(sample=[2])
    md = run_posterior_md(factory(), samples, initial, temperature=s.params["temperature"], timestep=b.md_timestep,
                          n_steps=b.md_steps, stride=b.md_stride, n_equilibrate=b.md_equilibrate, friction=1.0,
                          seed=s.seed, dtype=torch.float32)
    band = rdf_band(md, reference, min(s.cutoff, 0.5 * float(reference["cell"].values[0, 0, 0, 0])), b.rdf_bins)
    plot_rdf_band(band["r"], band["reference"], band["lower"], band["upper"], root / "rdf_band.png",
                  median=band["median"])
    say(f"lj: posterior MD of {len(samples)} samples done; reference RDF inside the band in "
        f"{100 * band['fraction']:.0f} % of {band['n_scored']} bins")
    speed = time_posterior_md(factory(), samples, initial, temperature=s.params["temperature"],
                              timestep=b.md_timestep, n_steps=b.speed_steps, friction=1.0, seed=s.seed,
                              dtype=torch.float32)
    base = {"system": "lj", "n_samples": float(len(samples))}
    return [{**base, "method": "posterior_md_rdf", "reference_in_band_fraction": band["fraction"],
             "scored_bins": float(band["n_scored"]), "md_steps_per_second": float(md.attrs["steps_per_second"])},
            {**base, "method": "posterior_md_speed", **{k: float(v) for k, v in speed.items()},
             "speedup_vs_sequential_ase": float(speed["speedup"])}]


# ----------------------------------------------------------------------------- checks
def _find(rows: list[dict[str, Any]], system: str, method: str) -> dict[str, Any] | None:
    return next((r for r in rows if r.get("system") == system and r.get("method") == method), None)


def add_checks(report: BenchReport) -> None:
    """The acceptance checks of issue 17 from this run's rows (those whose rows exist)."""
    rows = report.results
    for system, target in (("lj", 0.05), ("emt", 0.10)):
        row = _find(rows, system, "map")
        if row is not None:
            report.add_check(f"map_force_rmse_over_std_{system}", row["rmse_over_std"], "<", target)
    for method in ("sgmcmc_multi_chain", "ensemble"):
        row = _find(rows, "lj", method)
        if row is not None:
            report.add_check(f"miscalibration_area_recalibrated_{method}", row["miscalibration_area_recalibrated"],
                             "<", 0.1)
            report.add_check(f"spearman_atom_{method}", row["spearman_atom"], ">", 0.3)
    single, multi = _find(rows, "lj", "sgmcmc_single_chain"), _find(rows, "lj", "sgmcmc_multi_chain")
    if single is not None and multi is not None:
        report.add_check("miscalibration_area_raw_single_minus_multi_chain",
                         single["miscalibration_area_raw"] - multi["miscalibration_area_raw"], ">", 0.0)
    rdf = _find(rows, "lj", "posterior_md_rdf")
    if rdf is not None:
        report.add_check("rdf_reference_in_band_fraction", rdf["reference_in_band_fraction"], ">=", 0.9)
    speed = _find(rows, "lj", "posterior_md_speed")
    if speed is not None:
        report.add_check("batched_md_speedup_vs_sequential_ase", speed["speedup_vs_sequential_ase"], ">=", 5.0)
