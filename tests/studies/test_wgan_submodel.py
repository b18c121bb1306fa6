"""The WGAN-driven submodel study on tiny settings: parameter designs, the history layout, the
networks' linear algebra, the campaign and its reuse, the submodel on true histories, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sciml.errors import ConfigError, ParameterError
from sciml.studies import wgan_submodel as W
from sciml.surrogates.gan import WGANConfig
from sciml.uq.distances import sliced_wasserstein_distance

GEOMETRY = {"half_width": 1.0, "half_height": 0.5, "hole_radius": 0.15, "window_half_width": 0.3}


def tiny(**update) -> W.WGANStudySettings:
    cfg = dict(resolution=4, geometry=GEOMETRY, t_final=1.0, n_steps=8, grid=2, n_train=6, n_test=5, n_mc=4,
               chunk_size=4, executor={"kind": "inprocess"},
               wgan=WGANConfig(n_steps=3, batch_size=4, noise_dim=2, hidden=8, n_layers=1, critic_hidden=8,
                               critic_layers=1, n_draws=1, checkpoint_every=2, log_every=1, progress=False),
               wgan_seeds=[0, 1, 2], swd_projections=16, timing_samples=1, timing_repeats=1, timing_steps=2)
    cfg.update(update)
    return W.WGANStudySettings(**cfg)


def _fem():
    pytest.importorskip("dolfinx_solver")


# ----------------------------------------------------------------------------- settings and designs
@pytest.mark.parametrize("distribution, message", [
    ({"E": (-1.0, 1.0)}, r"material parameter E must be > 0; got -1.0"),
    ({"rho": (0.0, 1.0)}, r"material parameter rho must be > 0; got 0.0"),
    ({"G": (1.0, 2.0)}, r"unknown parameter 'G'; accepted: \['E', 'nu', 'rho', 'amplitude', 'duration', 'angle'\]"),
    ({"duration": (0.7, 0.3)}, r"duration needs low <= high; got \(0.7, 0.3\)"),
    ({"E": (0.8, 5.0)}, r"parameter E=5 is out of range; accepted: E in \[0.5, 2\]"),
])
def test_bad_distributions_are_config_errors_naming_the_value(distribution, message):
    with pytest.raises(ConfigError, match=message):
        W.as_settings({"distribution": distribution})


def test_bad_sizes_and_log_uniform_without_bounds_are_config_errors():
    with pytest.raises(ConfigError, match="field n_train"):
        W.as_settings({"n_train": 1})
    with pytest.raises(ConfigError, match=r"log_uniform: 'amplitude' needs positive bounds"):
        W.as_settings({"distribution": {"E": (0.8, 1.2)}, "log_uniform": ["amplitude"]})
    with pytest.raises(ConfigError, match="unknown split 'val'"):
        W.parameter_draws(tiny(), "val")


def test_training_design_is_a_latin_hypercube_and_the_others_independent_draws_within_bounds():
    s = tiny(distribution={"E": (0.8, 1.2), "amplitude": (1e-4, 1e-2), "angle": (0.1, 0.1)}, log_uniform=["amplitude"],
             n_train=10)
    train = W.parameter_draws(s, "train")
    assert len(train) == 10 and all(set(p) == set(W.PLATE_PARAMETERS.names) for p in train)
    e = np.array([p["E"] for p in train])
    log_a = np.log10([p["amplitude"] for p in train])
    # one point per stratum: E uniform in [0.8, 1.2], log10(amplitude) uniform in [-4, -2]
    assert sorted(np.floor(10 * (e - 0.8) / 0.4).astype(int)) == list(range(10))
    assert sorted(np.floor(10 * (log_a + 4) / 2).astype(int)) == list(range(10))
    assert {p["angle"] for p in train} == {0.1} and {p["nu"] for p in train} == {0.3}
    assert {p["rho"] for p in train} == {1.0}
    test, mc = W.parameter_draws(s, "test", 50), W.parameter_draws(s, "mc", 50)
    for points in (test, mc):
        assert all(0.8 <= p["E"] <= 1.2 and 1e-4 <= p["amplitude"] <= 1e-2 for p in points)
    assert [p["E"] for p in test] != [p["E"] for p in mc]
    assert W.parameter_draws(s, "test", 50) == test  # seeded
    np.testing.assert_array_equal(W.material_draws(s, 50), [[p[k] for k in W.MATERIAL] for p in mc])


def test_interface_points_are_the_interface_nodes():
    assert tiny().interface_points == 16 and W.WGANStudySettings().interface_points == 40
    assert W.WGANStudySettings(resolution=24).interface_points == 64


# ----------------------------------------------------------------------------- layout and networks
def test_channel_layout_round_trips_and_rejects_a_wrong_shape():
    h = np.random.default_rng(0).standard_normal((3, 7, 5, 2))
    x = W.to_channels(h)
    assert x.shape == (3, 10, 7) and x[1, 2 * 4 + 1, 6] == h[1, 6, 4, 1]
    np.testing.assert_array_equal(W.from_channels(torch.as_tensor(x), (7, 5, 2)), h)
    with pytest.raises(ParameterError, match=r"generated histories have shape \(3, 10, 7\); expected \(N, 12, 7\)"):
        W.from_channels(x, (7, 6, 2))


def _histories(n: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, 9)
    amp, shift = rng.uniform(0.5, 1.5, n), rng.uniform(-0.2, 0.2, n)
    base = np.sin(np.pi * (t[None, :] - shift[:, None]))  # (n, 9)
    h = amp[:, None, None, None] * base[:, :, None, None] * np.linspace(1, 2, 8)[None, None, :, None]
    h = np.concatenate([h, 0.5 * h], axis=3)
    material = np.column_stack([rng.uniform(0.8, 1.2, n), np.full(n, 0.3), np.full(n, 1.0)])
    return h, material


def test_projected_critic_gradient_norm_is_the_coefficient_gradient_norm():
    h, _ = _histories()
    s = tiny()
    gen, critic = W.wgan_networks(s, h, seed=0)
    basis = critic.basis
    assert torch.allclose(basis @ basis.T, torch.eye(basis.shape[0]), atol=1e-5)
    x = torch.randn(5, *W.to_channels(h[:1]).shape[1:], requires_grad=True)
    p = torch.randn(5, 3)
    (gx,) = torch.autograd.grad(critic(x, p).sum(), x)
    c = (x.detach().reshape(5, -1) @ basis.T).requires_grad_(True)
    (gc,) = torch.autograd.grad(critic.critic(c[:, :, None], p).sum(), c)
    np.testing.assert_allclose(gx.reshape(5, -1).norm(dim=1), gc.norm(dim=1), rtol=1e-5)
    # the generator's span is the critic's: a generated history has no part outside it
    with torch.no_grad():
        out = gen(torch.randn(5, s.wgan.noise_dim), p).reshape(5, -1)
    assert float((out - (out @ basis.T) @ basis).norm()) < 1e-5 * float(out.norm())


def test_uniform_latent_generator_is_bounded_in_the_noise():
    h, _ = _histories()
    gen, _ = W.wgan_networks(tiny(), h, seed=0)
    p = torch.zeros(1, 3)
    with torch.no_grad():
        far, farther = gen(torch.full((1, 2), 40.0), p), gen(torch.full((1, 2), 4000.0), p)
    torch.testing.assert_close(far, farther, rtol=0, atol=0)  # erf saturates: a bounded latent
    assert gen.get_config()["latent"] == "uniform"


def test_wgan_training_is_seeded_and_a_finished_run_is_reloaded(tmp_path):
    h, m = _histories()
    s = tiny()
    a = W.train_wgan(s, h, m, seed=1, run_dir=tmp_path / "run")
    b = W.train_wgan(s, h, m, seed=1)
    again = W.train_wgan(s, h, m, seed=1, run_dir=tmp_path / "run")
    ga = W.generate_histories(a, m[:3], h.shape[1:], seed=4)
    assert ga.shape == (3, *h.shape[1:])
    np.testing.assert_array_equal(ga, W.generate_histories(b, m[:3], h.shape[1:], seed=4))
    np.testing.assert_array_equal(ga, W.generate_histories(again, m[:3], h.shape[1:], seed=4))
    assert len(a.history) == s.wgan.n_steps and math.isfinite(a.history[-1]["wasserstein"])


def test_gaussian_pca_baseline_and_the_distance():
    h, m = _histories()
    s = tiny()
    g = W.fit_gaussian_pca(s, h, m)
    draws = W.generate_histories(g, m, h.shape[1:], seed=0)
    assert draws.shape == h.shape and np.isfinite(draws).all()
    assert W.history_distance(s, h, h) == 0.0
    assert W.history_distance(s, draws, h, seed=3) == pytest.approx(
        sliced_wasserstein_distance(draws.reshape(len(h), -1), h.reshape(len(h), -1), n_projections=16, seed=3),
        rel=1e-12)


def test_qoi_estimates_are_the_monte_carlo_estimators():
    x = np.arange(1.0, 101.0)
    est = W.qoi_estimates(x, 90.0)
    assert est["mean"] == 50.5 and est["q95"] == pytest.approx(np.quantile(x, 0.95))
    assert est["exceedance"] == pytest.approx(0.1) and est["mean_lower"] < 50.5 < est["mean_upper"]
    assert est["n"] == 100.0 and est["q95_lower"] <= est["q95"] <= est["q95_upper"]


# ----------------------------------------------------------------------------- finite elements
@pytest.mark.fem
def test_campaign_is_a_dataset_of_the_design_reused_from_the_work_dir(tmp_path):
    _fem()
    s = tiny()
    ds = W.run_campaign(s, "test", work_dir=tmp_path)
    d = W.campaign_arrays(ds)
    points = W.parameter_draws(s, "test")
    assert d["histories"].shape == (5, 9, 16, 2) and np.abs(d["histories"]).max() > 0
    np.testing.assert_array_equal(d["params"], [[p[k] for k in W.PLATE_PARAMETERS.names] for p in points])
    assert (tmp_path / "test.nc").exists() and not list((tmp_path / "campaign").glob("*.nc"))
    again = W.campaign_arrays(W.run_campaign(s, "test", work_dir=tmp_path))  # loaded, not run
    for key in d:
        np.testing.assert_array_equal(again[key], d[key])
    with pytest.raises(ConfigError, match=r"holds other full-model runs than this campaign's \(6 runs\)"):
        W.run_campaign(tiny(n_test=6), "test", work_dir=tmp_path)


@pytest.mark.fem
def test_submodel_on_the_true_histories_reproduces_the_full_model_and_rejects_bad_input():
    _fem()
    s = tiny()
    d = W.campaign_arrays(W.run_campaign(s, "test"))
    q = W.submodel_qois(s, d["histories"], d["material"])
    for name in W.QOIS:
        assert np.all(d[name] > 0)
        np.testing.assert_allclose(q[name], d[name], rtol=1e-9)
    with pytest.raises(ParameterError, match=r"interface histories have shape \(5, 9, 15, 2\); expected \(9, 16, 2\)"):
        W.submodel_qois(s, d["histories"][:, :, 1:], d["material"])
    with pytest.raises(ParameterError, match=r"interface histories have shape \(5, 8, 16, 2\)"):
        W.submodel_qois(s, d["histories"][:, 1:], d["material"])
    with pytest.raises(ParameterError, match=r"material must have shape \(5, 3\)"):
        W.submodel_qois(s, d["histories"], d["material"][:4])
    bad = d["material"].copy()
    bad[2, 0] = -1.0
    with pytest.raises(ParameterError, match=r"parameter E=-1 is out of range; accepted: E in \[0.5, 2\]"):
        W.submodel_qois(s, d["histories"], bad)


@pytest.mark.fem
def test_timings_measure_the_same_solutions():
    _fem()
    s = tiny()
    points = W.parameter_draws(s, "test", 1)
    per_sample = W.time_per_sample(s, points)
    assert per_sample["transfer_rel_error"] < 1e-9
    assert per_sample["speedup"] == per_sample["full_s"] / per_sample["submodel_s"]
    steps = W.time_newmark_steps(s, points[0])
    assert steps["max_abs_difference"] < 1e-12 and steps["speedup"] == steps["reassemble_s"] / steps["reuse_s"]
    assert all(math.isfinite(v) and v > 0 for k, v in {**per_sample, **steps}.items()
               if k not in ("transfer_rel_error", "max_abs_difference"))
