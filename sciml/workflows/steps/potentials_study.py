"""Workflow step ``potentials_study``: Bayesian neural-network potentials from reference MD to an RDF band.

The study of Thaler, Doehner and Zavadlav (JCTC 2023) for one system (the Lennard-Jones fluid,
``system: lj``), on the parts of :mod:`sciml.studies.potentials` that ``sciml bench potentials``
strings together:

1. reference MD (three independent runs: train, validation, test), kept as
   ``<output_dir>/<name>/reference.nc``;
2. a deep ensemble of SchNet potentials (MAP members from different seeds) in
   ``<name>/members/member_<m>``, then one SG-MCMC chain from each member in
   ``<name>/chains/chain_<c>``; every run checkpoints and keeps its weight samples there, so an
   interrupted step resumes where it stopped and a finished one is only reloaded;
3. force-uncertainty metrics on the test frames for the ensemble, all chains and one chain,
   before and after recalibration (one variance scale fitted on the validation frames);
4. MD with ``md_samples`` posterior samples spread over the chains, all replicas in one batched
   run (:func:`~sciml.surrogates.potentials.batched_md.run_posterior_md`; kept as
   ``<name>/posterior_md.nc``), and the reference RDF against the samples' 95 % band;
5. ``<output_dir>/<file>.json`` (the step, the settings, the training runs, the rows and the
   RDF band; atomically), ``<file>_calibration.png`` and ``<file>_rdf.png``.

The sizes are the benchmark's quick (or full) ones; the step's fields override the seed, the
ensemble size, the run lengths and the posterior MD, and ``settings`` any other field of
:class:`~sciml.studies.potentials.PotentialStudySettings` (nested fields merged).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import xarray as xr
from pydantic import Field, NonNegativeInt, PositiveInt, ValidationError, field_validator

from sciml.data import open_dataset, save
from sciml.data.atomic import atomic_write_text
from sciml.errors import ConfigError, ParameterError
from sciml.executors import InProcessExecutor, make_executor
from sciml.fingerprint import stable_hash
from sciml.simulators.md.driver import import_ase
from sciml.simulators.registry import build_simulator
from sciml.studies.potentials import (
    POSTERIOR_MD_SIZES,
    PotentialModelFactory,
    PotentialStudySettings,
    chain_subset,
    force_errors,
    force_predictions,
    frames_summary,
    log_posterior,
    model_factory,
    preset_settings,
    rdf_band,
    spread_samples,
    uncertainty_metrics,
)
from sciml.surrogates.potentials import FrameDataset
from sciml.surrogates.potentials.batched_md import run_posterior_md
from sciml.surrogates.sgmcmc import ChainConfig, ChainResult, WeightSamples, run_chain, train_ensemble
from sciml.surrogates.training import LoopResult
from sciml.uq.calibration import calibration_curve
from sciml.viz.potentials import plot_calibration_curves, plot_rdf_band
from sciml.workflows.context import WorkflowContext
from sciml.workflows.recipe import ExecutorSpec
from sciml.workflows.step import WorkflowStep
from sciml.workflows.step_settings import merge_settings, validate_step_settings

__all__ = ["SYSTEMS", "PotentialsStudyStep", "base_settings", "check_step", "md_settings", "study_settings"]

#: The systems of the step (the benchmark's reference simulator of each).
SYSTEMS: dict[str, str] = {"lj": "lj_fluid"}

#: Fields of the study settings that the step sets through its own fields (refused in ``settings``).
OWN_FIELDS: dict[tuple[str, ...], str] = {
    ("seed",): "seed", ("n_members",): "n_members", ("member", "seed"): "seed", ("chain", "seed"): "seed",
    ("member", "n_steps"): "member_steps", ("chain", "n_steps"): "chain_steps",
    ("chain", "burn_in"): "chain_burn_in", ("chain", "thin"): "chain_thin",
}

_TAG = "potentials_study_key"


def base_settings(system: str, quick: bool) -> PotentialStudySettings:
    """The benchmark's quick or full study settings of ``system``
    (:func:`~sciml.studies.potentials.preset_settings`).

    Raises
    ------
    ConfigError
        An unknown system (the accepted ones are listed).
    """
    if system not in SYSTEMS:
        raise ConfigError(f"unknown system {system!r}; accepted: {', '.join(SYSTEMS)}")
    return preset_settings(system, quick)


def _overridden(settings: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = settings
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _chain_config(step: PotentialsStudyStep, chain: ChainConfig, where: str) -> ChainConfig:
    """The chain with the step's length, burn-in and thinning; ``chain_steps`` alone scales both
    burn-in and thinning with it (the same number of samples per chain)."""
    n = chain.n_steps if step.chain_steps is None else step.chain_steps
    burn_in = step.chain_burn_in if step.chain_burn_in is not None else round(chain.burn_in * n / chain.n_steps)
    thin = step.chain_thin if step.chain_thin is not None else max(1, round(chain.thin * n / chain.n_steps))
    if burn_in >= n:
        field = "chain_burn_in" if step.chain_burn_in is not None else "chain_steps"
        raise ConfigError(f"{where}.{field}: the burn-in ({burn_in} steps) must be shorter than the chain "
                          f"({n} steps), or no sample is kept")
    try:
        return ChainConfig.model_validate({**chain.model_dump(), "n_steps": n, "burn_in": burn_in, "thin": thin,
                                           "seed": 1000 * step.seed})
    except ValidationError as exc:
        raise ConfigError(f"{where}.chain_steps: {exc.errors()[0]['msg']}") from None


def study_settings(step: PotentialsStudyStep, where: str = "potentials_study") -> PotentialStudySettings:
    """The study settings of the step: :func:`base_settings` with ``step.settings`` merged in, then
    the step's seed (reference and posterior MD; members ``1000 seed + m``, chains ``1000 seed + c``),
    ensemble size and run lengths.

    Raises
    ------
    ConfigError
        Naming ``where`` and the bad field: an unknown system, an invalid or unknown entry of
        ``settings`` (the accepted fields listed), an entry the step sets itself, a burn-in not
        shorter than the chain.
    """
    try:
        base = base_settings(step.system, step.quick)
    except ConfigError as exc:
        raise ConfigError(f"{where}.system: {exc}") from None
    for path, own in OWN_FIELDS.items():
        if _overridden(step.settings, path):
            raise ConfigError(f"{where}.settings.{'.'.join(path)}: set by the step's own field {own!r}")
    s = validate_step_settings(merge_settings(base.model_dump(), step.settings), PotentialStudySettings,
                               f"{where}.settings")
    member = s.member.model_copy(update={"seed": 1000 * step.seed, **(
        {} if step.member_steps is None else {"n_steps": step.member_steps})})
    return s.model_copy(update={"seed": step.seed, "n_members": step.n_members or s.n_members, "member": member,
                                "chain": _chain_config(step, s.chain, where)})


def md_settings(step: PotentialsStudyStep) -> dict[str, Any]:
    """The posterior-MD sizes: the step's, else the mode's (:data:`~sciml.studies.potentials.POSTERIOR_MD_SIZES`)."""
    sizes = POSTERIOR_MD_SIZES[step.quick]
    return {"md_samples": step.md_samples or sizes["md_samples"], "md_steps": step.md_steps or sizes["md_steps"],
            "md_equilibrate": step.md_equilibrate, "md_stride": step.md_stride, "md_timestep": step.md_timestep,
            "rdf_bins": step.rdf_bins}


def check_step(step: PotentialsStudyStep, where: str) -> PotentialStudySettings:
    """Validate the step before any work and return its study settings.

    Checks :func:`study_settings`, that ASE (the ``md`` extra) is installed, the reference
    simulator's options and state point, and that the periodic box is at least twice the
    potential's cutoff wide.

    Raises
    ------
    ConfigError
        Naming ``where`` and the bad field.
    """
    s = study_settings(step, where)
    kind = s.simulator.get("kind")
    if kind != SYSTEMS[step.system]:
        raise ConfigError(f"{where}.settings.simulator.kind: the {step.system!r} system runs "
                          f"{SYSTEMS[step.system]!r}, got {kind!r}")
    try:
        import_ase()
    except ImportError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    sim = build_simulator(s.simulator, source=f"{where}.settings.simulator")
    try:
        params = sim.parameter_space.validate(s.params, source=f"{where}.settings.params")
    except ParameterError as exc:
        raise ConfigError(str(exc)) from None
    n_atoms = int(getattr(sim, "n_atoms"))
    width = (n_atoms / params["density"]) ** (1.0 / 3.0)
    if width < 2.0 * s.cutoff:
        raise ConfigError(f"{where}.settings.cutoff: the box of {n_atoms} atoms at density "
                          f"{params['density']:g} is {width:.3g} wide, less than twice the cutoff {s.cutoff:g}; "
                          "use more atoms or a smaller cutoff")
    return s


def _dataset(path: Path, tag: str, make: Callable[[], xr.Dataset]) -> tuple[xr.Dataset, bool]:
    """The dataset at ``path`` when it was made under ``tag``, else ``make()`` saved there (atomically);
    read back from the file either way. Also whether it was reloaded."""
    if path.exists():
        try:
            ds = open_dataset(path, lazy=False)
            if ds.attrs.get(_TAG) == tag:
                return ds, True
        except Exception:  # noqa: BLE001 - an unreadable file is made again
            pass
    ds = make()
    ds.attrs[_TAG] = tag
    save(ds, path)
    return open_dataset(path, lazy=False), False


def _reference(s: PotentialStudySettings, root: Path, log: Callable[[str], None], label: str) -> dict[str, Any]:
    """The reference MD (train, validation and test runs) as :func:`~sciml.studies.potentials.reference_frames`."""
    tag = stable_hash({"simulator": s.simulator, "params": s.params, "seed": s.seed})
    sim = build_simulator(s.simulator)
    ds, reloaded = _dataset(root / "reference.nc", tag, lambda: sim.run(dict(s.params), seed=s.seed, n_samples=3))
    log(f"[{label}] reference MD {'reloaded' if reloaded else 'done'}: 3 runs of {ds.sizes['frame']} frames, "
        f"{ds.sizes['atom']} atoms")
    dtype = {"float32": torch.float32, "float64": torch.float64}[s.dtype]
    return {"dataset": ds, **{name: FrameDataset(ds, samples=[k], dtype=dtype)
                              for k, name in enumerate(("train", "val", "test"))}}


def _chain_job(job: tuple[PotentialStudySettings, PotentialModelFactory, FrameDataset, dict[str, Any], int, str]
               ) -> ChainResult:
    """One chain from a member's weights, resumed from its folder (the function executors map)."""
    s, factory, train, state, c, folder = job
    model = factory()
    model.load_state_dict(state)
    config = s.chain.model_copy(update={"seed": s.chain.seed + c})
    return run_chain(model, log_posterior(s), config, dataset=train, chain=c, run_dir=folder, resume=True,
                     progress=False)


