"""BO loop: budgeted run, ask/tell in physical units, failures, exact kill/resume, errors."""

from __future__ import annotations

import json
import math

import pytest
import torch

import sciml.bo.history as bo_history
import sciml.bo.loop as bo_loop
import sciml.bo.models as bo_models
import sciml.bo.state as bo_state
from sciml.bo import (
    DEFAULT_MODEL,
    METHODS,
    AcquisitionFailedError,
    AcquisitionSettings,
    BOLoop,
    BOLoopError,
    BOResult,
    Fidelity,
    MultiFidelityProblem,
    PowerFidelityCost,
    forrester,
)
from sciml.bo.fitting import hyperparameters
from sciml.viz.bo import plot_best_vs_cost
from sciml.errors import ConfigError, ParameterError

F64 = torch.float64
TINY = AcquisitionSettings(num_fantasies=2, num_restarts=2, raw_samples=16, q=1, mc_samples=32,
                           candidate_set_size=64, num_mv_samples=5, maxiter=15, batch_limit=4)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _counted(problem: MultiFidelityProblem, box: dict[str, int], kill_at: int | None = None) -> MultiFidelityProblem:
    """Count completed ``evaluate_timed`` calls; raise KeyboardInterrupt (a kill) before call ``kill_at``."""
    original = problem.evaluate_timed

    def evaluate_timed(X, s=None, *, safe=False):
        if kill_at is not None and box["n"] == kill_at:
            raise KeyboardInterrupt("killed")
        out = original(X, s, safe=safe)
        box["n"] += X.shape[0]
        return out

    problem.evaluate_timed = evaluate_timed  # type: ignore[method-assign]
    return problem


def _grid_problem() -> MultiFidelityProblem:
    """1D problem with a log-scaled grid-size fidelity: unit levels 0, 1/2, 1."""
    return MultiFidelityProblem(
        name="grid", bounds=[[-1.0], [3.0]], maximize=True,
        function=lambda X, s: -((X[:, 0] - 1.2) ** 2) + 0.2 * torch.log2(s / 256.0),
        fidelity=Fidelity.discrete("n_cells", (64, 128, 256), log_scale=True),
        cost=PowerFidelityCost(256.0, 1.0), optimum_value=0.0, optimizers=[[1.2]])


