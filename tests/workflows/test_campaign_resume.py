"""A campaign resumed after an edit never mixes parts of two recipes; one output, one writer."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import sciml.workflows.campaign as campaign
from sciml.data.netcdf import open_dataset
from sciml.locks import LockError, hold
from sciml.workflows.campaign import generate

RECIPE = """
name: tiny
simulator: {{kind: burgers1d, n_cells: 32, n_frames: 6, t_final: 0.5}}
design: {{kind: list, points: [{{nu: {nu}}}, {{nu: 0.5}}]}}
samples_per_point: 3
samples_per_task: 1
seed: {seed}
executor: {{kind: inprocess}}
output: tiny.nc
"""


def _recipe(path: Path, *, seed: int = 42, nu: float = 0.05) -> Path:
    path.write_text(RECIPE.format(seed=seed, nu=nu))
    return path


def _interrupt_after(monkeypatch, n_done: int) -> None:
    real, count = campaign.run_task, [0]

    def flaky(task):
        if count[0] == n_done:
            raise KeyboardInterrupt
        count[0] += 1
        return real(task)

    monkeypatch.setattr(campaign, "run_task", flaky)


def _fields(path: Path) -> dict[str, np.ndarray]:
    with open_dataset(path) as ds:
        return {name: ds[name].values for name in ds.data_vars} | {"nu": ds["nu"].values}


@pytest.mark.parametrize("edit", [{"seed": 7}, {"nu": 0.1}])
def test_kill_edit_rerun_starts_clean_and_equals_a_fresh_run(tmp_path, monkeypatch, edit):
    out = tmp_path / "tiny.nc"
    _interrupt_after(monkeypatch, 4)  # 4 of 6 parts of the first recipe are written
    with pytest.raises(KeyboardInterrupt):
        generate(_recipe(tmp_path / "a.yaml"), output=out)
    assert len(list((tmp_path / "tiny.nc.parts").glob("task-*.nc"))) == 4
    monkeypatch.undo()
    messages: list[str] = []
    edited = _recipe(tmp_path / "b.yaml", **edit)
    generate(edited, output=out, log=messages.append)
    assert len(messages) == 1 and "discarding 4 part file(s) of another campaign (changed: " in messages[0]
    assert ("design_points" in messages[0]) == ("nu" in edit) and "recipe" in messages[0]
    fresh = generate(edited, output=tmp_path / "fresh.nc")
    got, want = _fields(out), _fields(fresh)
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_resume_with_the_same_recipe_keeps_the_parts_and_says_nothing(tmp_path, monkeypatch):
    out, recipe = tmp_path / "tiny.nc", _recipe(tmp_path / "a.yaml")
    _interrupt_after(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        generate(recipe, output=out)
    monkeypatch.undo()
    ran: list[int] = []
    real = campaign.run_task
    monkeypatch.setattr(campaign, "run_task", lambda task: ran.append(task.index) or real(task))
    messages: list[str] = []
    generate(recipe, output=out, log=messages.append)
    assert messages == [] and ran == [3, 4, 5]


def test_a_second_writer_of_the_same_output_is_refused_and_loses_nothing(tmp_path):
    out, recipe = tmp_path / "tiny.nc", _recipe(tmp_path / "a.yaml")
    with hold(out):  # another run holds the output
        with pytest.raises(LockError, match=r"output .*tiny\.nc is in use by PID \d+"):
            generate(recipe, output=out)
        assert not out.exists() and not (tmp_path / "tiny.nc.parts").exists()
    generate(recipe, output=out)
    assert out.exists() and not (tmp_path / "tiny.nc.lock").exists()


def test_two_concurrent_commands_one_proceeds_the_other_gets_a_clear_error(tmp_path):
    out, recipe = tmp_path / "tiny.nc", _recipe(tmp_path / "a.yaml")
    cmd = [sys.executable, "-m", "sciml.cli", "data", "generate", str(recipe), "--output", str(out)]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "tiny.nc.lock"
    while first.poll() is None and not lock.exists():  # start the second once the first holds the output
        time.sleep(0.01)
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    rc_first, (_, err_first) = first.wait(timeout=300), first.communicate()
    assert rc_first == 0, err_first
    if second.returncode == 0:  # the first had already finished: the second found the output up to date
        assert "is up to date" in second.stderr
    else:
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert f"is in use by PID {first.pid} on " in second.stderr
    single = generate(recipe, output=tmp_path / "single.nc")
    got, want = _fields(out), _fields(single)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
