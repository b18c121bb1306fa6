"""Tests of the Burgers/CAPE CARPool study (tiny sizes)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sciml.errors import ConfigError
from sciml.studies.carpool_burgers import (
    TIMING_FIELDS,
    BurgersCarpoolRuns,
    BurgersCarpoolSettings,
    SurrogateInputs,
    as_settings,
    burgers_cape_pair,
    burgers_cape_rows,
    burgers_cape_runs,
    fluctuation_energy,
    simulator,
    solve_seeds,
    solver_qoi,
    surrogate_batch,
    surrogate_qoi,
)
from sciml.uq.control_variates import PairedRuns, carpool

TINY = {"n_cells": 32, "x_factor": 2, "t_final": 0.2, "n_frames": 4, "n_train": 8, "epochs": 2, "warmup_epochs": 1,
        "batch_size": 4, "width": 4, "modes": 4, "n_layers": 1, "cape_hidden": 2, "cape_modes": 4,
        "n_pairs": (4, 6), "n_cheap": 20, "n_truth": 24, "timing_runs": 1}


def _strip(rows):
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in rows]


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    work = tmp_path_factory.mktemp("carpool_burgers")
    return work, burgers_cape_runs(TINY, work_dir=work)


def test_fluctuation_energy_closed_form():
    x = (np.arange(64) + 0.5) / 64
    u = 0.3 + 2.0 * np.sin(2 * np.pi * x)  # 0.5 <(A sin)^2> = A^2 / 4, the offset drops out
    assert fluctuation_energy(u) == pytest.approx(1.0, rel=1e-12)
    assert fluctuation_energy(np.stack([u, 0.5 * u])).tolist() == pytest.approx([1.0, 0.25], rel=1e-12)


def test_summary_reduction_recomputed_from_pairs(tiny_runs):
    _, runs = tiny_runs
    rows = burgers_cape_rows(runs)
    assert [r["n_pairs"] for r in rows] == [4, 6, 6] and rows[-1]["what"] == "summary"
    assert all(r["stage"] == "burgers_cape" for r in rows)
    p = runs.pairs
    est = carpool(p.y[:6], p.c[:6], cheap=runs.cheap)
    summary = rows[-1]
    assert summary["variance_reduction"] == pytest.approx(float(est.variance_reduction), rel=1e-12)
    assert summary["estimate"] == pytest.approx(float(est.mean), rel=1e-12)
    assert summary["truth"] == pytest.approx(runs.truth_y.mean(), rel=1e-12)
    se_t = runs.truth_y.std(ddof=1) / math.sqrt(24)
    assert summary["bias_sigma"] == pytest.approx((float(est.mean) - runs.truth_y.mean())
                                                  / math.sqrt(float(est.variance) + se_t**2), rel=1e-10)
    t = runs.cpu_s
    assert summary["cpu_s_plain"] == pytest.approx(6 * float(est.variance_reduction) * t["solver_run"], rel=1e-12)
    assert summary["cpu_s_carpool"] == pytest.approx(6 * (t["solver_run"] + t["surrogate_run"])
                                                     + 20 * t["cheap_run"], rel=1e-12)


def test_pairs_match_single_and_batched_runs(tiny_runs):
    """paired_runs' QoIs equal single solver runs and the batched surrogate of the same seeds."""
    work, runs = tiny_runs
    s = runs.settings
    sim, params = simulator(s), {"nu": s.nu}
    seeds = [int(v) for v in runs.pairs.seeds[:3]]
    assert [float(solver_qoi(sim.run(params, seed=k))) for k in seeds] == pytest.approx(runs.pairs.y[:3].tolist(),
                                                                                        rel=1e-12)
    assert fluctuation_energy(solve_seeds(sim, seeds, params)[:, -1]).tolist() == pytest.approx(
        runs.pairs.y[:3].tolist(), rel=1e-12)
    from sciml.studies.carpool_burgers import train_surrogate

    model, info = train_surrogate(s, next(work.glob("surrogate-*")))
    assert info["reused"]
    inputs = SurrogateInputs(sim, s.x_factor)
    single = [float(surrogate_qoi(model.predict(inputs(params, k)).mean)) for k in seeds]
    assert single == pytest.approx(runs.pairs.c[:3].tolist(), rel=1e-5)
    assert surrogate_batch(model, inputs, seeds, params, chunk=2).tolist() == pytest.approx(single, rel=1e-5)


