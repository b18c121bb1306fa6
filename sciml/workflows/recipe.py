"""Dataset recipes (``datasets/*.yaml``): a simulator, a parameter design, an executor, an output.

The pydantic models here are the source of truth for recipe files, read and validated by
:func:`sciml.config.load_config`; :mod:`sciml.workflows.campaign` runs them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, NonNegativeInt, PositiveInt

from sciml.config import StrictModel

__all__ = ["DaskExecutorSpec", "DatasetRecipe", "Design", "ExecutorSpec", "GridDesign", "InProcessExecutorSpec",
           "ListDesign", "ProcessExecutorSpec", "SlurmExecutorSpec", "SpaceFillingDesign"]


# ------------------------------------------------------------------------- designs
class ListDesign(StrictModel):
    """Explicit parameter points."""

    kind: Literal["list"] = "list"
    points: list[dict[str, float]] = Field(min_length=1)


class GridDesign(StrictModel):
    """Cartesian product of per-parameter values."""

    kind: Literal["grid"] = "grid"
    values: dict[str, list[float]] = Field(min_length=1)


class SpaceFillingDesign(StrictModel):
    """Latin hypercube (``lhs``) or scrambled Sobol (``sobol``) points.

    ``bounds`` default to the simulator's parameter space; ``log`` lists parameters sampled
    uniformly in log10 (default: those the simulator declares ``log_scale``).
    """

    kind: Literal["lhs", "sobol"]
    n: PositiveInt
    bounds: dict[str, tuple[float, float]] | None = None
    log: list[str] | None = None


Design = Annotated[Union[ListDesign, GridDesign, SpaceFillingDesign], Field(discriminator="kind")]


# ----------------------------------------------------------------------- executors
class InProcessExecutorSpec(StrictModel):
    """Run tasks one after another in this process."""

    kind: Literal["inprocess"] = "inprocess"


class ProcessExecutorSpec(StrictModel):
    """A pool of worker processes on this machine."""

    kind: Literal["process"] = "process"
    n_workers: PositiveInt = 2
    threads_per_worker: PositiveInt = 1


class DaskExecutorSpec(StrictModel):
    """A Dask ``LocalCluster`` (default) or an existing scheduler at ``address``."""

    kind: Literal["dask"] = "dask"
    n_workers: PositiveInt = 2
    threads_per_worker: PositiveInt = 1
    memory_limit: str = "auto"
    address: str | None = None


class SlurmExecutorSpec(StrictModel):
    """Dask workers as Slurm jobs through ``dask-jobqueue``."""

    kind: Literal["slurm"] = "slurm"
    jobs: PositiveInt = 1
    cores: PositiveInt = 1
    memory: str = "2GiB"
    walltime: str = "00:30:00"
    queue: str | None = None
    account: str | None = None
    job_extra_directives: list[str] = Field(default_factory=list)
    interface: str | None = None


ExecutorSpec = Annotated[
    Union[InProcessExecutorSpec, ProcessExecutorSpec, DaskExecutorSpec, SlurmExecutorSpec], Field(discriminator="kind")
]


# -------------------------------------------------------------------------- recipes
class DatasetRecipe(StrictModel):
    """A dataset recipe: a simulator, a parameter design, a seed and an output file.

    Attributes
    ----------
    simulator : dict
        ``kind`` (a registered simulator name) plus its constructor options; checked
        against the simulator's constructor when the recipe is prepared.
    design : ListDesign | GridDesign | SpaceFillingDesign
        Which parameter values to run.
    samples_per_point : int
        Random initial conditions per design point.
    seed : int
        Root seed, ``>= 0``; each design point gets an independent child seed.
    samples_per_task : int
        Each design point is split into tasks of at most this many samples.
    output : str
        Output NetCDF path (relative to the current directory).
    """

    name: str
    description: str = ""
    simulator: dict[str, Any]
    design: Design
    samples_per_point: PositiveInt = 1
    samples_per_task: PositiveInt = 64
    seed: NonNegativeInt = 0
    executor: ExecutorSpec = Field(default_factory=DaskExecutorSpec)
    output: str
