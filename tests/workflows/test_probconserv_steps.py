"""Workflow step ``probconserv_study`` at a tiny size: rows, exact conservation, plots, resumption, errors."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from sciml.errors import ConfigError
from sciml.surrogates.probconserv import CONSERVATION_PROBLEMS
from sciml.workflows.context import WorkflowContext
from sciml.workflows.steps.probconserv_study import (
    ProbConservStudyStep,
    check_step,
    study_settings,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _ctx(tmp_path):
    lines: list[str] = []
    ctx = WorkflowContext(name="t", source="test.yaml", base_dir=tmp_path, output_dir=tmp_path, log=lines.append)
    ctx.lines = lines
    return ctx


def test_study_writes_rows_and_plots_and_resumes(tmp_path):
    step = ProbConservStudyStep(name="st", problem="stefan", steps=3, n_functions=2, n_plot_samples=40, file="st")
    ctx = _ctx(tmp_path)
    step.run(ctx, 0)
    data = json.loads((tmp_path / "st.json").read_text())
    rows = data["rows"]
    values = CONSERVATION_PROBLEMS["stefan"].test_values
    assert [(r["test_value"], r["model"]) for r in rows] == [
        (v, m) for v in values for m in ("ANP", "HardC-ANP", "ProbConserv-ANP")]
    for r in rows:
        assert r["n_functions"] == 2 and r["grid"] == "101x101" and r["train_steps"] == 3
        assert r["mse"] >= 0 and r["crps"] >= 0 and r["shock_error"] >= 0
        if r["model"] == "ANP":
            assert r["ce_rel"] > 1e-6  # an untrained ANP does not conserve
        else:
            assert r["ce_rel"] < 1e-10 and r["ce_eval"] < 1e-10  # exact conservation
    assert data["settings"]["steps"] == 3 and data["settings"]["problems"] == ["stefan"]
    assert data["train"]["steps_completed"] == 3
    assert (tmp_path / "st_profiles.png").stat().st_size > 1000
    assert (tmp_path / "st_shock_hist.png").stat().st_size > 1000
    assert (tmp_path / "st" / "anp" / "last.pt").is_file()
    assert ctx.artefacts["probconserv:st"] == tmp_path / "st.json"
    # a second run reloads the finished training (no new steps) and gives the same rows
    ctx2 = _ctx(tmp_path)
    step.run(ctx2, 0)
    again = json.loads((tmp_path / "st.json").read_text())
    assert again["train"]["resumed_from_step"] == 3
    assert [r["mse"] for r in again["rows"]] == [r["mse"] for r in rows]
    assert any("resuming" in line for line in ctx2.lines)


def test_study_without_a_front_writes_no_histogram(tmp_path):
    step = ProbConservStudyStep(problem="heat", test_values=[2.0], steps=2, n_functions=1, file="h")
    step.run(_ctx(tmp_path), 0)
    rows = json.loads((tmp_path / "h.json").read_text())["rows"]
    assert [r["test_value"] for r in rows] == [2.0] * 3 and "shock_error" not in rows[0]
    assert (tmp_path / "h_profiles.png").is_file() and not (tmp_path / "h_shock_hist.png").exists()


def test_bad_problem_lists_the_accepted_ones(tmp_path):
    with pytest.raises(ValidationError) as info:
        ProbConservStudyStep(problem="stefn")
    msg = str(info.value)
    assert "stefn" in msg and all(name in msg for name in CONSERVATION_PROBLEMS)
    # a step built without validation fails in the run's check, before any work
    bad = ProbConservStudyStep.model_construct(problem="nope")
    with pytest.raises(ConfigError, match=r"steps\.3\.problem: unknown problem 'nope'; accepted: heat, pme, stefan"):
        bad.run(_ctx(tmp_path), 3)
    assert not any(tmp_path.iterdir())
    with pytest.raises(ValidationError, match="extra"):
        ProbConservStudyStep(problm="stefan")


def test_check_step_test_values_and_settings():
    with pytest.raises(ConfigError, match=r"x\.test_values\.1"):
        check_step(ProbConservStudyStep(test_values=[0.6, 7.0]), "x")
    with pytest.raises(ConfigError, match="plot_value"):
        check_step(ProbConservStudyStep(test_values=[0.6], plot_value=0.5), "x")
    check_step(ProbConservStudyStep(), "x")
    s = study_settings(ProbConservStudyStep(steps=10, n_functions=3, seed=4))
    assert (s.problems, s.steps, s.n_functions, s.seed, s.eval_grid) == (("stefan",), 10, 3, 4, (101, 101))
    assert study_settings(ProbConservStudyStep()).steps == 2000
