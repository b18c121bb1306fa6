"""``sciml bench potentials`` on tiny settings: every stage runs, the rows carry finite figures
and every check is computed from this run's rows."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("ase")

from sciml.bench.potentials import PotentialsBenchSettings, add_checks, run_potentials_benchmark  # noqa: E402
from sciml.bench.report import BenchReport  # noqa: E402
from sciml.studies.potentials import PotentialStudySettings  # noqa: E402
from sciml.surrogates.sgmcmc import ChainConfig, MemberConfig  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def tiny() -> PotentialsBenchSettings:
    lj = PotentialStudySettings(
        simulator={"kind": "lj_fluid", "n_atoms": 108, "n_equilibrate": 20, "n_frames": 3, "stride": 2},
        hidden_channels=8, num_filters=8, num_interactions=1, num_gaussians=8, n_members=2,
        member=MemberConfig(lr=1e-3, n_steps=2, batch_size=2),
        chain=ChainConfig(sampler="psgld", lr=1e-5, n_steps=4, burn_in=2, thin=1, batch_size=2))
    return PotentialsBenchSettings(lj=lj, emt=None, workers=1, md_samples=2, md_steps=4, md_equilibrate=0,
                                   md_stride=2, speed_steps=2, rdf_bins=10)


def test_tiny_benchmark_runs_every_stage_and_checks_its_own_rows(tmp_path):
    report = run_potentials_benchmark(settings=tiny(), work_dir=tmp_path / "wd", log=lambda line: None)
    methods = [r["method"] for r in report.results]
    assert methods == ["map", "ensemble", "sgmcmc_multi_chain", "sgmcmc_single_chain", "posterior_md_rdf",
                       "posterior_md_speed"]
    multi = report.results[2]
    assert multi["n_samples"] == 4 and report.results[3]["n_samples"] == 2  # 2 chains x 2 kept steps
    for row in report.results:
        assert all(math.isfinite(v) for v in row.values() if isinstance(v, float)), row
    checks = {c.name: c for c in report.checks}
    assert checks["map_force_rmse_over_std_lj"].value == report.results[0]["rmse_over_std"]
    assert checks["miscalibration_area_raw_single_minus_multi_chain"].value == pytest.approx(
        report.results[3]["miscalibration_area_raw"] - multi["miscalibration_area_raw"])
    assert checks["rdf_reference_in_band_fraction"].value == report.results[4]["reference_in_band_fraction"]
    assert checks["batched_md_speedup_vs_sequential_ase"].value == report.results[5]["speedup_vs_sequential_ase"]
    assert (tmp_path / "wd" / "calibration_lj.png").exists() and (tmp_path / "wd" / "rdf_band.png").exists()
    # a rerun in the same work dir reloads the members and chains (no file rewritten): the same samples,
    # the same figures (to float32 round-off: CPU scatter-adds over threads need not sum in one order)
    saved = {p: p.stat().st_mtime_ns for p in (tmp_path / "wd" / "lj").rglob("*.pt")}
    assert len(saved) >= 4
    again = run_potentials_benchmark(settings=tiny(), work_dir=tmp_path / "wd", log=lambda line: None)
    assert {p: p.stat().st_mtime_ns for p in saved} == saved
    assert again.results[2]["rmse"] == pytest.approx(multi["rmse"], rel=1e-6)


def test_checks_skip_what_did_not_run():
    report = BenchReport(benchmark="potentials", mode="custom", config={})
    report.results.append({"system": "emt", "method": "map", "rmse_over_std": 0.07})
    add_checks(report)
    assert [(c.name, c.target, c.holds) for c in report.checks] == [("map_force_rmse_over_std_emt", 0.1, True)]


def test_presets_give_each_system_its_simulator_and_the_full_mode_is_larger():
    from sciml.bench.potentials import bench_settings
    from sciml.errors import ConfigError
    from sciml.studies.potentials import POSTERIOR_MD_SIZES, preset_settings

    quick, full = bench_settings(True), bench_settings(False)
    assert quick.lj.simulator["kind"] == "lj_fluid" and quick.emt.simulator["kind"] == "emt_metal"
    assert quick.emt.params == {"temperature": 300.0} and quick.lj.params["density"] == 0.8442
    assert full.lj.member.n_steps > quick.lj.member.n_steps and full.lj.n_members > quick.lj.n_members
    assert (quick.md_samples, full.md_samples) == (POSTERIOR_MD_SIZES[True]["md_samples"], 32)
    with pytest.raises(ConfigError, match=r"unknown system 'argon'; accepted: lj, emt"):
        preset_settings("argon", True)
