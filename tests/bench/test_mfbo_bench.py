"""``sciml bench mfbo``: regret bookkeeping, cost-to-reach, checks from hand-made rows, JSON layout."""

from __future__ import annotations

import contextlib
import json
import math
import operator
from pathlib import Path

import pytest

import torch

from sciml.bench.mfbo import (
    TUTORIAL_COST,
    TUTORIAL_VALUE,
    MFBOBenchSettings,
    MFBOReport,
    ProblemSpec,
    add_checks,
    add_cost_fractions,
    run_mfbo_benchmark,
    settings_for,
    summarise_runs,
)
from sciml.bench.mfbo_bare import bare_botorch_iteration
from sciml.bench.mfbo_jobs import acq_settings, make_loop, objective_range
from sciml.bench.mfbo_workdir import job_code, job_key, job_selected, jobs_of, load_job, loop_state_dir, parse_only
from sciml.bo import AcquisitionSettings, forrester
from sciml.bo.names import MULTI_FIDELITY_METHODS
from sciml.bo.state import read_state
from sciml.errors import ConfigError
from sciml.executors import portable_numerics_environment

_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
#: The code fingerprint of this checkout's mfbo jobs (part of every job key).
CODE = job_code()
nan = math.nan


def _row(problem, method, cost, mean, final_cost, runs, settings="FAST", **extra):
    return {"kind": "regret", "problem": problem, "method": method, "settings": settings,
            "final_regret_mean": mean[-1], "final_cost_mean": final_cost,
            "curve": {"cost": cost, "mean": mean, "se": [0.0] * len(cost)}, "runs": runs, **extra}


def test_cost_fractions_against_qlognei():
    """Median over seeds of the cost from which a seed's regret stays <= target; never = infinite."""
    q_runs = [{"cost": [50.0, 100.0], "regret": [1.0, 0.1]}, {"cost": [50.0, 80.0], "regret": [0.5, 0.05]},
              {"cost": [50.0, 100.0], "regret": [1.0, 0.5]}]
    mf_runs = [{"cost": [20.0, 40.0], "regret": [0.5, 0.05]}, {"cost": [20.0, 60.0], "regret": [0.5, 0.2]},
               {"cost": [10.0, 30.0, 50.0], "regret": [0.1, 0.5, 0.1]}]  # back above: reached at 50
    rows = [
        _row("p", "qlognei", [50.0, 100.0], [0.8, 0.2], 100.0, q_runs),
        _row("p", "mfmes", [20.0, 40.0, 60.0], [0.5, 0.05, 0.08], 110.0, mf_runs),
        _row("p", "mfkg", [20.0, 40.0], [0.5, 0.3], 90.0, [{"cost": [20.0, 40.0], "regret": [0.5, 0.3]}] * 3),
        _row("p", "ar1-ei", [20.0, 40.0], [0.5, 0.3], 150.0, [{"cost": [20.0, 40.0], "regret": [0.5, 0.3]}] * 3),
        _row("other", "mfmes", [1.0], [0.0], 1.0, [{"cost": [1.0], "regret": [0.0]}]),
    ]
    add_cost_fractions(rows, problem="p", target=0.1)
    by = {r["method"]: r for r in rows if r["problem"] == "p"}
    q, m = by["qlognei"], by["mfmes"]
    assert q["target_regret"] == 0.1 and q["cost_to_reach_per_seed"] == [100.0, 80.0, None]
    assert q["cost_to_reach"] == 100.0 and q["n_reached"] == 2 and q["cost_fraction_vs_qlognei"] == 1.0
    assert m["cost_to_reach_per_seed"] == [40.0, None, 50.0] and m["cost_to_reach"] == 50.0 and m["reached"]
    assert m["cost_fraction_vs_qlognei"] == pytest.approx(0.5) and m["qlognei_reached"] is True
    assert m["cost_fraction_per_seed"] == [pytest.approx(0.4), None, pytest.approx(0.5)]
    # leave one seed out: {None, 50} -> never (final cost 110 / 100), {40, 50} -> 0.45, {40, None} -> never
    assert m["cost_fraction_leave_one_out"] == [pytest.approx(0.45), pytest.approx(1.1)]
    # not reached: the final cost over qLogNEI's cost to reach, floored at 1
    assert by["mfkg"]["reached"] is False and by["mfkg"]["cost_to_reach"] is None
    assert by["mfkg"]["cost_fraction_vs_qlognei"] == 1.0 and by["ar1-ei"]["cost_fraction_vs_qlognei"] == pytest.approx(1.5)
    assert "cost_to_reach" not in rows[-1]  # other problems untouched
    # qLogNEI's median does not reach: its final cost is the denominator, the fractions upper bounds
    add_cost_fractions(rows, problem="p", target=0.06)
    by = {r["method"]: r for r in rows if r["problem"] == "p"}
    assert by["qlognei"]["cost_to_reach"] is None and by["mfmes"]["qlognei_reached"] is False
    assert by["mfmes"]["cost_to_reach_per_seed"] == [40.0, None, None]
    assert by["mfmes"]["cost_fraction_vs_qlognei"] == pytest.approx(1.1)  # never: 110 / 100


