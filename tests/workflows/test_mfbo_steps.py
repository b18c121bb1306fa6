"""Workflow step ``mfbo``: validation before any work, a tiny resumable run, its outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sciml.errors import ConfigError
from sciml.workflows.runner import run_workflow
from sciml.workflows.spec import WorkflowSpec, load_config

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def write(tmp_path: Path, step: str) -> Path:
    p = tmp_path / "wf.yaml"
    p.write_text("name: wf\nsteps:\n" + step)
    return p


def run(path: Path, out: Path):
    return run_workflow(path, output_dir=out, log=lambda m: None)


@pytest.mark.parametrize("step, message", [
    ("  - {kind: mfbo, method: ei, budget: 1}\n", "'mfmes'"),
    ("  - {kind: mfbo, budget: 0}\n", "budget"),
    ("  - {kind: mfbo}\n", "budget: field required"),
    ("  - {kind: mfbo, budget: 1, problem: rosenbrock}\n",
     "steps.0.problem: unknown problem 'rosenbrock'; accepted: ['augmented_branin'"),
    ("  - {kind: mfbo, budget: 1, problem_options: {t_target: 0.9}}\n", "t_target must lie in (0, t_final=0.5)"),
    ("  - {kind: mfbo, budget: 1, problem_options: {n_levels: 3}}\n", "bad arguments for problem"),
    ("  - {kind: mfbo, budget: 1, acquisition: {num_fantasy: 8}}\n",
     "steps.0.acquisition: unknown AcquisitionSettings field(s) ['num_fantasy']"),
    ("  - {kind: mfbo, budget: 1, acquisition: {q: 4}}\n", "set the batch size with 'batch_size'"),
    ("  - {kind: mfbo, budget: 1, problem: augmented_hartmann, method: ar1-ei}\n",
     "'ar1-ei' needs discrete fidelity levels"),
    ("  - {kind: mfbo, budget: 1, budgit: 2}\n", "unknown field 'budgit'"),
])
def test_bad_step_fails_before_any_work(tmp_path, step, message):
    with pytest.raises(ConfigError) as err:
        run(write(tmp_path, step), tmp_path / "out")
    assert message in str(err.value)
    assert not (tmp_path / "out").exists()


def test_shipped_workflow_validates():
    spec = load_config(ROOT / "workflows" / "mfbo_burgers.yaml", WorkflowSpec)
    (step,) = spec.steps
    assert step.kind == "mfbo" and step.problem == "burgers_shock_time" and step.budget > 0
    from sciml.workflows.mfbo_steps import check_step

    check_step(step, "mfbo_burgers.yaml: field steps.0")  # builds the problem and the loop


@pytest.mark.slow
def test_tiny_run_writes_outputs_and_resumes(tmp_path):
    step = ("  - {kind: mfbo, name: bo, problem: burgers_shock_time, method: mfmes, budget: 100,\n"
            "     max_iterations: 2, n_init: 3, seed: 1, file: res,\n"
            "     acquisition: {num_restarts: 2, raw_samples: 16, candidate_set_size: 64, num_mv_samples: 4,\n"
            "                   mc_samples: 16, maxiter: 10}}\n")
    path = write(tmp_path, step)
    ctx = run(path, tmp_path / "out")
    data = json.loads((tmp_path / "out" / "res.json").read_text())
    assert (tmp_path / "out" / "res.png").read_bytes()[:4] == b"\x89PNG"
    assert ctx.artefacts["mfbo:res"] == tmp_path / "out" / "res.json"
    assert data["iterations"] == 2 and data["n_evaluations"] == 3 + 2  # 3 initial + 2 batches of 1
    # initial design: n_cells cycling from the target down; costs (n / 512)^2
    assert data["result"]["fidelities"][:3] == [512.0, 256.0, 128.0]
    assert data["result"]["costs"][:3] == pytest.approx([1.0, 0.25, 0.0625])
    rec = data["recommendation"]
    assert rec["after_iteration"] == 2 and -3.0 <= rec["x"][0] <= -0.5
    assert rec["regret"] == pytest.approx(-rec["true_value"])  # optimum 0, maximised
    assert (tmp_path / "out" / "bo" / "state" / "state.json").is_file()
    # a rerun resumes the finished state: no new evaluation, same recommendation
    again = json.loads(json.dumps(data))
    run(path, tmp_path / "out")
    data2 = json.loads((tmp_path / "out" / "res.json").read_text())
    assert data2["n_evaluations"] == again["n_evaluations"] and data2["recommendation"]["x"] == rec["x"]
    # a different configuration is refused instead of mixing two runs in one state
    with pytest.raises(ConfigError, match="different configuration"):
        run(write(tmp_path, step.replace("seed: 1", "seed: 2")), tmp_path / "out")
