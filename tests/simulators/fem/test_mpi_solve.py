"""One FE solve over 2 MPI ranks (``mpirun -n 2``) equals the serial solve."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver")

from sciml.errors import ConfigError, ParameterError, SimulationError  # noqa: E402
from sciml.simulators.fem.parallel import find_mpirun, run_mpi  # noqa: E402
from sciml.simulators.registry import build_simulator  # noqa: E402

pytestmark = pytest.mark.fem

CONFIG = {"kind": "fem_diffusion2d", "resolution": 20, "degree": 2, "grid": 17, "points": {"probe": [0.3, 0.7]}}
PARAMS = {"xi_1": 1.0, "xi_2": -1.5, "xi_3": 0.5, "source": 3.0}


@pytest.fixture(scope="module")
def mpirun():
    if find_mpirun() is None:
        pytest.skip("no mpirun next to sys.executable")


def test_two_ranks_equal_one(mpirun, tmp_path):
    out = tmp_path / "u.nc"
    parallel = run_mpi(CONFIG, PARAMS, 2, seed=4, n_samples=2, out=out)
    serial = build_simulator(CONFIG).run(PARAMS, seed=4, n_samples=2)
    assert out.is_file() and parallel.attrs["mpi_ranks"] == 2 and parallel.attrs["seed"] == 4
    assert sorted(parallel.data_vars) == sorted(serial.data_vars)
    for name in serial.data_vars:  # direct LU (MUMPS) on both sides: round-off apart
        np.testing.assert_allclose(parallel[name].values, serial[name].values, rtol=0, atol=1e-11, err_msg=name)
    assert float(np.abs(serial.u.values).max()) > 0.5


def test_failure_on_the_ranks_is_reported(mpirun):
    config = {**CONFIG, "solver": {"method": "cg", "preconditioner": "jacobi", "rtol": 1e-14, "max_it": 1}}
    pattern = r"(?s)mpirun -n 2 \(fem_diffusion2d\) failed.*SimulationError: .*DIVERGED_MAX_IT"
    with pytest.raises(SimulationError, match=pattern):
        run_mpi(config, PARAMS, 2)


def test_bad_input_is_caught_before_launching():
    with pytest.raises(ParameterError, match=r"xi_1=9 is out of range"):
        run_mpi(CONFIG, {"xi_1": 9.0}, 2)
    with pytest.raises(ConfigError, match=r"unknown field\(s\) \['cells'\]"):
        run_mpi({**CONFIG, "cells": 3}, PARAMS, 2)
    with pytest.raises(ConfigError, match=r"n_ranks must be an integer >= 1; got 0"):
        run_mpi(CONFIG, PARAMS, 0)