def test_summarise_runs_means_and_standard_errors():
    runs = [
        {"seed": 0, "cost": [10.0, 20.0], "regret": [2.0, 1.0], "total_cost": 24.0, "final_regret": 1.0,
         "final_value": -1.0, "n_iterations": 2, "target_cost_share": 0.5, "model": "mfgp", "init_cost": 10.0,
         "fit_s": [1.0, 2.0], "acquisition_s": [3.0, 4.0], "recommend_s": [0.5, 0.5]},
        {"seed": 1, "cost": [10.0, 30.0], "regret": [4.0, 3.0], "total_cost": 36.0, "final_regret": 3.0,
         "final_value": -3.0, "n_iterations": 4, "target_cost_share": 0.25, "model": "mfgp", "init_cost": 10.0,
         "fit_s": [1.0], "acquisition_s": [1.0], "recommend_s": [0.2]},
    ]
    row = summarise_runs(runs, problem="p", method="mfmes")
    assert row["n_seeds"] == 2 and row["final_cost_mean"] == 30.0 and row["iterations_mean"] == 3.0
    assert row["final_regret_mean"] == 2.0 and row["final_regret_se"] == pytest.approx(1.0)  # std sqrt(2) / sqrt(2)
    assert row["final_value_mean"] == -2.0 and row["target_cost_share_mean"] == 0.375
    assert row["s_per_iter"] == pytest.approx((4.0 + 6.0 + 2.0) / 3)  # fit + acquisition per iteration
    assert row["recommend_s_per_iter"] == pytest.approx(1.2 / 3)
    assert row["curve"]["cost"] == [10.0, 20.0, 30.0] and row["curve"]["mean"] == [3.0, 2.5, 2.0]
    assert [r["seed"] for r in row["runs"]] == [0, 1]
    with pytest.raises(ValueError, match="no runs"):
        summarise_runs([], problem="p", method="mfmes")


# ------------------------------------------------------------------ checks
def _report(rows):
    return MFBOReport(benchmark="mfbo", mode="test", config={}, results=rows, machine={})


def test_checks_from_hand_made_rows():
    rows = [
        {"kind": "regret", "problem": "park91a", "method": "mfmes", "settings": "FAST", "fidelity_pays": True,
         "cost_fraction_vs_qlognei": 0.4},
        {"kind": "regret", "problem": "park91a", "method": "ar1-ei", "settings": "FAST", "fidelity_pays": True,
         "cost_fraction_vs_qlognei": 0.9},
        {"kind": "regret", "problem": "park91a", "method": "qlognei", "settings": "FAST", "fidelity_pays": True,
         "cost_fraction_vs_qlognei": 0.3},  # the baseline itself never counts
        {"kind": "regret", "problem": "burgers_shock_time", "method": "mfkg", "settings": "FAST",
         "fidelity_pays": True, "cost_fraction_vs_qlognei": 1.2},
        {"kind": "regret", "problem": "augmented_hartmann", "method": "mfkg", "settings": "FAST",
         "fidelity_pays": False, "cost_fraction_vs_qlognei": 0.1, "s_per_iter": 4.0},
        {"kind": "regret", "problem": "augmented_hartmann", "method": "mfmes", "settings": "FAST",
         "fidelity_pays": False, "s_per_iter": 15.0},
        {"kind": "tutorial_wiring", "settings": "FAST", "value_mean": 2.5, "value_se": 0.05, "bo_cost_mean": 140.0},
        # the tutorial's own settings win over FAST when both ran
        {"kind": "tutorial_wiring", "settings": "TUTORIAL", "value_mean": 2.9, "value_se": 0.05,
         "bo_cost_mean": 130.0},
        {"kind": "overhead", "method": "mfkg", "overhead": 0.05},
        {"kind": "overhead", "method": "qlognei", "overhead": 0.2},
        {"kind": "speed", "default_method": "mfmes", "default_s": 20.0},
        {"kind": "default_vs_tutorial", "gap_mean": 0.1, "gap_se": 0.04},
    ]
    report = _report(rows)
    add_checks(report)
    checks = {c.name: c for c in report.checks}
    expected = {
        "tutorial_wiring_mfkg_value_mean_plus_2se_vs_reference": (3.0, ">=", TUTORIAL_VALUE.value, False),
        "tutorial_wiring_mfkg_bo_cost_vs_reference_max": (130.0, "<=", 1.1 * TUTORIAL_COST.value, True),
        "tutorial_wiring_mfkg_bo_cost_vs_reference_min": (130.0, ">=", 0.9 * TUTORIAL_COST.value, True),
        "cost_fraction_best_mf_vs_qlognei_park91a": (0.4, "<=", 0.7, True),
        "cost_fraction_best_mf_vs_qlognei_burgers_shock_time": (1.2, "<=", 0.7, False),
        "loop_overhead_vs_bare_botorch_mfkg": (0.05, "<=", 0.1, True),
        "loop_overhead_vs_bare_botorch_qlognei": (0.2, "<=", 0.1, False),
        "default_method_seconds_per_iteration_hartmann_q4": (15.0, "<=", 60.0, True),  # from the runs
        "regret_gap_default_vs_tutorial_lower95": (0.1 - 0.08, "<=", 0.0, False),
    }
    assert set(checks) == set(expected)
    for name, (value, op, target, holds) in expected.items():
        c = checks[name]
        assert c.value == pytest.approx(value) and c.op == op and c.target == target and c.holds is holds, name
    # the external figures are references with their source, and only the checks named so use them
    assert [r.name for r in report.references] == [TUTORIAL_VALUE.name, TUTORIAL_COST.name]
    assert {c.name for c in report.checks if c.reference} == {n for n in expected if "reference" in n}
    assert TUTORIAL_VALUE.value == 3.298 and "multi_fidelity_bo.ipynb" in TUTORIAL_VALUE.source

    # without the default method's Hartmann runs the one-iteration timing is used; missing inputs -> no check
    report = _report([r for r in rows if r.get("method") != "mfmes" and r["kind"] != "default_vs_tutorial"])
    add_checks(report)
    checks = {c.name: c for c in report.checks}
    assert checks["default_method_seconds_per_iteration_hartmann_q4"].value == 20.0
    assert "regret_gap_default_vs_tutorial_lower95" not in checks
    assert checks["cost_fraction_best_mf_vs_qlognei_park91a"].value == 0.9
    assert checks["tutorial_wiring_mfkg_value_mean_plus_2se_vs_reference"].value == pytest.approx(3.0)
    report = _report([r for r in rows if r.get("settings") != "TUTORIAL"])  # FAST only (quick mode)
    add_checks(report)
    checks = {c.name: c for c in report.checks}
    assert checks["tutorial_wiring_mfkg_value_mean_plus_2se_vs_reference"].value == pytest.approx(2.6)
    assert checks["tutorial_wiring_mfkg_bo_cost_vs_reference_max"].value == pytest.approx(140.0)
    assert not checks["tutorial_wiring_mfkg_bo_cost_vs_reference_max"].holds  # 140 > 1.1 x 121.26
    report = _report([])
    add_checks(report)
    assert report.checks == []


