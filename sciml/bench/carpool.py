"""``sciml bench carpool``: CARPool control variates for P(k) (PM with 2LPT / Zel'dovich) and Burgers/CAPE.

Stages (rows ``stage``):

* ``runs`` — the sets of :mod:`sciml.studies.carpool` through the executor: ``n_pool`` paired
  PM / cheap runs, ``n_truth`` PM runs (the large-N truth), ``n_cheap`` independent cheap runs
  (``mu_c``), with the mean CPU seconds of one run of each simulator;
* ``truth`` — the truth's P(k) and its error per bin;
* ``carpool`` — per cheap simulator and pair count ``N``: the variance reduction against the plain
  mean of ``N`` PM runs per bin (pooled formula, empirical over disjoint groups, and the median of
  the groups' own figures; :func:`~sciml.studies.carpool.estimator_statistics`), its minimum over
  the bins below ``k_max`` and up to half the particle Nyquist wavenumber, the bias against the
  truth in sigma, and the CPU seconds of CARPool (``N`` pairs and ``M`` cheap runs; and without the
  ``M`` runs, ``mu_c`` being reusable) and of the plain mean at equal accuracy in the band's
  least-improved bin (``N`` times the minimum reduction PM runs);
* ``burgers_cape`` — the rows of :func:`sciml.studies.carpool_burgers.burgers_cape_pair` (a
  CAPE-FNO as the control variate of the Burgers solver).

The rows and figures are those of :mod:`sciml.studies.carpool_stages` (shared with the
``carpool_study`` workflow step).

Checks (from this run's rows; issue 19 item 5): with 2LPT and ``N = 10``, the variance reduction
at least 4 in every bin below ``k_max`` (0.2 h/Mpc) and at least 2 up to half the particle
Nyquist wavenumber, the band-averaged bias within 2 sigma; the Burgers/CAPE pair's variance
reduction (its ``summary`` row: :func:`carpool`'s figure on its pairs, and the empirical one over
disjoint groups when the row has it) at least 3.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sciml.bench.report import BenchReport, Reference
from sciml.bench.workdir import claim_work_dir, held
from sciml.executors import make_executor
from sciml.studies.carpool import CARPoolStudySettings, as_settings, preset_settings
from sciml.studies.carpool_burgers import burgers_cape_pair
from sciml.studies.carpool_stages import CHECK_CHEAP, CHECK_N, carpool_rows, figures, run_rows, run_sets

__all__ = ["CHECK_CHEAP", "CHECK_N", "add_checks", "carpool_rows", "run_carpool_benchmark"]

#: Columns of the printed table (the JSON rows also carry the per-bin lists, ``*_per_bin``).
TABLE_COLUMNS = ["stage", "set", "cheap", "n_pairs", "n_groups", "n_runs", "vr_min_k_lt_kmax", "vr_min_half_nyquist",
                 "vr_groups_min_k_lt_kmax", "variance_calibration", "bias_band_sigma", "max_abs_bias_sigma",
                 "cpu_s_carpool", "cpu_s_plain_equal", "cpu_speedup", "cpu_speedup_mu_c_amortised", "what",
                 "variance_reduction", "bias_sigma", "wall_s"]


def _burgers_rows(s: CARPoolStudySettings, quick: bool, executor: Any, root: Path | None,
                  say: Callable[[str], None]) -> list[dict[str, Any]]:
    """The Burgers/CAPE pair's rows (:func:`~sciml.studies.carpool_burgers.burgers_cape_pair`), if ``run_burgers``."""
    if not s.run_burgers:
        return []
    rows = burgers_cape_pair(s.burgers, quick=quick, executor=executor,
                             work_dir=None if root is None else root / "burgers", log=say)
    return [dict(r) for r in rows]


