"""Finite-element campaigns through the executors: the shipped recipe on Dask equals the
in-process run, and a solver that does not converge is recorded while the other tasks go on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dolfinx_solver")

from sciml.config import load_config  # noqa: E402
from sciml.data.netcdf import open_dataset  # noqa: E402
from sciml.errors import SimulationError  # noqa: E402
from sciml.workflows.campaign import generate  # noqa: E402
from sciml.workflows.recipe import DatasetRecipe  # noqa: E402

pytestmark = pytest.mark.fem

ROOT = Path(__file__).resolve().parents[3]


def _small(recipe: DatasetRecipe) -> DatasetRecipe:
    simulator = {**recipe.simulator, "resolution": 4, "n_steps": 8, "interface_points": 8, "grid": 5}
    design = {**recipe.design.model_dump(), "n": 4}
    return DatasetRecipe.model_validate({**recipe.model_dump(), "simulator": simulator, "design": design})


def test_the_plate_recipe_on_dask_equals_the_in_process_run(tmp_path):
    recipe = _small(load_config(ROOT / "datasets" / "plate_dynamics_small.yaml", DatasetRecipe))
    on_dask = generate(recipe, output=tmp_path / "dask.nc")
    local = generate(recipe, output=tmp_path / "local.nc", executor={"kind": "inprocess"})
    with open_dataset(on_dask) as a, open_dataset(local) as b:
        assert a.sizes["sample"] == 4 and set(a.data_vars) == set(b.data_vars)
        for name in a.data_vars:
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
        assert np.ptp(a["amplitude"].values) > 0 and np.abs(a["u_x"].values).max() > 0


def test_a_solver_that_does_not_converge_is_recorded_and_the_other_tasks_go_on(tmp_path):
    text = ("name: fem_fail\nsimulator: {kind: fem_diffusion2d, resolution: 4, u_left: 0.0, u_right: 0.0,\n"
            "  solver: {method: cg, preconditioner: none, max_it: 1, rtol: 1.0e-12}}\n"
            "design: {kind: list, points: [{source: 5.0}, {source: 0.0}, {source: 7.0}]}\n"
            "samples_per_point: 1\nseed: 2\nexecutor: {kind: inprocess}\noutput: out.nc\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text)
    with pytest.raises(SimulationError) as err:
        generate(recipe, output=tmp_path / "out.nc")
    msg = str(err.value)
    assert msg.startswith("2 of 3 task(s) failed") and msg.count("DIVERGED_MAX_IT") == 2
    parts = tmp_path / "out.nc.parts"
    records = sorted(json.loads(p.read_text())["design_point"] for p in parts.glob("*.failed.json"))
    assert records == [0, 2] and len(list(parts.glob("task-*.nc"))) == 1  # the source-free point solved
    assert not (tmp_path / "out.nc").exists()
