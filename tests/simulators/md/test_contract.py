"""The MD simulators keep the Simulator contract (tiny runs), record what they promise in the
units they promise, and refuse bad options and boxes with clear messages."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ase")

from sciml.errors import ConfigError, ParameterError  # noqa: E402
from sciml.simulators.registry import SIMULATORS, build_simulator  # noqa: E402
from sciml.testing import check_simulator  # noqa: E402
from sciml.testing.simulators import middle_of_space  # noqa: E402

TINY = {"n_atoms": 108, "n_equilibrate": 10, "n_frames": 3, "stride": 4}
KINDS = ["lj_fluid", "emt_metal"]

pytestmark = pytest.mark.filterwarnings("ignore:Setting the shape on a NumPy array:DeprecationWarning")  # inside ASE


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


def test_md_simulators_are_registered():
    assert set(KINDS) <= set(SIMULATORS)


def test_registered_md_simulator_keeps_the_contract(kind):
    sim = build_simulator({"kind": kind, **TINY})
    assert sim.name == kind
    check_simulator(sim)  # sample_nbytes included: every per-sample variable but the parameters


def test_sample_nbytes_counts_every_per_sample_variable(kind):
    sim = build_simulator({"kind": kind, **TINY})
    params = middle_of_space(sim)
    ds = sim.run(params, seed=0, n_samples=2)
    stored = sum(ds[v].nbytes for v in ds.data_vars if "sample" in ds[v].dims and ds[v].attrs["role"] != "parameter")
    assert sim.sample_nbytes(params) * 2 == stored


def test_config_rebuilds_an_identical_simulator(kind):
    sim = build_simulator({"kind": kind, **TINY})
    twin = build_simulator(sim.config())
    params = middle_of_space(sim)
    a, b = sim.run(params, seed=4), twin.run(params, seed=4)
    np.testing.assert_array_equal(a["positions"].values, b["positions"].values)


def test_sample_k_does_not_depend_on_n_samples():
    sim = build_simulator({"kind": "lj_fluid", **TINY})
    one = sim.run({}, seed=9, n_samples=1)
    two = sim.run({}, seed=9, n_samples=2)
    np.testing.assert_array_equal(one["velocities"].values[0], two["velocities"].values[0])
    assert not np.array_equal(two["velocities"].values[0], two["velocities"].values[1])


def test_lj_dataset_records_reduced_units_and_frames():
    sim = build_simulator({"kind": "lj_fluid", **TINY, "timestep": 0.004})
    ds = sim.run({"temperature": 1.1, "density": 0.8}, seed=0)
    assert ds.attrs["unit_system"] == "lj" and ds.attrs["layout"] == "trajectory"
    assert ds["positions"].shape == (1, 3, 108, 3)
    np.testing.assert_allclose(ds["time"].values, [0.0, 0.016, 0.032])
    assert ds["time"].attrs["units"] == "tau" and ds["velocities"].attrs["units"] == "sigma tau-1"
    np.testing.assert_allclose(ds["masses"].values, 1.0)
    volume = np.abs(np.linalg.det(ds["cell"].values))
    np.testing.assert_allclose(108 / volume, 0.8)
    assert ds["stress"].shape == (1, 3, 6)
    np.testing.assert_array_equal(ds["pbc"].values, [[1, 1, 1]])
    assert ds["temperature"].attrs["role"] == "parameter" and float(ds["density"][0]) == 0.8


def test_emt_velocities_are_in_angstrom_per_fs():
    """Central differences of the positions of an NVE (velocity Verlet) run equal the stored velocities."""
    sim = build_simulator({"kind": "emt_metal", **TINY, "n_frames": 5, "stride": 1, "timestep": 1.0,
                           "production": "verlet"})
    ds = sim.run({"temperature": 600.0}, seed=1)
    x, v = ds["positions"].values[0], ds["velocities"].values[0]
    central = (x[2:] - x[:-2]) / 2.0  # dt = 1 fs
    np.testing.assert_allclose(central, v[1:-1], atol=2e-3 * np.abs(v).max())
    assert ds["time"].attrs["units"] == "fs" and ds["energy"].attrs["units"] == "eV"
    assert set(np.unique(ds["atomic_numbers"].values)) == {29}


def test_cost_grows_with_atoms_and_steps(kind):
    small = build_simulator({"kind": kind, **TINY})
    params = middle_of_space(small)
    assert 0 < small.cost(params) < build_simulator({"kind": kind, **TINY, "n_atoms": 256}).cost(params)
    assert small.cost(params) < build_simulator({"kind": kind, **TINY, "n_frames": 30}).cost(params)
    assert small.cost(params) == pytest.approx(108 * (10 + 2 * 4) / 1e6)


def test_bad_constructor_options_are_config_errors(kind):
    with pytest.raises(ConfigError, match=r"n_atoms must be 4 k\^3 .*accepted: \[32, 108, 256"):
        build_simulator({"kind": kind, "n_atoms": 100})
    with pytest.raises(ConfigError, match="unknown field"):
        build_simulator({"kind": kind, "n_atomz": 108})
    with pytest.raises(ConfigError, match="production must be 'langevin' or 'verlet'"):
        build_simulator({"kind": kind, "production": "nose-hoover"})
    with pytest.raises(ConfigError, match="timestep must be a finite number > 0"):
        build_simulator({"kind": kind, "timestep": 0.0})
    with pytest.raises(ConfigError, match="n_frames must be an integer >= 1"):
        build_simulator({"kind": kind, "n_frames": 0})


def test_emt_refuses_an_unknown_element():
    with pytest.raises(ConfigError, match=r"element 'Fe' is not an fcc metal of ASE's EMT; accepted: \['Ag'"):
        build_simulator({"kind": "emt_metal", "element": "Fe"})


def test_boxes_thinner_than_twice_the_cutoff_are_refused():
    lj = build_simulator({"kind": "lj_fluid", **TINY, "n_atoms": 32})
    with pytest.raises(ParameterError, match=r"widths \(a: 3\.359, b: 3\.359, c: 3\.359\) must each be >= "
                                             r"2 \* cutoff = 5"):
        lj.run({"density": 0.8442}, seed=0)
    emt = build_simulator({"kind": "emt_metal", **TINY, "n_atoms": 32})
    with pytest.raises(ParameterError, match=r"widths \(a: 7\.22, .* >= 2 \* cutoff = 10\.7"):
        emt.run({}, seed=0)