def test_rerun_reloads_surrogate_and_gives_identical_rows(tiny_runs):
    work, runs = tiny_runs
    (run_dir,) = list(work.glob("surrogate-*"))
    weights = run_dir / "best.pt"
    mtime = weights.stat().st_mtime_ns
    rows = burgers_cape_pair(TINY, work_dir=work)
    assert weights.stat().st_mtime_ns == mtime
    assert _strip(rows) == _strip(burgers_cape_rows(runs))


def test_work_dir_with_other_training_settings_is_refused(tiny_runs):
    work, _ = tiny_runs
    (run_dir,) = list(work.glob("surrogate-*"))
    from sciml.studies.carpool_burgers import train_surrogate

    with pytest.raises(ConfigError, match="other settings"):
        train_surrogate(as_settings({**TINY, "epochs": 3}), run_dir)


def _synthetic_runs(rho: float, n_pool: int, seed: int = 0) -> BurgersCarpoolRuns:
    """Gaussian pairs of correlation ``rho`` (unit variances), mean 1 for y and 2 for c."""
    rng = np.random.default_rng(seed)

    def draw(n):
        z1, z2 = rng.standard_normal((2, n))
        return 1.0 + z1, 2.0 + rho * z1 + math.sqrt(1 - rho**2) * z2

    y, c = draw(30)
    ty, tc = draw(n_pool)
    s = as_settings({**TINY, "n_pairs": (10, 30), "n_truth": n_pool, "n_cheap": 200_000})
    pairs = PairedRuns(y, c, np.arange(30), None, np.zeros(0, dtype=int))
    cheap = 2.0 + rng.standard_normal(200_000)
    return BurgersCarpoolRuns(s, pairs, cheap, ty, tc, {"solver_run": 1.0, "surrogate_run": 0.1, "cheap_run": 1e-4,
                                                        "train": 5.0}, {"val_nrmse": 0.0})


def test_empirical_reduction_matches_closed_form():
    """Over 4000 groups of 10 pairs, Var(plain)/Var(CARPool) is near (1 - rho^2)^-1 (N - 3)/(N - 2)."""
    rho, n = 0.9, 10
    rows = burgers_cape_rows(_synthetic_runs(rho, 40_000))
    row = rows[0]
    assert row["n_pairs"] == n and row["n_groups"] == 4000
    # fitted beta on N pairs: Var(x) = sigma^2 (1 - rho^2) (N - 2) / (N - 3) / N (jointly Gaussian)
    expected = 1.0 / ((1 - rho**2) * (n - 2) / (n - 3) + rho**2 * n / 200_000)
    assert row["variance_reduction_empirical"] == pytest.approx(expected, rel=0.08)
    assert rows[-1]["truth"] == pytest.approx(1.0, abs=0.02)
    assert abs(rows[-1]["bias_sigma"]) < 3


@pytest.mark.parametrize("bad, field", [({"x_factor": 3}, "x_factor"), ({"n_pairs": (3, 10)}, "n_pairs"),
                                        ({"nu": -1.0}, "nu"), ({"epochs": 2, "warmup_epochs": 2}, "warmup_epochs"),
                                        ({"n_truth": 10}, "n_truth"), ({"widht": 8}, "widht")])
def test_bad_settings_name_the_field(bad, field):
    with pytest.raises(ConfigError, match=field):
        as_settings(bad)


def test_presets_and_overrides():
    quick, full = as_settings(None), as_settings(None, quick=False)
    assert isinstance(quick, BurgersCarpoolSettings) and max(quick.n_pairs) == 30
    assert full.n_train > quick.n_train and full.n_cheap > quick.n_cheap
    assert as_settings({"n_cheap": 50}).n_cheap == 50 and as_settings({"n_cheap": 50}).n_train == quick.n_train