def _train(s: PotentialStudySettings, factory: PotentialModelFactory, train: FrameDataset, executor: Any,
           root: Path) -> tuple[WeightSamples, WeightSamples, dict[str, list[dict[str, Any]]]]:
    """The ensemble members and one chain from each (resumed from ``root``), and a summary of each run."""
    ensemble = train_ensemble(factory, log_posterior(s), s.member, n_members=s.n_members, dataset=train,
                              executor=executor, run_dir=str(root / "members"), resume=True, progress=False)
    members = ensemble.samples
    jobs = [(s, factory, train, members.states[c], c, str(root / "chains" / f"chain_{c:03d}"))
            for c in range(len(members))]
    done: dict[int, ChainResult] = dict(executor.map(_chain_job, jobs, desc="SG-MCMC chains"))
    results = [done[c] for c in range(len(jobs))]
    chains = WeightSamples.concat([r.samples for r in results])

    def summary(loops: list[LoopResult]) -> list[dict[str, Any]]:
        return [{"run": str(loop.run_dir.relative_to(root.parent)) if loop.run_dir else None,
                 "steps_completed": loop.completed, "resumed_from": loop.resumed_from} for loop in loops]

    return members, chains, {"members": summary(ensemble.members), "chains": summary([r.loop for r in results])}


