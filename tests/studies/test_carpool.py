"""The cosmology CARPool study: settings, the sets of runs (paired seeds, work-dir reuse) and the estimator
statistics against closed forms and :func:`~sciml.uq.control_variates.carpool` on the same arrays."""

from __future__ import annotations

import numpy as np
import pytest

from sciml.errors import ConfigError
from sciml.simulators.cosmology.simulators import LPT2Simulator, PMSimulator
from sciml.studies.carpool import (
    CARPoolStudySettings,
    as_settings,
    band_bias,
    estimator_statistics,
    group_estimates,
    pooled_variance_reduction,
    preset_settings,
    run_seeds,
    run_set,
)
from sciml.uq.control_variates import carpool


def tiny(**update) -> CARPoolStudySettings:
    cfg = dict(n_particles=8, n_mesh=8, n_steps=2, n_pool=8, n_truth=3, n_cheap=3, n_pairs=[4],
               chunk_size=3, executor={"kind": "inprocess"}, run_burgers=False)
    cfg.update(update)
    return CARPoolStudySettings(**cfg)


def gaussian_pairs(p: int, m: int, b: int = 3, noise: float = 0.3, seed: int = 0):
    """``y = 2 + c + noise e`` with ``c ~ N(0, 1)``: beta 1, Var(y) = 1 + noise^2, residual noise^2."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((p, b))
    y = 2.0 + c + noise * rng.standard_normal((p, b))
    return y, c, rng.standard_normal((m, b))


def test_settings_presets_and_errors_name_the_field():
    quick, full = preset_settings(True), preset_settings(False)
    assert (quick.n_particles, quick.n_mesh, quick.n_pairs) == (32, 64, [5, 10, 30])
    assert full.n_particles > quick.n_particles and full.n_pool > quick.n_pool and full.n_cheap > quick.n_cheap
    assert quick.k_half_nyquist == pytest.approx(np.pi * 32 / 512, rel=1e-15)
    with pytest.raises(ConfigError, match=r"field n_pairs: .*integers >= 4.*got \[3, 10\]"):
        as_settings({"n_pairs": [3, 10]})
    with pytest.raises(ConfigError, match=r"n_pool = 40 must hold at least 2 disjoint groups .*n_pool >= 60"):
        as_settings({"n_pool": 40})
    with pytest.raises(ConfigError, match=r"field params: .*unknown parameter\(s\) \['w0'\]"):
        as_settings({"params": {"w0": -1.0}})
    with pytest.raises(ConfigError, match=r"simulator settings: .*n_mesh"):
        as_settings({"n_mesh": 63})
    with pytest.raises(ConfigError, match=r"field cheap.0: .*'cosmo_2lpt' or 'cosmo_zeldovich'"):
        as_settings({"cheap": ["cosmo_pm"]})
    with pytest.raises(ConfigError, match=r"unknown field 'n_sims'"):
        as_settings({"n_sims": 3})


def test_seeds_of_the_sets_are_disjoint_and_unknown_sets_refused():
    s = tiny()
    seeds = {w: run_seeds(s, w) for w in ("pairs", "truth", "cheap")}
    assert [len(v) for v in seeds.values()] == [8, 3, 3]
    assert len(np.unique(np.concatenate(list(seeds.values())))) == 14
    other = run_seeds(tiny(seed=1), "pairs")
    assert not set(other) & set(np.concatenate(list(seeds.values())))
    with pytest.raises(ConfigError, match=r"unknown set of runs 'test'; accepted: \['pairs', 'truth', 'cheap'\]"):
        run_seeds(s, "test")


def test_run_set_pairs_the_simulators_and_reloads_from_the_work_dir(tmp_path):
    s = tiny(n_pool=8, cheap=["cosmo_2lpt"])
    lines: list[str] = []
    runs = run_set(s, "pairs", work_dir=tmp_path, log=lines.append)
    assert runs["n_new"] == 8 and sorted(runs["power"]) == ["cosmo_2lpt", "cosmo_pm"]
    assert runs["power"]["cosmo_pm"].shape == (8, len(runs["k"])) and runs["cpu_s"]["cosmo_pm"].shape == (8,)
    assert len(list((tmp_path / "runs").glob("pairs-*.npz"))) == 3  # chunks of 3 seeds
    seed = int(runs["seeds"][5])
    pm = PMSimulator(n_particles=8, n_mesh=8, n_steps=2).run_power({}, seed=seed)["power"].values[0, -1]
    lpt = LPT2Simulator(n_particles=8, n_mesh=8).run_power({}, seed=seed)["power"].values[0, -1]
    np.testing.assert_array_equal(runs["power"]["cosmo_pm"][5], pm)
    np.testing.assert_array_equal(runs["power"]["cosmo_2lpt"][5], lpt)
    assert lines == ["runs pairs: 8 seed(s) x ['cosmo_pm', 'cosmo_2lpt'] (8 run now)"]
    again = run_set(s, "pairs", work_dir=tmp_path)
    assert again["n_new"] == 0
    np.testing.assert_array_equal(again["power"]["cosmo_pm"], runs["power"]["cosmo_pm"])
    np.testing.assert_array_equal(again["cpu_s"]["cosmo_2lpt"], runs["cpu_s"]["cosmo_2lpt"])
    with pytest.raises(ConfigError, match=r"pairs-0000.npz holds other runs .*simulators \['cosmo_pm', "
                                          r"'cosmo_2lpt', 'cosmo_zeldovich'\]"):
        run_set(tiny(n_pool=8), "pairs", work_dir=tmp_path)


def test_pooled_variance_reduction_is_carpools_at_n_equal_p_and_the_closed_form():
    y, c, cheap = gaussian_pairs(40, 7)
    est = carpool(y, c, cheap=cheap)
    np.testing.assert_allclose(pooled_variance_reduction(y, c, cheap, 40), est.variance_reduction, rtol=1e-12)
    # by hand at N = 10: (s_y^2 / N) / ((N-2)/(N-3) s_r^2 / N + beta^2 s_c^2 / M)
    beta = est.beta
    r = y - beta * c
    s_r2 = ((r - r.mean(0)) ** 2).sum(0) / 38
    expected = (y.var(0, ddof=1) / 10) / (8 / 7 * s_r2 / 10 + beta**2 * cheap.var(0, ddof=1) / 7)
    np.testing.assert_allclose(pooled_variance_reduction(y, c, cheap, 10), expected, rtol=1e-12)
    # large samples: the population value (1 + s^2) / (f s^2 + N / M) with s = 0.3, f = 8/7, N/M = 10/4000
    y, c, cheap = gaussian_pairs(20000, 4000, b=1)
    truth = 1.09 / (8 / 7 * 0.09 + 10 / 4000)
    np.testing.assert_allclose(pooled_variance_reduction(y, c, cheap, 10), truth, rtol=0.05)
    with pytest.raises(ValueError, match="n >= 4"):
        pooled_variance_reduction(y, c, cheap, 3)


def test_group_estimates_are_carpool_on_disjoint_slices():
    y, c, cheap = gaussian_pairs(23, 5)
    groups = group_estimates(y, c, cheap, 5)
    assert len(groups) == 4
    for g, est in enumerate(groups):
        ref = carpool(y[5 * g:5 * g + 5], c[5 * g:5 * g + 5], cheap=cheap)
        np.testing.assert_array_equal(est.mean, ref.mean)
        np.testing.assert_array_equal(est.variance, ref.variance)
    with pytest.raises(ValueError, match="23 pairs hold 1 group"):
        group_estimates(y, c, cheap, 12)


def test_band_bias_by_hand():
    truth = np.array([[1.0, 2.0, 4.0], [3.0, 2.0, 4.0]])  # mean (2, 2, 4)
    est = np.array([[2.2, 2.0, 9.0], [2.0, 2.4, 9.0], [2.2, 2.2, 9.0]])
    mu = np.array([[0.0, 0.2, 0.0], [0.4, 0.2, 0.0]])
    band = np.array([True, True, False])
    bias, sigma_units = band_bias(est, mu, truth, band)
    u = np.array([1.05, 1.1, 1.1])  # band means of est / truth
    w = np.array([0.05, 0.15])
    v = np.array([0.75, 1.25])
    assert bias == pytest.approx(u.mean() - 1.0, abs=1e-15)
    sigma = np.sqrt(u.var(ddof=1) / 3 + w.var(ddof=1) / 2 + v.var(ddof=1) / 2)
    assert sigma_units == pytest.approx(bias / sigma, rel=1e-12)


def test_estimator_statistics_recomputed_from_carpool_and_unbiased_on_gaussian_pairs():
    y, c, cheap = gaussian_pairs(200, 400, b=2, seed=1)
    truth = 2.0 + 0.3 * np.random.default_rng(5).standard_normal((300, 2)) + np.random.default_rng(6).standard_normal(
        (300, 2))
    band = np.array([True, True])
    st = estimator_statistics(y, c, cheap, truth, 10, band)
    groups = group_estimates(y, c, cheap, 10)
    x = np.stack([g.mean for g in groups])
    plain = np.stack([g.plain_mean for g in groups])
    mu_term = np.mean([g.beta**2 * g.mu_c_variance for g in groups], axis=0)
    assert st["n_groups"] == 20
    np.testing.assert_allclose(st["variance_reduction_groups"], plain.var(0, ddof=1) / (x.var(0, ddof=1) + mu_term),
                               rtol=1e-12)
    np.testing.assert_allclose(st["variance_reduction_carpool_median"],
                               np.median([g.variance_reduction for g in groups], axis=0), rtol=1e-12)
    np.testing.assert_allclose(st["variance_reduction"], pooled_variance_reduction(y, c, cheap, 10), rtol=1e-12)
    sigma = np.sqrt(x.var(0, ddof=1) / 20 + mu_term + truth.var(0, ddof=1) / 300)
    np.testing.assert_allclose(st["bias_sigma"], (x.mean(0) - truth.mean(0)) / sigma, rtol=1e-12)
    np.testing.assert_allclose(st["ratio_to_truth"], x.mean(0) / truth.mean(0), rtol=1e-12)
    np.testing.assert_allclose(st["first_ratio"], groups[0].mean / truth.mean(0), rtol=1e-12)
    # the population reduction (1.09) / (8/7 0.09 + 10/400) = 8.5; the empirical figure and the calibration agree
    assert 6.0 < st["variance_reduction"].min() and st["variance_reduction"].max() < 11.0
    assert 0.5 < st["variance_calibration"] < 1.6
    assert abs(st["bias_band_sigma"]) < 3.0 and np.all(np.abs(st["bias_sigma"]) < 3.5)
