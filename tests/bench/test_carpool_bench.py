"""``sciml bench carpool`` on tiny settings: every stage runs, the variance reductions and biases in the rows
are those of :func:`~sciml.uq.control_variates.carpool` on the runs' own arrays, the checks read the rows,
a rerun reuses the runs, and the Burgers/CAPE pair is called only when its module is there."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sciml.bench import carpool as bench_carpool
from sciml.bench.carpool import add_checks, run_carpool_benchmark
from sciml.bench.report import BenchReport
from sciml.errors import ConfigError
from sciml.studies.carpool import CARPoolStudySettings, group_estimates, pooled_variance_reduction, run_set
from sciml.uq.control_variates import carpool

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def tiny(**update) -> CARPoolStudySettings:
    cfg = dict(n_particles=8, n_mesh=8, n_steps=2, n_pool=16, n_truth=4, n_cheap=5, n_pairs=[4, 8], chunk_size=4,
               executor={"kind": "inprocess"}, run_burgers=False)
    cfg.update(update)
    return CARPoolStudySettings(**cfg)


def _row(report: BenchReport, **match) -> dict:
    rows = [r for r in report.results if all(r.get(k) == v for k, v in match.items())]
    assert len(rows) == 1, (match, rows)
    return rows[0]


def test_tiny_benchmark_rows_are_carpool_on_its_own_runs(tmp_path):
    lines: list[str] = []
    s = tiny()
    report = run_carpool_benchmark(settings=s, work_dir=tmp_path / "wd", log=lines.append)
    assert [r["stage"] for r in report.results] == ["runs"] * 3 + ["truth"] + ["carpool"] * 4 + ["total"]
    assert [_row(report, stage="runs", set=w)["n_runs"] for w in ("pairs", "truth", "cheap")] == [16.0, 4.0, 5.0]
    runs = {w: run_set(s, w, work_dir=tmp_path / "wd") for w in ("pairs", "truth", "cheap")}
    assert all(r["n_new"] == 0 for r in runs.values())
    k = runs["pairs"]["k"]
    band = k < 0.2
    y, truth = runs["pairs"]["power"]["cosmo_pm"], runs["truth"]["power"]["cosmo_pm"]
    np.testing.assert_allclose(_row(report, stage="truth")["power"], truth.mean(0), rtol=1e-12)
    t_pm = np.concatenate([runs["pairs"]["cpu_s"]["cosmo_pm"], runs["truth"]["cpu_s"]["cosmo_pm"]]).mean()
    for kind in ("cosmo_2lpt", "cosmo_zeldovich"):
        c, cheap = runs["pairs"]["power"][kind], runs["cheap"]["power"][kind]
        t_c = np.concatenate([runs["pairs"]["cpu_s"][kind], runs["cheap"]["cpu_s"][kind]]).mean()
        for n in (4, 8):
            row = _row(report, stage="carpool", cheap=kind, n_pairs=float(n))
            vr = pooled_variance_reduction(y, c, cheap, n)
            np.testing.assert_allclose(row["variance_reduction_per_bin"], vr, rtol=1e-12)
            assert row["vr_min_k_lt_kmax"] == pytest.approx(vr[band].min(), rel=1e-12)
            groups = group_estimates(y, c, cheap, n)
            assert row["n_groups"] == 16 // n
            np.testing.assert_allclose(row["variance_reduction_carpool_median_per_bin"],
                                       np.median([g.variance_reduction for g in groups], axis=0), rtol=1e-12)
            x = np.stack([g.mean for g in groups])
            mu_term = np.mean([g.beta**2 * g.mu_c_variance for g in groups], axis=0)
            sigma = np.sqrt(x.var(0, ddof=1) / len(groups) + mu_term + truth.var(0, ddof=1) / 4)
            np.testing.assert_allclose(row["bias_sigma_per_bin"], (x.mean(0) - truth.mean(0)) / sigma, rtol=1e-10)
            assert row["max_abs_bias_sigma"] == pytest.approx(np.abs(row["bias_sigma_per_bin"])[band].max(), rel=1e-12)
            assert row["cpu_s_carpool"] == pytest.approx(n * (t_pm + t_c) + 5 * t_c, rel=1e-12)
            assert row["cpu_s_plain_equal"] == pytest.approx(n * vr[band].min() * t_pm, rel=1e-12)
            assert row["cpu_speedup_mu_c_amortised"] == pytest.approx(row["cpu_s_plain_equal"] / (n * (t_pm + t_c)))
            assert all(math.isfinite(v) for v in row.values() if isinstance(v, float))
    # with 16 pairs the pooled formula at N = 16 is carpool's own figure
    c, cheap = runs["pairs"]["power"]["cosmo_2lpt"], runs["cheap"]["power"]["cosmo_2lpt"]
    np.testing.assert_allclose(pooled_variance_reduction(y, c, cheap, 16),
                               carpool(y, c, cheap=cheap).variance_reduction, rtol=1e-12)
    assert report.checks == []  # no N = 10 row: no cosmology check
    for name in ("variance_reduction.png", "power_ratio.png", "runs/pairs-0003.npz", "runs/cheap-0001.npz"):
        assert (tmp_path / "wd" / name).exists(), name
    assert lines[:3] == ["runs pairs: 16 seed(s) x ['cosmo_pm', 'cosmo_2lpt', 'cosmo_zeldovich'] (16 run now)",
                         "runs truth: 4 seed(s) x ['cosmo_pm'] (4 run now)",
                         "runs cheap: 5 seed(s) x ['cosmo_2lpt', 'cosmo_zeldovich'] (5 run now)"]
    again = run_carpool_benchmark(settings=s, work_dir=tmp_path / "wd", log=lambda line: None)
    assert [r["n_new"] for r in again.results if r["stage"] == "runs"] == [0.0, 0.0, 0.0]
    for a, b in zip(report.results, again.results):
        if a["stage"] in ("truth", "carpool"):
            assert a == b
    with pytest.raises(ConfigError, match=r"with other settings \(n_cheap\)"):
        run_carpool_benchmark(settings=tiny(n_cheap=6), work_dir=tmp_path / "wd", log=lambda line: None)


def test_checks_read_the_n10_2lpt_row_and_the_burgers_summary():
    report = BenchReport(benchmark="carpool", mode="custom", config={})
    report.results += [{"stage": "carpool", "cheap": "cosmo_2lpt", "n_pairs": 10.0, "k_max": 0.2,
                        "vr_min_k_lt_kmax": 5.5, "vr_min_half_nyquist": 1.5, "bias_band_sigma": -2.5},
                       {"stage": "carpool", "cheap": "cosmo_zeldovich", "n_pairs": 10.0, "k_max": 0.2,
                        "vr_min_k_lt_kmax": 1.0, "vr_min_half_nyquist": 1.0, "bias_band_sigma": 0.0},
                       {"stage": "burgers_cape", "what": "pairs", "variance_reduction": 1.0},
                       {"stage": "burgers_cape", "what": "summary", "variance_reduction": 3.5,
                        "variance_reduction_empirical": 1.7}]
    add_checks(report)
    assert [(c.name, c.value, c.op, c.target, c.holds) for c in report.checks] == [
        ("carpool_2lpt_N10_variance_reduction_min_k_lt_0.2", 5.5, ">=", 4.0, True),
        ("carpool_2lpt_N10_variance_reduction_min_to_half_particle_nyquist", 1.5, ">=", 2.0, False),
        ("carpool_2lpt_N10_abs_bias_sigma_k_lt_0.2", 2.5, "<=", 2.0, False),
        ("burgers_cape_variance_reduction", 3.5, ">=", 3.0, True),
        ("burgers_cape_variance_reduction_empirical", 1.7, ">=", 3.0, False)]


def test_burgers_pair_is_called_with_the_benchmarks_settings_and_work_dir(tmp_path, monkeypatch):
    calls = []

    def burgers_cape_pair(settings, *, quick, executor=None, work_dir=None, log=None):
        calls.append((settings, quick, executor is not None, work_dir))
        return [{"stage": "burgers_cape", "what": "summary", "variance_reduction": 2.0, "n_pairs": 10}]

    monkeypatch.setattr(bench_carpool, "burgers_cape_pair", burgers_cape_pair)
    s = tiny(n_pool=8, n_pairs=[4], cheap=["cosmo_2lpt"], run_burgers=True, burgers={"n_pairs": 10})
    report = run_carpool_benchmark(settings=s, work_dir=tmp_path / "wd", log=lambda line: None)
    assert calls == [({"n_pairs": 10}, True, True, tmp_path / "wd" / "burgers")]
    assert _row(report, stage="burgers_cape")["variance_reduction"] == 2.0
    assert [(c.name, c.value, c.holds) for c in report.checks] == [("burgers_cape_variance_reduction", 2.0, False)]


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match=r"field n_truth: Input should be greater than or equal to 2 \(got 1\)"):
        run_carpool_benchmark(settings={"n_truth": 1}, log=lambda line: None)
    with pytest.raises(ConfigError, match=r"k_max = 0.01 h/Mpc lies below the first k bin \(0.0"):
        run_carpool_benchmark(settings=tiny(n_pool=8, n_pairs=[4], n_truth=2, n_cheap=2, k_max=0.01),
                              log=lambda line: None)


def test_figures_refuse_curves_of_another_length(tmp_path):
    from sciml.viz.carpool import plot_power_ratio, plot_variance_reduction

    k = np.array([0.05, 0.1, 0.2])
    with pytest.raises(ValueError, match=r"curve 'a' has shape \(2,\); expected \(3,\)"):
        plot_variance_reduction(k, {"a": [1.0, 2.0]}, tmp_path / "vr.png")
    with pytest.raises(ValueError, match=r"ratio 'b' has shapes \(3,\), \(1,\); expected \(3,\)"):
        plot_power_ratio(k, {"b": ([1.0, 1.0, 1.0], [0.1])}, tmp_path / "r.png")
    assert not list(tmp_path.iterdir())
    assert plot_variance_reduction(k, {"a": [1.0, 2.0, 4.0]}, tmp_path / "vr.png").stat().st_size > 0


def test_the_burgers_module_takes_the_benchmarks_call():
    import inspect

    from sciml.studies import carpool_burgers as module

    inspect.signature(module.burgers_cape_pair).bind({"n_pairs": [4]}, quick=True, executor=None, work_dir=None,
                                                     log=print)
    assert module.STAGE == "burgers_cape"
