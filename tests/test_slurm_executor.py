"""The Slurm executor on a real (one-node) Slurm cluster, through dask-jobqueue.

`.ci/run` starts the cluster (`.ci/slurm-up`); elsewhere these tests are skipped unless
`sinfo` reports an idle node.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess

import numpy as np
import pytest

pytestmark = pytest.mark.slurm


def _slurm_ready() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(s.strip() in ("idle", "mixed") for s in out.splitlines())


requires_slurm = pytest.mark.skipif(not _slurm_ready(), reason="no idle Slurm node (start one with .ci/slurm-up)")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    pytest.importorskip("dask_jobqueue")
    from sciml.executors import slurm_executor

    logs = tmp_path_factory.mktemp("slurm-logs")
    ex = slurm_executor(jobs=1, cores=1, memory="2GiB", walltime="00:10:00", interface="lo",
                        job_extra_directives=[f"--output={logs}/%j.out"], show_progress=False)
    yield ex
    ex.close()


@requires_slurm
def test_slurm_executor_keeps_the_contract(slurm):
    from sciml.testing import check_executor

    check_executor(slurm)


@requires_slurm
def test_slurm_executor_maps_inside_a_slurm_job(slurm):
    # functions must be importable on the worker (a Slurm job started elsewhere): use the
    # standard library's, not this test module's
    assert dict(slurm.map(math.factorial, list(range(7)))) == {i: math.factorial(i) for i in range(7)}
    job_ids = dict(slurm.map(os.getenv, ["SLURM_JOB_ID", "SLURM_JOB_NAME"]))
    assert job_ids[0].isdigit() and job_ids[1] == "dask-worker"


@requires_slurm
def test_campaign_on_slurm_matches_inprocess(slurm, tmp_path, monkeypatch):
    from sciml.data.netcdf import open_dataset
    from sciml.workflows import campaign

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: slurm_tiny\nsimulator: {kind: advection1d, n_cells: 32, n_frames: 5, t_final: 0.2}\n"
        "design: {kind: grid, values: {beta: [0.5, 1.5]}}\nsamples_per_point: 2\nseed: 3\n"
        "executor: {kind: slurm, jobs: 1, memory: 2GiB}\noutput: out.nc\n"
    )
    # reuse the module's cluster instead of starting a second one
    monkeypatch.setattr(campaign, "make_executor", lambda cfg: _Borrowed(slurm))
    on_slurm = campaign.generate(recipe, output=tmp_path / "slurm.nc")
    monkeypatch.undo()
    local = campaign.generate(recipe, output=tmp_path / "local.nc", executor={"kind": "inprocess"})
    with open_dataset(on_slurm) as a, open_dataset(local) as b:
        np.testing.assert_array_equal(a["u"].values, b["u"].values)
        np.testing.assert_array_equal(a["beta"].values, [0.5, 0.5, 1.5, 1.5])


class _Borrowed:
    """Wraps an executor so that leaving a ``with`` block does not close it."""

    def __init__(self, inner):
        self.inner = inner

    def __enter__(self):
        return self.inner

    def __exit__(self, *exc):
        return None


@requires_slurm
def test_finite_element_campaign_on_slurm_matches_inprocess(slurm, tmp_path, monkeypatch):
    pytest.importorskip("dolfinx_solver")
    from sciml.data.netcdf import open_dataset
    from sciml.workflows import campaign

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: slurm_fem\nsimulator: {kind: fem_plate_dynamics, resolution: 4, n_steps: 6, t_final: 1.0, interface_points: 8, "
        "grid: 5}\ndesign: {kind: grid, values: {amplitude: [0.001, 0.002]}}\nsamples_per_point: 1\nseed: 3\n"
        "executor: {kind: slurm, jobs: 1, memory: 2GiB}\noutput: out.nc\n"
    )
    monkeypatch.setattr(campaign, "make_executor", lambda cfg: _Borrowed(slurm))
    on_slurm = campaign.generate(recipe, output=tmp_path / "slurm.nc")
    monkeypatch.undo()
    local = campaign.generate(recipe, output=tmp_path / "local.nc", executor={"kind": "inprocess"})
    with open_dataset(on_slurm) as a, open_dataset(local) as b:
        for name in ("u_x", "u_y", "amplitude"):
            np.testing.assert_array_equal(a[name].values, b[name].values)
        peak = np.abs(a["u_x"].values).max(axis=(1, 2, 3))
        assert peak[0] > 0 and peak[1] == pytest.approx(2 * peak[0], rel=1e-9)  # linear: twice the load
