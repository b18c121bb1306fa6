"""The pydantic models behind the YAML files under ``datasets/`` and ``workflows/``.

Files are read and validated by :func:`sciml.config.load_config`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, PositiveInt

from sciml.config import StrictModel


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
        Root seed; each design point gets an independent child seed.
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
    seed: int = 0
    executor: ExecutorSpec = Field(default_factory=DaskExecutorSpec)
    output: str


# ------------------------------------------------------------------------ workflows
class GenerateStep(StrictModel):
    """Generate a dataset from a recipe file (relative to the workflow) or inline."""

    kind: Literal["generate"] = "generate"
    name: str = "data"
    recipe: str | None = None
    inline: DatasetRecipe | None = None
    executor: ExecutorSpec | None = None


class PlotTrajectoriesStep(StrictModel):
    """Plot a few trajectories of a dataset (space-time images and final profiles)."""

    kind: Literal["plot_trajectories"] = "plot_trajectories"
    dataset: str = "data"
    n: PositiveInt = 4
    file: str = "trajectories.png"


class SummaryStep(StrictModel):
    """Write a JSON and Markdown summary of a dataset (shapes, parameters, statistics)."""

    kind: Literal["summary"] = "summary"
    dataset: str = "data"
    file: str = "summary"


class NeuralPDEModelSpec(StrictModel):
    """An autoregressive neural PDE solver for 1D data (see ``sciml.surrogates.neural_pde``).

    ``kind``: ``cape_fno`` (CAPE block + FNO), ``fno`` (parameter-blind), ``conditional_fno``
    (parameters as constant channels) or ``fno_2step`` (two history frames).
    ``clamp_params``: parameter-aware models clamp parameters to the range of the training
    data (unseen values outside it are treated as the nearest trained value; a learned
    parameter embedding extrapolates unpredictably). The bounds are saved with the model.
    """

    kind: Literal["cape_fno", "fno", "conditional_fno", "fno_2step"] = "cape_fno"
    width: PositiveInt = 24
    modes: PositiveInt = 12
    n_layers: PositiveInt = 4
    cape_hidden: PositiveInt = 16
    cape_modes: PositiveInt = 8
    param_scale: float = Field(default=1.0, gt=0)
    clamp_params: bool = True

    def solver_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`sciml.surrogates.neural_pde.factory.build_solver`
        (everything but ``kind`` and the workflow-level ``clamp_params``)."""
        return self.model_dump(exclude={"kind", "clamp_params"})


class TrainNeuralPDEStep(StrictModel):
    """Train a neural PDE solver on a dataset produced by an earlier step.

    ``train`` holds :class:`sciml.surrogates.neural_pde.training.TrainConfig` fields; the
    last ``val_fraction`` of the samples (after a seeded shuffle) are held out for validation.
    """

    kind: Literal["train_neural_pde"] = "train_neural_pde"
    name: str = "model"
    dataset: str = "data"
    model: NeuralPDEModelSpec = Field(default_factory=NeuralPDEModelSpec)
    train: dict[str, Any] = Field(default_factory=dict)
    parameters: list[str] | None = None
    x_factor: PositiveInt = 1
    t_stride: PositiveInt = 1
    val_fraction: float = Field(default=0.2, ge=0.0, lt=1.0)


class EvaluateNeuralPDEStep(StrictModel):
    """Roll a trained model out on a dataset: PDEBench metrics, rollout and error plots."""

    kind: Literal["evaluate_neural_pde"] = "evaluate_neural_pde"
    model: str = "model"
    dataset: str = "data"
    n_plot: PositiveInt = 3
    file: str = "evaluation"


# step models defined next to their runners (they import nothing from this module)
from sciml.workflows.mfbo_steps import MFBOStep  # noqa: E402
from sciml.workflows.probconserv_steps import ProbConservStudyStep  # noqa: E402

Step = Annotated[
    Union[GenerateStep, PlotTrajectoriesStep, SummaryStep, TrainNeuralPDEStep, EvaluateNeuralPDEStep, MFBOStep,
          ProbConservStudyStep],
    Field(discriminator="kind"),
]


class WorkflowSpec(StrictModel):
    """A workflow: named steps run in order, outputs under ``output_dir``."""

    name: str
    description: str = ""
    output_dir: str | None = None
    steps: list[Step] = Field(min_length=1)
