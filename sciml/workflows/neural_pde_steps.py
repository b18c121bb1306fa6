"""Workflow steps that train and evaluate neural PDE solvers (``train_neural_pde``,
``evaluate_neural_pde``); registered in :data:`sciml.workflows.runner.STEP_RUNNERS`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from sciml.data.atomic import atomic_write_text
from sciml.workflows.spec import EvaluateNeuralPDEStep, TrainNeuralPDEStep

if TYPE_CHECKING:  # pragma: no cover
    from sciml.workflows.runner import WorkflowContext

#: trajectories per rollout batch when a dataset is read lazily from disk
_LAZY_BATCH = 64


def check_train_config(step: TrainNeuralPDEStep, where: str) -> None:
    """Validate the step's ``train`` fields against ``TrainConfig`` (before any work)."""
    from sciml.surrogates.neural_pde.training import TrainConfig
    from sciml.config import validate_config

    validate_config(dict(step.train), TrainConfig, source=f"{where}.train")


def _load(step_dataset: str, ctx: WorkflowContext, *, parameters, x_factor: int, t_stride: int):
    """The step's dataset through the data layer: in memory when it fits, read lazily otherwise."""
    from sciml.data.torch_dataset import open_trajectories

    return open_trajectories(ctx.datasets[step_dataset], parameters=parameters, x_factor=x_factor,
                             t_stride=t_stride)


def run_train(step: TrainNeuralPDEStep, index: int, ctx: WorkflowContext) -> None:
    """Train (or resume training of) the step's model; keeps ``best.pt`` and ``last.pt``."""
    import torch
    from torch.utils.data import Subset

    from sciml.surrogates.neural_pde.factory import build_solver
    from sciml.surrogates.neural_pde.training import Trainer, TrainConfig

    data = _load(step.dataset, ctx, parameters=step.parameters, x_factor=step.x_factor, t_stride=step.t_stride)
    config = TrainConfig(**step.train)
    order = np.random.default_rng(config.seed).permutation(len(data))
    n_val = int(round(step.val_fraction * len(data)))
    train = Subset(data, order[n_val:].tolist())
    val = Subset(data, order[:n_val].tolist()) if n_val else None
    bounds = None
    if step.model.clamp_params and data.n_params > 0:
        p = data.params[torch.as_tensor(order[n_val:])]  # the training part
        bounds = list(zip(p.min(dim=0).values.tolist(), p.max(dim=0).values.tolist(), strict=True))
    # initial weights from the training seed: the same workflow gives the same model in any process
    model = build_solver(step.model.kind, n_vars=data.n_vars, n_params=data.n_params, param_bounds=bounds,
                         seed=config.seed, **step.model.solver_kwargs())
    run_dir = ctx.output_dir / step.name
    resume = (run_dir / "last.pt").exists()
    ctx.log(f"[{step.name}] training {step.model.kind} on {len(train)} trajectories"
            f"{' (resuming)' if resume else ''} -> {run_dir}")
    result = Trainer(model, config, run_dir).fit(train, val, resume=resume)
    ctx.models[step.name] = {
        "checkpoint": result.best_checkpoint, "spec": step.model, "n_vars": data.n_vars,
        "n_params": data.n_params, "parameters": data.parameter_names,
        "x_factor": step.x_factor, "t_stride": step.t_stride,
        "dt": float(data.t[1] - data.t[0]) if len(data.t) > 1 else float("nan"),  # one model step
    }
    ctx.artefacts[step.name] = result.best_checkpoint
    ctx.log(f"[{step.name}] best epoch {result.best_epoch}: validation nRMSE {result.best_metric:.4g}")


def load_trained_model(info: dict[str, Any]) -> Any:
    """The model a ``train_neural_pde`` step recorded in ``ctx.models``: built from its spec, best
    weights loaded (parameter bounds included, they are buffers), in eval mode."""
    from sciml.surrogates.neural_pde.factory import build_solver
    from sciml.surrogates.neural_pde.training import load_weights

    spec = info["spec"]
    model = build_solver(spec.kind, n_vars=info["n_vars"], n_params=info["n_params"], **spec.solver_kwargs())
    load_weights(model, info["checkpoint"])
    return model.eval()


def run_evaluate(step: EvaluateNeuralPDEStep, index: int, ctx: WorkflowContext) -> None:
    """Full autoregressive rollouts on a dataset: metrics JSON, rollout and error plots."""
    from sciml.uq.pde_metrics import accumulate_rollouts
    from sciml.viz.rollouts import plot_error_vs_time, plot_rollouts

    info = ctx.models[step.model]
    data = _load(step.dataset, ctx, parameters=info["parameters"], x_factor=info["x_factor"],
                 t_stride=info["t_stride"])
    model = load_trained_model(info)
    k = model.initial_step
    picks = np.linspace(0, len(data) - 1, min(step.n_plot, len(data))).round().astype(int)
    acc, kept = accumulate_rollouts(model, data, skip_initial=k, keep=picks,
                                    batch_size=max(len(data), 1) if data.in_memory else _LAZY_BATCH)
    true = np.stack([kept[int(i)][0][0].numpy() for i in picks])
    pred = np.stack([kept[int(i)][1][0].numpy() for i in picks])
    metrics: dict[str, Any] = acc.compute()
    curve = acc.error_vs_time().numpy()
    metrics["error_vs_time"] = {"t": data.t[k:].tolist(), "nrmse_frame": curve.tolist()}
    out = ctx.output_dir
    atomic_write_text(out / f"{step.file}.json", json.dumps(metrics, indent=2) + "\n")
    labels = [", ".join(f"{n}={float(v):.3g}" for n, v in zip(data.parameter_names, data.params[i].tolist()))
              for i in picks]
    plot_rollouts(true, pred, out / f"{step.file}_rollouts.png", x=data.x, t=data.t, labels=labels)
    plot_error_vs_time(data.t, {step.model: curve}, out / f"{step.file}_error_vs_time.png")
    ctx.artefacts[f"evaluation:{step.file}"] = out / f"{step.file}.json"
    ctx.log(f"[evaluate] {step.model} on {step.dataset}: nRMSE {metrics['nrmse']:.4g}, "
            f"RMSE {metrics['rmse']:.4g}, max error {metrics['max_error']:.4g}")
