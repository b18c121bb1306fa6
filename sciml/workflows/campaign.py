"""Data-generation campaigns: a simulator mapped over a parameter design.

``sciml data generate datasets/<recipe>.yaml`` runs :func:`generate`:

1. :func:`plan_campaign` validates the whole recipe *before any work*: the simulator and
   its options, every design point against the simulator's parameter space. Errors name
   the file, the field and the accepted values.
2. The design is split into tasks (at most ``samples_per_task`` samples each, one design
   point per task) with independent child seeds from :class:`numpy.random.SeedSequence`.
3. An executor (Dask ``LocalCluster`` by default) runs the tasks; each task writes its own
   part file atomically under ``<output>.parts/``, named by a hash of everything that
   determines its content (:func:`campaign_fingerprint` and the task). A rerun skips finished
   parts, so an interruption loses only the tasks in flight; a rerun with another recipe,
   simulator or code finds another fingerprint in ``<output>.parts/fingerprint.json``, says
   what changed and starts clean, so parts of different recipes are never mixed. The output
   is locked (:func:`sciml.locks.hold`) for the whole run: a second run on it gets a clear
   error.
4. The parts are merged (lazily, chunk by chunk) into the single output file, written under
   a temporary name and renamed; then the parts are removed. An interrupted campaign never
   leaves a half-written output.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import numpy as np
import xarray as xr

from sciml.data.schema import provenance_attrs, validate
from sciml.errors import ConfigError, ParameterError, SimulationError
from sciml.simulators.base import Simulator
from sciml.simulators.registry import build_simulator
from sciml.simulators.design import default_bounds, grid_design, list_design, space_filling_design
from sciml.executors import make_executor
from sciml.config import load_config
from sciml.data.atomic import atomic_write_text
from sciml.fingerprint import code_fingerprint, describe_changes, stable_hash
from sciml.locks import hold
from sciml.workflows.recipe import DatasetRecipe, GridDesign, ListDesign


@dataclass(frozen=True)
class CampaignTask:
    """One unit of work: ``n_samples`` runs of one design point with one seed."""

    index: int
    point_index: int
    params: dict[str, float]
    n_samples: int
    seed: int
    simulator_config: dict[str, Any]
    part_path: str
    first_sample: int


@dataclass(frozen=True)
class CampaignTasks(Sequence[CampaignTask]):
    """The tasks of a campaign, computed on demand (a plan of any size costs nothing to build).

    Design point ``p`` is split into ``ceil(samples_per_point / samples_per_task)`` tasks; task
    ``c`` of point ``p`` has the seed of ``SeedSequence(recipe.seed).spawn(P)[p].spawn(C)[c]``
    (spawn key ``(p, c)``) and a part file named by the campaign's key and its own fields.
    """

    recipe: DatasetRecipe
    points: tuple[dict[str, float], ...]
    simulator_config: dict[str, Any]
    parts_dir: Path
    key: str

    @property
    def per_point(self) -> int:
        """Tasks per design point."""
        return -(-self.recipe.samples_per_point // self.recipe.samples_per_task)

    def __len__(self) -> int:
        return len(self.points) * self.per_point

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = int(index) + (len(self) if int(index) < 0 else 0)
        if not 0 <= i < len(self):
            raise IndexError(f"task {index} of {len(self)}")
        p, c = divmod(i, self.per_point)
        spp, spt = self.recipe.samples_per_point, self.recipe.samples_per_task
        n = min(spt, spp - c * spt)
        first = p * spp + c * spt
        seq = np.random.SeedSequence(self.recipe.seed, spawn_key=(p, c))
        seed = int(seq.generate_state(1)[0])
        part_key = stable_hash([self.key, i, p, n, seed, first])[:16]
        return CampaignTask(index=i, point_index=p, params=self.points[p], n_samples=n, seed=seed,
                            simulator_config=self.simulator_config,
                            part_path=str(self.parts_dir / f"task-{i:06d}-{part_key}.nc"), first_sample=first)


@dataclass(frozen=True)
class CampaignPlan:
    """A validated campaign: the recipe, its simulator, design points and tasks."""

    recipe: DatasetRecipe
    source: str
    simulator: Simulator
    points: list[dict[str, float]]
    tasks: CampaignTasks
    output: Path
    fingerprint: dict[str, Any]

    @property
    def parts_dir(self) -> Path:
        """Folder of per-task part files (removed after a successful merge)."""
        return parts_dir_for(self.output)

    @property
    def n_samples(self) -> int:
        """Total number of samples in the output."""
        return len(self.points) * self.recipe.samples_per_point


def campaign_fingerprint(recipe: DatasetRecipe, simulator: Simulator,
                         points: list[dict[str, float]]) -> dict[str, Any]:
    """Everything that determines a campaign's samples: the recipe (but its output path and
    executor), the simulator's resolved configuration and version, the design points, and the
    code (:func:`~sciml.fingerprint.code_fingerprint` of the simulator's module and this one)."""
    return {
        "recipe": recipe.model_dump(mode="json", exclude={"output", "executor"}),
        "simulator": simulator.config(),
        "simulator_version": getattr(simulator, "version", None),
        "design_points": points,
        "code": _code_of(type(simulator).__module__),
    }


def _code_of(simulator_module: str) -> dict[str, Any]:
    """:func:`~sciml.fingerprint.code_fingerprint` of sciml's part; a plug-in simulator's own file by hash."""
    if simulator_module.startswith("sciml."):
        return code_fingerprint([simulator_module, __name__])
    module = sys.modules.get(simulator_module)
    path = getattr(module, "__file__", None)
    own = hashlib.sha256(Path(path).read_bytes()).hexdigest() if path and Path(path).is_file() else None
    return {**code_fingerprint([__name__]), "plugin": {"module": simulator_module, "sha256": own}}


def parts_dir_for(output: Path) -> Path:
    """Folder where the part files of the campaign writing ``output`` are kept."""
    return output.with_name(output.name + ".parts")


def expand_design(recipe: DatasetRecipe, simulator: Simulator) -> list[dict[str, float]]:
    """Turn the recipe's design into explicit parameter points (not yet validated)."""
    design = recipe.design
    if isinstance(design, ListDesign):
        return list_design(design.points)
    if isinstance(design, GridDesign):
        return grid_design(design.values)
    space = simulator.parameter_space
    bounds = design.bounds
    if bounds is None:
        bounds = default_bounds(space)
    log = design.log
    if log is None:
        log = [p.name for p in space if p.log_scale and p.name in bounds]
    return space_filling_design(design.kind, design.n, bounds, seed=recipe.seed, log=log)


def plan_campaign(
    recipe: DatasetRecipe, *, source: str = "recipe", output: str | Path | None = None
) -> CampaignPlan:
    """Validate a recipe completely and split it into tasks. Does no simulation work.

    Raises
    ------
    ConfigError
        Bad simulator options or design points outside the simulator's parameter space;
        the message names ``source``, the field and the accepted values.
    """
    simulator = build_simulator(recipe.simulator, source=f"{source}: field simulator")
    points = expand_design(recipe, simulator)
    space = simulator.parameter_space
    validated = []
    for i, point in enumerate(points):
        where = _design_field(recipe, i)
        try:
            validated.append(space.validate(point, source=f"{source}: field {where}"))
        except ParameterError as exc:
            raise ConfigError(str(exc)) from None
    if isinstance(recipe.design, ListDesign | GridDesign) and not points:
        raise ConfigError(f"{source}: field design: the design has no points")
    out = Path(output if output is not None else recipe.output)
    if out.suffix not in (".nc", ".h5", ".nc4"):
        raise ConfigError(f"{source}: field output: {str(out)!r} must end in .nc, .nc4 or .h5")
    fingerprint = campaign_fingerprint(recipe, simulator, validated)
    tasks = CampaignTasks(recipe=recipe, points=tuple(validated), simulator_config=dict(recipe.simulator),
                          parts_dir=parts_dir_for(out), key=stable_hash(fingerprint))
    return CampaignPlan(recipe=recipe, source=source, simulator=simulator, points=validated,
                        tasks=tasks, output=out, fingerprint=fingerprint)


def _design_field(recipe: DatasetRecipe, i: int) -> str:
    if isinstance(recipe.design, ListDesign):
        return f"design.points[{i}]"
    if isinstance(recipe.design, GridDesign):
        return f"design.values (grid point {i})"
    return f"design.bounds (point {i})"


def failure_path(task: CampaignTask) -> Path:
    """Where a task's failure is recorded (beside its part file)."""
    return Path(task.part_path).with_suffix(".failed.json")


def run_task(task: CampaignTask) -> str | None:
    """Run one task and write its part file atomically. Returns the part path, or ``None``
    when the simulator raised :class:`~sciml.errors.SimulationError`: the failure (task, design
    point, samples, parameters, seed, message) is then written to :func:`failure_path` and the
    campaign goes on with the other tasks.

    Runs in a worker process: the simulator is rebuilt from its configuration.
    """
    from sciml.data.netcdf import save

    simulator = build_simulator(task.simulator_config, source="simulator")
    try:
        ds = simulator.run(task.params, seed=task.seed, n_samples=task.n_samples)
    except SimulationError as exc:
        where = (f"task {task.index} (design point {task.point_index}, output samples "
                 f"{task.first_sample}..{task.first_sample + task.n_samples - 1})")
        record = {"task": task.index, "design_point": task.point_index, "params": task.params, "seed": task.seed,
                  "first_sample": task.first_sample, "n_samples": task.n_samples, "error": f"{where}: {exc}"}
        atomic_write_text(failure_path(task), json.dumps(record, indent=1, default=str))
        return None
    failure_path(task).unlink(missing_ok=True)
    ds = ds.assign(
        seed=xr.Variable(("sample",), np.full(task.n_samples, task.seed, dtype=np.int64),
                         attrs={"role": "metadata", "long_name": "seed of the task that made the sample", "units": "1"}),
        design_point=xr.Variable(("sample",), np.full(task.n_samples, task.point_index, dtype=np.int64),
                                 attrs={"role": "metadata", "long_name": "index of the design point", "units": "1"}),
    )
    # one writer per part file: the synchronous scheduler keeps xarray from taking a cluster-wide
    # lock (a Client in every Dask worker, left to be torn down at exit)
    with dask.config.set(scheduler="synchronous"):
        save(ds, task.part_path)
    return task.part_path


def generate(
    recipe: DatasetRecipe | str | Path,
    *,
    output: str | Path | None = None,
    executor: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
    check_size: bool = True,
) -> Path:
    """Run a campaign and write its single output file.

    Parameters
    ----------
    recipe : DatasetRecipe or path
        The recipe, or a YAML file holding one.
    output : path, optional
        Override the recipe's output path.
    executor : mapping, optional
        Override the recipe's executor (``{"kind": "inprocess"}``, ...).
    overwrite : bool
        Replace an existing output file. Without it an existing output is an error.
    log : callable, optional
        Receives the message when parts of another campaign are discarded (default: stderr).
    check_size : bool
        Refuse, before any work, a campaign whose estimated disk or memory need exceeds what
        the machine has (:func:`estimate_resources`); ``False`` runs it anyway.

    Returns
    -------
    Path
        The output file.

    Raises
    ------
    ConfigError
        A bad recipe, an existing output of another campaign without ``overwrite``, or (with
        ``check_size``) a campaign that does not fit the machine. An existing output of the
        same campaign (its provenance's ``campaign_key``) is up to date: it is returned as is.
    LockError
        Another live run writes the same output.
    """
    if isinstance(recipe, (str, Path)):
        source = str(recipe)
        recipe = load_config(recipe, DatasetRecipe)
    else:
        source = f"recipe {recipe.name!r}"
    plan = plan_campaign(recipe, source=source, output=output)
    if check_size:
        check_resources(estimate_resources(plan, executor), source)
    with hold(plan.output, what="output"):
        _remove_temporary_files(plan)
        if plan.output.exists() and not overwrite:
            if _key_of(plan.output) != plan.tasks.key:
                raise ConfigError(f"{plan.output} exists and holds another campaign's samples; pass "
                                  "overwrite=True (--overwrite) to replace it")
            (log or _to_stderr)(f"{plan.output} is up to date (the same campaign); nothing to do")
            shutil.rmtree(plan.parts_dir, ignore_errors=True)  # left by a run killed after its output was written
            return plan.output
        _claim_parts(plan, log or _to_stderr)
        _run_tasks(plan, executor)
        _merge_and_save(plan)
    return plan.output


def _key_of(path: Path) -> str | None:
    """The campaign key recorded in a dataset's provenance (``None`` if unreadable or absent)."""
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            key = ds.attrs.get("campaign_key")
    except (OSError, ValueError):
        return None
    return key if isinstance(key, str) else None


def _remove_temporary_files(plan: CampaignPlan) -> None:
    """Remove the temporary files of atomic writes left by a killed run (we hold the output's lock)."""
    stale = list(plan.output.parent.glob(f".{plan.output.name}.*.tmp"))
    if plan.parts_dir.is_dir():
        stale += list(plan.parts_dir.glob(".*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _claim_parts(plan: CampaignPlan, log: Callable[[str], None]) -> None:
    """Make ``plan.parts_dir`` hold only parts of this campaign: discard another fingerprint's, with a message."""
    record = plan.parts_dir / "fingerprint.json"
    if plan.parts_dir.exists():
        try:
            old = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = None
        new = json.loads(json.dumps(plan.fingerprint))
        if old != new:
            n_parts = len(list(plan.parts_dir.glob("task-*.nc")))
            changed = ", ".join(describe_changes(old, new)) if isinstance(old, dict) else "no fingerprint recorded"
            log(f"{plan.parts_dir}: discarding {n_parts} part file(s) of another campaign (changed: {changed}); "
                "starting clean")
            shutil.rmtree(plan.parts_dir)
    if not plan.parts_dir.exists():
        plan.parts_dir.mkdir(parents=True)
        atomic_write_text(record, json.dumps(plan.fingerprint, indent=1))


def _run_tasks(plan: CampaignPlan, executor: Mapping[str, Any] | None) -> None:
    """Run the tasks whose part file is missing (failed ones again); a task whose simulator
    fails is recorded and the others go on.

    Raises
    ------
    SimulationError
        After all tasks ran, when some failed: how many, each one's message, and where the
        records are; the finished parts are kept, so a rerun runs only the failed tasks.
    """
    todo = [t for t in plan.tasks if not Path(t.part_path).exists()]
    if not todo:
        return
    exec_cfg = dict(executor) if executor is not None else plan.recipe.executor.model_dump()
    failed: list[CampaignTask] = []
    with make_executor(exec_cfg) as ex:
        for i, part in ex.map(run_task, todo, desc=f"generate {plan.recipe.name}"):
            if part is None:
                failed.append(todo[i])
    if failed:
        messages = [json.loads(failure_path(t).read_text(encoding="utf-8"))["error"] for t in failed[:5]]
        more = f"; and {len(failed) - 5} more" if len(failed) > 5 else ""
        raise SimulationError(
            f"{len(failed)} of {len(plan.tasks)} task(s) failed (each recorded in {plan.parts_dir}/*.failed.json; "
            f"the other parts are kept and a rerun runs only the failed tasks): {'; '.join(messages)}{more}")


def _merge_and_save(plan: CampaignPlan) -> None:
    """Merge the parts into the output (atomically), then remove the parts."""
    from sciml.data.netcdf import save

    merged = merge_parts(plan)
    try:
        # every part was checked for NaN/inf by its simulator and validated when written:
        # check the layout here, and let the write stream the data chunk by chunk
        validate(merged, check_finite=False)
        save(merged, plan.output, validate=False)
    finally:
        merged.close()
    shutil.rmtree(plan.parts_dir, ignore_errors=True)


def merge_parts(plan: CampaignPlan) -> xr.Dataset:
    """Concatenate the part files of ``plan`` along ``sample`` (lazily) with provenance."""
    paths = [t.part_path for t in plan.tasks]
    parts = [xr.open_dataset(p, engine="h5netcdf", chunks={}) for p in paths]
    ds = xr.concat(parts, dim="sample", data_vars="all", coords="minimal", compat="override",
                   combine_attrs="override", join="exact")
    ds = ds.assign_coords(sample=np.arange(ds.sizes["sample"], dtype=np.int64))
    ds["sample"].attrs.update({"long_name": "sample index", "units": "1"})
    sim = plan.simulator
    ds.attrs = provenance_attrs(
        generator=sim.name,
        generator_version=sim.version,
        parameters={
            "recipe": plan.recipe.model_dump(mode="json"),
            "simulator_config": sim.config(),
            "design_points": plan.points,
        },
        seed=plan.recipe.seed,
        extra={
            "title": plan.recipe.name,
            "summary": plan.recipe.description,
            "design_kind": plan.recipe.design.kind,
            "source": f"sciml data generate {plan.source}",
            "campaign_key": plan.tasks.key,
        },
    )
    return ds


#: Memory of one task in units of its output's fields: the solution, float64 working copies
#: of the solver and the dataset written (an estimate, not a bound).
TASK_MEMORY_FACTOR = 4


@dataclass(frozen=True)
class ResourceEstimate:
    """What a campaign needs and what the machine has (bytes; ``None``: unknown).

    ``disk_needed`` is twice the output's uncompressed fields (the parts and the merged output
    coexist until the parts are removed); ``memory_needed`` is ``workers`` tasks at once, each
    :data:`TASK_MEMORY_FACTOR` times its fields.
    """

    output_bytes: int | None
    disk_needed: int | None
    memory_needed: int | None
    workers: int
    disk_free: int
    memory_available: int | None


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def _workers(executor: Mapping[str, Any]) -> int:
    kind = executor.get("kind", "dask")
    return 1 if kind == "inprocess" else int(executor.get("n_workers", 2) or 1)


def estimate_resources(plan: CampaignPlan, executor: Mapping[str, Any] | None = None) -> ResourceEstimate:
    """The disk and memory ``plan`` needs against what this machine has (instant: nothing runs).

    The size of a sample comes from the simulator's ``sample_nbytes(params)`` (bytes of one
    sample's fields); a simulator without it gives ``None`` estimates.
    """
    exec_cfg = dict(executor) if executor is not None else plan.recipe.executor.model_dump()
    workers = _workers(exec_cfg)
    per_sample = getattr(plan.simulator, "sample_nbytes", None)
    out = disk = mem = None
    if callable(per_sample):
        sizes = [int(per_sample(p)) for p in plan.points]
        out = sum(sizes) * plan.recipe.samples_per_point
        disk = 2 * out
        mem = workers * TASK_MEMORY_FACTOR * plan.recipe.samples_per_task * max(sizes)
    folder = plan.output.resolve().parent
    while not folder.exists():
        folder = folder.parent
    return ResourceEstimate(output_bytes=out, disk_needed=disk, memory_needed=mem, workers=workers,
                            disk_free=shutil.disk_usage(folder).free, memory_available=_available_memory())


def _size(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_resources(est: ResourceEstimate, source: str) -> None:
    """Raise :class:`ConfigError` with the numbers if ``est`` needs more disk or memory than there is."""
    problems = []
    if est.disk_needed is not None and est.disk_needed > est.disk_free:
        problems.append(f"disk: needs {_size(est.disk_needed)} (parts and output, uncompressed), "
                        f"{_size(est.disk_free)} free")
    if est.memory_needed is not None and est.memory_available is not None and est.memory_needed > est.memory_available:
        problems.append(f"memory: needs about {_size(est.memory_needed)} ({est.workers} worker(s) at once), "
                        f"{_size(est.memory_available)} available")
    if problems:
        raise ConfigError(f"{source}: this campaign does not fit this machine: {'; '.join(problems)}; "
                          "make it smaller (samples_per_point, samples_per_task, the grid), or pass "
                          "check_size=False (--no-size-check) to run it anyway")


def describe_plan(plan: CampaignPlan) -> str:
    """A short human-readable description of a plan (used by ``--dry-run``)."""
    lines = [
        f"recipe:     {plan.recipe.name} ({plan.source})",
        f"simulator:  {json.dumps(plan.simulator.config())}",
        f"design:     {plan.recipe.design.kind}, {len(plan.points)} point(s)",
        f"samples:    {plan.n_samples} in {len(plan.tasks)} task(s)",
        f"output:     {plan.output}",
    ]
    est = estimate_resources(plan)
    lines += [f"size:       {_size(est.output_bytes)} of fields (disk needed {_size(est.disk_needed)}, "
              f"{_size(est.disk_free)} free)",
              f"memory:     about {_size(est.memory_needed)} ({est.workers} worker(s)), "
              f"{_size(est.memory_available)} available"]
    return "\n".join(lines)
