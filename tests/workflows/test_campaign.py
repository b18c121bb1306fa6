"""Campaigns: validation before work, seeds, resumption, atomic output, provenance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import sciml.workflows.campaign as campaign
from sciml.data.netcdf import open_dataset
from sciml.errors import ConfigError, SimulationError
from sciml.simulators.pde.grid import PDESimulator1D
from sciml.simulators.base import Parameter, ParameterSpace
from sciml.workflows.campaign import generate, plan_campaign
from sciml.config import load_config
from sciml.workflows.recipe import DatasetRecipe

ROOT = Path(__file__).resolve().parents[2]

RECIPE = """
name: tiny
simulator: {kind: burgers1d, n_cells: 32, n_frames: 6, t_final: 0.5}
design: {kind: list, points: [{nu: 0.05}, {nu: 0.5}]}
samples_per_point: 3
samples_per_task: 2
seed: 42
executor: {kind: inprocess}
output: tiny.nc
"""


def recipe_file(tmp_path: Path, text: str = RECIPE) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(text)
    return p


def test_plan_splits_points_into_tasks_with_distinct_seeds(tmp_path):
    plan = plan_campaign(load_config(recipe_file(tmp_path), DatasetRecipe), output=tmp_path / "o.nc")
    assert [t.n_samples for t in plan.tasks] == [2, 1, 2, 1]
    assert [t.point_index for t in plan.tasks] == [0, 0, 1, 1]
    assert [t.first_sample for t in plan.tasks] == [0, 2, 3, 5]
    assert len({t.seed for t in plan.tasks}) == 4
    again = plan_campaign(load_config(recipe_file(tmp_path), DatasetRecipe), output=tmp_path / "o.nc")
    assert [t.seed for t in again.tasks] == [t.seed for t in plan.tasks]


def test_generate_writes_one_validated_file_with_provenance(tmp_path):
    out = generate(recipe_file(tmp_path), output=tmp_path / "tiny.nc")
    assert not (tmp_path / "tiny.nc.parts").exists()
    with open_dataset(out) as ds:
        assert ds.sizes["sample"] == 6
        np.testing.assert_array_equal(ds["nu"].values, [0.05] * 3 + [0.5] * 3)
        np.testing.assert_array_equal(ds["sample"].values, np.arange(6))
        np.testing.assert_array_equal(ds["design_point"].values, [0, 0, 0, 1, 1, 1])
        assert ds["seed"].attrs["role"] == "metadata"
        prov = json.loads(ds.attrs["parameters"])
        assert prov["recipe"]["name"] == "tiny"
        assert prov["design_points"] == [{"nu": 0.05}, {"nu": 0.5}]
        assert ds.attrs["generator"] == "burgers1d" and ds.attrs["seed"] == 42
        # each sample is the run of its task: recompute sample 3 (task 2, first of its task)
        plan = plan_campaign(load_config(recipe_file(tmp_path), DatasetRecipe), output=out)
        task = plan.tasks[2]
        direct = plan.simulator.run(task.params, seed=task.seed, n_samples=task.n_samples)
        np.testing.assert_array_equal(ds["u"].isel(sample=3).values, direct["u"].isel(sample=0).values)


def test_dask_and_inprocess_give_identical_files(tmp_path):
    a = generate(recipe_file(tmp_path), output=tmp_path / "a.nc")
    b = generate(recipe_file(tmp_path), output=tmp_path / "b.nc",
                 executor={"kind": "dask", "n_workers": 2, "show_progress": False})
    with open_dataset(a) as da, open_dataset(b) as db:
        np.testing.assert_array_equal(da["u"].values, db["u"].values)
        np.testing.assert_array_equal(da["seed"].values, db["seed"].values)


def test_out_of_range_parameter_fails_before_any_work(tmp_path, monkeypatch):
    p = recipe_file(tmp_path, RECIPE.replace("{nu: 0.5}", "{nu: 50.0}"))
    calls = []
    monkeypatch.setattr(campaign, "run_task", lambda t: calls.append(t))
    with pytest.raises(ConfigError) as err:
        generate(p, output=tmp_path / "tiny.nc")
    msg = str(err.value)
    assert str(p) in msg and "design.points[1]" in msg
    assert "nu=50 is out of range; accepted: nu in [" in msg
    assert calls == []
    assert not (tmp_path / "tiny.nc").exists() and not (tmp_path / "tiny.nc.parts").exists()


def test_unknown_simulator_option_lists_accepted(tmp_path):
    p = recipe_file(tmp_path, RECIPE.replace("n_cells: 32", "n_cell: 32"))
    with pytest.raises(ConfigError) as err:
        generate(p, output=tmp_path / "tiny.nc")
    msg = str(err.value)
    assert "unknown field(s) ['n_cell'] for simulator 'burgers1d'" in msg and "'n_cells'" in msg


def test_unknown_simulator_kind_lists_registered(tmp_path):
    p = recipe_file(tmp_path, RECIPE.replace("kind: burgers1d", "kind: navier_stokes"))
    with pytest.raises(ConfigError, match=r"unknown simulator 'navier_stokes'; accepted: \[.*'burgers1d'"):
        generate(p, output=tmp_path / "tiny.nc")


def test_interrupted_campaign_leaves_no_output_and_resumes(tmp_path, monkeypatch):
    p = recipe_file(tmp_path)
    out = tmp_path / "tiny.nc"
    real = campaign.run_task
    ran: list[int] = []

    def flaky(task):
        if task.index == 2 and not ran.count(-1):
            ran.append(-1)
            raise KeyboardInterrupt
        ran.append(task.index)
        return real(task)

    monkeypatch.setattr(campaign, "run_task", flaky)
    with pytest.raises(KeyboardInterrupt):
        generate(p, output=out)
    assert not out.exists()
    parts = sorted(x.name for x in (tmp_path / "tiny.nc.parts").iterdir())
    assert parts[0] == "fingerprint.json" and [x[:11] for x in parts[1:]] == ["task-000000", "task-000001"]
    ran.clear()
    ran.append(-1)  # do not interrupt again
    generate(p, output=out)
    assert ran == [-1, 2, 3]  # only the unfinished tasks ran
    with open_dataset(out) as ds:
        assert ds.sizes["sample"] == 6


def test_existing_output_of_another_campaign_needs_overwrite_the_same_is_up_to_date(tmp_path):
    out = generate(recipe_file(tmp_path), output=tmp_path / "tiny.nc")
    before = out.read_bytes()
    messages: list[str] = []
    assert generate(recipe_file(tmp_path), output=out, log=messages.append) == out  # the same campaign
    assert messages == [f"{out} is up to date (the same campaign); nothing to do"] and out.read_bytes() == before
    other = recipe_file(tmp_path, RECIPE.replace("seed: 42", "seed: 43"))
    with pytest.raises(ConfigError, match="exists and holds another campaign's samples; pass overwrite=True"):
        generate(other, output=out)
    assert out.read_bytes() == before


class NaNSimulator(PDESimulator1D):
    """Produces NaN in sample 1 when a > 0.5 (for error-reporting tests)."""

    name = "nan_test"
    PARAMETERS = ParameterSpace((Parameter("a", 0.0, 1.0),))

    def _solve(self, u0, params):
        u = np.repeat(u0[:, None, :], self.n_frames, axis=1)
        if params["a"] > 0.5 and u.shape[0] > 1:
            u[1, -1, 3] = np.nan
        return u


def test_nan_from_simulator_names_task_sample_and_parameters(tmp_path, monkeypatch):
    from sciml.simulators import registry

    monkeypatch.setitem(registry.SIMULATORS, "nan_test", f"{__name__}:NaNSimulator")
    text = ("name: nan\nsimulator: {kind: nan_test, n_cells: 8, n_frames: 3}\n"
            "design: {kind: list, points: [{a: 0.1}, {a: 0.9}]}\nsamples_per_point: 2\n"
            "seed: 1\nexecutor: {kind: inprocess}\noutput: nan.nc\n")
    with pytest.raises(SimulationError) as err:
        generate(recipe_file(tmp_path, text), output=tmp_path / "nan.nc")
    msg = str(err.value)
    assert "1 of 2 task(s) failed" in msg and "a rerun runs only the failed tasks" in msg
    assert "task 1 (design point 1, output samples 2..3)" in msg
    assert "sample(s) [1]" in msg and "'a': 0.9" in msg and "seed" in msg
    assert not (tmp_path / "nan.nc").exists()
    parts = tmp_path / "nan.nc.parts"
    records = [json.loads(p.read_text()) for p in parts.glob("*.failed.json")]
    assert [(r["task"], r["design_point"], r["params"]) for r in records] == [(1, 1, {"a": 0.9})]
    assert len(list(parts.glob("task-*.nc"))) == 1  # the good task's part is kept


def test_a_failed_task_is_recorded_the_others_go_on_and_a_rerun_runs_only_the_failed(tmp_path, monkeypatch):
    from sciml.simulators import registry

    monkeypatch.setitem(registry.SIMULATORS, "nan_test", f"{__name__}:NaNSimulator")
    text = ("name: nan\nsimulator: {kind: nan_test, n_cells: 8, n_frames: 3}\n"
            "design: {kind: list, points: [{a: 0.9}, {a: 0.1}, {a: 0.2}]}\nsamples_per_point: 2\n"
            "seed: 1\nexecutor: {kind: inprocess}\noutput: nan.nc\n")
    recipe = recipe_file(tmp_path, text)
    real, ran = campaign.run_task, []
    monkeypatch.setattr(campaign, "run_task", lambda task: ran.append(task.index) or real(task))
    with pytest.raises(SimulationError, match=r"^1 of 3 task\(s\) failed"):
        generate(recipe, output=tmp_path / "nan.nc")
    assert ran == [0, 1, 2]  # the first task failed; the other two still ran
    monkeypatch.setattr(NaNSimulator, "_solve", lambda self, u0, params: np.repeat(u0[:, None, :], self.n_frames, 1))
    ran.clear()
    out = generate(recipe, output=tmp_path / "nan.nc")
    assert ran == [0] and out.exists() and not (tmp_path / "nan.nc.parts").exists()
    with open_dataset(out) as ds:
        assert ds.sizes["sample"] == 6 and np.isfinite(ds["u"].values).all()


def test_space_filling_recipe_respects_log_bounds(tmp_path):
    recipe = load_config(ROOT / "datasets" / "advection_small.yaml", DatasetRecipe)
    plan = plan_campaign(recipe, output=tmp_path / "adv.nc")
    betas = np.array([p["beta"] for p in plan.points])
    assert betas.shape == (4,) and betas.min() >= 0.1 and betas.max() <= 4.0
    logs = np.sort((np.log10(betas) - np.log10(0.1)) / (np.log10(4.0) - np.log10(0.1)))
    assert np.all(np.floor(logs * 4) == np.arange(4))  # one point per quarter in log scale
