"""ASE's integrators as the MD simulators drive them: Langevin reaches the target kinetic
temperature, velocity Verlet conserves energy to second order, bad starts are refused and a
diverging run stops with the step named and the last good frame kept."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

ase = pytest.importorskip("ase")
from ase import units  # noqa: E402
from ase.calculators.lj import LennardJones  # noqa: E402

from sciml.errors import ParameterError  # noqa: E402
from sciml.simulators.md.driver import MDDivergenceError, MDSettings, run_md  # noqa: E402
from sciml.simulators.md.lennard_jones import LJFluidSimulator, lj_fcc_atoms  # noqa: E402
from sciml.simulators.md.observables import kinetic_energy  # noqa: E402
from sciml.simulators.md.trajectory_observables import trajectory_temperature  # noqa: E402

#: 32 particles at rho* = 0.8442 (box 3.36 sigma) need a cutoff below 1.68; the smooth switch keeps forces C1
SMALL_LJ = {"n_atoms": 32, "cutoff": 1.6, "smooth_onset": 1.3}

pytestmark = pytest.mark.filterwarnings("ignore:Setting the shape on a NumPy array:DeprecationWarning")  # inside ASE


def small_lj_calculator() -> LennardJones:
    return LennardJones(sigma=1.0, epsilon=1.0, rc=1.6, ro=1.3, smooth=True)


def block_mean_and_error(x: np.ndarray, n_blocks: int = 20) -> tuple[float, float]:
    blocks = x[: len(x) // n_blocks * n_blocks].reshape(n_blocks, -1).mean(axis=1)
    return float(x.mean()), float(blocks.std(ddof=1) / np.sqrt(n_blocks))


def test_langevin_reaches_the_target_kinetic_temperature():
    sim = LJFluidSimulator(**SMALL_LJ, friction=5.0, n_equilibrate=300, n_frames=301, stride=4)
    ds = sim.run({"temperature": 1.0, "density": 0.8442}, seed=2)
    temps = trajectory_temperature(ds).values[0]  # 2 K / ((3N - 3) k_B): the centre of mass is fixed
    np.testing.assert_allclose(ds["velocities"].values[0].sum(axis=1), 0.0, atol=1e-10)
    mean, err = block_mean_and_error(temps)
    assert err < 0.03
    assert abs(mean - 1.0) < 3 * err, (mean, err)


def energy_fluctuation(atoms, dt: float, total_time: float) -> float:
    """Standard deviation of the total energy of an NVE run of ``total_time`` from ``atoms``' state."""
    start = atoms.copy()
    start.calc = small_lj_calculator()
    start.set_momenta(atoms.get_momenta())
    steps = round(total_time / dt)
    settings = MDSettings(timestep=dt, temperature_K=1.0 / units.kB, friction=1.0, n_equilibrate=0,
                          n_frames=steps + 1, stride=1, production="verlet")
    frames = run_md(start, settings, np.random.default_rng(0), thermalize=False)
    return float(np.std(frames.energy + kinetic_energy(frames.velocities, start.get_masses())))


def test_velocity_verlet_conserves_energy_to_second_order():
    atoms = lj_fcc_atoms(32, 0.8442)
    atoms.calc = small_lj_calculator()
    hot = MDSettings(timestep=0.005, temperature_K=1.0 / units.kB, friction=5.0, n_equilibrate=200, n_frames=1,
                     stride=1)
    run_md(atoms, hot, np.random.default_rng(0))
    coarse, fine = energy_fluctuation(atoms, 0.004, 0.4), energy_fluctuation(atoms, 0.002, 0.4)
    order = np.log2(coarse / fine)
    assert abs(order - 2.0) < 0.3, (coarse, fine, order)
    assert coarse < 0.01 * 32  # and small: 1e-2 epsilon per particle at most


