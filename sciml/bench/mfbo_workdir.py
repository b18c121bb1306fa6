"""The jobs of ``sciml bench mfbo`` and their work folder: which jobs a mode has, which ``--only``
selects, the key of each job (a hash of all its inputs) and the loop states and outcomes kept in
``--work-dir`` so that an interrupted benchmark resumes where it stopped."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sciml.bench.mfbo_settings import FAST_LABEL, HARTMANN, TUTORIAL_LABEL, MFBOBenchSettings
from sciml.fingerprint import code_fingerprint
from sciml.bo.names import MFKG
from sciml.data.atomic import atomic_write_text
from sciml.errors import ConfigError

__all__ = ["JOB_MODULES", "Job", "job_code", "job_key", "job_selected", "jobs_of", "load_job",
           "loop_state_dir", "parse_only", "save_job"]

#: ``(kind, args)`` with kind ``"run"``, ``"speed"`` or ``"overhead"`` and the job function's arguments.
Job = tuple[str, tuple[Any, ...]]

#: The module whose jobs run: the sources it imports, transitively, are part of every job key.
JOB_MODULES = ("sciml.bench.mfbo_jobs",)


def job_code(numerics_environment: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The :func:`~sciml.fingerprint.code_fingerprint` of the code the jobs run, and the
    environment their workers start with (kernel pins change trajectories, so they key jobs too)."""
    return {**code_fingerprint(JOB_MODULES), "numerics_environment": dict(numerics_environment or {})}

#: Fields of a ProblemSpec that only stop a BO run (its trajectory does not depend on them).
_LIMITS = ("budget", "max_iterations")


