"""A campaign killed with SIGKILL leaves no output; the rerun resumes and gives the same file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sciml.data.netcdf import open_dataset

RECIPE = """
name: killme
simulator: {kind: burgers1d, n_cells: 512, n_frames: 101, t_final: 2.0}
design: {kind: grid, values: {nu: [0.001, 0.002, 0.004, 0.01, 0.02, 0.04]}}
samples_per_point: 4
samples_per_task: 2
seed: 5
executor: {kind: inprocess}
output: killme.nc
"""


@pytest.mark.slow
def test_sigkill_then_resume(tmp_path):
    recipe = tmp_path / "killme.yaml"
    recipe.write_text(RECIPE)
    out = tmp_path / "killme.nc"
    parts = tmp_path / "killme.nc.parts"
    sciml = Path(sys.executable).parent / "sciml"
    cmd = [str(sciml), "data", "generate", str(recipe), "--output", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if parts.is_dir() and len(list(parts.glob("task-*.nc"))) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"finished before it could be killed: {proc.stderr.read().decode()}"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not out.exists()
    done = sorted(p.name for p in parts.glob("task-*.nc"))
    assert 2 <= len(done) < 12
    for p in parts.glob("task-*.nc"):  # every finished part is complete and readable
        with open_dataset(p) as ds:
            assert ds.sizes["sample"] == 2
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert out.exists() and not parts.exists()
    # same bits as an uninterrupted run
    fresh = tmp_path / "fresh.nc"
    res = subprocess.run([*cmd[:-1], str(fresh)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    with open_dataset(out) as a, open_dataset(fresh) as b:
        assert a.sizes["sample"] == 24
        np.testing.assert_array_equal(a["u"].values, b["u"].values)
        np.testing.assert_array_equal(a["nu"].values, b["nu"].values)
