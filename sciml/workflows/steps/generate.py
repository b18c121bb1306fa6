"""Step ``generate``: run a dataset recipe (a file or inline) into ``<output_dir>/<name>.nc``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from sciml.config import load_config
from sciml.errors import ConfigError
from sciml.workflows.campaign import generate, parts_dir_for, plan_campaign
from sciml.workflows.context import WorkflowContext
from sciml.workflows.recipe import DatasetRecipe, ExecutorSpec
from sciml.workflows.step import WorkflowStep

__all__ = ["GenerateStep"]


class GenerateStep(WorkflowStep):
    """Generate a dataset from a recipe file (relative to the workflow) or inline.

    A rerun skips the step when its output exists and was made by the same recipe, so an
    interrupted workflow resumes where it stopped. The output is keyed by the recipe (its
    ``output`` and ``executor`` aside: the workflow names the file, and the executor does not
    change the data) and the code (:func:`sciml.workflows.runner.run_step`); a changed key
    removes ``<name>.nc`` and its ``<name>.nc.parts`` first. The file itself is what
    ``sciml data generate`` writes for the recipe.
    """

    kind: Literal["generate"] = "generate"
    name: str = "data"
    recipe: str | None = None
    inline: DatasetRecipe | None = None
    executor: ExecutorSpec | None = None

    def _recipe(self, ctx: WorkflowContext, index: int) -> DatasetRecipe:
        if (self.recipe is None) == (self.inline is None):
            raise ConfigError(f"{ctx.where(index)}: give exactly one of 'recipe' (a file) or 'inline' (a recipe)")
        if self.inline is not None:
            return self.inline
        path = Path(self.recipe)
        return load_config(path if path.is_absolute() else ctx.base_dir / path, DatasetRecipe)

    def check(self, ctx: WorkflowContext, index: int) -> None:
        """Load and plan the recipe (simulator, options, every design point) without running it."""
        recipe = self._recipe(ctx, index)
        plan_campaign(recipe, source=str(self.recipe or f"{ctx.source}: steps.{index}.inline"),
                      output=ctx.output_dir / f"{self.name}.nc")
        ctx.recipes[index] = recipe
        ctx.produced.add(self.name)

    def run(self, ctx: WorkflowContext, index: int) -> None:
        recipe = ctx.recipes[index]
        out = ctx.output_dir / f"{self.name}.nc"
        if out.exists() and _same_recipe(out, recipe):
            ctx.log(f"[{self.name}] {out} is up to date; skipped")
        else:
            executor = ctx.executor_config(self.executor)
            ctx.log(f"[{self.name}] generating {recipe.name} -> {out}")
            generate(recipe, output=out, executor=executor, overwrite=True)
        ctx.datasets[self.name] = out
        ctx.artefacts[self.name] = out

    def resolved(self, ctx: WorkflowContext, index: int) -> dict[str, Any]:
        """The step with its recipe inlined."""
        return {**self.model_dump(mode="json"), "inline": ctx.recipes[index].model_dump(mode="json")}

    def keyed_config(self, ctx: WorkflowContext, index: int) -> dict[str, Any]:
        """The name and the inlined recipe, without the executors, the recipe's file and its ``output``."""
        recipe = ctx.recipes[index].model_dump(mode="json", exclude={"output", "executor"})
        return {"kind": self.kind, "name": self.name, "recipe": recipe}

    def products(self) -> dict[str, list[str]]:
        return {"datasets": [self.name]}

    def outputs(self, ctx: WorkflowContext) -> list[Path]:
        """``<name>.nc`` and the campaign's part files ``<name>.nc.parts`` (not its lock file)."""
        out = ctx.output_dir / f"{self.name}.nc"
        return [out, parts_dir_for(out)]


def _same_recipe(path: Path, recipe: DatasetRecipe) -> bool:
    """Whether the dataset at ``path`` was made by ``recipe`` (its output and executor aside)."""
    from sciml.data.netcdf import open_dataset

    try:
        with open_dataset(path) as ds:
            stored = json.loads(ds.attrs["parameters"])["recipe"]
    except Exception:  # noqa: BLE001 - any unreadable output is regenerated
        return False
    current = recipe.model_dump(mode="json")
    keys = set(current) - {"output", "executor"}
    return all(stored.get(k) == current[k] for k in keys)
