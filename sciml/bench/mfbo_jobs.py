"""The jobs of ``sciml bench mfbo``, each a module-level function a worker process can run: one BO
run to its budget (:func:`run_job`), the time of one iteration per configuration
(:func:`speed_job`) and the loop's overhead against bare BoTorch calls (:func:`overhead_job`)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sciml.bench.mfbo_bare import bare_botorch_iteration
from sciml.bench.mfbo_settings import FAST_LABEL, TUTORIAL_LABEL, ProblemSpec
from sciml.bo.acquisition import propose_candidates, recommend
from sciml.bo.analysis import nan_to_none, regret_curve
from sciml.bo.loop import BOLoop
from sciml.bo.names import AR1_EI, BASELINE_METHOD, DEFAULT_METHOD, MFKG, MFMES, QLOGNEI
from sciml.bo.settings import FAST, TUTORIAL, AcquisitionSettings
from sciml.errors import SciMLError
from sciml.studies.bo_problems import get_bo_problem

__all__ = ["JOBS", "acq_settings", "describe", "expected_seconds", "make_loop", "objective_range", "overhead_job",
           "run_job", "speed_job"]


def acq_settings(base: Mapping[str, int], q: int, label: str) -> AcquisitionSettings:
    """The acquisition settings of a run: the tutorial's, or FAST with the mode's changes, batch ``q``."""
    if label == TUTORIAL_LABEL:
        return TUTORIAL.replace(q=q)
    return FAST.replace(**{**dict(base), "q": q})


def _build(spec: ProblemSpec) -> Any:
    return get_bo_problem(spec.name, **dict(spec.kwargs))


def _init_fidelities(problem: Any, spec: ProblemSpec, method: str, seed: int) -> list[float] | None:
    """The tutorial's initial fidelities (uniform over the range, seeded) for multi-fidelity methods."""
    if not spec.tutorial_init or method == BASELINE_METHOD or problem.fidelity is None:
        return None
    n = spec.n_init or max(4, 2 * (problem.dim + 1))
    g = torch.Generator().manual_seed(10_000 + seed)
    z = torch.rand(n, generator=g, dtype=torch.float64)
    if problem.fidelity.kind == "discrete":
        raise ValueError(f"{spec.name}: tutorial_init needs a continuous fidelity")
    return [float(v) for v in problem.fidelity.from_unit(z)]


def make_loop(spec: ProblemSpec, method: str, seed: int, acq: AcquisitionSettings,
              model_options: Mapping[str, Any] | None, state_dir: str | None = None) -> BOLoop:
    """The loop of one run (``evaluate_recommendations=True``: regrets are recorded)."""
    problem = _build(spec)
    return BOLoop(problem, method=method, settings=acq, n_init=spec.n_init,
                  init_fidelities=_init_fidelities(problem, spec, method, seed), seed=seed,
                  state_dir=state_dir, evaluate_recommendations=True, model_options=model_options or None,
                  show_progress=False)


def run_job(spec: ProblemSpec, method: str, seed: int, base_acq: Mapping[str, int], label: str,
            model_options: Mapping[str, Any] | None, n_threads: int | None, state_dir: str | None = None
            ) -> dict[str, Any]:
    """One BO run to the spec's budget / iteration cap; returns its regret curve and timings.

    Module-level so that it runs in worker processes. With ``state_dir`` the loop saves its
    state there after every observation and resumes from a state it finds there.
    """
    if n_threads is not None:
        torch.set_num_threads(n_threads)
    acq = acq_settings(base_acq, spec.q, label)
    loop = make_loop(spec, method, seed, acq, model_options, state_dir=state_dir)
    t0 = time.perf_counter()
    try:
        result = loop.run(spec.budget if spec.budget is not None else 1e300, max_iterations=spec.max_iterations,
                          resume=state_dir is not None)
    except SciMLError as exc:  # e.g. a model that cannot be fitted: the run fails, the benchmark goes on
        return {"problem": spec.name, "method": method, "settings": label, "seed": seed, "failed": True,
                "error": f"{type(exc).__name__}: {exc}", "iteration": loop.iteration,
                "wall_s": time.perf_counter() - t0}
    wall = time.perf_counter() - t0
    init_cost = float(result.costs[result.iteration == 0].sum())
    cost, regret = regret_curve(result.recommendations)
    final = result.recommendations[-1]
    f = loop.problem.fidelity
    at_target = (result.fidelities == f.target) if f is not None else torch.ones(result.n_evaluations, dtype=bool)
    # a timing lost in a crash (an iteration proposed just before it, in a state written by an older
    # sciml) is unknown, not zero: it is left out
    timings = [t for t in result.timings
               if t["iteration"] > 0 and t["fit_s"] is not None and t["acquisition_s"] is not None]
    return {
        "problem": spec.name, "method": method, "settings": label, "seed": seed, "model": result.model_kind,
        "cost": cost.tolist(), "regret": nan_to_none(regret), "init_cost": init_cost,
        "total_cost": result.total_cost, "final_regret": final["regret"], "final_value": final["true_value"],
        "n_iterations": int(result.iteration.max()) if result.n_evaluations else 0,
        "n_evaluations": result.n_evaluations, "n_failed": result.n_failed,
        "target_cost_share": float(result.costs[at_target].sum()) / max(result.total_cost, 1e-300),
        "fit_s": [float(t["fit_s"]) for t in timings], "acquisition_s": [float(t["acquisition_s"]) for t in timings],
        "recommend_s": [float(t["recommend_s"] or 0.0) for t in timings], "wall_s": wall,
    }