def run_carpool_benchmark(*, quick: bool = False, settings: CARPoolStudySettings | dict[str, Any] | None = None,
                          work_dir: str | Path | None = None, log: Callable[[str], None] | None = None) -> BenchReport:
    """Run the benchmark (see the module docstring); return the report.

    Parameters
    ----------
    quick : bool
        32^3 particles on a 64^3 mesh (minutes on 2 CPU cores).
    settings : CARPoolStudySettings or mapping, optional
        Override the mode's sizes (tests use tiny ones).
    work_dir : path, optional
        Keep the runs and figures here; a rerun reuses them (a folder of other settings is refused).
    log : callable, optional
        One line per finished stage (default: print).

    Raises
    ------
    ConfigError
        Bad settings, a work dir of other settings, or ``k_max`` below the first k bin.
    """
    start = time.perf_counter()
    s = as_settings(settings) if settings is not None else preset_settings(quick)
    mode = "custom" if settings is not None else ("quick" if quick else "full")
    say = log or print
    report = BenchReport(benchmark="carpool", mode=mode, config={"settings": s.model_dump(mode="json"),
                                                                  "k_half_nyquist": s.k_half_nyquist},
                         table_columns=TABLE_COLUMNS)
    root_dir = None if work_dir is None else claim_work_dir(work_dir, "carpool", mode, s.model_dump(mode="json"))
    with tempfile.TemporaryDirectory(prefix="sciml-bench-carpool-") as tmp, held(root_dir), \
            make_executor(dict(s.executor)) as executor:
        runs, seconds = run_sets(s, executor, root_dir, say)
        report.results.extend(run_rows(runs, seconds))
        rows = carpool_rows(s, runs)
        report.results.extend(rows)
        for r in rows[1:]:
            say(f"carpool {r['cheap']} N={int(r['n_pairs'])}: variance reduction >= {r['vr_min_k_lt_kmax']:.3g} "
                f"for k < {s.k_max:g}, bias {r['bias_band_sigma']:+.2f} sigma, CPU {r['cpu_speedup']:.3g}x")
        figures(Path(root_dir if root_dir is not None else tmp), s, rows)
        report.results.extend(_burgers_rows(s, mode != "full", executor, root_dir, say))
    report.results.append({"stage": "total", "wall_s": time.perf_counter() - start})
    add_references(report)
    add_checks(report)
    return report


def add_references(report: BenchReport) -> None:
    """Figures from the literature (not checks)."""
    report.add_reference(Reference(
        name="chartier2021_carpool_power_variance_reduction", value=100.0, units="x",
        source="Chartier, Wandelt, Akrami, Villaescusa-Navarro, CARPool, MNRAS 503 (2021) 1897 (abstract)",
        date="2021-05",
        note="~100-fold variance reduction of the matter P(k) up to k ~ 1.2 h/Mpc with a handful of GADGET-III "
             "N-body runs paired with COLA surrogates; far larger in the nearly linear regime"))


def _find(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items())), None)


def add_checks(report: BenchReport) -> None:
    """The acceptance checks of issue 19 item 5 from this run's rows (those whose rows exist)."""
    rows = report.results
    row = _find(rows, stage="carpool", cheap=CHECK_CHEAP, n_pairs=float(CHECK_N))
    if row is not None:
        kmax = f"{row['k_max']:g}"
        report.add_check(f"carpool_2lpt_N10_variance_reduction_min_k_lt_{kmax}", row["vr_min_k_lt_kmax"], ">=", 4.0)
        report.add_check("carpool_2lpt_N10_variance_reduction_min_to_half_particle_nyquist",
                         row["vr_min_half_nyquist"], ">=", 2.0)
        report.add_check(f"carpool_2lpt_N10_abs_bias_sigma_k_lt_{kmax}", abs(row["bias_band_sigma"]), "<=", 2.0)
    summary = _find(rows, stage="burgers_cape", what="summary")
    if summary is not None:
        report.add_check("burgers_cape_variance_reduction", float(summary["variance_reduction"]), ">=", 3.0)
        if "variance_reduction_empirical" in summary:  # the same bar on the disjoint-group figure of its pool
            report.add_check("burgers_cape_variance_reduction_empirical",
                             float(summary["variance_reduction_empirical"]), ">=", 3.0)
