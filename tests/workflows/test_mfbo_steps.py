"""Workflow step ``mfbo``: validation before any work, a tiny resumable run, its outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sciml.errors import ConfigError
from sciml.workflows.runner import run_workflow
from sciml.config import load_config
from sciml.workflows.spec import WorkflowSpec

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
    from sciml.workflows.steps.mfbo import check_step

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
    # a different configuration starts clean instead of mixing two runs in one state (issue 16)
    logs: list[str] = []
    run_workflow(write(tmp_path, step.replace("seed: 1", "seed: 2")), output_dir=tmp_path / "out", log=logs.append)
    assert any(m.startswith("[mfbo-bo] step.seed changed: starting clean") for m in logs)
    data3 = json.loads((tmp_path / "out" / "res.json").read_text())
    assert data3["result"]["seed"] == 2 and data3["n_evaluations"] == 3 + 2


def _surrogate_workflow(tmp_path: Path, *, mfbo_extra: str = "", t_final: float = 0.5, n_frames: int = 11,
                        model: str = "cape") -> Path:
    """Generate 6 Burgers trajectories, train a tiny CAPE-FNO for 2 epochs, use it as source 0
    beside the solver on 32 and 64 cells (the truth)."""
    text = f"""name: wf
steps:
  - kind: generate
    name: sine
    inline:
      name: sine
      simulator: {{kind: burgers1d, n_cells: 32, n_frames: {n_frames}, t_final: {t_final},
                  initial_condition: {{kind: sine, amplitude: 1.0}}}}
      design: {{kind: sobol, n: 6, bounds: {{nu: [0.001, 0.3]}}, log: [nu]}}
      seed: 0
      executor: {{kind: inprocess}}
      output: sine.nc
  - kind: train_neural_pde
    name: cape
    dataset: sine
    model: {{kind: cape_fno, width: 8, modes: 4, n_layers: 1, cape_hidden: 4, cape_modes: 4, param_scale: 0.001}}
    train: {{epochs: 2, batch_size: 4, lr: 0.003, seed: 0}}
  - kind: mfbo
    name: bo
    sources:
      - {{model: {model}, reference: {BURGERS_32}, cost: 0.5}}
      - {{simulator: {BURGERS_32}, cost: 0.25}}
      - {{simulator: {BURGERS_64}, cost: 1.0}}
    objective: {{name: shock_time, options: {{t_target: 0.2}}}}
    parameters: {{nu: [0.001, 0.3]}}
    log_scale: [nu]
    optimum_value: 0.0
    method: mfmes
    model_kind: multitask
    model_options: {{max_iter: 50}}
    budget: 100
    max_iterations: 1
    n_init: 3
    file: res
    acquisition: {{num_restarts: 2, raw_samples: 16, candidate_set_size: 64, num_mv_samples: 4, maxiter: 10}}
{mfbo_extra}"""
    p = tmp_path / "wf.yaml"
    p.write_text(text)
    return p


BURGERS_32 = ("{kind: burgers1d, n_cells: 32, n_frames: 11, t_final: 0.5, "
              "initial_condition: {kind: sine, amplitude: 1.0}}")
BURGERS_64 = BURGERS_32.replace("n_cells: 32", "n_cells: 64")


def _sources_step(**changes: str) -> str:
    """An ``mfbo`` step over the solver on 32 and 64 cells (no training), with some fields replaced."""
    fields = {"sources": f"[{{simulator: {BURGERS_32}, cost: 0.25}}, {{simulator: {BURGERS_64}, cost: 1.0}}]",
              "objective": "{name: shock_time, options: {t_target: 0.2}}", "parameters": "{nu: [0.001, 0.3]}",
              "log_scale": "[nu]", "budget": "1", **changes}
    return "  - kind: mfbo\n" + "".join(f"    {k}: {v}\n" for k, v in fields.items() if v is not None)


@pytest.mark.parametrize("changes, message", [
    ({"problem": "burgers_shock_time"}, "steps.0: give either 'problem' (a registered problem) or 'sources', not both"),
    ({"objective": None}, "steps.0.objective: a problem from sources needs an objective"),
    ({"sources": "[]"}, "steps.0.sources: give at least one source"),
    ({"sources": "[{simulator: {kind: navier_stokes}, cost: 1.0}]"},
     "steps.0.sources.0.simulator.kind: unknown simulator 'navier_stokes'; accepted: ['advection1d'"),
    ({"sources": "[{simulator: {kind: burgers1d, n_cellz: 32}, cost: 1.0}]"},
     "steps.0.sources.0.simulator: unknown field(s) ['n_cellz'] for simulator 'burgers1d'"),
    ({"sources": f"[{{simulator: {BURGERS_32}, cost: 0.0}}]"}, "sources.0"),
    ({"sources": f"[{{model: cape, reference: {BURGERS_32}, cost: 1.0}}, {{simulator: {BURGERS_64}, cost: 1.0}}]"},
     "steps.0.sources.0.model: 'cape' is not trained by an earlier step; available: []"),
    ({"sources": f"[{{simulator: {BURGERS_32}, cost: 0.25, fidelity: 1}}, {{simulator: {BURGERS_64}, fidelity: 3}}, "
                 f"{{simulator: {BURGERS_64}, fidelity: 2}}]"},
     "the last source is the truth, so its level must be the highest or the lowest"),
    ({"sources": "[{simulator: {kind: heat1d, n_cells: 32}}, {simulator: " + BURGERS_64 + "}]"},
     "steps.0.sources: sources[0] (heat1d): unknown parameter(s) ['nu']"),
    ({"objective": "{name: drag}"}, "steps.0.objective: unknown objective 'drag'; accepted: ['peak_stress', 'shock_time']"),
    ({"objective": "{name: shock_time, options: {t_target: 0.9}}"},
     "steps.0.objective: t_target must lie in (0, t_final=0.5), got 0.9"),
    ({"parameters": "{viscosity: [0.01, 0.1]}"},
     "steps.0.sources: mfbo: unknown parameter(s) ['viscosity']; accepted: nu in"),
    ({"log_scale": "[nu]", "parameters": "{nu: [0.001, 30.0]}"}, "bounds (0.001, 30) of 'nu' must satisfy"),
    ({"sources": None, "objective": None, "parameters": None},
     "steps.0: ['log_scale'] describe a problem from sources; give 'sources' too"),
])
def test_bad_sources_fail_before_any_work(tmp_path, changes, message):
    with pytest.raises(ConfigError) as err:
        run(write(tmp_path, _sources_step(**changes)), tmp_path / "out")
    assert message in str(err.value)
    assert not (tmp_path / "out").exists()


def test_a_problem_from_simulator_sources_is_the_registered_problem():
    """Solver sources on 64 and 128 cells with declared costs give the registered problem's numbers."""
    from sciml.studies.bo_problems import get_bo_problem
    from sciml.workflows.steps.mfbo import build_problem

    step = load_config(_write_text(_sources_step(
        sources=f"[{{simulator: {BURGERS_32.replace('11', '51')}, cost: 0.25, fidelity: 32}}, "
                f"{{simulator: {BURGERS_64.replace('11', '51')}, cost: 1.0, fidelity: 64}}]",
        fidelity_name="n_cells", fidelity_log_scale="true", optimum_value="0.0")), WorkflowSpec).steps[0]
    p = build_problem(step, "wf")
    ref = get_bo_problem("burgers_shock_time", n_cells=(32, 64))
    assert p.fidelity == ref.fidelity and torch.equal(p.bounds, ref.bounds) and p.design_names == ref.design_names
    X = torch.tensor([[-1.0], [-2.0]], dtype=torch.float64)
    for s in (32.0, 64.0):
        assert torch.equal(p.evaluate(X, s), ref.evaluate(X, s))
        assert torch.equal(p.cost(s), ref.cost(s))


