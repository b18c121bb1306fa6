"""Fault injection: ``sciml data generate`` killed with SIGKILL at random moments, over and over,
ends with the same dataset as an uninterrupted run, and leaves no stray file behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

RECIPE = """
name: fi
simulator: {kind: burgers1d, n_cells: 128, n_frames: 6, t_final: 0.5}
design: {kind: list, points: [{nu: 0.01}, {nu: 0.02}, {nu: 0.05}, {nu: 0.1}, {nu: 0.2}, {nu: 0.5}]}
samples_per_point: 4
samples_per_task: 1
seed: 3
executor: {kind: inprocess}
output: fi.nc
"""
N_KILLS = 20


def _command(recipe: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "sciml.cli", "data", "generate", str(recipe), "--output", str(out)]


def _content(path: Path) -> xr.Dataset:
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        loaded = ds.load()
    loaded.attrs.pop("created")  # the one field that differs between two identical runs
    return loaded


@pytest.mark.slow
def test_twenty_kill_9_at_random_moments_end_with_the_uninterrupted_dataset(tmp_path):
    recipe = tmp_path / "fi.yaml"
    recipe.write_text(RECIPE)
    reference = tmp_path / "reference.nc"
    t0 = time.monotonic()
    subprocess.run(_command(recipe, reference), check=True, capture_output=True)
    t_full = time.monotonic() - t0
    want = _content(reference)
    work = tmp_path / "work"
    work.mkdir()
    out = work / "fi.nc"
    rng = np.random.default_rng(20261206)
    kills = completed = 0
    while kills < N_KILLS:
        proc = subprocess.Popen(_command(recipe, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(float(rng.uniform(0.2, 1.0)) * t_full)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
            continue
        assert proc.returncode == 0, proc.stderr.read().decode()
        assert _content(out).identical(want)  # a run that finished before its kill: start a new cycle
        out.unlink()
        completed += 1
    if out.exists():  # the last kill came after the output was written: the rerun finds it up to date
        assert _content(out).identical(want)
    run = subprocess.run(_command(recipe, out), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert _content(out).identical(want)
    assert sorted(p.name for p in work.iterdir()) == ["fi.nc"], "stray files after the kills"
