"""Step ``train_neural_pde``: train (or resume) a neural PDE solver on a dataset of the workflow.

The step records its model in ``ctx.models[name]`` (best checkpoint, specification, data
layout, time step), which :func:`load_trained_model` turns back into the trained module for
the steps that use it (``evaluate_neural_pde``, a trained source of ``mfbo``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveInt

from sciml.config import StrictModel, validate_config
from sciml.data.torch_dataset import open_trajectories
from sciml.surrogates.neural_pde.factory import build_solver
from sciml.surrogates.neural_pde.training import TrainConfig, Trainer, load_weights
from sciml.workflows.context import WorkflowContext
from sciml.workflows.step import WorkflowStep, require_dataset

__all__ = ["NeuralPDEModelSpec", "TrainNeuralPDEStep", "load_trained_model", "open_step_dataset"]

#: ``train`` fields that cannot change the trained weights (left out of the step's key).
_UNKEYED_TRAIN = frozenset({"progress", "num_workers"})


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


class TrainNeuralPDEStep(WorkflowStep):
    """Train a neural PDE solver on a dataset produced by an earlier step.

    ``train`` holds :class:`sciml.surrogates.neural_pde.training.TrainConfig` fields; the
    last ``val_fraction`` of the samples (after a seeded shuffle) are held out for validation.
    The checkpoints live in ``<output_dir>/<name>``; a rerun resumes an interrupted training of the
    same configuration on the same data (the workflow keys the folder by both; another key
    starts a fresh training).
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

    def check(self, ctx: WorkflowContext, index: int) -> None:
        """The ``train`` fields against ``TrainConfig``, and the dataset."""
        validate_config(dict(self.train), TrainConfig, source=f"{ctx.where(index)}.train")
        ctx.trained[self.name] = self.model
        require_dataset(ctx, index, self.dataset)

    def keyed_config(self, ctx: WorkflowContext, index: int) -> dict[str, Any]:
        """The step's fields; of ``train``, those that can change the weights (not ``progress``
        nor ``num_workers``)."""
        out = self.resolved(ctx, index)
        out["train"] = {k: v for k, v in out["train"].items() if k not in _UNKEYED_TRAIN}
        return out

    def inputs(self) -> dict[str, list[str]]:
        return {"datasets": [self.dataset]}

    def products(self) -> dict[str, list[str]]:
        return {"models": [self.name]}

    def outputs(self, ctx: WorkflowContext) -> list[Path]:
        """The run folder ``<name>`` (checkpoints, metrics)."""
        return [ctx.output_dir / self.name]

    def run(self, ctx: WorkflowContext, index: int) -> None:
        """Train (or resume training of) the model; keeps ``best.pt`` and ``last.pt``."""
        import torch
        from torch.utils.data import Subset

        data = open_step_dataset(ctx, self.dataset, parameters=self.parameters, x_factor=self.x_factor,
                                 t_stride=self.t_stride)
        config = TrainConfig(**self.train)
        order = np.random.default_rng(config.seed).permutation(len(data))
        n_val = int(round(self.val_fraction * len(data)))
        train = Subset(data, order[n_val:].tolist())
        val = Subset(data, order[:n_val].tolist()) if n_val else None
        bounds = None
        if self.model.clamp_params and data.n_params > 0:
            p = data.params[torch.as_tensor(order[n_val:])]  # the training part
            bounds = list(zip(p.min(dim=0).values.tolist(), p.max(dim=0).values.tolist(), strict=True))
        # initial weights from the training seed: the same workflow gives the same model in any process
        model = build_solver(self.model.kind, n_vars=data.n_vars, n_params=data.n_params, param_bounds=bounds,
                             seed=config.seed, **self.model.solver_kwargs())
        run_dir = ctx.output_dir / self.name
        resume = (run_dir / "last.pt").exists()
        ctx.log(f"[{self.name}] training {self.model.kind} on {len(train)} trajectories"
                f"{' (resuming)' if resume else ''} -> {run_dir}")
        result = Trainer(model, config, run_dir).fit(train, val, resume=resume)
        ctx.models[self.name] = {
            "checkpoint": result.best_checkpoint, "spec": self.model, "n_vars": data.n_vars,
            "n_params": data.n_params, "parameters": data.parameter_names,
            "x_factor": self.x_factor, "t_stride": self.t_stride,
            "dt": float(data.t[1] - data.t[0]) if len(data.t) > 1 else float("nan"),  # one model step
        }
        ctx.artefacts[self.name] = result.best_checkpoint
        ctx.log(f"[{self.name}] best epoch {result.best_epoch}: validation nRMSE {result.best_metric:.4g}")


def open_step_dataset(ctx: WorkflowContext, dataset: str, *, parameters: Any, x_factor: int, t_stride: int) -> Any:
    """A dataset of the workflow through the data layer: in memory when it fits, read lazily otherwise."""
    return open_trajectories(ctx.datasets[dataset], parameters=parameters, x_factor=x_factor, t_stride=t_stride)


def load_trained_model(info: dict[str, Any]) -> Any:
    """The model a ``train_neural_pde`` step recorded in ``ctx.models``: built from its spec, best
    weights loaded (parameter bounds included, they are buffers), in eval mode."""
    spec = info["spec"]
    model = build_solver(spec.kind, n_vars=info["n_vars"], n_params=info["n_params"], **spec.solver_kwargs())
    load_weights(model, info["checkpoint"])
    return model.eval()