def _initial_data(spec: ProblemSpec, method: str, seed: int, acq: Any) -> tuple[Any, Any, Any]:
    """Loop after its initial design (evaluated), and the physical points and values."""
    loop = make_loop(spec, method, seed, acq, None)
    loop.run(1e300, max_iterations=0)
    res = loop.result()
    P = res.X if loop.problem.fidelity is None else torch.cat([res.X, res.fidelities.reshape(-1, 1)], dim=1)
    return loop, P, res.values


def speed_job(spec: ProblemSpec, seed: int, base_acq: Mapping[str, int], tutorial: bool,
              n_threads: int | None) -> dict[str, Any]:
    """Fit + acquisition of one iteration (q = spec.q) after the initial design, per configuration."""
    if n_threads is not None:
        torch.set_num_threads(n_threads)
    default = DEFAULT_METHOD
    configs = [("default", default, FAST_LABEL), ("mfkg_fast", MFKG, FAST_LABEL)]
    if tutorial:
        configs.append(("mfkg_tutorial", MFKG, TUTORIAL_LABEL))
    out: dict[str, Any] = {"kind": "speed", "problem": spec.name, "q": spec.q, "seed": seed,
                           "default_method": default}
    for key, method, label in configs:
        acq = acq_settings(base_acq, spec.q, label)
        loop, _, _ = _initial_data(spec, method, seed, acq)
        t0 = time.perf_counter()
        model = loop.fit_model(1)
        t1 = time.perf_counter()
        propose_candidates(method, model, loop.problem, settings=acq.replace(seed=seed + 1),
                           X_observed=loop.training_data()[0])
        t2 = time.perf_counter()
        out[f"{key}_fit_s"], out[f"{key}_acquisition_s"], out[f"{key}_s"] = t1 - t0, t2 - t1, t2 - t0
    if tutorial:
        out["tutorial_over_default"] = out["mfkg_tutorial_s"] / out["default_s"]
    return out


