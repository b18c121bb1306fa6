"""Workflow steps are keyed by their inputs (issue 16, items 1-3): a rerun never mixes stale outputs.

Each step's outputs carry a fingerprint (configuration, content of the datasets and models it
reads, the code); a rerun with another fingerprint starts that step clean, with one log line
naming what changed, and the steps downstream follow. One run at a time holds an output folder.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
import torch

from sciml.errors import ConfigError
from sciml.locks import LockError
from sciml.workflows import runner
from sciml.workflows.context import WorkflowContext
from sciml.workflows.runner import RECORDS, run_step, run_workflow
from sciml.workflows.step import WorkflowStep

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BURGERS_32 = ("{kind: burgers1d, n_cells: 32, n_frames: 11, t_final: 0.5, "
              "initial_condition: {kind: sine, amplitude: 1.0}}")
BURGERS_64 = BURGERS_32.replace("n_cells: 32", "n_cells: 64")


class Logs(list[str]):
    """A ``log`` callback that keeps the messages."""

    def __call__(self, message: str) -> None:
        self.append(message)

    def about(self, text: str) -> list[str]:
        return [m for m in self if text in m]


def _generate(seed: int, n: int = 4, name: str = "sine") -> str:
    return f"""  - kind: generate
    name: {name}
    inline:
      name: {name}
      simulator: {BURGERS_32}
      design: {{kind: sobol, n: {n}, bounds: {{nu: [0.001, 0.3]}}, log: [nu]}}
      seed: {seed}
      executor: {{kind: inprocess}}
      output: {name}.nc
"""


TRAIN = """  - kind: train_neural_pde
    name: cape
    dataset: sine
    val_fraction: 0.0
    model: {kind: cape_fno, width: 8, modes: 4, n_layers: 1, cape_hidden: 4, cape_modes: 4, param_scale: 0.001}
    train: {epochs: 2, batch_size: 4, lr: 0.003, seed: 0, progress: false}
"""


def _write(path: Path, *steps: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("name: wf\nsteps:\n" + "".join(steps))
    return path


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "last.pt", weights_only=True)["model_state"]


@pytest.mark.slow
def test_training_on_regenerated_data_retrains_instead_of_resuming(tmp_path, monkeypatch):
    """kill -> edit -> rerun: a training killed after one of two epochs on the old data is not
    resumed on the regenerated data; the model is bit for bit a fresh training on the new data."""
    from sciml.workflows.steps import train_neural_pde

    class Killed(train_neural_pde.Trainer):  # the run dies after the first epoch's checkpoint
        def fit(self, *args: Any, **kwargs: Any) -> Any:
            super().fit(*args, **kwargs, stop_after_epochs=1)
            raise KeyboardInterrupt

    out = tmp_path / "out"
    with monkeypatch.context() as m:
        m.setattr(train_neural_pde, "Trainer", Killed)
        with pytest.raises(KeyboardInterrupt):
            run_workflow(_write(tmp_path / "wf.yaml", _generate(0), TRAIN), output_dir=out, log=Logs())
    assert (out / "cape" / "last.pt").is_file()  # a half-trained model on the seed-0 data

    logs = Logs()  # the dataset is regenerated with another seed, then the workflow rerun
    run_workflow(_write(tmp_path / "wf.yaml", _generate(1), TRAIN), output_dir=out, log=logs)
    ref = tmp_path / "ref"  # a fresh run on the new data
    run_workflow(_write(tmp_path / "ref.yaml", _generate(1), TRAIN), output_dir=ref, log=Logs())
    a, b = _weights(out / "cape"), _weights(ref / "cape")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((out / "cape" / "metrics.jsonl").read_text().splitlines()[0])["epoch"] == 0
    (line,) = logs.about("[train_neural_pde-cape]")
    assert "input.datasets.sine.sha256" in line and "starting clean (removed cape)" in line
    assert not logs.about("(resuming)")

    logs = Logs()  # nothing changed: the dataset is kept, the finished training only reloaded
    run_workflow(_write(tmp_path / "wf.yaml", _generate(1), TRAIN), output_dir=out, log=logs)
    assert not logs.about("starting clean") and logs.about("is up to date; skipped") and logs.about("(resuming)")
    c = _weights(out / "cape")
    assert all(torch.equal(a[k], c[k]) for k in a)


def _mfbo(t_target: float, max_iterations: int = 1) -> str:
    return f"""  - kind: mfbo
    name: bo
    sources: [{{simulator: {BURGERS_32}, cost: 0.25}}, {{simulator: {BURGERS_64}, cost: 1.0}}]
    objective: {{name: shock_time, options: {{t_target: {t_target}}}}}
    parameters: {{nu: [0.001, 0.3]}}
    log_scale: [nu]
    method: qlognei
    budget: 100
    max_iterations: {max_iterations}
    n_init: 3
    seed: 1
    file: res
    acquisition: {{num_restarts: 2, raw_samples: 16, maxiter: 10}}
