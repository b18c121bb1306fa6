"""Batched posterior MD: one pass per step for all weight samples equals the samples run one at a
time, does not depend on the neighbour-list skin, matches ASE's velocity Verlet in both unit
systems, conserves energy at second order, thermostats to the right kinetic temperature, and
stops a diverging run naming the step and replica with the last good frame kept."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sciml.errors import ConfigError, ParameterError
from sciml.simulators.md.driver import MDDivergenceError
from sciml.surrogates.potentials import (
    ForceMatchingModel,
    LennardJonesPotential,
    RepulsivePrior,
    SchNetPotential,
    replica_seeds,
    run_posterior_md,
    time_posterior_md,
)
from sciml.surrogates.potentials.baoab import kinetic_temperature
from sciml.surrogates.sgmcmc import GaussianNoise, WeightSamples

ase = pytest.importorskip("ase")
pytestmark = pytest.mark.usefixtures("one_torch_thread")
from ase.build import bulk  # noqa: E402

F64 = torch.float64


def _argon(repeat: int = 2, density: float = 0.5, jitter: float = 0.05, seed: int = 0):
    atoms = bulk("Ar", "fcc", a=(4.0 / density) ** (1.0 / 3.0), cubic=True).repeat(repeat)
    atoms.set_masses(np.ones(len(atoms)))
    atoms.positions += jitter * np.random.default_rng(seed).normal(size=atoms.positions.shape)
    return atoms


def _schnet(seed: int, cutoff: float = 1.9) -> SchNetPotential:
    torch.manual_seed(seed)
    return SchNetPotential([18], cutoff, hidden_channels=8, num_filters=8, num_interactions=2, num_gaussians=10,
                           prior=RepulsivePrior(0.9, 1.0, cutoff)).double()


def _samples(models) -> WeightSamples:
    return WeightSamples([m.state_dict() for m in models], list(range(len(models))), [10 * k for k in
                                                                                      range(len(models))])


def _lj_samples(pairs) -> WeightSamples:
    states = [LennardJonesPotential(s, e, 1.9).state_dict() for s, e in pairs]
    return WeightSamples(states, [0] * len(states), list(range(len(states))))


RUN = {"temperature": 1.0, "timestep": 0.004, "unit_system": "lj"}


def test_the_batched_run_equals_each_sample_run_alone():
    models = [_schnet(k) for k in range(3)]
    samples, start = _samples(models), _argon()
    seeds = replica_seeds(7, 3)
    ds = run_posterior_md(models[0], samples, start, n_steps=30, stride=10, friction=2.0, seed=7, **RUN)
    assert ds.sizes == {"sample": 3, "frame": 4, "atom": 32, "xyz": 3, "cell_vector": 3}
    for m in range(3):
        alone = run_posterior_md(models[m], WeightSamples([samples.states[m]], [m], [0]), start, n_steps=30,
                                 stride=10, friction=2.0, seed=[seeds[m]], **RUN)
        for name in ("positions", "velocities", "forces", "energy"):
            np.testing.assert_allclose(ds[name].values[m], alone[name].values[0], rtol=1e-10, atol=1e-10)
    # each replica is driven by its own sample: its recorded energies are its own model's
    pos = torch.tensor(ds.positions.values[2, -1])
    z, cell = torch.tensor(start.numbers), torch.tensor(start.cell.array)
    assert float(ds.energy.values[2, -1]) == pytest.approx(float(models[2](pos, z, cell).detach()), rel=1e-12)
    assert float(ds.energy.values[2, -1]) != pytest.approx(float(models[1](pos, z, cell).detach()), rel=1e-3)
    np.testing.assert_array_equal(ds["chain"].values, [0, 1, 2])
    np.testing.assert_array_equal(ds["draw_step"].values, [0, 10, 20])
    assert ds.attrs["steps_per_second"] > 0 and ds.attrs["unit_system"] == "lj"


def test_identical_samples_with_identical_seeds_give_identical_replicas():
    model = _schnet(0)
    samples = _samples([model] * 3)
    ds = run_posterior_md(model, samples, _argon(), n_steps=20, stride=20, friction=1.0, seed=[5, 5, 5], **RUN)
    for m in (1, 2):  # identical up to round-off of the batched matrix products
        np.testing.assert_allclose(ds.positions.values[m], ds.positions.values[0], rtol=0, atol=1e-13)
        np.testing.assert_allclose(ds.velocities.values[m], ds.velocities.values[0], rtol=0, atol=1e-13)
    assert not np.allclose(ds.positions.values[0, -1], ds.positions.values[0, 0])


def test_results_do_not_depend_on_the_skin_and_the_generic_vmap_path_agrees():
    models = [_schnet(k) for k in range(2)]
    samples, start = _samples(models), _argon(jitter=0.1)
    runs = {skin: run_posterior_md(models[0], samples, start, n_steps=40, stride=40, friction=1.0, seed=3,
                                   skin=skin, **RUN) for skin in (0.0, 0.3, 0.8)}
    assert runs[0.0].attrs["neighbor_list_builds"] == 41 > runs[0.8].attrs["neighbor_list_builds"]
    for skin in (0.3, 0.8):
        np.testing.assert_allclose(runs[skin].positions.values, runs[0.0].positions.values, rtol=0, atol=1e-11)
    generic = run_posterior_md(models[0], samples, start, n_steps=40, stride=40, friction=1.0, seed=3,
                               method="vmap", **RUN)  # full lists through torch.func.vmap
    np.testing.assert_allclose(generic.positions.values, runs[0.3].positions.values, rtol=0, atol=1e-10)


@pytest.mark.parametrize("unit_system", ["lj", "ase"])
def test_verlet_equals_ase_velocity_verlet_with_the_calculator(unit_system):
    """friction = 0 is velocity Verlet; the unit conversions (fs, amu, eV) agree with ASE's."""
    from ase.md.velocitydistribution import Stationary, thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    from sciml.surrogates.potentials.calculator import PotentialCalculator

    lj = unit_system == "lj"
    sigma, epsilon, cutoff = (1.0, 1.0, 1.9) if lj else (2.3, 0.4, 4.4)
    atoms = _argon(density=0.5 if lj else 0.5 / sigma**3, jitter=0.05 * sigma)
    if not lj:
        atoms.numbers[:], atoms.arrays["masses"] = 29, np.full(len(atoms), 63.546)
    thermalize_momenta(atoms, temperature_K=(1.0 / ase.units.kB) if lj else 900.0, rng=np.random.default_rng(0))
    Stationary(atoms)
    potential = LennardJonesPotential(sigma, epsilon, cutoff, species=[int(atoms.numbers[0])])
    dt = 0.005 if lj else 2.0  # tau or fs
    ds = run_posterior_md(potential, WeightSamples([potential.state_dict()], [0], [0]), atoms, temperature=1.0,
                          timestep=dt, n_steps=30, stride=10, friction=0.0, thermalize=False,
                          unit_system=unit_system)
    atoms.calc = PotentialCalculator(potential)
    dyn = VelocityVerlet(atoms, dt * (1.0 if lj else ase.units.fs))
    reference = []
    for _ in range(3):
        dyn.run(10)
        reference.append((atoms.get_positions(), atoms.get_velocities() * (1.0 if lj else ase.units.fs)))
    for k, (pos, vel) in enumerate(reference, start=1):
        np.testing.assert_allclose(ds.positions.values[0, k], pos, rtol=0, atol=1e-10 * sigma)
        np.testing.assert_allclose(ds.velocities.values[0, k], vel, rtol=1e-9, atol=1e-10)
    assert ds.time.values[-1] == pytest.approx(30 * dt) and ds.time.attrs["units"] == ("tau" if lj else "fs")