def jsonable(obj: Any) -> Any:
    """Mappings as dicts with string keys, tuples as lists (recursively)."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


def jobs_of(s: MFBOBenchSettings) -> list[Job]:
    """Every job of the settings: ``(kind, args)`` with kind ``"run"``, ``"speed"`` or ``"overhead"``."""
    hartmann = next((p for p in s.problems if p.name == HARTMANN), None)
    jobs: list[Job] = []
    for spec in s.problems:
        for method in spec.methods:
            for seed in s.seeds_for(spec.name):
                jobs.append(("run", (s.spec_for(spec, method), method, seed, dict(s.acquisition), FAST_LABEL,
                                     dict(s.model_options.get(method, {})))))
    if hartmann is not None and s.tutorial_settings_runs:
        for seed in s.seeds_for(HARTMANN):
            jobs.append(("run", (hartmann, MFKG, seed, dict(s.acquisition), TUTORIAL_LABEL, None)))
    if hartmann is not None:
        jobs.append(("speed", (hartmann, s.seeds_for(HARTMANN)[0], dict(s.acquisition), s.time_tutorial_settings)))
        for method in s.overhead_methods:
            jobs.append(("overhead", (hartmann, method, s.seeds_for(HARTMANN)[0], dict(s.acquisition), s.overhead_rounds)))
    return jobs


def parse_only(s: MFBOBenchSettings, only: Sequence[str] | None) -> dict[str, set[str]] | None:
    """``{problem: methods}`` selected by ``only`` (``None``: everything)."""
    if only is None:
        return None
    if isinstance(only, str):
        only = [only]
    specs = {p.name: p for p in s.problems}
    out: dict[str, set[str]] = {}
    for item in only:
        name, _, method = str(item).strip().partition("/")
        if name not in specs:
            raise ConfigError(f"only: no problem {name!r} in this mode; accepted: {sorted(specs)}")
        allowed = set(specs[name].methods)
        if name == HARTMANN and s.tutorial_settings_runs:
            allowed.add(MFKG)
        if method and method not in allowed:
            raise ConfigError(f"only: no method {method!r} on {name!r} in this mode; accepted: {sorted(allowed)}")
        out.setdefault(name, set()).update({method} if method else allowed | {"*"})
    if not out:
        raise ConfigError("only selects nothing; give problems or problem/method items")
    return out


def job_selected(job: Job, selected: dict[str, set[str]] | None) -> bool:
    """Whether ``job`` is in the selection of :func:`parse_only` (timing jobs: with the whole Hartmann problem)."""
    if selected is None:
        return True
    kind, args = job
    if kind == "run":
        spec, method = args[0], args[1]
        return method in selected.get(spec.name, set())
    return "*" in selected.get(HARTMANN, set())  # timing jobs


def job_key(kind: str, args: tuple[Any, ...], *, code: Mapping[str, Any], with_limits: bool = True) -> str:
    """File-name-safe name of one job: a readable prefix and a hash of all its inputs.

    Two jobs with equal inputs (problem spec, method, seed, acquisition settings, label,
    model options; for timing jobs their arguments) share a key whatever mode or settings
    list them, and any change of an input gives a new key, so a work dir never hands back
    a result of other inputs. ``code`` (:func:`job_code`: sciml's version, a hash of the
    sources the jobs run and the numerical libraries' versions) is an input too, so results and
    loop states of other code are never reused. ``with_limits=False`` leaves the run's budget
    and iteration cap out (the key of its loop states, :func:`loop_state_dir`).
    """
    if kind == "run":
        spec, method, seed, _, label = args[:5]
        prefix = f"run-{spec.name}-{method}-{label}-seed{seed}"
    elif kind == "speed":
        prefix = f"speed-{args[0].name}-seed{args[1]}"
    else:
        prefix = f"overhead-{args[1]}-seed{args[2]}"
    inputs = [kind] + [a.model_dump() if isinstance(a, BaseModel) else a for a in args] + [{"code": dict(code)}]
    if not with_limits and kind == "run":
        for k in _LIMITS:
            inputs[1].pop(k)
    digest = hashlib.sha256(json.dumps(jsonable(inputs), sort_keys=True, default=repr).encode()).hexdigest()
    return f"{prefix}-{digest[:12]}"


def loop_state_dir(wd: Path, args: tuple[Any, ...], code: Mapping[str, Any]) -> Path:
    """The loop-state folder of a run job, seeded from the same job run under other limits when usable.

    A BO run's candidates do not depend on its budget or iteration cap, which only stop it,
    so a run can continue the state of the same job under other limits when it would have
    passed through that state: a run whose budget and cap are both no larger than these
    (it stopped where a run with these limits stops or earlier), or an unfinished run whose
    iteration count is below this cap and whose cost is below this budget (e.g. a run
    interrupted under a larger cap that was lowered later). States live in
    ``wd/loops/<key without limits>/<limits>/`` with a ``limits.json``; when the folder of
    these limits holds no state yet, the usable state with the most observations is copied
    there first (the other run's own folder, and its finished result, stay as they were).
    """
    spec = args[0]
    limits = {k: getattr(spec, k) for k in _LIMITS}
    base = wd / "loops" / job_key("run", args, code=code, with_limits=False)
    target = base / f"budget{limits['budget']}-iter{limits['max_iterations']}"
    if (target / "state.json").exists():
        return target

    def within(old: Mapping[str, Any]) -> bool:
        return all(new is None or (old.get(k) is not None and float(old[k]) <= float(new))
                   for k, new in limits.items())

    def before_the_limits(state: Mapping[str, Any]) -> bool:
        cap, budget = limits["max_iterations"], limits["budget"]
        return ((cap is None or int(state["iteration"]) < int(cap))
                and (budget is None or float(state["total_cost"]) < float(budget)))

    usable = []
    for d in sorted(base.glob("*/limits.json")) if base.exists() else []:
        if d.parent == target or d.parent.name.startswith(".") or not (d.parent / "state.json").exists():
            continue
        old = json.loads(d.read_text(encoding="utf-8"))
        state = json.loads((d.parent / "state.json").read_text(encoding="utf-8"))
        if within(old) or before_the_limits(state):
            usable.append((int(state["n_observations"]), int(state["iteration"]), d.parent.name, d.parent))
    if usable:
        # copy into a sibling folder and rename it into place, so that a kill mid-copy leaves no
        # half-copied state behind (a leftover temporary folder is replaced on the next try)
        tmp = base / f".copy-{target.name}"
        if tmp.exists():
            shutil.rmtree(tmp)
        shutil.copytree(max(usable)[3], tmp)
        atomic_write_text(tmp / "limits.json", json.dumps(limits))
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
        return target
    target.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target / "limits.json", json.dumps(limits))
    return target


def load_job(wd: Path, key: str) -> dict[str, Any] | None:
    path = wd / "jobs" / f"{key}.json"
    if not path.exists():
        return None
    try:
        out = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the finished job {path}: {exc}; delete it to run the job again") from None
    if not isinstance(out, dict):
        raise ConfigError(f"{path} does not hold a job outcome; delete it to run the job again")
    return out


def save_job(wd: Path, key: str, out: Mapping[str, Any]) -> None:
    (wd / "jobs").mkdir(parents=True, exist_ok=True)
    atomic_write_text(wd / "jobs" / f"{key}.json", json.dumps(jsonable(dict(out))))