def _write_text(step: str) -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp()) / "wf.yaml"
    path.write_text("name: wf\nsteps:\n" + step)
    return path


def test_trained_source_errors_before_and_when_running(tmp_path):
    with pytest.raises(ConfigError, match=r"steps.2.sources.0.model: 'unet' is not trained by an earlier step; "
                                          r"available: \['cape'\]"):
        run(_surrogate_workflow(tmp_path, model="unet"), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    # the model was trained on frames 0.1 apart, the reference's are 0.05 apart: caught when it runs
    with pytest.raises(ConfigError, match=r"CAPE steps 0.1 in time, but the reference's frames are "
                                          r"t_final / \(n_frames - 1\) = 0.05 apart"):
        run(_surrogate_workflow(tmp_path, t_final=1.0), tmp_path / "o3")


def test_shipped_surrogate_workflow_validates():
    from sciml.workflows.context import WorkflowContext
    from sciml.workflows.runner import prepare

    path = ROOT / "workflows" / "mfbo_burgers_surrogate.yaml"
    spec = load_config(path, WorkflowSpec)
    ctx = WorkflowContext(name=spec.name, source=str(path), base_dir=path.parent, output_dir=Path("unused"),
                          executor=None, log=lambda m: None)
    prepare(spec, ctx)  # builds the problem with an untrained model of the trained architecture, and the loop
    step = spec.steps[2]
    assert step.sources[0].model == "cape" and step.model_kind == "multitask"
    assert [s.simulator["n_cells"] for s in step.sources[1:]] == [128, 512]
    assert step.sources[0].reference == step.sources[1].simulator  # the adapter runs on the 128-cell grid


@pytest.mark.slow
def test_a_trained_model_is_source_zero_of_a_workflow_loop(tmp_path):
    ctx = run(_surrogate_workflow(tmp_path), tmp_path / "out")
    data = json.loads((tmp_path / "out" / "res.json").read_text())
    assert data["result"]["model_kind"] == "multitask" and data["n_evaluations"] == 3 + 1
    # the design cycles the sources from the truth down: solver 64, solver 32, the CAPE-FNO
    assert data["result"]["fidelities"][:3] == [2.0, 1.0, 0.0]
    assert data["result"]["costs"][:3] == pytest.approx([1.0, 0.25, 0.5])
    assert data["result"]["status"] == ["ok"] * 4
    assert ctx.models["cape"]["dt"] == pytest.approx(0.05)
    assert data["recommendation"]["regret"] == pytest.approx(-data["recommendation"]["true_value"])
