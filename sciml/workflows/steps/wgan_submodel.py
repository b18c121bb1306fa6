"""Workflow step ``wgan_submodel``: from a finite-element campaign to the UQ of a submodel driven by a WGAN-GP.

The study of Boukraichi, Akkari, Casenave and Ryckelynck (IFAC-PapersOnLine 2022) on the parts of
:mod:`sciml.studies.wgan_submodel` that ``sciml bench wgan`` strings together (its timings aside):

1. **campaign** — full-model runs of the plate with a hole through the executor
   (:func:`~sciml.studies.wgan_submodel.run_campaign`): a Latin-hypercube training set and an
   independent held-out set, kept as ``<output_dir>/<name>/train.nc`` and ``test.nc`` (chunks in
   ``<name>/campaign/`` while running), and offered to later steps as the datasets
   ``<name>_train`` and ``<name>_test``;
2. **generators** — one WGAN-GP per seed in ``wgan_seeds`` (``<name>/wgan/seed_<k>``, checkpointed:
   an interrupted training continues, a finished one is reloaded) and the Gaussian-PCA baseline,
   both conditioned on the material;
3. **distances** — sliced Wasserstein distance of generated to held-out histories per seed;
4. **submodel Monte Carlo** — ``n_mc`` materials, a history from each generator (the first seed's
   WGAN-GP and the Gaussian-PCA) and the submodel's QoIs, kept as ``<name>/mc_<source>.npz``;
5. ``<output_dir>/<file>.json`` (the step, the settings, the rows: campaign sizes, generators, SWD
   per seed, QoI estimates with 95 % intervals of both submodel Monte Carlo runs and of the full
   model on the held-out runs; atomically), ``<file>_histories.png``, ``<file>_qoi_histograms.png``
   and ``<file>_training.png``.

The campaigns are run by the step, not read from a ``generate`` step: the held-out reference and the
Monte Carlo materials are independent draws from the study's distribution (the QoI intervals are
those of i.i.d. samples), which no recipe design (list, grid, LHS, Sobol) gives, and the three
designs derive from one distribution and seed (:func:`~sciml.studies.wgan_submodel.parameter_draws`).

The sizes are the benchmark's quick (or full) ones, ``settings`` overrides any field of
:class:`~sciml.studies.wgan_submodel.WGANStudySettings` (nested fields merged).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from sciml.data.atomic import atomic_write_text
from sciml.executors import make_executor
from sciml.studies.wgan_submodel import (
    QOIS,
    WGANStudySettings,
    campaign_arrays,
    preset_settings,
    run_campaign,
)
from sciml.studies.wgan_submodel_stages import (
    FULL,
    GPCA,
    WGAN,
    campaign_rows,
    figures,
    mc_qois,
    qoi_rows,
    swd_rows,
    train_generators,
)
from sciml.workflows.context import WorkflowContext
from sciml.workflows.recipe import ExecutorSpec
from sciml.workflows.step import WorkflowStep
from sciml.workflows.step_settings import merge_settings, validate_step_settings

__all__ = ["FULL", "GPCA", "WGAN", "WGANSubmodelStep", "study_settings"]

Arrays = dict[str, np.ndarray]


def study_settings(step: WGANSubmodelStep, where: str = "wgan_submodel") -> WGANStudySettings:
    """The benchmark's quick or full settings (:func:`~sciml.studies.wgan_submodel.preset_settings`)
    with ``step.settings`` merged in, validated as :class:`~sciml.studies.wgan_submodel.WGANStudySettings`.

    Raises
    ------
    ConfigError
        One line per bad field, ``<where>.settings.<field>: <message>``.
    """
    base = preset_settings(step.quick).model_dump()
    return validate_step_settings(merge_settings(base, step.settings), WGANStudySettings, f"{where}.settings")


def _campaigns(s: WGANStudySettings, executor: Any, root: Path, say: Callable[[str], None]
               ) -> tuple[dict[str, Arrays], dict[str, float]]:
    """The training and held-out campaigns (run, resumed or reloaded in ``root``) as arrays."""
    data, seconds = {}, {}
    for split in ("train", "test"):
        reloaded = (root / f"{split}.nc").exists()
        t0 = time.perf_counter()
        ds = run_campaign(s, split, executor=executor, work_dir=root, log=None if reloaded else say)
        data[split], seconds[f"campaign_{split}"] = campaign_arrays(ds), time.perf_counter() - t0
        if reloaded:
            say(f"campaign {split}: {ds.sizes['sample']} full-model runs reloaded")
    return data, seconds


class WGANSubmodelStep(WorkflowStep):
    """Full-model campaign, WGAN-GP and Gaussian-PCA generators of interface histories, submodel Monte Carlo.

    Attributes
    ----------
    name : str
        Step name; the campaigns, trainings and Monte Carlo samples live in ``<output_dir>/<name>``,
        and the campaigns are the datasets ``<name>_train`` and ``<name>_test`` of later steps.
    quick : bool
        Start from the benchmark's quick settings (minutes on 2 CPU cores) or its full ones.
    settings : dict
        Overrides of any field of :class:`~sciml.studies.wgan_submodel.WGANStudySettings` (nested
        fields merged), e.g. ``{n_train: 200, wgan: {n_steps: 1500}}``.
    executor : executor spec, optional
        Where full-model chunks, trainings and submodel chunks run (default the settings'
        ``executor``; the workflow's executor overrides both).
    file : str
        Stem of the JSON and PNG files in the output folder.
    """

    kind: Literal["wgan_submodel"] = "wgan_submodel"
    name: str = "wgan_submodel"
    quick: bool = True
    settings: dict[str, Any] = Field(default_factory=dict)
    executor: ExecutorSpec | None = None
    file: str = "wgan_submodel"

    def check(self, ctx: WorkflowContext, index: int) -> None:
        """Validate the settings; record the campaign datasets."""
        study_settings(self, ctx.where(index))
        ctx.produced.update(self.products()["datasets"])

    def keyed_config(self, ctx: WorkflowContext, index: int) -> dict[str, Any]:
        """The step and its resolved settings, without the executors (they do not change the outputs)."""
        s = study_settings(self, ctx.where(index)).model_dump(mode="json", exclude={"executor"})
        return {**self.model_dump(mode="json", exclude={"executor", "settings"}), "settings": s}

    def products(self) -> dict[str, list[str]]:
        return {"datasets": [f"{self.name}_train", f"{self.name}_test"]}

    def outputs(self, ctx: WorkflowContext) -> list[Path]:
        """The work folder ``<name>``, ``<file>.json`` and the three plots."""
        out = ctx.output_dir
        return [out / self.name, *(out / f"{self.file}{x}" for x in
                                   (".json", "_histories.png", "_qoi_histograms.png", "_training.png"))]

    def run(self, ctx: WorkflowContext, index: int) -> None:
        """Run (or resume, or reload) every stage; write ``<file>.json`` and the plots."""
        s = study_settings(self, ctx.where(index))
        root = ctx.output_dir / self.name
        root.mkdir(parents=True, exist_ok=True)

        def say(message: str) -> None:
            ctx.log(f"[{self.name}] {message}")

        with make_executor(ctx.executor_config(self.executor, default=s.executor)) as executor:
            data, seconds = _campaigns(s, executor, root, say)
            for split in ("train", "test"):
                ctx.datasets[f"{self.name}_{split}"] = ctx.artefacts[f"dataset:{self.name}_{split}"] = \
                    root / f"{split}.nc"
            t0 = time.perf_counter()
            gans, gpca, generator_rows = train_generators(s, data["train"], executor, root, say)
            seconds["generators"] = time.perf_counter() - t0
            swd, draws = swd_rows(s, gans, gpca, data["train"], data["test"])
            t0 = time.perf_counter()
            shape = data["test"]["histories"].shape[1:]
            runs = {name: mc_qois(s, name, gen, executor, root, shape)
                    for name, gen in ((WGAN, gans[s.wgan_seeds[0]]), (GPCA, gpca))}
            seconds["submodel_mc"] = time.perf_counter() - t0
        mc = {name: values for name, (values, _) in runs.items()}
        say(f"submodel Monte Carlo: {s.n_mc} sample(s) per generator "
            f"({sum(reloaded for _, reloaded in runs.values())} of 2 reloaded)")
        rows = [*campaign_rows(data), *generator_rows, *swd, *qoi_rows(s, data["train"], data["test"], mc)]
        self._write(ctx, s, rows, seconds, figures(ctx.output_dir, f"{self.file}_", s, data["test"], draws, mc, gans))

    def _write(self, ctx: WorkflowContext, s: WGANStudySettings, rows: list[dict[str, Any]],
               seconds: Mapping[str, float], plots: Mapping[str, Path]) -> None:
        summary = {"step": self.model_dump(mode="json"), "settings": s.model_dump(mode="json"),
                   "interface_points": s.interface_points, "rows": rows, "wall_s": dict(seconds)}
        path = atomic_write_text(ctx.output_dir / f"{self.file}.json",
                                 json.dumps(summary, indent=1, default=str) + "\n")
        ctx.artefacts[f"wgan_submodel:{self.file}"] = path
        ctx.artefacts.update({f"plot:{self.file}_{k}": p for k, p in plots.items()})
        by = {(r["qoi"], r["source"]): r for r in rows if r["stage"] == "qoi"}
        swd = {r["model"]: r["swd_mean"] for r in rows if r["stage"] == "swd"}
        ctx.log(f"[{self.name}] mean relative error of the WGAN-driven submodel: "
                + ", ".join(f"{q} {by[(q, WGAN)]['mean_rel_error']:.3g}" for q in QOIS)
                + f"; SWD WGAN-GP {swd['wgan_gp']:.3g}, Gaussian-PCA {swd['gaussian_pca']:.3g}; wrote {path.name}")
