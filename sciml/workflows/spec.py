"""Configuration models (pydantic) and their YAML loader.

The pydantic models here are the source of truth for the YAML files under ``datasets/``
and ``workflows/``. :func:`load_config` reads a file with ``yaml.safe_load`` and validates
it; every error names the file, the field and the accepted values, and nothing is written
when a configuration is invalid.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union

import yaml
from pydantic import BaseModel, Field, PositiveInt, ValidationError

from sciml.errors import ConfigError
from sciml.workflows.strict import StrictModel


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
    Union[InProcessExecutorSpec, DaskExecutorSpec, SlurmExecutorSpec], Field(discriminator="kind")
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


# --------------------------------------------------------------------------- loading
M = TypeVar("M", bound=BaseModel)


def load_config(path: str | Path, model: type[M]) -> M:
    """Read a YAML file and validate it against ``model``.

    Raises
    ------
    ConfigError
        Missing or unreadable file, invalid YAML, or validation errors; the message names
        the file, each bad field (dotted path) and the accepted values.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return validate_config(data, model, source=str(path))


def validate_config(data: dict[str, Any], model: type[M], *, source: str) -> M:
    """Validate a mapping against ``model``; errors name ``source``, field and accepted values."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, model, source)) from None


def format_validation_error(exc: ValidationError, model: type[BaseModel], source: str) -> str:
    """Render a pydantic error as ``source: field a.b.c: message (accepted: ...)`` lines."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            parent = _model_at(model, err["loc"][:-1])
            accepted = sorted(parent.model_fields) if parent is not None else []
            msg = f"unknown field {str(err['loc'][-1])!r}" + (f"; accepted fields: {accepted}" if accepted else "")
        elif err["type"] == "missing":
            msg = "field required"
        elif "input" in err and err["type"] not in ("union_tag_invalid",):
            msg = f"{msg} (got {err['input']!r})"
        lines.append(f"{source}: field {loc}: {msg}")
    return "\n".join(lines)


def _model_at(model: Any, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class reached by following ``loc`` from ``model`` (or None)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current, part)
        if current is None:
            return None
    current = _unwrap(current, None)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(tp: Any, part: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _unwrap(typing.get_args(tp)[0], part)
    if origin in (Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        for m in members:
            kind = getattr(m, "model_fields", {}).get("kind")
            if kind is not None and part is not None and part in typing.get_args(kind.annotation):
                return m
        if len(members) == 1:
            return _unwrap(members[0], part)
        return None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if part is None:
            return tp
        field = tp.model_fields.get(str(part))
        return field.annotation if field is not None else None
    if origin in (list, tuple, dict):
        args = typing.get_args(tp)
        return args[-1] if args else None
    return tp if part is None else None