"""


@pytest.mark.slow
def test_mfbo_with_another_option_reruns_and_a_larger_cap_continues(tmp_path):
    """Only the seed used to be compared: a changed ``t_target`` returned the old optimum. Now every
    stored value is the objective under the new options; raising ``max_iterations`` continues."""
    from sciml.config import load_config
    from sciml.workflows.spec import WorkflowSpec
    from sciml.workflows.steps.mfbo import build_problem

    out, path = tmp_path / "out", tmp_path / "wf.yaml"
    run_workflow(_write(path, _mfbo(0.2)), output_dir=out, log=Logs())
    old = json.loads((out / "res.json").read_text())
    logs = Logs()
    run_workflow(_write(path, _mfbo(0.3)), output_dir=out, log=logs)
    new = json.loads((out / "res.json").read_text())
    problem = build_problem(load_config(path, WorkflowSpec).steps[0], "wf")
    X = torch.tensor(new["result"]["X"], dtype=torch.float64)
    fid = new["result"]["fidelities"]
    truth = [float(problem.evaluate(X[i : i + 1], fid[i])) for i in range(len(fid))]
    assert new["result"]["values"] == pytest.approx(truth, rel=1e-12)
    assert new["result"]["values"][:3] != pytest.approx(old["result"]["values"][:3])  # same design, new t_target
    assert new["n_evaluations"] == old["n_evaluations"] == 3 + 1
    assert logs.about("[mfbo-bo] step.objective.options.t_target changed: starting clean (removed bo/state, res.json")

    logs = Logs()
    run_workflow(_write(path, _mfbo(0.3, max_iterations=2)), output_dir=out, log=logs)
    assert logs.about("[mfbo-bo] continuing its stored state: step.max_iterations 1 -> 2")
    assert logs.about("(resuming)") and not logs.about("starting clean")
    longer = json.loads((out / "res.json").read_text())
    assert longer["n_evaluations"] == 5 and longer["result"]["values"][:4] == new["result"]["values"]


def test_a_second_run_on_the_same_output_folder_gets_a_lock_error(tmp_path):
    """Two concurrent ``run_workflow`` on one folder: the second fails, naming the first, and writes nothing."""
    import os
    import socket

    out = tmp_path / "out"
    first_started, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def blocking_log(message: str) -> None:  # the first run waits inside its first step
        first_started.set()
        release.wait(timeout=60)

    def first() -> None:
        try:
            run_workflow(_write(tmp_path / "a.yaml", _generate(0, n=1)), output_dir=out, log=blocking_log)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert first_started.wait(timeout=60)
        before = sorted(p.name for p in out.iterdir())
        with pytest.raises(LockError) as err:
            run_workflow(_write(tmp_path / "b.yaml", _generate(5, n=1, name="other")), output_dir=out, log=Logs())
        assert sorted(p.name for p in out.iterdir()) == before  # the second run wrote nothing
    finally:
        release.set()
        thread.join(timeout=120)
    msg = str(err.value)
    assert f"workflow output {out} is in use by PID {os.getpid()} on {socket.gethostname()}" in msg
    assert not errors and (out / "sine.nc").is_file()
    run_workflow(tmp_path / "b.yaml", output_dir=out, log=Logs())  # released: the next run goes ahead
    assert (out / "other.nc").is_file()


def test_steps_that_share_outputs_are_refused_before_any_work(tmp_path):
    p = _write(tmp_path / "wf.yaml", _generate(0), "  - {kind: summary, dataset: sine}\n",
               "  - {kind: summary, dataset: sine}\n")
    with pytest.raises(ConfigError, match=r"steps.2: steps.1 writes the same outputs \('summary-summary'\)"):
        run_workflow(p, output_dir=tmp_path / "out", log=Logs())
    p = _write(tmp_path / "wf.yaml", _generate(0), "  - {kind: plot_trajectories, dataset: sine, file: sine.nc}\n")
    with pytest.raises(ConfigError, match=r"steps.1: output .*sine.nc overlaps .*sine.nc, an output of steps.0"):
        run_workflow(p, output_dir=tmp_path / "out", log=Logs())
    p = _write(tmp_path / "wf.yaml", _generate(0), "  - {kind: plot_trajectories, dataset: sine, file: ../x.png}\n")
    with pytest.raises(ConfigError, match=r"steps.1: output .*x.png must lie inside the output folder"):
        run_workflow(p, output_dir=tmp_path / "out", log=Logs())
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- the protocol, on a toy step
class Toy(WorkflowStep):
    """Produces the dataset ``<name>/value.txt`` (kept when resumed) and counts its runs in ``<name>/runs``."""

    kind: Literal["toy"] = "toy"
    name: str = "toy"
    value: int = 0
    budget: int | None = 1
    reads: list[str] = []
    extendable: ClassVar[tuple[str, ...]] = ("budget",)

    def inputs(self) -> dict[str, list[str]]:
        return {"datasets": list(self.reads)}

    def products(self) -> dict[str, list[str]]:
        return {"datasets": [self.name]}

    def outputs(self, ctx: WorkflowContext) -> list[Path]:
        return [ctx.output_dir / self.name, ctx.output_dir / f"{self.name}.txt"]

    def run(self, ctx: WorkflowContext, index: int) -> None:
        state = ctx.output_dir / self.name / "value.txt"
        state.parent.mkdir(parents=True, exist_ok=True)
        if not state.exists():
            state.write_text(f"{self.value}\n")
        with (state.parent / "runs").open("a") as f:
            f.write("run\n")
        ctx.datasets[self.name] = state


def _ctx(out: Path, logs: Logs) -> WorkflowContext:
    out.mkdir(parents=True, exist_ok=True)
    return WorkflowContext(name="t", source="t.yaml", base_dir=out, output_dir=out, log=logs)


def _run(out: Path, *steps: Toy) -> Logs:
    logs = Logs()
    ctx = _ctx(out, logs)
    for i, s in enumerate(steps):
        run_step(s, ctx, i)
    return logs


def test_a_changed_step_starts_clean_and_its_readers_follow(tmp_path):
    out = tmp_path / "out"
    (out / "keep.txt").parent.mkdir(parents=True)
    (out / "keep.txt").write_text("not a step's")
    a, b = Toy(name="a", value=1), Toy(name="b", value=2, reads=["a"])
    assert _run(out, a, b) == []  # fresh: nothing to say
    assert _run(out, a, b) == []  # same keys: resumed (the toy appends to its state)
    assert (out / "a" / "runs").read_text() == "run\n" * 2
    logs = _run(out, Toy(name="a", value=3), b)
    assert logs == ["[toy-a] step.value changed: starting clean (removed a)",
                    "[toy-b] input.datasets.a.sha256, input.datasets.a.step changed: starting clean (removed b)"]
    assert (out / "a" / "value.txt").read_text() == "3\n" and (out / "b" / "value.txt").read_text() == "2\n"
    assert (out / "keep.txt").read_text() == "not a step's"  # only a step's own outputs are removed
    record = json.loads((out / RECORDS / "toy-b.json").read_text())
    assert record["outputs"] == ["b", "b.txt"] and record["fingerprint"]["step.value"] == 2


def test_budget_growth_continues_and_shrinking_starts_clean(tmp_path):
    out = tmp_path / "out"
    _run(out, Toy(budget=1))
    assert _run(out, Toy(budget=4)) == ["[toy-toy] continuing its stored state: step.budget 1 -> 4"]
    assert _run(out, Toy(budget=None)) == ["[toy-toy] continuing its stored state: step.budget 4 -> None"]
    assert (out / "toy" / "runs").read_text() == "run\n" * 3
    assert _run(out, Toy(budget=2)) == ["[toy-toy] step.budget changed: starting clean (removed toy)"]
    assert (out / "toy" / "runs").read_text() == "run\n"


def test_outputs_without_a_record_or_after_a_code_change_start_clean(tmp_path, monkeypatch):
    out = tmp_path / "out"
    (out / "toy").mkdir(parents=True)
    (out / "toy" / "value.txt").write_text("9\n")  # written by an older sciml, or by hand
    (out / "toy.txt").write_text("old")
    logs = _run(out, Toy())
    assert logs == ["[toy-toy] no fingerprint is stored with its outputs: starting clean (removed toy, toy.txt)"]
    assert (out / "toy" / "value.txt").read_text() == "0\n"
    code = runner.code_of(Toy.__module__)
    monkeypatch.setattr(runner, "code_of", lambda module: {**code, "sources": "edited"})
    assert _run(out, Toy()) == ["[toy-toy] code.sources changed: starting clean (removed toy)"]