def test_overlapping_atoms_are_refused_with_the_pair_named():
    atoms = lj_fcc_atoms(108, 0.8442)
    atoms.positions[7] = atoms.positions[3] + [0.2, 0.1, 0.0]
    atoms.calc = LennardJones(sigma=1.0, epsilon=1.0, rc=2.5)
    settings = MDSettings(timestep=0.005, temperature_K=1.0 / units.kB, friction=1.0, n_equilibrate=1,
                          n_frames=1, stride=1)
    with pytest.raises(ParameterError, match=r"atoms 3 and 7 are 0\.2236 apart .*closer than min_distance 0\.5"):
        run_md(atoms, settings, np.random.default_rng(0), min_distance=0.5)


def test_a_box_thinner_than_twice_the_cutoff_is_refused():
    atoms = lj_fcc_atoms(108, 0.8442)  # box 5.04 sigma
    atoms.calc = LennardJones(sigma=1.0, epsilon=1.0, rc=3.0)
    settings = MDSettings(timestep=0.005, temperature_K=1.0 / units.kB, friction=1.0, n_equilibrate=1,
                          n_frames=1, stride=1)
    with pytest.raises(ParameterError, match=r"too small for cutoff 3: perpendicular widths \(a: 5\.039, b: 5\.039, "
                                             r"c: 5\.039\) must each be >= 2 \* cutoff = 6"):
        run_md(atoms, settings, np.random.default_rng(0), cutoff=3.0)


class _FailsAfter(LennardJones):
    """Returns a NaN energy from its ``after``-th evaluation on."""

    def __init__(self, after: int, **kwargs):
        super().__init__(**kwargs)
        self.after, self.calls = after, 0

    def calculate(self, *args, **kwargs):
        super().calculate(*args, **kwargs)
        self.calls += 1
        if self.calls >= self.after:
            self.results["energy"] = float("nan")


def test_a_nan_energy_stops_the_run_at_its_step_keeping_the_last_good_state():
    atoms = lj_fcc_atoms(32, 0.8442)
    atoms.calc = _FailsAfter(16, sigma=1.0, epsilon=1.0, rc=1.6, ro=1.3, smooth=True)
    settings = MDSettings(timestep=0.005, temperature_K=1.0 / units.kB, friction=1.0, n_equilibrate=5,
                          n_frames=10, stride=2)
    with pytest.raises(MDDivergenceError, match=r"MD diverged at step 15 \(production: non-finite potential "
                                                r"energy nan\); stopped\. The last good state \(step 14\)") as info:
        run_md(atoms, settings, np.random.default_rng(0))
    exc = info.value
    assert (exc.step, exc.phase) == (15, "production")
    assert np.isfinite(exc.last_good.get_positions()).all()
    assert exc.frames.positions.shape == (5, 32, 3)  # production steps 0, 2, 4, 6, 8 (steps 5..13 overall)
    np.testing.assert_array_equal(exc.frames.steps, [0, 2, 4, 6, 8])


def test_an_exploding_simulator_run_names_sample_step_and_keeps_a_partial_dataset():
    sim = LJFluidSimulator(n_equilibrate=0, n_frames=10, stride=2, timestep=0.05, production="verlet")
    with pytest.raises(MDDivergenceError, match=r"lj_fluid: sample 0 with parameters \{'temperature': 2\.0, "
                                                r"'density': 0\.85\} and seed 0: MD diverged at step \d+ "
                                                r"\(production: potential energy .* above 5400") as info:
        sim.run({"temperature": 2.0, "density": 0.85}, seed=0)
    exc = info.value
    assert exc.partial is not None and exc.partial.attrs["layout"] == "trajectory"
    assert exc.partial.sizes["frame"] == len(exc.frames.steps) >= 1
    assert np.isfinite(exc.partial["positions"].values).all()
    assert np.isfinite(exc.last_good.positions).all()
    again = pickle.loads(pickle.dumps(exc))  # executors send errors between processes
    assert str(again) == str(exc) and again.step == exc.step and again.partial.sizes == exc.partial.sizes


def test_premelting_needs_a_temperature():
    with pytest.raises(ParameterError, match="n_premelt = 10 needs a premelt temperature"):
        LJFluidSimulator(n_premelt=10)
