"""Step ``summary``: a JSON and Markdown summary of a dataset (shapes, parameters, statistics)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from sciml.data.atomic import atomic_write_text
from sciml.data.describe import format_summary, summarize
from sciml.data.netcdf import open_dataset
from sciml.workflows.context import WorkflowContext
from sciml.workflows.step import WorkflowStep, require_dataset

__all__ = ["SummaryStep"]


class SummaryStep(WorkflowStep):
    """Write a JSON and Markdown summary of a dataset (shapes, parameters, statistics)."""

    kind: Literal["summary"] = "summary"
    dataset: str = "data"
    file: str = "summary"

    def check(self, ctx: WorkflowContext, index: int) -> None:
        require_dataset(ctx, index, self.dataset)

    def inputs(self) -> dict[str, list[str]]:
        return {"datasets": [self.dataset]}

    def outputs(self, ctx: WorkflowContext) -> list[Path]:
        return [ctx.output_dir / f"{self.file}.json", ctx.output_dir / f"{self.file}.md"]

    def run(self, ctx: WorkflowContext, index: int) -> None:
        with open_dataset(ctx.datasets[self.dataset]) as ds:
            summary = summarize(ds)
        json_path = ctx.output_dir / f"{self.file}.json"
        md_path = ctx.output_dir / f"{self.file}.md"
        atomic_write_text(json_path, json.dumps(summary, indent=2) + "\n")
        text = format_summary(summary, path=ctx.datasets[self.dataset])
        atomic_write_text(md_path, f"# {ctx.name}: {self.dataset}\n\n```\n{text}\n```\n")
        ctx.log(f"[summary] {json_path}")
        ctx.log(text)
        ctx.artefacts[f"summary:{self.file}"] = json_path