def overhead_job(spec: ProblemSpec, method: str, seed: int, base_acq: Mapping[str, int], rounds: int,
                 n_threads: int | None) -> dict[str, Any]:
    """Interleaved timing of ``BOLoop.propose`` against :func:`bare_botorch_iteration` on the same data.

    Round ``i`` runs both sides with the seed ``seed + i`` (the loop's seed; its first
    acquisition and the bare one use ``seed + i + 1``). The two sides' fits agree only to about
    1e-5 in the hyperparameters, and from there the acquisition optimisers take different
    paths (``docs/benchmarks.md``); so the bare side fits its own model (timed) but runs its
    acquisition on the loop's fit of the same data (``acquisition_model``; made before the
    round, untimed), and then returns the loop's candidates (``same_candidates``).
    ``overhead`` is ``sum(t_loop) / sum(t_bare) - 1`` over the rounds.
    """
    if n_threads is not None:
        torch.set_num_threads(n_threads)
    acq = acq_settings(base_acq, spec.q, FAST_LABEL)
    loop0, P, values = _initial_data(spec, method, seed, acq)
    problem = loop0.problem
    Z, v = loop0.training_data()
    Y = problem.sign * v
    t_loop, t_bare, t_rec, same = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="sciml-bench-mfbo-") as tmp:
        for i in range(rounds):
            # the loop's fit of this round (untimed; propose below refits it, timed): the bare
            # acquisition runs on it, so that both sides' optimisers follow the same path
            ref = make_loop(spec, method, seed + i, acq, None)
            ref.observe(P, values)
            ref_model = ref.fit_model(1)

            def run_loop() -> Any:
                loop = make_loop(spec, method, seed + i, acq, None, state_dir=str(Path(tmp) / f"r{i}"))
                loop.observe(P, values)
                t0 = time.perf_counter()
                cands = loop.propose(spec.q)
                t_loop.append(time.perf_counter() - t0)
                t0 = time.perf_counter()  # the recommendation's model is the round's fit, ref_model
                recommend(ref_model, problem, acq.replace(q=1, seed=seed + i + 1), X_observed=loop.training_data()[0])
                t_rec.append(time.perf_counter() - t0)
                return cands

            def run_bare() -> Any:
                t0 = time.perf_counter()
                out = bare_botorch_iteration(problem, Z, Y, method, acq.replace(seed=seed + i + 1),
                                             acquisition_model=ref_model)
                t_bare.append(time.perf_counter() - t0)
                return out["candidates"]

            if i % 2 == 0:
                a, b = run_loop(), run_bare()
            else:
                b, a = run_bare(), run_loop()
            same.append(bool(torch.allclose(problem.to_model_input(a[:, :-1], a[:, -1]) if problem.fidelity
                                            is not None else a, b, atol=1e-6)))
    return {"kind": "overhead", "problem": spec.name, "method": method, "q": spec.q, "seed": seed,
            "rounds": rounds, "loop_s": t_loop, "bare_s": t_bare, "recommend_s": t_rec,
            "s_per_iter": float(np.mean(t_loop)), "bare_s_per_iter": float(np.mean(t_bare)),
            "overhead": sum(t_loop) / sum(t_bare) - 1.0,
            "overhead_with_recommendation": (sum(t_loop) + sum(t_rec)) / sum(t_bare) - 1.0,
            "same_candidates": same}


def objective_range(spec: ProblemSpec, n: int = 256) -> float:
    """``|optimum - median|`` of the target-fidelity objective over ``n`` scrambled-Sobol designs."""
    problem = _build(spec)
    engine = torch.quasirandom.SobolEngine(problem.dim, scramble=True, seed=12345)
    X = problem.bounds[0] + (problem.bounds[1] - problem.bounds[0]) * engine.draw(n, dtype=torch.float64)
    values, ok = problem.evaluate_safe(X)
    return abs(float(problem.optimum_value) - float(torch.median(values[ok])))


def expected_seconds(kind: str, args: tuple[Any, ...]) -> float:
    """Rough job length for scheduling the longest first (seconds on one idle core)."""
    if kind == "speed":
        return 60.0
    if kind == "overhead":
        return 15.0 * args[4]
    spec, method, _, _, label = args[:5]
    per_iter = {MFKG: 8.0, MFMES: 6.0, AR1_EI: 12.0, QLOGNEI: 1.5}[method] * spec.q
    if label == TUTORIAL_LABEL:
        per_iter = 30.0 * spec.q
    return per_iter * (spec.max_iterations or 30)


def describe(kind: str, out: Mapping[str, Any]) -> str:
    """One log line for a finished job."""
    if kind == "run" and out.get("failed"):
        return (f"{out['problem']} {out['method']} ({out['settings']}) seed {out['seed']}: FAILED at iteration "
                f"{out['iteration']}: {out['error'].splitlines()[0]}")
    if kind == "run":
        return (f"{out['problem']} {out['method']} ({out['settings']}) seed {out['seed']}: final regret "
                f"{out['final_regret']:.3g} at cost {out['total_cost']:.4g}, {out['n_iterations']} iterations, "
                f"{out['wall_s']:.1f} s")
    if kind == "speed":
        tut = f", MF-KG tutorial settings {out['mfkg_tutorial_s']:.1f} s" if "mfkg_tutorial_s" in out else ""
        return (f"speed: default ({out['default_method']}) {out['default_s']:.1f} s, MF-KG FAST "
                f"{out['mfkg_fast_s']:.1f} s{tut} per iteration")
    return (f"overhead {out['method']}: loop {out['s_per_iter']:.2f} s vs bare {out['bare_s_per_iter']:.2f} s "
            f"per iteration ({out['overhead']:+.1%})")


#: The job functions by kind.
JOBS = {"run": run_job, "speed": speed_job, "overhead": overhead_job}