def test_timing_checks_use_only_rows_measured_in_this_call():
    rows = [
        {"kind": "regret", "problem": "augmented_hartmann", "method": "mfmes", "settings": "FAST",
         "fidelity_pays": False, "s_per_iter": 15.0, "n_reused": 1},
        {"kind": "overhead", "method": "mfkg", "overhead": 0.05, "reused": True},
        {"kind": "overhead", "method": "qlognei", "overhead": 0.2, "reused": False},
        {"kind": "speed", "default_method": "mfmes", "default_s": 20.0, "reused": False},
    ]
    report = _report(rows)
    add_checks(report)
    checks = {c.name: c.value for c in report.checks}
    # the reused overhead row and the partly reused regret row give no timing; the fresh speed job does
    assert checks == {"loop_overhead_vs_bare_botorch_qlognei": 0.2,
                      "default_method_seconds_per_iteration_hartmann_q4": 20.0}
    assert "reused" in report.config["checks_not_computed"]["loop_overhead_vs_bare_botorch_mfkg"]
    rows[3]["reused"] = True
    report = _report(rows)
    add_checks(report)
    assert {c.name for c in report.checks} == {"loop_overhead_vs_bare_botorch_qlognei"}
    assert "default_method_seconds_per_iteration_hartmann_q4" in report.config["checks_not_computed"]