def _force_rows(frames: Mapping[str, Any], factory: PotentialModelFactory, members: WeightSamples,
                chains: WeightSamples) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The MAP row and the uncertainty rows of the ensemble, all chains and chain 0; calibration curves."""
    base = {"system": "lj", **frames_summary(frames)}
    rows = [{**base, "method": "map", **force_errors(chain_subset(members, [0]), factory, frames["test"])}]
    curves: dict[str, Any] = {}
    for method, samples in (("ensemble", members), ("sgmcmc_multi_chain", chains),
                            ("sgmcmc_single_chain", chain_subset(chains, [0]))):
        val = force_predictions(samples, factory, frames["val"])
        test = force_predictions(samples, factory, frames["test"])
        row = {**base, "method": method, "n_samples": float(len(samples)), **uncertainty_metrics(val, test)}
        mean, var, y = test
        curves[f"{method} (raw)"] = calibration_curve(mean, var, y)
        curves[f"{method} (recalibrated)"] = calibration_curve(mean, row["scale"] * var, y)
        rows.append(row)
    return rows, curves


def _posterior_md(s: PotentialStudySettings, md: Mapping[str, Any], frames: Mapping[str, Any],
                  factory: PotentialModelFactory, chains: WeightSamples, root: Path,
                  log: Callable[[str], None], label: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """MD with ``md_samples`` chain samples (one batched run, kept in ``root``) from the last test frame,
    the RDF band and its row."""
    samples = spread_samples(chains, md["md_samples"])
    reference = frames["dataset"]
    tag = stable_hash({"settings": s.model_dump(mode="json"), "md": dict(md)})

    def make() -> xr.Dataset:
        return run_posterior_md(factory(), samples, reference.isel(sample=[2]), temperature=s.params["temperature"],
                                timestep=md["md_timestep"], n_steps=md["md_steps"], stride=md["md_stride"],
                                n_equilibrate=md["md_equilibrate"], friction=1.0, seed=s.seed, dtype=torch.float32)

    traj, reloaded = _dataset(root / "posterior_md.nc", tag, make)
    r_max = min(s.cutoff, 0.5 * float(np.min(np.linalg.norm(reference["cell"].values[0, 0], axis=-1))))
    band = rdf_band(traj, reference, r_max, md["rdf_bins"])
    log(f"[{label}] posterior MD of {len(samples)} samples {'reloaded' if reloaded else 'done'}: reference RDF "
        f"inside the 95 % band in {100 * band['fraction']:.0f} % of {band['n_scored']} bins")
    row = {"system": "lj", "method": "posterior_md_rdf", "n_samples": float(len(samples)),
           "reference_in_band_fraction": band["fraction"], "scored_bins": float(band["n_scored"]),
           "md_steps_per_second": float(traj.attrs.get("steps_per_second", float("nan")))}
    return band, row


class PotentialsStudyStep(WorkflowStep):
    """Reference MD, ensemble and SG-MCMC potentials, calibrated force uncertainty, posterior MD and its RDF band.

    Attributes
    ----------
    name : str
        Step name; the reference data, training runs and posterior MD live in ``<output_dir>/<name>``.
    system : str
        One of :data:`SYSTEMS` (``lj``: the Lennard-Jones fluid, rho* = 0.8442, T* = 1, 108 atoms).
    quick : bool
        The benchmark's quick settings (minutes on 2 CPU cores) or its full ones.
    seed : int
        Seed of the reference and posterior MD; members are seeded ``1000 seed + m``, chains
        ``1000 seed + c``.
    n_members : int, optional
        Ensemble members, and chains (one from each member); at least 2.
    member_steps, chain_steps : int, optional
        Adam steps per member; SG-MCMC steps per chain (burn-in and thinning scale with it
        unless ``chain_burn_in`` / ``chain_thin`` are given).
    md_samples, md_steps : int, optional
        Posterior samples run in the batched MD (spread over all chains) and its recorded steps
        (default: 16 and 400 quick, 32 and 2000 full).
    md_equilibrate, md_stride, md_timestep, rdf_bins
        Unrecorded MD steps, steps between frames, time step (tau), RDF bins.
    settings : dict
        Overrides of any other field of :class:`~sciml.studies.potentials.PotentialStudySettings`
        (nested fields merged), e.g. ``{simulator: {n_frames: 20}, hidden_channels: 16}``.
    executor : executor spec, optional
        Where members and chains run (default in-process; the workflow's executor overrides it).
    file : str
        Stem of the JSON and PNG files in the output folder.
    """

    kind: Literal["potentials_study"] = "potentials_study"
    name: str = "potentials_study"
    system: str = "lj"
    quick: bool = True
    seed: NonNegativeInt = 0
    n_members: int | None = Field(None, ge=2)
    member_steps: PositiveInt | None = None
    chain_steps: PositiveInt | None = None
    chain_burn_in: NonNegativeInt | None = None
    chain_thin: PositiveInt | None = None
    md_samples: int | None = Field(None, ge=2)
    md_steps: int | None = Field(None, ge=10)
    md_equilibrate: NonNegativeInt = 100
    md_stride: PositiveInt = 10
    md_timestep: float = Field(0.005, gt=0, allow_inf_nan=False)
    rdf_bins: int = Field(50, ge=5)
    settings: dict[str, Any] = Field(default_factory=dict)
    executor: ExecutorSpec | None = None
    file: str = "potentials_study"

    @field_validator("system")
    @classmethod
    def _known_system(cls, v: str) -> str:
        if v not in SYSTEMS:
            raise ValueError(f"unknown system {v!r}; accepted: {', '.join(SYSTEMS)}")
        return v

    def check(self, ctx: WorkflowContext, index: int) -> None:
        check_step(self, ctx.where(index))

    def keyed_config(self, ctx: WorkflowContext, index: int) -> dict[str, Any]:
        """The step without its executor (it does not change the outputs)."""
        return self.model_dump(mode="json", exclude={"executor"})

    def outputs(self, ctx: WorkflowContext) -> list[Path]:
        """The run folder ``<name>``, ``<file>.json`` and the two plots."""
        out = ctx.output_dir
        return [out / self.name, *(out / f"{self.file}{s}" for s in (".json", "_calibration.png", "_rdf.png"))]

    def _executor(self, ctx: WorkflowContext) -> Any:
        config = ctx.executor_config(self.executor)
        return InProcessExecutor(show_progress=False) if config is None else make_executor(config)

    def run(self, ctx: WorkflowContext, index: int) -> None:
        """Run (or resume, or reload) every stage; write ``<file>.json`` and the plots."""
        s = check_step(self, ctx.where(index))
        md = md_settings(self)
        root = ctx.output_dir / self.name
        root.mkdir(parents=True, exist_ok=True)
        frames = _reference(s, root, ctx.log, self.name)
        factory = model_factory(s, frames["train"])
        with self._executor(ctx) as executor:
            members, chains, runs = _train(s, factory, frames["train"], executor, root)
        resumed = sum(r["resumed_from"] is not None for r in runs["members"] + runs["chains"])
        ctx.log(f"[{self.name}] {len(members)} ensemble members, {len(chains)} chain samples "
                f"({resumed} of {len(runs['members']) + len(runs['chains'])} runs resumed) in {root}")
        rows, curves = _force_rows(frames, factory, members, chains)
        band, md_row = _posterior_md(s, md, frames, factory, chains, root, ctx.log, self.name)
        rows.append(md_row)
        self._write(ctx, s, md, runs, rows, curves, band)

    def _write(self, ctx: WorkflowContext, s: PotentialStudySettings, md: Mapping[str, Any],
               runs: Mapping[str, Any], rows: list[dict[str, Any]], curves: Mapping[str, Any],
               band: Mapping[str, Any]) -> None:
        out = ctx.output_dir
        rdf = {k: np.asarray(band[k]).tolist() for k in ("r", "reference", "lower", "upper", "median")}
        summary = {"step": self.model_dump(mode="json"), "settings": s.model_dump(mode="json"), "md": dict(md),
                   "runs": runs, "rows": rows, "rdf": rdf}
        path = atomic_write_text(out / f"{self.file}.json", json.dumps(summary, indent=1, default=str) + "\n")
        ctx.artefacts[f"potentials:{self.file}"] = path
        ctx.artefacts[f"plot:{self.file}_calibration"] = plot_calibration_curves(
            curves, out / f"{self.file}_calibration.png", title=f"{self.system}: force uncertainty calibration")
        ctx.artefacts[f"plot:{self.file}_rdf"] = plot_rdf_band(
            band["r"], band["reference"], band["lower"], band["upper"], out / f"{self.file}_rdf.png",
            median=band["median"])
        by = {r["method"]: r for r in rows}
        ctx.log(f"[{self.name}] recalibrated miscalibration area: ensemble "
                f"{by['ensemble']['miscalibration_area_recalibrated']:.3f}, chains "
                f"{by['sgmcmc_multi_chain']['miscalibration_area_recalibrated']:.3f}, one chain "
                f"{by['sgmcmc_single_chain']['miscalibration_area_recalibrated']:.3f}; wrote {path.name}, "
                f"{self.file}_calibration.png, {self.file}_rdf.png")