def test_verlet_conserves_energy_with_schnet_and_the_error_is_second_order():
    model = _schnet(0)
    samples = _samples([model, _schnet(1)])
    start, fluctuation, drift = _argon(jitter=0.02), {}, {}
    for dt in (0.004, 0.002):
        n = int(round(0.4 / dt))
        ds = run_posterior_md(model, samples, start, temperature=0.5, timestep=dt, n_steps=n, stride=1,
                              friction=0.0, seed=1, unit_system="lj")
        total = ds.energy.values + 0.5 * (ds.velocities.values ** 2).sum((2, 3))  # (sample, frame); m = 1
        fluctuation[dt] = total.std(axis=1)
        drift[dt] = np.abs(total[:, -1] - total[:, 0])
        kinetic = 0.5 * (ds.velocities.values ** 2).sum((2, 3))
        assert np.all(fluctuation[dt] < 1e-3 * kinetic.std(axis=1))  # small against the energy exchanged
    ratio = fluctuation[0.004] / fluctuation[0.002]
    assert np.all((ratio > 3.0) & (ratio < 5.0)), ratio  # halving dt quarters the fluctuation
    assert np.all(drift[0.002] < 1e-4 * np.abs(total[:, 0]).max())


def test_langevin_reaches_the_target_kinetic_temperature():
    """Cheap analytic LJ samples (different sigma, epsilon); 8 replicas, strong friction."""
    samples = _lj_samples([(1.0, 1.0), (0.95, 1.1), (1.02, 0.9), (0.98, 1.0)] * 2)
    target = 1.2
    ds = run_posterior_md(LennardJonesPotential(cutoff=1.9), samples, _argon(jitter=0.0), temperature=target,
                          timestep=0.005, n_steps=800, n_equilibrate=100, stride=5, friction=5.0, seed=11,
                          unit_system="lj")
    v = torch.tensor(ds.velocities.values)  # (sample, frame, atom, 3)
    temps = torch.stack([kinetic_temperature(v[:, f], torch.ones(32)) for f in range(v.shape[1])], 1)
    assert float(temps.mean()) == pytest.approx(target, rel=0.025)
    momentum = v.sum(2)
    assert float(momentum.abs().max()) < 1e-12  # zero total momentum throughout


