"""``sciml bench wgan`` on tiny settings: every stage runs, the rows carry finite figures, every
check is computed from this run's rows, and a rerun in the same work dir reuses what it can."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver")

from sciml.bench.report import BenchReport  # noqa: E402
from sciml.bench.wgan import FULL, GPCA, WGAN, add_checks, run_wgan_benchmark  # noqa: E402
from sciml.errors import ConfigError  # noqa: E402
from sciml.studies.wgan_submodel import QOIS, WGANStudySettings  # noqa: E402
from sciml.surrogates.gan import WGANConfig  # noqa: E402

pytestmark = pytest.mark.fem


def tiny(**update) -> WGANStudySettings:
    cfg = dict(resolution=4, geometry={"half_width": 1.0, "half_height": 0.5, "hole_radius": 0.15,
                                       "window_half_width": 0.3},
               t_final=1.0, n_steps=8, grid=2, n_train=6, n_test=5, n_mc=4, chunk_size=4,
               executor={"kind": "inprocess"},
               wgan=WGANConfig(n_steps=3, batch_size=4, noise_dim=2, hidden=8, n_layers=1, critic_hidden=8,
                               critic_layers=1, n_draws=1, checkpoint_every=2, log_every=1, progress=False),
               wgan_seeds=[0, 1, 2], swd_projections=16, timing_samples=1, timing_repeats=1, timing_steps=2)
    cfg.update(update)
    return WGANStudySettings(**cfg)


def _row(report: BenchReport, **match) -> dict:
    rows = [r for r in report.results if all(r.get(k) == v for k, v in match.items())]
    assert len(rows) == 1, (match, rows)
    return rows[0]


def test_tiny_benchmark_runs_every_stage_and_checks_its_own_rows(tmp_path):
    lines: list[str] = []
    report = run_wgan_benchmark(settings=tiny(), work_dir=tmp_path / "wd", log=lines.append)
    stages = [r["stage"] for r in report.results]
    assert stages == ["campaign"] * 2 + ["generator"] * 4 + ["swd"] * 3 + ["qoi"] * 6 + ["timing"] * 2 + ["total"]
    for row in report.results:  # (5 held-out runs are too few for a finite upper bound of the 95 % quantile)
        assert all(math.isfinite(v) for k, v in row.items() if isinstance(v, float) and k != "q95_upper"), row
    assert _row(report, stage="campaign", split="test")["n_runs"] == 5.0
    assert [r["seed"] for r in report.results if r.get("model") == "wgan_gp" and r["stage"] == "generator"] == \
        [0.0, 1.0, 2.0]
    swd = _row(report, stage="swd", model="wgan_gp")
    per_seed = [swd[f"swd_seed_{k}"] for k in range(3)]
    assert swd["n_seeds"] == 3 and swd["swd_mean"] == pytest.approx(np.mean(per_seed))
    assert swd["swd_std"] == pytest.approx(np.std(per_seed, ddof=1))
    assert _row(report, stage="timing", what="per_sample")["transfer_rel_error"] < 1e-9
    checks = {c.name: c for c in report.checks}
    assert len(checks) == 7
    timing, step = _row(report, stage="timing", what="per_sample"), _row(report, stage="timing", what="newmark_step")
    assert checks["submodel_speedup_per_sample"].value == timing["full_s"] / timing["submodel_s"]
    assert checks["newmark_assemble_once_speedup_per_step"].value == step["reassemble_s"] / step["reuse_s"]
    assert checks["swd_mean_ratio_wgan_over_gaussian_pca"].value == \
        swd["swd_mean"] / _row(report, stage="swd", model="gaussian_pca")["swd_mean"]
    for q in QOIS:
        ref, wgan = _row(report, stage="qoi", qoi=q, source=FULL), _row(report, stage="qoi", qoi=q, source=WGAN)
        assert ref["n"] == 5.0 and wgan["n"] == 4.0
        assert checks[f"wgan_submodel_mean_rel_error_{q}"].value == abs(wgan["mean"] - ref["mean"]) / abs(ref["mean"])
        assert checks[f"wgan_submodel_q95_rel_error_{q}"].value == wgan["q95_rel_error"]
        assert _row(report, stage="qoi", qoi=q, source=GPCA)["n"] == 4.0
    for name in ("histories.png", "qoi_histograms.png", "training.png", "train.nc", "test.nc",
                 f"mc_{WGAN}.npz", "wgan/seed_2/last.pt"):
        assert (tmp_path / "wd" / name).exists(), name
    assert any(line.startswith("generators: 3 WGAN-GP seed(s)") for line in lines)
    # a rerun reuses the campaigns, the trained generators and the Monte Carlo samples: the same figures
    again = run_wgan_benchmark(settings=tiny(), work_dir=tmp_path / "wd", log=lambda line: None)
    def figures(row: dict) -> dict:
        return {k: v for k, v in row.items() if "wall_s" not in k}

    for a, b in zip(report.results, again.results):
        if a["stage"] in ("campaign", "generator", "swd", "qoi"):
            assert figures(a) == figures(b)
    with pytest.raises(ConfigError, match="with other settings"):
        run_wgan_benchmark(settings=tiny(n_mc=5), work_dir=tmp_path / "wd", log=lambda line: None)


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match=r"material parameter E must be > 0; got 0.0"):
        run_wgan_benchmark(settings={"distribution": {"E": [0.0, 1.0]}}, log=lambda line: None)


def test_checks_skip_what_did_not_run():
    report = BenchReport(benchmark="wgan", mode="custom", config={})
    report.results.append({"stage": "timing", "what": "newmark_step", "reuse_s": 0.001, "reassemble_s": 0.004})
    add_checks(report)
    assert [(c.name, c.value, c.target, c.holds) for c in report.checks] == [
        ("newmark_assemble_once_speedup_per_step", 4.0, 3.0, True)]


def test_presets_quick_is_smaller_than_full():
    from sciml.studies.wgan_submodel import preset_settings

    quick, full = preset_settings(True), preset_settings(False)
    assert quick.resolution < full.resolution and quick.n_train < full.n_train and quick.n_mc < full.n_mc
    assert quick.wgan.n_steps < full.wgan.n_steps and quick.wgan_seeds == [0, 1, 2]
    assert quick.wgan.lr == 1e-4 and quick.wgan.betas == (0.0, 0.9) and quick.wgan.gp_weight == 10.0
    assert quick.wgan.n_critic == 5
