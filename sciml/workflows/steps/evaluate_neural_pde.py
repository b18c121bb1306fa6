"""Step ``evaluate_neural_pde``: full rollouts of a trained model on a dataset, PDEBench metrics and plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import PositiveInt

from sciml.data.atomic import atomic_write_text
from sciml.errors import ConfigError
from sciml.uq.pde_metrics import accumulate_rollouts
from sciml.viz.rollouts import plot_error_vs_time, plot_rollouts
from sciml.workflows.context import WorkflowContext
from sciml.workflows.step import WorkflowStep, require_dataset
from sciml.workflows.steps.train_neural_pde import load_trained_model, open_step_dataset

__all__ = ["EvaluateNeuralPDEStep"]

#: trajectories per rollout batch when a dataset is read lazily from disk
_LAZY_BATCH = 64


class EvaluateNeuralPDEStep(WorkflowStep):
    """Roll a trained model out on a dataset: PDEBench metrics, rollout and error plots.

    Writes ``<file>.json`` (:func:`sciml.uq.pde_metrics.compute_metrics`' keys and the nRMSE per
    frame), ``<file>_rollouts.png`` and ``<file>_error_vs_time.png``.
    """

    kind: Literal["evaluate_neural_pde"] = "evaluate_neural_pde"
    model: str = "model"
    dataset: str = "data"
    n_plot: PositiveInt = 3
    file: str = "evaluation"

    def check(self, ctx: WorkflowContext, index: int) -> None:
        if self.model not in ctx.trained:
            raise ConfigError(f"{ctx.where(index)}.model: {self.model!r} is not trained by an earlier step; "
                              f"available: {sorted(ctx.trained)}")
        require_dataset(ctx, index, self.dataset)

    def inputs(self) -> dict[str, list[str]]:
        return {"datasets": [self.dataset], "models": [self.model]}

    def outputs(self, ctx: WorkflowContext) -> list[Path]:
        """``<file>.json``, ``<file>_rollouts.png`` and ``<file>_error_vs_time.png``."""
        return [ctx.output_dir / f"{self.file}{suffix}" for suffix in (".json", "_rollouts.png", "_error_vs_time.png")]

    def run(self, ctx: WorkflowContext, index: int) -> None:
        info = ctx.models[self.model]
        data = open_step_dataset(ctx, self.dataset, parameters=info["parameters"], x_factor=info["x_factor"],
                                 t_stride=info["t_stride"])
        model = load_trained_model(info)
        k = model.initial_step
        picks = np.linspace(0, len(data) - 1, min(self.n_plot, len(data))).round().astype(int)
        acc, kept = accumulate_rollouts(model, data, skip_initial=k, keep=picks,
                                        batch_size=max(len(data), 1) if data.in_memory else _LAZY_BATCH)
        true = np.stack([kept[int(i)][0][0].numpy() for i in picks])
        pred = np.stack([kept[int(i)][1][0].numpy() for i in picks])
        metrics: dict[str, Any] = acc.compute()
        curve = acc.error_vs_time().numpy()
        metrics["error_vs_time"] = {"t": data.t[k:].tolist(), "nrmse_frame": curve.tolist()}
        out = ctx.output_dir
        atomic_write_text(out / f"{self.file}.json", json.dumps(metrics, indent=2) + "\n")
        labels = [", ".join(f"{n}={float(v):.3g}" for n, v in zip(data.parameter_names, data.params[i].tolist()))
                  for i in picks]
        plot_rollouts(true, pred, out / f"{self.file}_rollouts.png", x=data.x, t=data.t, labels=labels)
        plot_error_vs_time(data.t, {self.model: curve}, out / f"{self.file}_error_vs_time.png")
        ctx.artefacts[f"evaluation:{self.file}"] = out / f"{self.file}.json"
        ctx.log(f"[evaluate] {self.model} on {self.dataset}: nRMSE {metrics['nrmse']:.4g}, "
                f"RMSE {metrics['rmse']:.4g}, max error {metrics['max_error']:.4g}")