def test_a_diverging_replica_stops_the_run_with_the_last_good_frame_kept():
    """Sample 1 has epsilon < 0 (attractive core): its atoms fall onto each other."""
    samples = _lj_samples([(1.0, 1.0), (1.0, 1.0)])
    samples.states[1]["epsilon"] = torch.tensor(-1.0, dtype=F64)
    with pytest.raises(MDDivergenceError) as info:
        run_posterior_md(LennardJonesPotential(cutoff=1.9), samples, _argon(), n_steps=2000, stride=5,
                         friction=1.0, seed=0, **RUN)
    exc = info.value
    assert exc.replicas == [1] and exc.phase == "production" and exc.step > 0
    assert f"diverged at step {exc.step}" in str(exc) and "replica 1:" in str(exc)
    assert "closer than min_distance 0.5" in str(exc) or "non-finite" in str(exc) or "energy per atom" in str(exc)
    good = exc.last_good
    assert good.sizes["frame"] == 1 and good.time.values[0] == pytest.approx((exc.step - 1) * 0.004)
    assert np.isfinite(good.positions.values).all() and np.isfinite(good.energy.values).all()
    partial = exc.partial
    assert partial.sizes["frame"] == (exc.step - 1) // 5 + 1 and partial.sizes["sample"] == 2
    assert partial.time.values[-1] <= good.time.values[0]
    assert partial.attrs["diverged_at_step"] == exc.step


def test_bad_inputs_get_clear_errors():
    model = _schnet(0)
    samples = _samples([model])
    overlapping = _argon(jitter=0.0)
    overlapping.positions[1] = overlapping.positions[0] + [0.3, 0.0, 0.0]
    with pytest.raises(ParameterError, match="overlapping atoms .*0.3 apart"):
        run_posterior_md(model, samples, overlapping, n_steps=1, **RUN)
    foreign = _argon()
    foreign.numbers[0] = 29
    with pytest.raises(ParameterError, match=r"species \[29\]"):
        run_posterior_md(model, samples, foreign, n_steps=1, **RUN)
    with pytest.raises(ParameterError, match="box too small"):
        run_posterior_md(_schnet(0, cutoff=2.5), _samples([_schnet(0, cutoff=2.5)]), _argon(), n_steps=1, **RUN)
    with pytest.raises(ConfigError, match="another model"):
        run_posterior_md(model, _lj_samples([(1.0, 1.0)]), _argon(), n_steps=1, **RUN)
    with pytest.raises(ParameterError, match="unit_system"):
        run_posterior_md(model, samples, _argon(), n_steps=1, temperature=1.0, timestep=0.004)
    with pytest.raises(ParameterError, match="timestep"):
        run_posterior_md(model, samples, _argon(), n_steps=1, temperature=1.0, timestep=-1.0, unit_system="lj")


def test_force_matching_samples_and_a_dataset_start():
    """Samples of a ForceMatchingModel (keys ``potential.*``) drive its potential; a dataset frame starts it."""
    fm = [ForceMatchingModel(_schnet(k), GaussianNoise(0.1)) for k in range(2)]
    samples = _samples(fm)
    first = run_posterior_md(fm[0], samples, _argon(), n_steps=10, stride=5, seed=2, friction=1.0, **RUN)
    again = run_posterior_md(fm[0], samples, first, n_steps=10, stride=5, seed=2, friction=1.0, temperature=1.0,
                             timestep=0.004)  # last frame of sample 0, unit system from the dataset
    np.testing.assert_allclose(again.positions.values[:, 0], np.broadcast_to(first.positions.values[0, -1],
                                                                              (2, 32, 3)))
    assert again.attrs["unit_system"] == "lj" and math.isfinite(float(again.energy.max()))


def test_time_posterior_md_returns_positive_rates():
    models = [ForceMatchingModel(_schnet(k), GaussianNoise(0.1)) for k in range(2)]
    out = time_posterior_md(models[0], _samples(models), _argon(), temperature=1.0, timestep=0.004, n_steps=3,
                            friction=1.0, unit_system="lj", dtype=torch.float32, n_threads=1)
    for key in ("batched_steps_per_second", "sequential_steps_per_second", "analytic_lj_steps_per_second",
                "speedup"):
        assert math.isfinite(out[key]) and out[key] > 0, key
    assert out["n_samples"] == 2 and out["n_atoms"] == 32


def test_float32_tracks_float64_and_a_non_periodic_cluster_runs():
    models = [_schnet(k) for k in range(2)]
    samples, start = _samples(models), _argon()
    start.set_velocities(np.random.default_rng(0).normal(size=(32, 3)))
    verlet = {"n_steps": 10, "stride": 10, "friction": 0.0, "thermalize": False}  # same start, no noise
    double = run_posterior_md(models[0], samples, start, **verlet, **RUN)
    single = run_posterior_md(models[0], samples, start, **verlet, dtype=torch.float32, **RUN)
    assert single.positions.dtype == np.float64  # stored as float64 either way
    np.testing.assert_allclose(single.positions.values, double.positions.values, rtol=0, atol=1e-4)
    cluster = {"positions": start.positions[:13], "numbers": start.numbers[:13], "cell": None, "pbc": False}
    ds = run_posterior_md(models[0], samples, cluster, n_steps=10, stride=5, seed=4, **RUN)
    assert ds.pbc.values.sum() == 0 and np.isfinite(ds.positions.values).all()
