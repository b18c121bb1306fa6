"""The cosmology Simulators keep the Simulator contract on tiny boxes, pair their realisations through
the seed (cheap and expensive runs share the white noise), and refuse bad options clearly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sciml.data import validate
from sciml.errors import ConfigError, ParameterError
from sciml.simulators.cosmology import PMSimulator
from sciml.simulators.cosmology.power import power_from_grid
from sciml.simulators.registry import SIMULATORS, build_simulator
from sciml.testing import check_simulator

KINDS = ["cosmo_zeldovich", "cosmo_2lpt", "cosmo_pm"]
TINY = {"box_size": 128.0, "n_particles": 16}


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


def test_cosmology_simulators_are_registered():
    assert set(KINDS) <= set(SIMULATORS)


def test_simulator_keeps_the_contract(kind):
    sim = build_simulator({"kind": kind, **TINY})
    assert sim.name == kind
    check_simulator(sim)


def test_density_output_layout_and_mass_conservation(kind):
    sim = build_simulator({"kind": kind, **TINY, "n_mesh": 24, "a_output": [0.5, 1.0]})
    ds = sim.run({"sigma_8": 0.7}, seed=2, n_samples=2)
    validate(ds, required_fields=["delta"], required_parameters=["Omega_m", "sigma_8", "n_s", "h"])
    assert ds["delta"].shape == (2, 2, 24, 24, 24) and ds["delta"].dtype == np.float32
    np.testing.assert_allclose(ds["t"].values, [0.5, 1.0])
    np.testing.assert_allclose(ds["redshift"].values, [1.0, 0.0])
    np.testing.assert_allclose(ds["x"].values, np.arange(24) * 128.0 / 24)
    assert ds["x"].attrs["units"] == "Mpc/h" and ds["sigma_8"].values.tolist() == [0.7, 0.7]
    # CIC conserves mass: the density contrast averages to zero
    np.testing.assert_allclose(ds["delta"].mean(dim=("x", "y", "z")).values, 0.0, atol=1e-6)
    assert sim.sample_nbytes() * 2 == ds["delta"].nbytes


def test_power_output_and_sample_pairing(kind):
    sim = build_simulator({"kind": kind, **TINY})
    two = sim.run_power({}, seed=4, n_samples=2)
    one = sim.run_power({}, seed=4, n_samples=1)
    assert two["power"].dims == ("sample", "t", "k") and two["n_modes"].dims == ("k",)
    assert np.all(np.diff(two["k"].values) > 0) and np.all(two["power"].values > 0)
    assert two.attrs["shot_noise"] == pytest.approx(128.0**3 / 16**3)
    assert json.loads(two.attrs["parameters"])["config"] == json.loads(json.dumps(sim.config()))
    np.testing.assert_array_equal(two["power"].values[0], one["power"].values[0])  # sample 0 is sample 0
    assert not np.allclose(two["power"].values[0], two["power"].values[1])


def test_cheap_and_expensive_runs_with_the_same_seed_share_their_white_noise():
    """The paired design: same initial field, densities correlated r > 0.95 on large scales; another seed r ~ 0."""
    opts = {"box_size": 256.0, "n_particles": 16, "n_mesh": 32}
    za, lpt2, pm = (build_simulator({"kind": k, **opts}) for k in KINDS)
    params = {"sigma_8": 0.8}
    np.testing.assert_array_equal(za.initial_density_k(params, seed=9, sample=1),
                                  pm.initial_density_k(params, seed=9, sample=1))
    dens = {name: sim.run(params, seed=9, n_samples=1)["delta"].values[0, -1].astype(np.float64)
            for name, sim in (("za", za), ("2lpt", lpt2), ("pm", pm))}
    other = lpt2.run(params, seed=10, n_samples=1)["delta"].values[0, -1].astype(np.float64)

    def corr(a, b):
        cross = power_from_grid(a, 256.0, other=b).power
        return cross / np.sqrt(power_from_grid(a, 256.0).power * power_from_grid(b, 256.0).power)

    assert np.all(corr(dens["pm"], dens["2lpt"])[:3] > 0.95) and np.all(corr(dens["pm"], dens["za"])[:3] > 0.9)
    assert np.all(np.abs(corr(dens["pm"], other)[:3]) < 0.5)


def test_config_rebuilds_an_identical_simulator(kind):
    sim = build_simulator({"kind": kind, **TINY, "a_output": [0.6, 1.0], "spectrum": "eisenstein_hu_nowiggle"})
    twin = build_simulator(sim.config())
    assert twin.config() == sim.config()
    np.testing.assert_array_equal(sim.run({}, seed=1)["delta"].values, twin.run({}, seed=1)["delta"].values)


def test_cost_is_positive_and_grows_with_resolution_and_fidelity():
    costs = {k: build_simulator({"kind": k, **TINY}).cost({}) for k in KINDS}
    assert 0 < costs["cosmo_zeldovich"] < costs["cosmo_2lpt"] < costs["cosmo_pm"]
    finer = build_simulator({"kind": "cosmo_pm", **TINY, "n_particles": 32}).cost({})
    assert finer > costs["cosmo_pm"]


def test_a_spectrum_table_is_used_and_a_bad_one_refused():
    k = np.logspace(-3, 1, 50)
    table = {"k": k.tolist(), "p": (1e4 * k / (1 + (k / 0.02) ** 2.5)).tolist()}
    sim = build_simulator({"kind": "cosmo_2lpt", **TINY, "spectrum": table})
    assert sim.run_power({}, seed=0)["power"].shape[-1] > 0
    bad = {"k": [0.1, 0.3, 0.2], "p": [1.0, 1.0, 1.0]}
    with pytest.raises(ConfigError, match="not strictly increasing"):
        build_simulator({"kind": "cosmo_2lpt", **TINY, "spectrum": bad})


@pytest.mark.parametrize("option, value, match", [
    ("box_size", 0.0, "box_size must be a positive number"),
    ("box_size", -5.0, "box_size must be a positive number"),
    ("n_particles", 0, "n_particles must be an even integer >= 4"),
    ("n_particles", 15, "n_particles must be an even integer >= 4"),
    ("n_mesh", -8, "n_mesh must be an even integer >= 4"),
    ("a_final", 1.5, r"a_final must be in \(0, 1\]"),
    ("a_output", [0.5, 2.0], "a_output must be scale factors"),
    ("Omega_b", 0.2, r"Omega_b must be in \[0, 0.1\)"),
    ("spectrum", "bbks", "spectrum must be one of"),
    ("dtype", "int8", "dtype must be"),
])
def test_bad_options_are_clear_errors(kind, option, value, match):
    with pytest.raises(ConfigError, match=match):
        build_simulator({"kind": kind, **TINY, option: value})


def test_bad_pm_options_are_clear_errors():
    with pytest.raises(ParameterError, match=r"a_start must be in \(0, 1\)"):
        PMSimulator(a_start=0.0)
    with pytest.raises(ConfigError, match="a_output must be scale factors in"):
        build_simulator({"kind": "cosmo_pm", **TINY, "a_start": 0.2, "a_output": [0.1, 1.0]})
    with pytest.raises(ConfigError, match="n_steps must be an integer >= 1"):
        build_simulator({"kind": "cosmo_pm", **TINY, "n_steps": 0})
    with pytest.raises(ConfigError, match="gradient must be one of"):
        build_simulator({"kind": "cosmo_pm", **TINY, "gradient": "exact"})
    with pytest.raises(ConfigError, match="a_start=0.5 must be below a_final=0.4"):
        build_simulator({"kind": "cosmo_pm", **TINY, "a_start": 0.5, "a_final": 0.4})