# ------------------------------------------------------------------------------ run
def test_run_reduces_inference_regret_on_forrester(tmp_path):
    # 3-5 iterations with TINY settings: the final regret depends on the seed (seeds 1-10: mean
    # 2.5, from 0.0004 to 9.0, with the fidelity kernel's power fixed to 1); seed 2 reaches 0.007
    loop = BOLoop(forrester(), method="mfmes", settings=TINY, n_init=4, seed=2, state_dir=tmp_path / "bo")
    result = loop.run(37.0)
    assert isinstance(result, BOResult) and result.method == "mfmes" and result.model_kind == "mfgp"
    assert result.total_cost >= 37.0 and result.total_cost == pytest.approx(float(result.cumulative_cost[-1]))
    assert bool((torch.diff(result.cumulative_cost) > 0).all())
    # initial design: Sobol points, fidelities cycling 1, 0.5, 0 (target first), costs declared 1 + 9 s
    assert result.fidelities[:4].tolist() == [1.0, 0.5, 0.0, 1.0]
    assert result.costs[:4].tolist() == pytest.approx([10.0, 5.5, 1.0, 10.0])
    assert result.iteration[:4].tolist() == [0, 0, 0, 0] and int(result.iteration[-1]) == loop.iteration >= 2
    assert result.status == ["ok"] * result.n_evaluations
    recs = result.recommendations
    assert [r["after_iteration"] for r in recs] == list(range(loop.iteration + 1))
    regret_initial, regret_final = recs[0]["regret"], recs[-1]["regret"]
    assert regret_final <= regret_initial and regret_final < 0.5
    assert recs[-1]["true_value"] == pytest.approx(float(forrester().evaluate([recs[-1]["x"]])[0]))
    timings = result.timings
    assert [t["iteration"] for t in timings] == list(range(loop.iteration + 1))
    assert all(t["fit_s"] > 0 and t["acquisition_s"] > 0 and t["evaluation_s"] > 0 for t in timings[1:])
    png = plot_best_vs_cost(result, tmp_path / "regret.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    # the state files: plain tensors (weights_only) and JSON
    tensors = torch.load(tmp_path / "bo" / "tensors.pt", weights_only=True)
    assert tensors["Z"].shape == (result.n_evaluations, 2) and tensors["pending"].shape == (0, 2)
    state = json.loads((tmp_path / "bo" / "state.json").read_text())
    assert state["config"]["method"] == "mfmes" and state["n_observations"] == result.n_evaluations
    assert json.dumps(result.to_dict())  # JSON-able


def test_kill_and_resume_reproduce_the_uninterrupted_run(tmp_path):
    settings = TINY.replace(q=2, maxiter=5, candidate_set_size=32)
    box = {"n": 0}
    straight = BOLoop(_counted(forrester(), box), method="mfmes", settings=settings, n_init=4,
                      seed=3).run(1e9, max_iterations=3)
    assert box["n"] == 4 + 3 * 2

    # (a) stop after one iteration, drop the object, resume from the folder
    box_a = {"n": 0}
    BOLoop(_counted(forrester(), box_a), method="mfmes", settings=settings, n_init=4, seed=3,
           state_dir=tmp_path / "a").run(1e9, max_iterations=1)
    assert box_a["n"] == 6
    resumed = BOLoop.resume(tmp_path / "a", _counted(forrester(), box_a)).run(1e9, max_iterations=3)
    # (b) killed in the middle of iteration 2's batch (7 evaluations done), resumed with run(resume=True)
    box_b = {"n": 0}
    with pytest.raises(KeyboardInterrupt):
        BOLoop(_counted(forrester(), box_b, kill_at=7), method="mfmes", settings=settings, n_init=4, seed=3,
               state_dir=tmp_path / "b").run(1e9, max_iterations=3)
    assert box_b["n"] == 7
    again = BOLoop.resume(tmp_path / "b", forrester())
    assert again.iteration == 2 and again.pending.shape == (1, 2) and again.n_observations == 7
    killed = BOLoop(_counted(forrester(), box_b), method="mfmes", settings=settings, n_init=4, seed=3,
                    state_dir=tmp_path / "b").run(1e9, resume=True, max_iterations=3)

    for other, box_other in ((resumed, box_a), (killed, box_b)):
        assert box_other["n"] == 10  # nothing evaluated twice
        assert other.iteration.tolist() == straight.iteration.tolist()
        assert float((other.X - straight.X).abs().max()) <= 1e-10
        assert float((other.fidelities - straight.fidelities).abs().max()) <= 1e-10
        assert torch.equal(other.values, straight.values)
        rec_other = torch.tensor([r["x"] for r in other.recommendations], dtype=F64)
        rec_straight = torch.tensor([r["x"] for r in straight.recommendations], dtype=F64)
        assert rec_other.shape == (4, 1) and float((rec_other - rec_straight).abs().max()) <= 1e-10
        assert len(other.timings) == 4


def test_warm_started_fits_resume_exactly(tmp_path, monkeypatch):
    opts = {"n_restarts": 1, "max_iter": 30, "warm_start": True}
    settings = TINY.replace(maxiter=8)

    def make(state_dir=None):
        return BOLoop(_grid_problem(), method="ar1-ei", settings=settings, n_init=6, seed=4,
                      model_options=opts, state_dir=state_dir)

    # wiring: iteration 1 fits cold, iteration k > 1 starts from the fit that proposed k - 1
    calls: list[dict] = []
    real = bo_models.fit_surrogate

    def spy(kind, X, Y, **kw):
        model = real(kind, X, Y, **kw)
        calls.append({"init": kw.get("init"), "fitted": hyperparameters(model), "seed": kw["seed"], "keys": set(kw)})
        return model

    monkeypatch.setattr(bo_models, "fit_surrogate", spy)
    straight = make().run(1e9, max_iterations=3)
    monkeypatch.setattr(bo_models, "fit_surrogate", real)
    assert [c["seed"] for c in calls] == [5, 6, 7, 8]  # 3 iterations and the final recommendation
    assert calls[0]["init"] is None and all("warm_start" not in c["keys"] for c in calls)
    for prev, cur in zip(calls[:-1], calls[1:], strict=True):
        assert set(cur["init"]) == set(prev["fitted"])
        assert all(torch.equal(cur["init"][k], prev["fitted"][k]) for k in prev["fitted"])

    # stop after one iteration, resume from the folder: the same candidates and recommendations
    first = make(tmp_path / "a")
    first.run(1e9, max_iterations=1)
    saved = torch.load(tmp_path / "a" / "tensors.pt", weights_only=True)
    assert int(saved["warm_iteration"]) == 1 and set(saved["warm"]) == set(calls[0]["fitted"])
    assert all(torch.equal(saved["warm"][k], calls[0]["fitted"][k]) for k in saved["warm"])
    calls.clear()
    monkeypatch.setattr(bo_models, "fit_surrogate", spy)
    resumed = BOLoop.resume(tmp_path / "a", _grid_problem()).run(1e9, max_iterations=3)
    monkeypatch.setattr(bo_models, "fit_surrogate", real)
    assert [c["seed"] for c in calls] == [6, 7, 8]  # the resumed fits start from the saved ones
    assert all(torch.equal(calls[0]["init"][k], saved["warm"][k]) for k in saved["warm"])
    assert resumed.iteration.tolist() == straight.iteration.tolist()
    assert float((resumed.X - straight.X).abs().max()) <= 1e-10
    assert torch.equal(resumed.fidelities, straight.fidelities) and torch.equal(resumed.values, straight.values)
    rec_r = torch.tensor([r["x"] for r in resumed.recommendations], dtype=F64)
    rec_s = torch.tensor([r["x"] for r in straight.recommendations], dtype=F64)
    assert rec_r.shape == (4, 1) and float((rec_r - rec_s).abs().max()) <= 1e-10

    # a state with only half of the warm-start entries is refused with a clear error
    broken = dict(saved)
    broken.pop("warm_iteration")
    torch.save(broken, tmp_path / "a" / "tensors.pt")
    with pytest.raises(BOLoopError, match="'warm_iteration' must be both present or both absent"):
        BOLoop.resume(tmp_path / "a", _grid_problem())

    for bad in ("yes", 1, None):
        with pytest.raises(ConfigError, match="warm_start'\\] must be True or False"):
            BOLoop(_grid_problem(), method="ar1-ei", model_options={"warm_start": bad})
    with pytest.raises(ConfigError, match="cannot set \\['init'\\]"):
        BOLoop(_grid_problem(), method="ar1-ei", model_options={"init": {}})


def test_warm_start_falls_back_to_a_cold_fit_when_the_model_changed_shape(monkeypatch):
    loop = BOLoop(_grid_problem(), method="ar1-ei", settings=TINY, n_init=6, seed=1,
                  model_options={"n_restarts": 1, "warm_start": True})
    X0 = loop.initial_design()
    loop.observe(X0, loop.problem.evaluate_safe(X0[:, :1], X0[:, 1])[0])
    cold = hyperparameters(loop.fit_model(2))
    good = hyperparameters(loop.fit_model(1))
    loop._warm, loop._warm_iteration = {**good, "covar_module.rho": torch.zeros(7, dtype=F64)}, 1
    warm = hyperparameters(loop.fit_model(2))  # shape mismatch: the cold fit instead, no error
    assert all(torch.equal(warm[k], cold[k]) for k in cold)
    loop._warm = good
    assert any(not torch.equal(v, cold[k]) for k, v in hyperparameters(loop.fit_model(2)).items())


def test_failed_evaluations_are_recorded_and_left_out_of_the_fit(tmp_path):
    def function(X, s):
        y = (6 * X[:, 0] - 2) ** 2 * torch.sin(12 * X[:, 0] - 4)
        y = torch.where(X[:, 0] > 0.85, torch.full_like(y, math.nan), y)
        if bool((X[:, 0] < 0.05).any()):
            raise RuntimeError("solver diverged")
        return y

    p = MultiFidelityProblem(name="flaky", bounds=[[0.0], [1.0]], function=function,
                             fidelity=Fidelity.continuous("s", 0.0, 1.0), cost=2.0)
    loop = BOLoop(p, method="qlognei", settings=TINY, n_init=5, seed=0, state_dir=tmp_path)
    X0 = loop.initial_design()
    assert X0.shape == (5, 2) and X0[:, 1].tolist() == [1.0] * 5  # qlognei: target fidelity only
    X0 = torch.tensor([[0.9, 1.0], [0.01, 1.0], [0.3, 1.0], [0.6, 1.0], [0.75, 1.0]], dtype=F64)
    values = p.evaluate_safe(X0[:, :1], X0[:, 1])[0]
    loop.observe(X0, values)
    result = loop.result()
    assert result.status == ["failed", "failed", "ok", "ok", "ok"]
    assert result.costs.tolist() == [2.0] * 5  # failures cost too
    model = loop.fit_model()
    assert model.train_inputs[0].shape[0] == 3
    r = loop.run(24.0)  # the loop goes on past failures (its own evaluations go through evaluate_timed)
    assert r.n_evaluations >= 12 and r.total_cost >= 24.0
    failures = json.loads((tmp_path / "state.json").read_text())["failures"]
    assert set(failures) >= {"0", "1"} and "non-finite" in failures["0"]
    # the reasons also reach the result (keyed by the evaluation's index) and its JSON
    # (observe() was handed NaN for the point whose solver raised; run() evaluates through
    # evaluate_timed, which passes the exception on)
    assert "non-finite" in r.failures[0] and "non-finite" in r.failures[1]
    assert any("RuntimeError: solver diverged" in m for i, m in r.failures.items() if i >= 5)
    assert set(r.failures) == {i for i, st in enumerate(r.status) if st == "failed"}
    assert r.to_dict()["failures"]["1"] == r.failures[1]


def test_ask_tell_in_physical_units():
    p = _grid_problem()
    loop = BOLoop(p, method="mfmes", settings=TINY.replace(maxiter=8), n_init=6, seed=1)
    X0 = loop.initial_design()
    assert X0.shape == (6, 2)
    assert X0[:, 1].tolist() == [256.0, 128.0, 64.0, 256.0, 128.0, 64.0]  # target first, then downwards
    assert bool(((X0[:, 0] >= -1) & (X0[:, 0] <= 3)).all())
    assert torch.equal(loop.pending, X0)
    loop.observe(X0[:3], p.evaluate(X0[:3, :1], X0[:3, 1]))
    assert loop.pending.shape == (3, 2)
    loop.observe(X0[3:], p.evaluate(X0[3:, :1], X0[3:, 1]))
    assert loop.total_cost == pytest.approx(2 * (1.0 + 0.5 + 0.25))
    X1 = loop.propose(2)
    assert X1.shape == (2, 2) and set(X1[:, 1].tolist()) <= {64.0, 128.0, 256.0}
    assert loop.iteration == 1 and loop.pending.shape == (2, 2)
    X2 = loop.propose(1)  # the first batch is still pending
    assert loop.iteration == 2 and loop.pending.shape == (3, 2)
    assert float((X2[0] - X1).abs().max(dim=1).values.min()) > 1e-6
    loop.observe(X1, p.evaluate(X1[:, :1], X1[:, 1]), costs=[0.7, 0.8])
    res = loop.result()
    assert res.costs[-2:].tolist() == [0.7, 0.8] and res.iteration[-2:].tolist() == [1, 1]
    # batches 0 and 1 are complete, batch 2 is still pending
    assert [t["iteration"] for t in res.timings] == [0, 1] and res.timings[1]["cost"] == pytest.approx(1.5)
    # more design points after the design was complete: still one design record, grown
    X3 = loop.initial_design(2)
    loop.observe(X3, p.evaluate(X3[:, :1], X3[:, 1]))
    design = [t for t in loop.result().timings if t["iteration"] == 0]
    assert len(design) == 1 and design[0]["n_points"] == 8
    assert design[0]["cost"] == pytest.approx(float(loop.result().costs[loop.result().iteration == 0].sum()))
    # an AR(1) loop on the same (equally spaced in log) levels
    ar1 = BOLoop(p, method="ar1-ei", settings=TINY, n_init=6, seed=1, model_options={"n_restarts": 1})
    assert ar1.model_kind == "ar1"
    X = ar1.initial_design()
    ar1.observe(X, p.evaluate(X[:, :1], X[:, 1]))
    Xa = ar1.propose(1)
    assert Xa.shape == (1, 2) and Xa[0, 1].item() in (64.0, 128.0, 256.0)


def test_completion_order_of_a_batch_does_not_change_the_next_proposal():
    p = forrester()
    loops = [BOLoop(p, method="qlognei", settings=TINY, n_init=5, seed=2) for _ in range(2)]
    X0 = [loop.initial_design() for loop in loops]
    assert torch.equal(X0[0], X0[1])
    y = p.evaluate(X0[0][:, :1], X0[0][:, 1])
    loops[0].observe(X0[0], y)
    loops[1].observe(X0[1].flip(0), y.flip(0))  # as a parallel executor might complete them
    assert not torch.equal(loops[0].result().X, loops[1].result().X)
    assert torch.equal(loops[0].propose(1), loops[1].propose(1))


def test_acquisition_failure_falls_back_to_sobol_points(monkeypatch):
    p = forrester()
    loop = BOLoop(p, method="mfmes", settings=TINY, n_init=3, seed=0)
    X0 = loop.initial_design()
    loop.observe(X0, p.evaluate(X0[:, :1], X0[:, 1]))

    def fail(*args, **kwargs):
        raise AcquisitionFailedError("optimising the 'mfmes' acquisition failed numerically")

    monkeypatch.setattr(bo_loop, "propose_candidates", fail)
    X1 = loop.propose(2)
    reference = BOLoop(p, method="mfmes", settings=TINY, n_init=3, seed=0)
    expected = reference.initial_design(5)[3:]  # the continuation of the Sobol sequence
    assert torch.equal(X1, expected)
    assert loop.result().acquisitions[-1]["fallback"] == "sobol"
    # the fidelity cycle continues too: after 4 design points a one-point fallback is at the
    # second level (0.5), not back at the target
    loop4 = BOLoop(p, method="mfmes", settings=TINY, n_init=4, seed=0)
    X0 = loop4.initial_design()
    assert X0[:, 1].tolist() == [1.0, 0.5, 0.0, 1.0]
    loop4.observe(X0, p.evaluate(X0[:, :1], X0[:, 1]))
    X1 = loop4.propose(1)
    assert X1[0, 1].item() == 0.5 and torch.equal(X1, BOLoop(p, method="mfmes", n_init=4, seed=0).initial_design(5)[4:])


def test_single_fidelity_problem_with_qlognei():
    p = MultiFidelityProblem(name="bowl", bounds=[[0.0, 0.0], [1.0, 1.0]],
                             function=lambda X, s: ((X - 0.3) ** 2).sum(-1),
                             optimum_value=0.0, optimizers=[[0.3, 0.3]])
    r = BOLoop(p, method="qlognei", settings=TINY, n_init=5, seed=0).run(7.0)
    assert r.n_evaluations == 7 and r.X.shape == (7, 2) and bool(torch.isnan(r.fidelities).all())
    assert r.recommendations[-1]["regret"] <= r.recommendations[0]["regret"]


# ------------------------------------------------------------------------------ errors
def test_bad_input_errors(tmp_path, monkeypatch):
    p = forrester()
    assert METHODS == ("mfkg", "mfmes", "qlognei", "ar1-ei") and DEFAULT_MODEL["ar1-ei"] == "ar1"
    with pytest.raises(ConfigError, match=r"unknown method 'ei'; accepted: \['mfkg', 'mfmes', 'qlognei', 'ar1-ei'\]"):
        BOLoop(p, method="ei")
    with pytest.raises(ConfigError, match="n_init must be an integer >= 1"):
        BOLoop(p, n_init=0)
    with pytest.raises(ConfigError, match="unknown model_kind 'gp'"):
        BOLoop(p, model_kind="gp")
    single = MultiFidelityProblem(name="one", bounds=[[0.0], [1.0]], function=lambda X, s: X[:, 0])
    for method in ("mfkg", "mfmes", "ar1-ei"):
        with pytest.raises(ConfigError, match="is multi-fidelity but problem 'one' has no fidelity"):
            BOLoop(single, method=method)
    with pytest.raises(ConfigError, match="'ar1-ei' needs discrete fidelity levels"):
        BOLoop(p, method="ar1-ei")
    with pytest.raises(ConfigError, match="equally spaced"):
        BOLoop(MultiFidelityProblem(name="u", bounds=[[0.0], [1.0]], function=lambda X, s: X[:, 0],
                                    fidelity=Fidelity.discrete("n", (1, 2, 10))), method="ar1-ei")
    loop = BOLoop(p, settings=TINY, n_init=2)
    for budget in (0, -1.0, math.nan, math.inf):
        with pytest.raises(ConfigError, match="budget must be a finite number > 0"):
            loop.run(budget)
    with pytest.raises(BOLoopError, match="no successful evaluation"):
        loop.propose()
    with pytest.raises(ParameterError, match=r"candidates must have shape \(n, 2\)"):
        loop.observe(torch.zeros(2, 3, dtype=F64), [1.0, 2.0])
    with pytest.raises(ParameterError, match="not levels|out of range"):
        loop.observe([[0.5, 1.5]], [1.0])
    with pytest.raises(ParameterError, match=r"values must have shape \(1,\)"):
        loop.observe([[0.5, 1.0]], [1.0, 2.0])
    with pytest.raises(ParameterError, match="costs must be finite and > 0"):
        loop.observe([[0.5, 1.0]], [1.0], costs=[0.0])
    with pytest.raises(ParameterError, match="pass the measured costs"):
        BOLoop(p, use_measured_cost=True).observe([[0.5, 1.0]], [1.0])
    # a measured cost that is not positive
    measured = BOLoop(forrester(), settings=TINY, n_init=2, use_measured_cost=True)
    monkeypatch.setattr(measured.problem, "evaluate_timed",
                        lambda X, s=None, *, safe=False: (torch.zeros(X.shape[0], dtype=F64),
                                                          torch.zeros(X.shape[0], dtype=F64)))
    with pytest.raises(ParameterError, match=r"measured cost of evaluation 0 \(seconds\) must be finite and > 0"):
        measured.run(5.0)
    # state folders
    BOLoop(p, settings=TINY, n_init=2, state_dir=tmp_path).initial_design()
    with pytest.raises(ConfigError, match="already holds a BO state"):
        BOLoop(p, settings=TINY, n_init=2, state_dir=tmp_path).initial_design()
    with pytest.raises(ConfigError, match="different configuration: seed"):
        BOLoop(p, settings=TINY, n_init=2, seed=5, state_dir=tmp_path).run(1.0, resume=True)
    with pytest.raises(ConfigError, match="is for problem 'forrester'"):
        BOLoop.resume(tmp_path, _grid_problem())
    with pytest.raises(BOLoopError, match="holds no BO state"):
        BOLoop.resume(tmp_path / "empty", p)


def test_a_crash_between_the_two_state_files_loses_nothing(tmp_path, monkeypatch):
    # kill the loop after tensors.pt was written and before state.json, at the observation that
    # completes batch 1: the resumed run keeps batch 1's timing and matches the uninterrupted run
    settings = TINY.replace(q=2, maxiter=5, candidate_set_size=32)
    straight = BOLoop(forrester(), method="mfmes", settings=settings, n_init=4, seed=3).run(1e9, max_iterations=3)
    real_write = bo_state.atomic_write_text

    def crash_on_the_json(path, text, *args, **kwargs):
        state = json.loads(text)
        if state["n_observations"] == 6 and not state["open_iterations"]:
            raise KeyboardInterrupt("killed between tensors.pt and state.json")
        return real_write(path, text, *args, **kwargs)

    monkeypatch.setattr(bo_state, "atomic_write_text", crash_on_the_json)
    box = {"n": 0}
    with pytest.raises(KeyboardInterrupt):
        BOLoop(_counted(forrester(), box), method="mfmes", settings=settings, n_init=4, seed=3,
               state_dir=tmp_path).run(1e9, max_iterations=3)
    monkeypatch.setattr(bo_state, "atomic_write_text", real_write)
    assert box["n"] == 6 and json.loads((tmp_path / "state.json").read_text())["n_observations"] == 5
    resumed = BOLoop.resume(tmp_path, _counted(forrester(), box))
    assert resumed.n_observations == 6 and resumed.pending.shape == (0, 2)
    result = resumed.run(1e9, max_iterations=3)
    assert box["n"] == 10  # nothing evaluated twice
    assert float((result.X - straight.X).abs().max()) <= 1e-10 and torch.equal(result.values, straight.values)
    assert [t["iteration"] for t in result.timings] == [0, 1, 2, 3]
    assert all(t["fit_s"] is not None and t["acquisition_s"] > 0 for t in result.timings[1:])
    assert result.timings[1]["n_points"] == 2 and result.timings[1]["cost"] == pytest.approx(
        float(result.costs[result.iteration == 1].sum()))
    # a state written before the metadata moved into tensors.pt (no "meta") still resumes
    tensors = torch.load(tmp_path / "tensors.pt", weights_only=True)
    del tensors["meta"]
    torch.save(tensors, tmp_path / "tensors.pt")
    old = BOLoop.resume(tmp_path, forrester())
    assert old.n_observations == 10 and len(old.result().timings) == 4


def test_a_resumed_run_keeps_the_batch_size_of_the_run_it_continues(tmp_path):
    straight = BOLoop(forrester(), method="qlognei", settings=TINY, n_init=4, seed=1).run(
        1e9, batch_size=2, max_iterations=2)
    BOLoop(forrester(), method="qlognei", settings=TINY, n_init=4, seed=1, state_dir=tmp_path).run(
        1e9, batch_size=2, max_iterations=1)
    assert json.loads((tmp_path / "state.json").read_text())["batch_size"] == 2
    resumed = BOLoop.resume(tmp_path, forrester()).run(1e9, max_iterations=2)  # settings.q is 1
    assert resumed.iteration.tolist() == straight.iteration.tolist() == [0] * 4 + [1, 1, 2, 2]
    assert float((resumed.X - straight.X).abs().max()) <= 1e-10
    # an explicit batch size still wins
    more = BOLoop.resume(tmp_path, forrester()).run(1e9, batch_size=1, max_iterations=3)
    assert more.iteration.tolist()[-1:] == [3] and int((more.iteration == 3).sum()) == 1


def test_observed_points_match_their_pending_points_through_float32(caplog):
    p = _grid_problem()
    loop = BOLoop(p, method="mfmes", settings=TINY.replace(maxiter=8), n_init=6, seed=1)
    X0 = loop.initial_design()
    loop.observe(X0, p.evaluate(X0[:, :1], X0[:, 1]))
    X1 = loop.propose(2)
    rounded = X1.to(torch.float32).to(F64)  # as a float32 simulator hands them back
    assert 0 < float((rounded - X1).abs().max()) < 1e-6
    with caplog.at_level("WARNING", logger=bo_history.logger.name):
        loop.observe(rounded[:1], p.evaluate(rounded[:1, :1], rounded[:1, 1]))
    assert loop.pending.shape == (1, 2) and not caplog.records
    res = loop.result()
    assert res.iteration.tolist()[-1] == 1 and torch.equal(res.X[-1], X1[0, :1])  # the proposed point is kept
    # a point far from every pending one is an extra observation, and it is said so
    with caplog.at_level("WARNING", logger=bo_history.logger.name):
        loop.observe([[2.5, 256.0]], [0.0])
    assert loop.pending.shape == (1, 2) and "matches none of the 1 pending points" in caplog.text


def test_method_model_pairs_options_and_state_files_that_cannot_work_are_errors(tmp_path):
    p = forrester()
    for method in ("mfkg", "mfmes"):
        with pytest.raises(ConfigError, match=f"method '{method}' with model_kind='singletask' cannot work"):
            BOLoop(p, method=method, model_kind="singletask")
    with pytest.raises(ConfigError, match="'ar1-ei' with model_kind='singletask' cannot work"):
        BOLoop(_grid_problem(), method="ar1-ei", model_kind="singletask")
    with pytest.raises(ConfigError, match="model_kind='multitask' .* needs discrete levels; problem 'forrester'"):
        BOLoop(p, method="mfmes", model_kind="multitask")
    assert BOLoop(p, method="qlognei", model_kind="mfgp").model_kind == "mfgp"  # target-only data: it works
    assert BOLoop(_grid_problem(), method="mfmes", model_kind="multitask").model_kind == "multitask"
    # model options are checked against the model's fit function before anything is evaluated
    with pytest.raises(ConfigError, match=r"model_options \['n_restarts'\] are not options of model_kind 'mfgp'"):
        BOLoop(p, method="mfmes", model_options={"n_restarts": 2})
    with pytest.raises(ConfigError, match=r"model_options cannot set \['seed'\]: the loop sets them"):
        BOLoop(p, model_options={"seed": 1})
    assert BOLoop(_grid_problem(), method="ar1-ei", model_options={"n_restarts": 2, "warm_start": True})
    # a tensors.pt that is not a torch file, or is empty: a BOLoopError, not a raw traceback
    loop = BOLoop(p, settings=TINY, n_init=2, state_dir=tmp_path)
    loop.initial_design()
    for junk in (b"not a torch file", b""):
        (tmp_path / "tensors.pt").write_bytes(junk)
        with pytest.raises(BOLoopError, match="cannot read the BO state in"):
            BOLoop.resume(tmp_path, p)


@pytest.mark.parametrize("method", ["mfkg", "mfmes"])
def test_cost_aware_methods_run_on_the_ar1_model(method):
    # the AR(1) model has discrete, equally spaced levels; MF-KG fantasises on it (a plain
    # GPyTorch model with BoTorch's fantasize), MF-MES samples its max values from it
    p = _grid_problem()
    loop = BOLoop(p, method=method, model_kind="ar1", settings=TINY.replace(maxiter=8), n_init=6, seed=0,
                  model_options={"n_restarts": 1, "max_iter": 50})
    X0 = loop.initial_design()
    loop.observe(X0, p.evaluate(X0[:, :1], X0[:, 1]))
    X1 = loop.propose(1)
    assert X1.shape == (1, 2) and X1[0, 1].item() in (64.0, 128.0, 256.0) and -1.0 <= X1[0, 0].item() <= 3.0
    acq = loop.result().acquisitions[-1]
    assert acq.get("fallback") is None and len(acq["acq_value"]) == 1 and math.isfinite(acq["acq_value"][0])
    X2 = loop.propose(2)  # a batch, with the first point pending
    assert X2.shape == (2, 2) and set(X2[:, 1].tolist()) <= {64.0, 128.0, 256.0}


def test_resume_under_another_problem_definition_is_refused(tmp_path):
    def problem(*, t_target: float = 0.2, upper: float = 1.0) -> MultiFidelityProblem:
        return MultiFidelityProblem(name="shifted", bounds=[[0.0], [upper]], maximize=True,
                                    function=lambda X, s: -((X[:, 0] - t_target) ** 2),
                                    options={"t_target": t_target})

    BOLoop(problem(), method="qlognei", settings=TINY, n_init=2, seed=0, state_dir=tmp_path).run(1e9, max_iterations=0)
    with pytest.raises(ConfigError, match=r"problem_definition\.options\.t_target: saved 0\.2, now 0\.3"):
        BOLoop.resume(tmp_path, problem(t_target=0.3))
    with pytest.raises(ConfigError, match=r"problem_definition\.bounds: saved \[\[0\.0\], \[1\.0\]\], now"):
        BOLoop.resume(tmp_path, problem(upper=2.0))
    with pytest.raises(ConfigError, match=r"problem_definition\.options\.t_target"):
        BOLoop(problem(t_target=0.3), method="qlognei", settings=TINY, n_init=2, seed=0,
               state_dir=tmp_path).run(1e9, resume=True)
    assert BOLoop.resume(tmp_path, problem()).n_observations == 2


def test_a_simulator_source_defines_itself_by_its_simulators_objective_and_seed():
    from sciml.studies.burgers import burgers_shock_time_problem

    base = burgers_shock_time_problem(t_target=0.2).definition()
    assert base == burgers_shock_time_problem(t_target=0.2).definition()
    assert "t_target=0.2" in base["options"]["objective"]
    assert base["options"] != burgers_shock_time_problem(t_target=0.25).definition()["options"]
    assert base["options"] != burgers_shock_time_problem(t_target=0.2, seed=1).definition()["options"]
    assert base["options"]["simulators"] != burgers_shock_time_problem(amplitude=2.0).definition()["options"]["simulators"]