def test_report_writes_json_and_one_plot_per_problem(tmp_path):
    rows = [_row("p", m, [1.0, 2.0], [1.0, 0.5], 2.0, [], n_seeds=2) for m in ("mfmes", "qlognei")]
    rows.append(_row("q", "mfkg", [1.0, 3.0], [None, 0.0], 3.0, [], n_seeds=1))
    path = _report(rows).write_json(tmp_path / "out.json")
    data = json.loads(path.read_text())
    assert set(data) == {"benchmark", "mode", "machine", "config", "results", "references", "checks"}
    for name in ("out_p.png", "out_q.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------------ settings
def test_problem_spec_validation():
    with pytest.raises(ValueError, match="unknown problem 'rosen'"):
        ProblemSpec("rosen", budget=1.0)
    with pytest.raises(ValueError, match=r"unknown method\(s\) \['ei'\]"):
        ProblemSpec("park91a", methods=("ei",), budget=1.0)
    with pytest.raises(ValueError, match="give a budget, max_iterations or both"):
        ProblemSpec("park91a")
    with pytest.raises(ValueError, match="budget must be a finite number > 0"):
        ProblemSpec("park91a", budget=-1.0)


def test_modes():
    quick, full = settings_for(True), settings_for(False)
    assert len(quick.seeds) == 3 and len(full.seeds) >= 10 and full.tutorial_settings_runs
    # quick runs the wiring check on the tutorial's own settings and the default method beside it
    qh = next(p for p in quick.problems if p.name == "augmented_hartmann")
    assert quick.tutorial_settings_runs and "mfmes" in qh.methods and (qh.n_init, qh.q, qh.max_iterations) == (16, 4, 6)
    tut = next(p for p in full.problems if p.name == "augmented_hartmann")
    assert (tut.n_init, tut.q, tut.max_iterations, tut.tutorial_init) == (16, 4, 6, True)
    assert {p.name for p in full.problems if p.fidelity_pays} == {"park91a", "borehole", "burgers_shock_time",
                                                                 "burgers_shock_time_2d"}
    for p in full.problems:
        if p.fidelity_pays:  # every method where fidelity pays, in full mode
            assert set(p.methods) == set(MULTI_FIDELITY_METHODS) | {"qlognei"}
    assert {p.name for p in quick.problems} <= {p.name for p in full.problems}
    assert any("quick" in n for n in quick.notes)


# ------------------------------------------------------------------ end to end
TINY_ACQ = dict(num_fantasies=2, num_restarts=2, raw_samples=16, mc_samples=32, candidate_set_size=64,
                num_mv_samples=4, maxiter=10, batch_limit=4)


@pytest.mark.slow
def test_tiny_benchmark_end_to_end(tmp_path):
    s = MFBOBenchSettings(
        problems=(ProblemSpec("augmented_hartmann", methods=("mfkg",), max_iterations=1, n_init=4, q=2,
                              tutorial_init=True),
                  ProblemSpec("park91a", methods=("mfmes", "qlognei"), budget=30.0, max_iterations=2, n_init=2,
                              fidelity_pays=True)),
        seeds=(0, 1), acquisition=TINY_ACQ, time_tutorial_settings=False, overhead_methods=("qlognei",),
        overhead_rounds=1, workers=1, portable_numerics=False)
    report = run_mfbo_benchmark(settings=s)
    data = json.loads(report.write_json(tmp_path / "mfbo.json").read_text())
    assert data["benchmark"] == "mfbo" and data["mode"] == "custom"
    rows = {(r["kind"], r["problem"], r.get("method")): r for r in data["results"]}
    tut = rows[("tutorial_wiring", "augmented_hartmann", "mfkg")]
    mfkg = rows[("regret", "augmented_hartmann", "mfkg")]
    assert tut["n_seeds"] == 2 and len(mfkg["runs"]) == 2 and "power fixed to 1" in tut["differs_from_tutorial"]
    assert [r["name"] for r in data["references"]] == ["botorch_mfkg_tutorial_value", "botorch_mfkg_tutorial_bo_cost"]
    for run in mfkg["runs"]:
        # 4 initial points at fidelities drawn in [0, 1], then one batch of 2; the BO-phase cost is 2 x (5 + s)
        assert run["n_iterations"] == 1 and 4 * 5.0 <= run["init_cost"] <= 4 * 6.0
        assert 2 * 5.0 <= run["total_cost"] - run["init_cost"] <= 2 * 6.0
        assert all(r >= -1e-9 for r in run["regret"])
    assert tut["value_mean"] == pytest.approx(-mfkg["final_value_mean"])  # the tutorial maximises -f
    assert tut["value_mean"] == pytest.approx(3.32237 - mfkg["final_regret_mean"], abs=1e-5)
    q = rows[("regret", "park91a", "qlognei")]
    assert q["final_cost_mean"] >= 30.0 and q["target_cost_share_mean"] == 1.0  # qLogNEI: target only
    m = rows[("regret", "park91a", "mfmes")]
    assert m["target_regret"] == pytest.approx(0.01 * objective_range(ProblemSpec("park91a", budget=1.0)))
    assert m["regret_tolerance"] == 0.01 and len(m["cost_to_reach_per_seed"]) == 2
    ov = rows[("overhead", "augmented_hartmann", "qlognei")]
    assert ov["overhead"] == pytest.approx(sum(ov["loop_s"]) / sum(ov["bare_s"]) - 1.0)
    assert ov["same_candidates"] == [True]  # the bare acquisition ran on the loop's fit
    assert rows[("speed", "augmented_hartmann", None)]["default_method"] == "mfmes"
    checks = {c["name"]: c for c in data["checks"]}
    assert set(checks) == {"tutorial_wiring_mfkg_value_mean_plus_2se_vs_reference",
                           "tutorial_wiring_mfkg_bo_cost_vs_reference_max", "tutorial_wiring_mfkg_bo_cost_vs_reference_min",
                           "cost_fraction_best_mf_vs_qlognei_park91a", "loop_overhead_vs_bare_botorch_qlognei",
                           "default_method_seconds_per_iteration_hartmann_q4"}
    assert checks["cost_fraction_best_mf_vs_qlognei_park91a"]["value"] == m["cost_fraction_vs_qlognei"]
    for c in data["checks"]:
        assert c["holds"] == _OPS[c["op"]](c["value"], c["target"])
    assert "regret_gap_default_vs_tutorial_lower95" in data["config"]["checks_not_computed"]
    assert (tmp_path / "mfbo_park91a.png").is_file() and (tmp_path / "mfbo_augmented_hartmann.png").is_file()


# ------------------------------------------------------------------ resume and selection
def _tiny_park(**kw):
    return MFBOBenchSettings(
        problems=(ProblemSpec("park91a", methods=("mfmes", "qlognei"), budget=40.0, max_iterations=3, n_init=2,
                              fidelity_pays=True),),
        seeds=(0,), acquisition=TINY_ACQ, overhead_methods=(), **{"workers": 1, "portable_numerics": False, **kw})


def _regret_rows(report):
    return {(r["problem"], r["method"]): r for r in report.results if r.get("kind") == "regret"}


def _park_mfmes(**spec_changes):
    """``_tiny_park`` with MF-MES only and ``spec_changes`` applied to its problem spec."""
    base = _tiny_park()
    return base.replace(problems=(base.problems[0].replace(methods=("mfmes",), **spec_changes),))


def _mfmes_args(settings):
    """The run-job arguments of ``settings``' MF-MES seed 0 (for ``job_key``/``loop_state_dir``)."""
    return (settings.problems[0], "mfmes", 0, dict(settings.acquisition), "FAST", {})


@pytest.mark.slow
def test_work_dir_resumes_an_interrupted_run_and_loads_finished_jobs(tmp_path, one_torch_thread):
    s = _tiny_park()
    plain = _regret_rows(run_mfbo_benchmark(settings=s))
    wd = tmp_path / "wd"
    # a run "killed" after its first BO iteration: its loop state is in the work dir, no finished job
    spec = s.problems[0]
    state_dir = loop_state_dir(wd, (spec, "mfmes", 0, dict(s.acquisition), "FAST", {}), CODE)
    run_mfbo_benchmark(settings=s, work_dir=wd, only=["park91a/qlognei"])  # claims wd, runs qLogNEI only
    assert [p.name for p in (wd / "jobs").iterdir()] == \
        [job_key("run", (spec, "qlognei", 0, dict(s.acquisition), "FAST", {}), code=CODE) + ".json"]
    loop = make_loop(spec, "mfmes", 0, acq_settings(s.acquisition, spec.q, "FAST"), None,
                      state_dir=str(state_dir))
    partial = loop.run(spec.budget, max_iterations=1)
    assert partial.iteration.max() == 1
    z_partial = read_state(state_dir)[1]["Z"]
    report = run_mfbo_benchmark(settings=s, work_dir=wd)
    assert report.config["jobs_loaded"] == 1  # qLogNEI's finished job, not re-run
    resumed = _regret_rows(report)
    for k in plain:
        for field_ in ("final_regret_mean", "final_cost_mean", "iterations_mean"):
            assert resumed[k][field_] == plain[k][field_], (k, field_)
        assert resumed[k]["curve"] == plain[k]["curve"]
    # the resumed loop kept the first evaluations and added the rest (none repeated)
    z = read_state(state_dir)[1]["Z"]
    assert z.shape[0] > z_partial.shape[0] == partial.n_evaluations
    assert z[: z_partial.shape[0]].equal(z_partial)
    # everything finished: a third call loads every job and runs nothing
    again = run_mfbo_benchmark(settings=s, work_dir=wd)
    assert again.config["jobs_loaded"] == 2 and _regret_rows(again).keys() == plain.keys()
    assert [c.value for c in again.checks] == [c.value for c in report.checks]
    assert all(r["reused"] and r["n_reused"] == 1 for r in _regret_rows(again).values())
    assert {k[1]: r["reused"] for k, r in _regret_rows(report).items()} == {"qlognei": True, "mfmes": False}
    assert again.config["code"] == CODE


def test_jobs_are_keyed_by_their_inputs(tmp_path):
    from sciml.bench.workdir import claim_work_dir

    spec = _tiny_park().problems[0]
    acq = dict(TINY_ACQ)
    key = job_key("run", (spec, "mfmes", 0, acq, "FAST", None), code=CODE)
    assert key.startswith("run-park91a-mfmes-FAST-seed0-")
    assert key == job_key("run", (spec.replace(), "mfmes", 0, dict(acq), "FAST", None), code=CODE)  # equal inputs
    others = [job_key("run", (spec.replace(budget=41.0), "mfmes", 0, acq, "FAST", None), code=CODE),
              job_key("run", (spec, "mfmes", 1, acq, "FAST", None), code=CODE),
              job_key("run", (spec, "mfmes", 0, {**acq, "num_restarts": 3}, "FAST", None), code=CODE),
              job_key("run", (spec, "mfmes", 0, acq, "FAST", {"n_restarts": 2}), code=CODE)]
    assert len({key, *others}) == 5
    assert job_key("speed", (spec, 0, acq, True), code=CODE) != job_key("speed", (spec, 0, acq, False), code=CODE)
    # other code (an edited source, another library version) gives other keys
    edited = {**CODE, "sources": "0" * 64}
    newer = {**CODE, "libraries": {**CODE["libraries"], "botorch": "99.0"}}
    assert len({key, job_key("run", (spec, "mfmes", 0, acq, "FAST", None), code=edited),
                job_key("run", (spec, "mfmes", 0, acq, "FAST", None), code=newer)}) == 3
    claim_work_dir(tmp_path / "a", "mfbo")
    claim_work_dir(tmp_path / "a", "mfbo")  # any mfbo settings may share it
    claim_work_dir(tmp_path / "b", "probconserv", "quick", {"steps": 1})
    with pytest.raises(ConfigError, match="of benchmark 'probconserv'"):
        claim_work_dir(tmp_path / "b", "mfbo")


def test_only_selects_problems_and_methods():
    s = settings_for(True)
    sel = parse_only(s, ["park91a", "burgers_shock_time/qlognei"])
    spec = {p.name: p for p in s.problems}
    assert job_selected(("run", (spec["park91a"], "mfmes", 0)), sel)
    assert job_selected(("run", (spec["burgers_shock_time"], "qlognei", 0)), sel)
    assert not job_selected(("run", (spec["burgers_shock_time"], "mfmes", 0)), sel)
    assert not job_selected(("speed", (spec["augmented_hartmann"], 0)), sel)
    assert job_selected(("speed", (spec["augmented_hartmann"], 0)), parse_only(s, ["augmented_hartmann"]))
    assert not job_selected(("speed", (spec["augmented_hartmann"], 0)),
                             parse_only(s, ["augmented_hartmann/qlognei"]))
    assert parse_only(s, None) is None
    with pytest.raises(ConfigError, match="no problem 'rosen'.*accepted"):
        parse_only(s, ["rosen"])
    with pytest.raises(ConfigError, match="no method 'ei' on 'park91a'"):
        parse_only(s, ["park91a/ei"])
    with pytest.raises(ConfigError, match="selects nothing"):
        parse_only(s, [])


@pytest.mark.slow
def test_raising_the_cap_continues_the_shorter_run(tmp_path, one_torch_thread):
    short, long = _park_mfmes(max_iterations=2), _park_mfmes(max_iterations=4)
    wd = tmp_path / "wd"
    r_short = _regret_rows(run_mfbo_benchmark(settings=short, work_dir=wd))
    args_short, args_long = _mfmes_args(short), _mfmes_args(long)
    z_short = read_state(loop_state_dir(wd, args_short, CODE))[1]["Z"]
    r_long = _regret_rows(run_mfbo_benchmark(settings=long, work_dir=wd))
    plain = _regret_rows(run_mfbo_benchmark(settings=long))
    key = ("park91a", "mfmes")
    assert r_long[key]["curve"] == plain[key]["curve"] and r_long[key]["iterations_mean"] == 4
    # the long run started from the short run's evaluations; the short run's results stay
    z_long = read_state(loop_state_dir(wd, args_long, CODE))[1]["Z"]
    assert z_long.shape[0] > z_short.shape[0] and z_long[: z_short.shape[0]].equal(z_short)
    assert read_state(loop_state_dir(wd, args_short, CODE))[1]["Z"].equal(z_short)
    assert (wd / "jobs" / f"{job_key('run', args_short, code=CODE)}.json").is_file()
    again = _regret_rows(run_mfbo_benchmark(settings=short, work_dir=wd))
    assert again[key]["curve"] == r_short[key]["curve"]
    # a larger budget with a smaller cap is not an extension of the short run
    d = loop_state_dir(wd, _mfmes_args(_park_mfmes(max_iterations=1, budget=80.0)), CODE)
    assert not (d / "state.json").exists()


@pytest.mark.slow
def test_lowering_the_cap_continues_an_interrupted_run(tmp_path, one_torch_thread):
    high, low = _park_mfmes(max_iterations=3), _park_mfmes(max_iterations=2)
    wd = tmp_path / "wd"
    spec = high.problems[0]
    # a run under cap 3 "killed" after its first BO iteration
    d_high = loop_state_dir(wd, _mfmes_args(high), CODE)
    loop = make_loop(spec, "mfmes", 0, acq_settings(high.acquisition, spec.q, "FAST"), None,
                      state_dir=str(d_high))
    loop.run(spec.budget, max_iterations=1)
    z_partial = read_state(d_high)[1]["Z"]
    # a copy killed half-way earlier left its temporary folder: it is never a source, and is replaced
    stale = d_high.parent / f".copy-budget{spec.budget}-iter2"
    stale.mkdir()
    (stale / "limits.json").write_text('{"budget": null, "max_iterations": 1}')
    (stale / "state.json").write_text('{"n_observations": 999, "iteration": 0, "total_cost": 0}')
    (stale / "tensors.pt").write_bytes(b"trunc")
    # the cap lowered to 2: the new run starts from the interrupted one (it would have passed there)
    d_low = loop_state_dir(wd, _mfmes_args(low), CODE)
    assert d_low != d_high and read_state(d_low)[1]["Z"].equal(z_partial)
    assert d_low.name == "budget" + str(spec.budget) + "-iter2" and not stale.exists()
    assert json.loads((d_low / "limits.json").read_text()) == {"budget": spec.budget, "max_iterations": 2}
    key = ("park91a", "mfmes")
    resumed = _regret_rows(run_mfbo_benchmark(settings=low, work_dir=wd))[key]
    plain = _regret_rows(run_mfbo_benchmark(settings=low))[key]
    assert resumed["curve"] == plain["curve"] and resumed["iterations_mean"] == 2
    z_low = read_state(d_low)[1]["Z"]
    assert z_low[: z_partial.shape[0]].equal(z_partial) and z_low.shape[0] > z_partial.shape[0]
    assert read_state(d_high)[1]["Z"].equal(z_partial)  # the other run's folder is untouched
    # a state at or past a cap is not continued under it: cap 1 starts afresh
    assert not (loop_state_dir(wd, _mfmes_args(_park_mfmes(max_iterations=1)), CODE) / "state.json").exists()


def test_method_max_iterations_caps_one_method_and_keeps_the_other_keys():
    base = _tiny_park()
    capped = base.replace(method_max_iterations={"park91a": {"mfmes": 1}})
    runs = {a[1]: a for kind, a in jobs_of(capped) if kind == "run"}
    assert runs["mfmes"][0].max_iterations == 1 and runs["qlognei"][0].max_iterations == 3
    plain = {a[1]: a for kind, a in jobs_of(base) if kind == "run"}
    assert job_key("run", runs["qlognei"], code=CODE) == job_key("run", plain["qlognei"], code=CODE)
    assert job_key("run", runs["mfmes"], code=CODE) != job_key("run", plain["mfmes"], code=CODE)
    # the loop-state key leaves the limits out: a raised cap continues the capped run
    assert job_key("run", runs["mfmes"], code=CODE, with_limits=False) == job_key("run", plain["mfmes"], code=CODE, with_limits=False)
    assert capped.spec_for(base.problems[0], "qlognei") is base.problems[0]
    with pytest.raises(ValueError, match="no problem 'rosen'"):
        base.replace(method_max_iterations={"rosen": {"mfmes": 1}})
    with pytest.raises(ValueError, match="'park91a' does not run 'mfkg'"):
        base.replace(method_max_iterations={"park91a": {"mfkg": 1}})
    with pytest.raises(ValueError, match="must be an integer >= 1, got 0"):
        base.replace(method_max_iterations={"park91a": {"mfmes": 0}})
    full = settings_for(False)
    caps = {p.name: full.spec_for(p, "mfkg").max_iterations for p in full.problems if p.fidelity_pays}
    assert caps == {"park91a": 40, "borehole": 30, "burgers_shock_time": 30, "burgers_shock_time_2d": 30}


def test_a_failed_run_is_reported_and_the_benchmark_goes_on(tmp_path, monkeypatch, one_torch_thread):
    from sciml.bo.fitting import ModelFitError
    from sciml.bo.loop import BOLoop

    real_run = BOLoop.run

    def run(self, *args, **kwargs):
        if self.seed == 1:
            raise ModelFitError("could not fit the multi-fidelity GP hyperparameters; tried, in order: ...")
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(BOLoop, "run", run)
    s = _tiny_park().replace(problems=(_tiny_park().problems[0].replace(methods=("qlognei",), max_iterations=1),),
                             seeds=(0, 1))
    report = run_mfbo_benchmark(settings=s, work_dir=tmp_path / "wd")
    row = _regret_rows(report)[("park91a", "qlognei")]
    assert row["n_seeds"] == 1 and row["n_failed"] == 1 and [r["seed"] for r in row["runs"]] == [0]
    failed = [r for r in report.results if r["kind"] == "failed_run"]
    assert len(failed) == 1 and failed[0]["seed"] == 1 and failed[0]["error"].startswith("ModelFitError: could not")
    # only the successful run is kept as finished: a rerun tries seed 1 again
    assert len(list((tmp_path / "wd" / "jobs").iterdir())) == 1
    monkeypatch.setattr(BOLoop, "run", real_run)
    again = run_mfbo_benchmark(settings=s, work_dir=tmp_path / "wd")
    assert again.config["jobs_loaded"] == 1
    assert _regret_rows(again)[("park91a", "qlognei")]["n_seeds"] == 2
    assert not [r for r in again.results if r["kind"] == "failed_run"]


def test_bad_only_writes_nothing(tmp_path):
    with pytest.raises(ConfigError, match="only: no method 'ei' on 'park91a'"):
        run_mfbo_benchmark(settings=_tiny_park(), work_dir=tmp_path / "wd", only=["park91a/ei"])
    assert not (tmp_path / "wd").exists()


def test_unreadable_finished_job_is_a_clear_error(tmp_path):
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "run-x.json").write_text("{truncated")
    with pytest.raises(ConfigError, match=r"cannot read the finished job .*run-x.json: .*delete it to run the job again"):
        load_job(tmp_path, "run-x")
    (tmp_path / "jobs" / "run-y.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="does not hold a job outcome"):
        load_job(tmp_path, "run-y")
    assert load_job(tmp_path, "run-z") is None


# ------------------------------------------------------------------ the bare BoTorch iteration
TINY_BARE = AcquisitionSettings(num_fantasies=2, num_restarts=2, raw_samples=16, q=1, mc_samples=32,
                                candidate_set_size=64, num_mv_samples=5, maxiter=15, batch_limit=4)
F64 = torch.float64


def test_bare_botorch_iteration():
    p = forrester()
    g = torch.Generator().manual_seed(0)
    X = torch.rand(8, 1, dtype=F64, generator=g)
    s = torch.tensor([1.0, 0.0] * 4, dtype=F64)
    Z = p.to_model_input(X, s)
    Y = p.sign * p.evaluate(X, s)
    for method in ("mfkg", "mfmes", "qlognei"):
        out = bare_botorch_iteration(p, Z, Y, method, TINY_BARE)
        assert out["candidates"].shape == (1, 2) and out["total_s"] >= out["fit_s"] > 0
    with pytest.raises(ConfigError, match="unknown method"):
        bare_botorch_iteration(p, Z, Y, "ei", TINY_BARE)


@pytest.mark.slow
def test_the_figures_do_not_depend_on_the_process_pool(one_torch_thread):
    """The jobs run on a sciml.executors process pool (one torch thread per worker) or in this process:
    the same rows either way."""
    in_process = _regret_rows(run_mfbo_benchmark(settings=_tiny_park()))
    pooled = run_mfbo_benchmark(settings=_tiny_park().replace(workers=2))
    assert pooled.config["workers"] in (1, 2) and pooled.config["threads_per_worker"] == 1
    rows = _regret_rows(pooled)
    assert rows.keys() == in_process.keys()
    for k, row in rows.items():
        for field_ in ("curve", "final_regret_mean", "final_cost_mean", "iterations_mean", "runs"):
            assert row[field_] == in_process[k][field_], (k, field_)


@pytest.mark.slow
def test_portable_numerics_runs_every_job_in_pinned_workers_whatever_the_worker_count():
    """With portable numerics (the default) the jobs run in workers started with the pinned kernels,
    one worker or two: the same rows; the pins are part of the jobs' keys (a work dir of runs with
    the host's own kernels is not reused)."""
    one = run_mfbo_benchmark(settings=_tiny_park(portable_numerics=True))
    two = run_mfbo_benchmark(settings=_tiny_park(portable_numerics=True, workers=2))
    assert one.config["code"]["numerics_environment"] == portable_numerics_environment()
    rows_one, rows_two = _regret_rows(one), _regret_rows(two)
    assert rows_one.keys() == rows_two.keys()
    for k, row in rows_one.items():
        for field_ in ("curve", "final_regret_mean", "final_cost_mean", "runs"):
            assert row[field_] == rows_two[k][field_], (k, field_)
    job = jobs_of(_tiny_park())[0]
    assert one.config["code"] == job_code(portable_numerics_environment())
    assert job_key(*job, code=job_code(portable_numerics_environment())) != job_key(*job, code=job_code())


KILLED_BENCH = """
import sys
from sciml.bench.mfbo import run_mfbo_benchmark
from sciml.bench.mfbo_settings import MFBOBenchSettings, ProblemSpec
s = MFBOBenchSettings(problems=(ProblemSpec("park91a", methods=("mfmes", "qlognei"), budget=1e6, max_iterations=500,
                                            n_init=2, fidelity_pays=True),),
                      seeds=(0, 1), acquisition={"num_restarts": 2, "raw_samples": 16}, overhead_methods=(), workers=2)
run_mfbo_benchmark(settings=s, work_dir=sys.argv[1])
"""


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out |= {int(c) for c in (task / "children").read_text().split()}
    return out


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads process trees from /proc")
def test_kill_9_of_the_benchmark_leaves_no_worker_alive_and_frees_its_work_dir(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from sciml.bench.workdir import held

    wd = tmp_path / "wd"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_BENCH, str(wd)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        workers: set[int] = set()
        while time.monotonic() < deadline and len(workers) < 2:  # the pool's two workers plus its helpers
            workers = {c for c in _children(proc.pid) if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()}
            time.sleep(0.2)
        assert len(workers) == 2, "the benchmark's workers did not start"
        time.sleep(3)  # let them work on the loops
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.1)
        assert not [p for p in workers if _alive(p)], "workers outlived the benchmark"
        with held(wd):  # the dead run's lock is taken over
            pass
    finally:
        proc.kill()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
