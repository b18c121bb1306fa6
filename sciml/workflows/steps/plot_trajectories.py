"""Step ``plot_trajectories``: space-time images and final profiles of a few trajectories."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import PositiveInt

from sciml.data.netcdf import open_dataset
from sciml.viz.trajectories import plot_trajectories
from sciml.workflows.context import WorkflowContext
from sciml.workflows.step import WorkflowStep, require_dataset

__all__ = ["PlotTrajectoriesStep"]


class PlotTrajectoriesStep(WorkflowStep):
    """Plot a few trajectories of a dataset (space-time images and final profiles)."""

    kind: Literal["plot_trajectories"] = "plot_trajectories"
    dataset: str = "data"
    n: PositiveInt = 4
    file: str = "trajectories.png"

    def check(self, ctx: WorkflowContext, index: int) -> None:
        require_dataset(ctx, index, self.dataset)

    def inputs(self) -> dict[str, list[str]]:
        return {"datasets": [self.dataset]}

    def outputs(self, ctx: WorkflowContext) -> list[Path]:
        return [ctx.output_dir / self.file]

    def run(self, ctx: WorkflowContext, index: int) -> None:
        out = ctx.output_dir / self.file
        with open_dataset(ctx.datasets[self.dataset]) as ds:
            plot_trajectories(ds, out, n=self.n)
        ctx.log(f"[plot] {out}")
        ctx.artefacts[f"plot:{self.file}"] = out
