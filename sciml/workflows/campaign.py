"""Data-generation campaigns: a simulator mapped over a parameter design.

``sciml data generate datasets/<recipe>.yaml`` runs :func:`generate`:

1. :func:`plan_campaign` validates the whole recipe *before any work*: the simulator and
   its options, every design point against the simulator's parameter space. Errors name
   the file, the field and the accepted values.
2. The design is split into tasks (at most ``samples_per_task`` samples each, one design
   point per task) with independent child seeds from :class:`numpy.random.SeedSequence`.
3. An executor (Dask ``LocalCluster`` by default) runs the tasks; each task writes its own
   part file atomically under ``<output>.parts/``. A rerun skips finished parts, so an
   interruption loses only the tasks in flight.
4. The parts are merged (lazily, chunk by chunk) into the single output file, written under
   a temporary name and renamed; then the parts are removed. An interrupted campaign never
   leaves a half-written output.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sciml.data.schema import provenance_attrs, validate
from sciml.errors import ConfigError, ParameterError, SimulationError
from sciml.simulators.base import Simulator
from sciml.simulators.registry import build_simulator
from sciml.workflows.design import default_bounds, grid_design, list_design, space_filling_design
from sciml.executors import make_executor
from sciml.config import load_config
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
class CampaignPlan:
    """A validated campaign: the recipe, its simulator, design points and tasks."""

    recipe: DatasetRecipe
    source: str
    simulator: Simulator
    points: list[dict[str, float]]
    tasks: list[CampaignTask]
    output: Path

    @property
    def parts_dir(self) -> Path:
        """Folder of per-task part files (removed after a successful merge)."""
        return parts_dir_for(self.output)

    @property
    def n_samples(self) -> int:
        """Total number of samples in the output."""
        return sum(t.n_samples for t in self.tasks)


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
    sim_config = dict(recipe.simulator)
    seeds = np.random.SeedSequence(recipe.seed).spawn(len(validated))
    tasks: list[CampaignTask] = []
    first = 0
    parts = parts_dir_for(out)
    for p_index, (params, seq) in enumerate(zip(validated, seeds)):
        remaining = recipe.samples_per_point
        chunk_seeds = seq.spawn(-(-remaining // recipe.samples_per_task))
        for chunk_seed in chunk_seeds:
            n = min(remaining, recipe.samples_per_task)
            index = len(tasks)
            tasks.append(CampaignTask(
                index=index,
                point_index=p_index,
                params=params,
                n_samples=n,
                seed=int(chunk_seed.generate_state(1)[0]),
                simulator_config=sim_config,
                part_path=str(parts / f"task-{index:06d}.nc"),
                first_sample=first,
            ))
            first += n
            remaining -= n
    return CampaignPlan(recipe=recipe, source=source, simulator=simulator, points=validated,
                        tasks=tasks, output=out)


def _design_field(recipe: DatasetRecipe, i: int) -> str:
    if isinstance(recipe.design, ListDesign):
        return f"design.points[{i}]"
    if isinstance(recipe.design, GridDesign):
        return f"design.values (grid point {i})"
    return f"design.bounds (point {i})"


def run_task(task: CampaignTask) -> str:
    """Run one task and write its part file atomically. Returns the part path.

    Runs in a worker process: the simulator is rebuilt from its configuration.
    """
    from sciml.data.netcdf import save

    simulator = build_simulator(task.simulator_config, source="simulator")
    try:
        ds = simulator.run(task.params, seed=task.seed, n_samples=task.n_samples)
    except SimulationError as exc:
        raise SimulationError(
            f"task {task.index} (design point {task.point_index}, output samples "
            f"{task.first_sample}..{task.first_sample + task.n_samples - 1}): {exc}"
        ) from None
    ds = ds.assign(
        seed=xr.Variable(("sample",), np.full(task.n_samples, task.seed, dtype=np.int64),
                         attrs={"role": "metadata", "long_name": "seed of the task that made the sample", "units": "1"}),
        design_point=xr.Variable(("sample",), np.full(task.n_samples, task.point_index, dtype=np.int64),
                                 attrs={"role": "metadata", "long_name": "index of the design point", "units": "1"}),
    )
    save(ds, task.part_path)
    return task.part_path


def generate(
    recipe: DatasetRecipe | str | Path,
    *,
    output: str | Path | None = None,
    executor: Mapping[str, Any] | None = None,
    overwrite: bool = False,
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

    Returns
    -------
    Path
        The output file.
    """
    from sciml.data.netcdf import save

    if isinstance(recipe, (str, Path)):
        source = str(recipe)
        recipe = load_config(recipe, DatasetRecipe)
    else:
        source = f"recipe {recipe.name!r}"
    plan = plan_campaign(recipe, source=source, output=output)
    if plan.output.exists() and not overwrite:
        raise ConfigError(f"{plan.output} exists; pass overwrite=True (--overwrite) to replace it")
    todo = [t for t in plan.tasks if not Path(t.part_path).exists()]
    if todo:
        plan.parts_dir.mkdir(parents=True, exist_ok=True)
        exec_cfg = dict(executor) if executor is not None else recipe.executor.model_dump()
        with make_executor(exec_cfg) as ex:
            for _ in ex.map(run_task, todo, desc=f"generate {recipe.name}"):
                pass
    merged = merge_parts(plan)
    try:
        # every part was checked for NaN/inf by its simulator and validated when written:
        # check the layout here, and let the write stream the data chunk by chunk
        validate(merged, check_finite=False)
        save(merged, plan.output, validate=False)
    finally:
        merged.close()
    shutil.rmtree(plan.parts_dir, ignore_errors=True)
    return plan.output


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
        },
    )
    return ds


def describe_plan(plan: CampaignPlan) -> str:
    """A short human-readable description of a plan (used by ``--dry-run``)."""
    lines = [
        f"recipe:     {plan.recipe.name} ({plan.source})",
        f"simulator:  {json.dumps(plan.simulator.config())}",
        f"design:     {plan.recipe.design.kind}, {len(plan.points)} point(s)",
        f"samples:    {plan.n_samples} in {len(plan.tasks)} task(s)",
        f"output:     {plan.output}",
    ]
    return "\n".join(lines)
