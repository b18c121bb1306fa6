"""Campaign size guards: plans of any size are instant, and a campaign that cannot fit is refused
with the numbers before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

import sciml.workflows.campaign as campaign
from sciml.config import load_config
from sciml.errors import ConfigError
from sciml.workflows.campaign import describe_plan, estimate_resources, generate, plan_campaign
from sciml.workflows.recipe import DatasetRecipe

RECIPE = """
name: big
simulator: {{kind: burgers1d, n_cells: {n_cells}, n_frames: {n_frames}, t_final: 0.5}}
design: {{kind: list, points: [{{nu: 0.05}}, {{nu: 0.5}}]}}
samples_per_point: {spp}
samples_per_task: {spt}
seed: 1
executor: {{kind: process, n_workers: 2}}
output: big.nc
"""


def _recipe(tmp_path: Path, *, n_cells: int = 32, n_frames: int = 6, spp: int = 3, spt: int = 1) -> Path:
    p = tmp_path / "big.yaml"
    p.write_text(RECIPE.format(n_cells=n_cells, n_frames=n_frames, spp=spp, spt=spt))
    return p


@pytest.fixture
def no_work(monkeypatch):
    def refuse(task):
        raise AssertionError("a task ran")

    monkeypatch.setattr(campaign, "run_task", refuse)


def test_estimates_are_the_closed_form(tmp_path):
    plan = plan_campaign(load_config(_recipe(tmp_path, spp=5, spt=2), DatasetRecipe), output=tmp_path / "o.nc")
    est = estimate_resources(plan)
    fields = 2 * 5 * 6 * 32 * 8  # points x samples x frames x cells x float64
    assert est.output_bytes == fields and est.disk_needed == 2 * fields and est.workers == 2
    assert est.memory_needed == 2 * campaign.TASK_MEMORY_FACTOR * 2 * 6 * 32 * 8  # 2 workers, 2 samples a task
    assert est.disk_free > 0


def test_a_trillion_samples_plan_instantly_and_are_refused_for_disk(tmp_path, no_work):
    recipe = load_config(_recipe(tmp_path, spp=10**12), DatasetRecipe)
    plan = plan_campaign(recipe, output=tmp_path / "big.nc")
    assert len(plan.tasks) == 2 * 10**12 and plan.n_samples == 2 * 10**12
    last = plan.tasks[-1]
    assert (last.point_index, last.first_sample, last.n_samples) == (1, 2 * 10**12 - 1, 1)
    assert plan.tasks[3].seed == plan_campaign(recipe, output=tmp_path / "big.nc").tasks[3].seed
    assert "size:       2.7 PiB of fields (disk needed 5.5 PiB, " in describe_plan(plan)  # 2e12 x 6 x 32 x 8 B
    with pytest.raises(ConfigError, match=r"does not fit this machine: disk: needs .* free.*--no-size-check"):
        generate(recipe, output=tmp_path / "big.nc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.yaml"]  # nothing written


def test_a_huge_grid_is_refused_for_memory(tmp_path, no_work):
    # one sample of 2e9 cells x 2 frames is 32 GB of float64: 2 workers need far more than any CI machine has
    recipe = _recipe(tmp_path, n_cells=2 * 10**9, n_frames=2, spp=1)
    with pytest.raises(ConfigError, match=r"memory: needs about .* \(2 worker\(s\) at once\), .* available"):
        generate(recipe, output=tmp_path / "big.nc")


def test_the_guard_can_be_overridden(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(campaign, "check_resources", lambda est, source: calls.append(est))
    monkeypatch.setattr(campaign, "_run_tasks", lambda plan, executor: None)
    monkeypatch.setattr(campaign, "_merge_and_save", lambda plan: None)
    generate(_recipe(tmp_path), output=tmp_path / "o.nc", check_size=False)
    assert calls == []
    generate(_recipe(tmp_path), output=tmp_path / "o.nc")
    assert len(calls) == 1


def test_the_command_refuses_with_the_numbers_and_the_flag_that_overrides(tmp_path, capsys, no_work):
    from sciml.cli import run_command

    recipe = _recipe(tmp_path, spp=10**12)
    assert run_command(["data", "generate", str(recipe), "--output", str(tmp_path / "big.nc")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "disk: needs" in err and "--no-size-check" in err and "Traceback" not in err
    assert run_command(["data", "generate", "--help"]) == 0
    assert "--no-size-check" in capsys.readouterr().out
