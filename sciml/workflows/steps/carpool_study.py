"""Workflow step ``carpool_study``: CARPool for the matter power spectrum, PM paired with 2LPT / Zel'dovich.

The study of Chartier, Wandelt, Akrami and Villaescusa-Navarro (MNRAS 503 (2021) 1897) on the parts
of :mod:`sciml.studies.carpool` that ``sciml bench carpool`` strings together (its checks aside),
through the shared rows and figures of :mod:`sciml.studies.carpool_stages`:

1. **runs** — the sets of :func:`~sciml.studies.carpool.run_set` through the executor: ``n_pool``
   paired PM / cheap runs, ``n_truth`` PM runs (the large-N truth), ``n_cheap`` independent cheap
   runs (``mu_c``); the chunks are kept in ``<output_dir>/<name>/runs/``, so an interrupted run
   makes only the missing ones and a finished one is only reloaded;
2. **estimators** — per cheap simulator and pair count ``N``, the variance reduction per k-bin of
   CARPool against the plain mean of ``N`` PM runs (pooled formula and empirical over disjoint
   groups), the bias against the truth in sigma and the CPU seconds at equal accuracy
   (:func:`~sciml.studies.carpool_stages.carpool_rows`);
3. with ``burgers: true``, the Burgers/CAPE pair of :func:`~sciml.studies.carpool_burgers.burgers_cape_pair`
   (its surrogate kept in ``<name>/burgers/``, its rows in ``<name>/burgers_rows.json``);
4. ``<output_dir>/<file>.json`` (the step, the settings, the rows; atomically),
   ``<file>_variance_reduction.png`` (the CARPool figure: variance reduction against k per ``N``
   and cheap simulator, the factor-1 line, ``k_max`` and half the particle Nyquist wavenumber) and
   ``<file>_power_ratio.png`` (P(k) over the truth with one-sigma bands).

The sizes are the benchmark's quick (or full) ones; ``settings`` overrides any field of
:class:`~sciml.studies.carpool.CARPoolStudySettings` but ``run_burgers`` (the step's ``burgers``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from sciml.data.atomic import atomic_write_text
from sciml.errors import ConfigError
from sciml.executors import make_executor
from sciml.studies.carpool import CARPoolStudySettings, preset_settings
from sciml.studies.carpool_burgers import BurgersCarpoolSettings
from sciml.studies.carpool_burgers import preset_settings as burgers_preset
from sciml.studies.carpool_burgers import burgers_cape_pair
from sciml.studies.carpool_stages import SHORT, carpool_rows, figures, run_rows, run_sets
from sciml.workflows.context import WorkflowContext
from sciml.workflows.recipe import ExecutorSpec
from sciml.workflows.step import WorkflowStep
from sciml.workflows.step_settings import merge_settings, validate_step_settings

__all__ = ["CARPoolStudyStep", "study_settings"]


def study_settings(step: CARPoolStudyStep, where: str = "carpool_study") -> CARPoolStudySettings:
    """The benchmark's quick or full settings (:func:`~sciml.studies.carpool.preset_settings`) with
    ``step.settings`` merged in and ``run_burgers = step.burgers``, validated as
    :class:`~sciml.studies.carpool.CARPoolStudySettings` (with ``burgers: true``, the Burgers/CAPE
    settings too, as :func:`sciml.studies.carpool_burgers.as_settings` of the step's ``quick``).

    Raises
    ------
    ConfigError
        One line per bad field, ``<where>.settings.<field>: <message>`` (Burgers fields as
        ``<where>.settings.burgers.<field>``); ``settings.run_burgers`` given.
    """
    if "run_burgers" in step.settings:
        raise ConfigError(f"{where}.settings.run_burgers: not a setting of this step; set the step's field "
                          f"'burgers' (true or false) instead")
    base = preset_settings(step.quick).model_dump()
    s = validate_step_settings(merge_settings(base, {**step.settings, "run_burgers": step.burgers}),
                               CARPoolStudySettings, f"{where}.settings")
    if step.burgers:
        validate_step_settings(merge_settings(burgers_preset(step.quick).model_dump(), s.burgers or {}),
                               BurgersCarpoolSettings, f"{where}.settings.burgers")
    return s


class CARPoolStudyStep(WorkflowStep):
    """Paired PM / cheap runs, the large-N truth, the cheap runs for ``mu_c``; CARPool's variance reduction vs k.

    Attributes
    ----------
    name : str
        Step name; the runs live in ``<output_dir>/<name>``.
    quick : bool
        Start from the benchmark's quick settings (32^3 particles) or its full ones.
    settings : dict
        Overrides of any field of :class:`~sciml.studies.carpool.CARPoolStudySettings` but
        ``run_burgers``, e.g. ``{n_particles: 16, n_pairs: [5, 10], n_pool: 60}``.
    burgers : bool
        Add the Burgers/CAPE pair's rows (a CAPE-FNO as the control variate of the Burgers solver;
        its settings are ``settings.burgers``).
    executor : executor spec, optional
        Where the chunks of runs go (default the settings' ``executor``; the workflow's executor
        overrides both).
    file : str
        Stem of the JSON and PNG files in the output folder.
    """

    kind: Literal["carpool_study"] = "carpool_study"
    name: str = "carpool"
    quick: bool = True
    settings: dict[str, Any] = Field(default_factory=dict)
    burgers: bool = False
    executor: ExecutorSpec | None = None
    file: str = "carpool"

    def check(self, ctx: WorkflowContext, index: int) -> None:
        """Validate the settings before any work."""
        study_settings(self, ctx.where(index))

    def keyed_config(self, ctx: WorkflowContext, index: int) -> dict[str, Any]:
        """The step and its resolved settings, without the executors (they do not change the outputs)."""
        s = study_settings(self, ctx.where(index)).model_dump(mode="json", exclude={"executor"})
        return {**self.model_dump(mode="json", exclude={"executor", "settings"}), "settings": s}

    def outputs(self, ctx: WorkflowContext) -> list[Path]:
        """The work folder ``<name>``, ``<file>.json`` and the two plots."""
        out = ctx.output_dir
        return [out / self.name, *(out / f"{self.file}{x}" for x in
                                   (".json", "_variance_reduction.png", "_power_ratio.png"))]

    def _burgers_rows(self, s: CARPoolStudySettings, executor: Any, root: Path,
                      say: Callable[[str], None]) -> list[dict[str, Any]]:
        """The Burgers/CAPE pair's rows, kept in ``root/burgers_rows.json`` (reloaded when there)."""
        if not self.burgers:
            return []
        path = root / "burgers_rows.json"
        if path.exists():
            say("burgers_cape: rows reloaded")
            return json.loads(path.read_text())
        rows = [dict(r) for r in burgers_cape_pair(s.burgers, quick=self.quick, executor=executor,
                                                   work_dir=root / "burgers", log=say)]
        atomic_write_text(path, json.dumps(rows, indent=1, default=float) + "\n")
        return json.loads(path.read_text())  # as a rerun reads them

    def run(self, ctx: WorkflowContext, index: int) -> None:
        """Run (or resume, or reload) the sets of runs; write ``<file>.json`` and the plots."""
        s = study_settings(self, ctx.where(index))
        root = ctx.output_dir / self.name
        root.mkdir(parents=True, exist_ok=True)

        def say(message: str) -> None:
            ctx.log(f"[{self.name}] {message}")

        with make_executor(ctx.executor_config(self.executor, default=s.executor)) as executor:
            runs, seconds = run_sets(s, executor, root, say)
            rows = [*run_rows(runs), *carpool_rows(s, runs)]
            rows += self._burgers_rows(s, executor, root, say)
        for r in rows:
            if r["stage"] == "carpool":
                say(f"{SHORT[r['cheap']]} N={int(r['n_pairs'])}: variance reduction >= {r['vr_min_k_lt_kmax']:.3g} "
                    f"for k < {s.k_max:g} h/Mpc, bias {r['bias_band_sigma']:+.2f} sigma")
        plots = figures(ctx.output_dir, s, rows, prefix=f"{self.file}_")
        summary = {"step": self.model_dump(mode="json"), "settings": s.model_dump(mode="json"),
                   "k_half_nyquist": s.k_half_nyquist, "rows": rows,
                   "runs_made_now": {w: float(r["n_new"]) for w, r in runs.items()}, "wall_s": seconds}
        path = atomic_write_text(ctx.output_dir / f"{self.file}.json",
                                 json.dumps(summary, indent=1, default=str) + "\n")
        ctx.artefacts[f"carpool_study:{self.file}"] = path
        ctx.artefacts.update({f"plot:{self.file}_{k}": p for k, p in plots.items()})
        say(f"wrote {path.name}, {plots['variance_reduction'].name}, {plots['power_ratio'].name}")
