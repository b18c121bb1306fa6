"""Run a workflow spec: ``sciml run workflows/quickstart.yaml``.

A workflow is a list of steps (:mod:`sciml.workflows.spec`). The runner

1. checks every step first, in order (:meth:`~sciml.workflows.step.WorkflowStep.check`): every
   referenced recipe is loaded and planned, every dataset and model a step uses is produced by
   an earlier step, so that a bad field fails before any work and nothing is written;
2. writes the resolved configuration (recipes inlined) to ``<output_dir>/config.resolved.yaml``;
3. runs the steps in order (:func:`run_step`), holding the lock of the output folder
   (:func:`sciml.locks.hold`) for the whole run, so that a second run on the same folder fails
   with a :class:`~sciml.locks.LockError` naming the first one's host and PID.

Steps resume only what was made from the same inputs. Each step's outputs are keyed by a
fingerprint (:func:`step_fingerprint`): its configuration, the content (SHA-256) and the
producing step's key of every dataset and model it reads, the sciml version and the code the
step runs. The fingerprint is stored in ``<output_dir>/.steps/<kind>-<name>.json`` *before*
the step runs, so an interrupted step resumes under it. When the stored fingerprint differs,
the step's own outputs are removed and it starts clean (one log line names what changed); when
it matches, the step resumes as before: a ``generate`` step whose output exists with the same
recipe is skipped, a training or an optimisation continues from its saved state. A changed
step gives its outputs a new key, so the steps that read them rerun too.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from sciml.config import load_config
from sciml.data.atomic import atomic_write_text
from sciml.errors import ConfigError
from sciml.fingerprint import code_fingerprint, describe_changes, stable_hash
from sciml.locks import hold
from sciml.workflows.context import WorkflowContext
from sciml.workflows.spec import WorkflowSpec
from sciml.workflows.step import WorkflowStep

__all__ = ["RECORDS", "prepare", "run_step", "run_workflow", "step_fingerprint"]

#: Folder (under the output folder) of the steps' fingerprint records and the input digests.
RECORDS = ".steps"


def prepare(spec: WorkflowSpec, ctx: WorkflowContext) -> None:
    """Check every step of ``spec`` in order without doing any work.

    Raises
    ------
    ConfigError
        The first bad step, naming the workflow file, the step's index and its field.
    """
    for i, step in enumerate(spec.steps):
        step.check(ctx, i)
    _check_outputs(spec, ctx)


def _check_outputs(spec: WorkflowSpec, ctx: WorkflowContext) -> None:
    """Every step's outputs lie inside the output folder, and no two steps share a record or an output.

    Raises
    ------
    ConfigError
        Naming the step, the path and the other step (its outputs would be removed or mixed).
    """
    root = ctx.output_dir.resolve()
    labels: dict[str, int] = {}
    owners: dict[Path, int] = {}
    for i, step in enumerate(spec.steps):
        label = step.label(i)
        if label in labels:
            raise ConfigError(f"{ctx.where(i)}: steps.{labels[label]} writes the same outputs ({label!r}); give the "
                              "step another name or file")
        labels[label] = i
        for path in step.outputs(ctx):
            p = path.resolve()
            if root not in p.parents or _reserved(root, p):
                raise ConfigError(f"{ctx.where(i)}: output {path} must lie inside the output folder {ctx.output_dir}")
            for q, j in owners.items():
                if j != i and (p == q or q in p.parents or p in q.parents):
                    raise ConfigError(f"{ctx.where(i)}: output {path} overlaps {q}, an output of steps.{j}; give "
                                      "the step another name or file")
            owners[p] = i


def run_workflow(
    spec: WorkflowSpec | str | Path,
    *,
    output_dir: str | Path | None = None,
    executor: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> WorkflowContext:
    """Validate and run a workflow.

    Parameters
    ----------
    spec : WorkflowSpec or path
        The workflow, or a YAML file holding one.
    output_dir : path, optional
        Where outputs go (default: the spec's ``output_dir``, else ``runs/<name>``).
    executor : mapping, optional
        Executor override for every step that maps work (``{"kind": "inprocess"}``).
    log : callable
        Receives progress messages.

    Returns
    -------
    WorkflowContext
        With ``artefacts``: name -> path of everything written.

    Raises
    ------
    ConfigError
        A bad step (before any work, nothing written).
    LockError
        Another live run holds ``output_dir`` (nothing written by this one).
    """
    if isinstance(spec, (str, Path)):
        source = str(spec)
        base_dir = Path(spec).resolve().parent
        spec = load_config(spec, WorkflowSpec)
    else:
        source, base_dir = f"workflow {spec.name!r}", Path.cwd()
    out = Path(output_dir or spec.output_dir or Path("runs") / spec.name)
    ctx = WorkflowContext(name=spec.name, source=source, base_dir=base_dir, output_dir=out, executor=executor,
                          log=log)
    prepare(spec, ctx)
    out.mkdir(parents=True, exist_ok=True)
    with hold(out, what="workflow output"):
        resolved = spec.model_dump(mode="json")
        resolved["steps"] = [step.resolved(ctx, i) for i, step in enumerate(spec.steps)]
        atomic_write_text(out / "config.resolved.yaml", yaml.safe_dump(resolved, sort_keys=False))
        ctx.digests = _read_json(out / RECORDS / "digests.json") or {}
        for i, step in enumerate(spec.steps):
            run_step(step, ctx, i)
    ctx.artefacts["config"] = out / "config.resolved.yaml"
    return ctx


def run_step(step: WorkflowStep, ctx: WorkflowContext, index: int) -> None:
    """Run one step under the key of its inputs (see the module docstring).

    Computes :func:`step_fingerprint` and compares it with the record stored with the step's
    outputs (:func:`_settle_outputs`: a stale record, or none while outputs exist, removes the
    step's own outputs and logs one line naming what changed). Then writes the new record
    (atomically, before any work, so that an interrupted step resumes under it), runs the step
    and registers its key for the datasets and models it produces.
    """
    label = step.label(index)
    fingerprint = step_fingerprint(step, ctx, index)
    key = stable_hash(fingerprint)
    record_path = ctx.output_dir / RECORDS / f"{label}.json"
    outputs = step.outputs(ctx)
    old = _read_json(record_path)
    if old is None or old.get("key") != key:
        _settle_outputs(step, ctx, label, fingerprint, old, outputs)
    record = {"step": label, "key": key, "fingerprint": fingerprint,
              "outputs": sorted({_relative(p, ctx.output_dir) for p in outputs})}
    atomic_write_text(record_path, json.dumps(record, indent=1, sort_keys=True) + "\n")
    step.run(ctx, index)
    for kind, names in step.products().items():
        for name in names:
            ctx.keys[f"{kind}:{name}"] = key


def _settle_outputs(step: WorkflowStep, ctx: WorkflowContext, label: str, fingerprint: Mapping[str, Any],
                    old: Mapping[str, Any] | None, outputs: list[Path]) -> None:
    """Before a step whose record (``old``, None: none) does not hold ``fingerprint``: start clean or continue.

    Continues (the outputs stay, one log line) when only ``step.extendable`` fields grew;
    otherwise removes the outputs the step declares now and those the record lists (only
    those, only inside the output folder) and logs one line naming the changed fields. A step
    without a record and without outputs starts silently.
    """
    old_fp: Mapping[str, Any] = (old.get("fingerprint") or {}) if old is not None else {}
    changed = describe_changes(old_fp, fingerprint) if old is not None else []
    grown = [c for c in changed if c.startswith("step.") and c.removeprefix("step.") in step.extendable
             and _grows(old_fp.get(c), fingerprint.get(c))]
    stale = [c for c in changed if c not in grown]
    if old is not None and not stale:
        ctx.log(f"[{label}] continuing its stored state: "
                + ", ".join(f"{c} {old_fp.get(c)} -> {fingerprint.get(c)}" for c in grown))
        return
    listed = [ctx.output_dir / p for p in old.get("outputs") or []] if old is not None else []
    removed = _remove_outputs(ctx.output_dir, [*outputs, *listed])
    if old is not None or removed:
        why = f"{', '.join(stale)} changed" if old is not None else "no fingerprint is stored with its outputs"
        ctx.log(f"[{label}] {why}: starting clean" + (f" (removed {', '.join(removed)})" if removed else ""))


def step_fingerprint(step: WorkflowStep, ctx: WorkflowContext, index: int) -> dict[str, Any]:
    """Everything the step's outputs depend on, as a flat dict (dotted keys, for messages).

    ``step.<field>``: the keyed configuration (:meth:`WorkflowStep.keyed_config`);
    ``input.<datasets|models>.<name>.sha256`` and ``.step``: the content of each file the step
    reads and the key of the step that made it; ``code.*``: the sciml version, the hash of the
    sources the step's module imports and the numerical libraries' versions (:func:`code_of`).
    """
    tree: dict[str, Any] = {"step": step.keyed_config(ctx, index), "input": {}}
    for kind, names in step.inputs().items():
        for name in names:
            path = _input_path(ctx, kind, name)
            tree["input"].setdefault(kind, {})[name] = {"sha256": _digest(ctx, path),
                                                       "step": ctx.keys.get(f"{kind}:{name}")}
    tree["code"] = code_of(type(step).__module__)
    return _flatten(tree)


@functools.lru_cache(maxsize=None)
def _code_of(module: str) -> str:
    """The code fingerprint of ``module`` as JSON (cached: the caller gets a fresh copy)."""
    return json.dumps(code_fingerprint([module]) if module.startswith("sciml.") else {"module": module})


def code_of(module: str) -> dict[str, Any]:
    """:func:`sciml.fingerprint.code_fingerprint` of a step's module, computed once per process.

    Once per process, not per run: the code a process runs is the code it imported, so an edit
    of a source in between is seen by the next process.
    """
    return dict(json.loads(_code_of(module)))


def _input_path(ctx: WorkflowContext, kind: str, name: str) -> Path:
    """The file behind an input: a dataset's file, a model's best checkpoint."""
    if kind == "datasets":
        return Path(ctx.datasets[name])
    if kind == "models":
        return Path(ctx.models[name]["checkpoint"])
    raise ValueError(f"unknown kind of input {kind!r}; accepted: 'datasets', 'models'")


def _digest(ctx: WorkflowContext, path: Path) -> str | None:
    """SHA-256 of the file at ``path`` (None when missing); reused while its size and mtime are unchanged."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    name = _relative(path, ctx.output_dir)
    hit = ctx.digests.get(name)
    if isinstance(hit, dict) and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns:
        return str(hit["sha256"])
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    ctx.digests[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": h.hexdigest()}
    atomic_write_text(ctx.output_dir / RECORDS / "digests.json", json.dumps(ctx.digests, indent=1) + "\n")
    return h.hexdigest()


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one dict with dotted keys (empty dicts and other values are leaves)."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        if isinstance(v, Mapping) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _grows(old: Any, new: Any) -> bool:
    """Whether an ``extendable`` field grew (``None`` is unlimited)."""
    if new is None:
        return True
    if old is None:
        return False
    try:
        return float(new) >= float(old)
    except (TypeError, ValueError):
        return False


def _remove_outputs(root: Path, paths: list[Path]) -> list[str]:
    """Remove the existing ``paths`` strictly inside ``root`` (files or folders); their names relative to ``root``."""
    base = root.resolve()
    removed = []
    for path in dict.fromkeys(paths):
        q = Path(os.path.abspath(path))
        p = q.parent.resolve() / q.name  # a link itself, not its target
        if base not in p.parents or _reserved(base, p) or not (p.exists() or p.is_symlink()):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
        removed.append(_relative(path, root))
    return removed


def _reserved(root: Path, path: Path) -> bool:
    """Whether ``path`` is the runner's own: the records and the resolved config (the lock is beside the folder)."""
    own = (root / RECORDS, root / "config.resolved.yaml")
    return path in own or own[0] in path.parents


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it, else absolute."""
    p, r = Path(path).resolve(), root.resolve()
    return p.relative_to(r).as_posix() if r in p.parents else str(p)


def _read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object at ``path``; None when missing or unreadable (treated as no record)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
