"""The neural-network-potential study of Thaler, Doehner and Zavadlav (JCTC 2023), on sciml's parts.

Reference MD (a :class:`~sciml.simulators.base.Simulator`: the Lennard-Jones fluid or EMT
copper) gives three independent runs: training, validation and test frames. A SchNet potential
is fitted by force matching as a deep ensemble (members from different seeds, MAP each), and
SG-MCMC chains start from the members and sample the weights (several chains; one chain alone
is the pitfall). Force uncertainties (the spread over weight samples) are recalibrated by one
variance scale fitted on the validation frames and scored on the test frames.

Functions return plain numbers and :class:`~sciml.surrogates.sgmcmc.WeightSamples`; the
benchmark (``sciml bench potentials``) turns them into rows and checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch
import xarray as xr
from pydantic import Field

from sciml.config import StrictModel
from sciml.errors import ConfigError
from sciml.executors import InProcessExecutor
from sciml.simulators.md.observables import radial_distribution
from sciml.simulators.registry import build_simulator
from sciml.surrogates.potentials import (
    ForceMatchingModel,
    FrameDataset,
    RepulsivePrior,
    SchNetPotential,
    force_matching_log_likelihood,
    predict_forces,
)
from sciml.surrogates.sgmcmc import (
    ChainConfig,
    GaussianNoise,
    GaussianPrior,
    LogPosterior,
    MemberConfig,
    WeightSamples,
    run_chain,
    train_ensemble,
)
from sciml.uq import fit_variance_scale, gaussian_nll, miscalibration_area, spearman_std_error

__all__ = [
    "PotentialModelFactory",
    "POSTERIOR_MD_SIZES",
    "PRESET_SYSTEMS",
    "PotentialStudySettings",
    "force_errors",
    "force_predictions",
    "force_uncertainty_metrics",
    "preset_settings",
    "uncertainty_metrics",
    "rdf_band",
    "reference_frames",
    "sample_chains",
    "spread_samples",
    "train_members",
]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class PotentialStudySettings(StrictModel):
    """Sizes of one study (the benchmark's quick and full modes are instances)."""

    simulator: dict[str, Any] = Field(default_factory=lambda: {
        "kind": "lj_fluid", "n_atoms": 108, "n_equilibrate": 500, "n_frames": 60, "stride": 20})
    params: dict[str, float] = Field(default_factory=lambda: {"temperature": 1.0, "density": 0.8442})
    seed: int = Field(0, ge=0)
    cutoff: float = Field(2.5, gt=0)
    prior_sigma: float | None = Field(0.9, gt=0)
    prior_epsilon: float = Field(1.0, ge=0)
    hidden_channels: int = Field(32, ge=1)
    num_filters: int = Field(32, ge=1)
    num_interactions: int = Field(2, ge=1)
    num_gaussians: int = Field(25, ge=1)
    dtype: Literal["float32", "float64"] = "float32"
    weight_prior_std: float = Field(1.0, gt=0)
    noise_fraction: float = Field(0.1, gt=0)
    n_members: int = Field(4, ge=1)
    member: MemberConfig = Field(default_factory=lambda: MemberConfig(lr=3e-3, n_steps=500, batch_size=4))
    chain: ChainConfig = Field(default_factory=lambda: ChainConfig(
        sampler="psgld", lr=1e-4, n_steps=200, burn_in=100, thin=20, batch_size=4))


#: The systems of :func:`preset_settings` (their reference simulator kinds).
PRESET_SYSTEMS: dict[str, str] = {"lj": "lj_fluid", "emt": "emt_metal"}

#: Posterior-MD sizes of the quick and full modes (samples, steps).
POSTERIOR_MD_SIZES: dict[bool, dict[str, int]] = {True: {"md_samples": 16, "md_steps": 400},
                                                  False: {"md_samples": 32, "md_steps": 2000}}


def preset_settings(system: str, quick: bool) -> PotentialStudySettings:
    """The benchmark's quick (minutes on 2 CPU cores) or full study of ``system``: ``"lj"`` (the
    Lennard-Jones fluid, rho* = 0.8442, T* = 1, 108 atoms) or ``"emt"`` (EMT copper at 300 K).

    Raises
    ------
    ConfigError
        An unknown system (the accepted ones are listed).
    """
    if system not in PRESET_SYSTEMS:
        raise ConfigError(f"unknown system {system!r}; accepted: {', '.join(PRESET_SYSTEMS)}")
    if system == "emt":
        return PotentialStudySettings(
            simulator={"kind": "emt_metal", "n_atoms": 108, "n_equilibrate": 300 if quick else 1000,
                       "n_frames": 40 if quick else 100, "stride": 20},
            params={"temperature": 300.0}, cutoff=5.0, prior_sigma=1.8, prior_epsilon=0.1, n_members=1,
            member=MemberConfig(lr=3e-3, n_steps=300 if quick else 1500, batch_size=4))
    if quick:
        return PotentialStudySettings()
    return PotentialStudySettings(
        simulator={"kind": "lj_fluid", "n_atoms": 108, "n_equilibrate": 2000, "n_frames": 200, "stride": 20},
        hidden_channels=64, num_filters=64, num_interactions=3, n_members=8,
        member=MemberConfig(lr=3e-3, n_steps=3000, batch_size=8),
        chain=ChainConfig(sampler="psgld", lr=1e-4, n_steps=2000, burn_in=1000, thin=100, batch_size=8))


class PotentialModelFactory:
    """Builds the study's :class:`ForceMatchingModel` (picklable, for executors)."""

    def __init__(self, settings: PotentialStudySettings, species: list[int], energy_shift: float,
                 energy_scale: float, force_std: float) -> None:
        self.settings, self.species = settings, list(species)
        self.energy_shift, self.energy_scale, self.force_std = energy_shift, energy_scale, force_std

    def __call__(self) -> ForceMatchingModel:
        s = self.settings
        prior = None if s.prior_sigma is None else RepulsivePrior(s.prior_sigma, s.prior_epsilon, s.cutoff)
        potential = SchNetPotential(self.species, s.cutoff, hidden_channels=s.hidden_channels,
                                    num_filters=s.num_filters, num_interactions=s.num_interactions,
                                    num_gaussians=s.num_gaussians, energy_scale=self.energy_scale,
                                    energy_shift=self.energy_shift, prior=prior)
        noise = GaussianNoise(s.noise_fraction * self.force_std, learn=True, prior_log_std=1.0)
        return ForceMatchingModel(potential, noise).to(_DTYPES[s.dtype])


def reference_frames(settings: PotentialStudySettings) -> dict[str, Any]:
    """Run the reference MD: three independent samples (train, validation, test) of one state point.

    Returns ``{"dataset": xr.Dataset, "train"/"val"/"test": FrameDataset}``.
    """
    sim = build_simulator(settings.simulator)
    ds = sim.run(dict(settings.params), seed=settings.seed, n_samples=3)
    dtype = _DTYPES[settings.dtype]
    return {"dataset": ds, **{name: FrameDataset(ds, samples=[k], dtype=dtype)
                              for k, name in enumerate(("train", "val", "test"))}}


def model_factory(settings: PotentialStudySettings, train: FrameDataset) -> PotentialModelFactory:
    """The study's model factory, with output scales from the training frames."""
    species = sorted(set(train.numbers.unique().tolist()))
    shift = float(train.energies.mean()) / train.n_atoms if train.has_energy else 0.0
    scale = float(train.forces.square().mean().sqrt())
    return PotentialModelFactory(settings, species, shift, scale, train.force_std())


def log_posterior(settings: PotentialStudySettings) -> LogPosterior:
    """Force-matching likelihood and a Gaussian prior on the weights (the noise has its own prior)."""
    return LogPosterior(force_matching_log_likelihood, GaussianPrior(settings.weight_prior_std))


def train_members(settings: PotentialStudySettings, factory: PotentialModelFactory, train: FrameDataset, *,
                  executor: Any = None, run_dir: str | None = None, resume: bool = False) -> WeightSamples:
    """The deep ensemble: ``n_members`` MAP fits from different seeds (each one weight sample);
    ``resume`` continues (or reloads) the members' runs in ``run_dir``."""
    result = train_ensemble(factory, log_posterior(settings), settings.member, n_members=settings.n_members,
                            dataset=train, executor=executor, run_dir=run_dir, resume=resume)
    return result.samples


def _chain_job(job: tuple[PotentialStudySettings, PotentialModelFactory, FrameDataset, dict[str, Any], int,
                          str | None, bool]) -> WeightSamples:
    """One chain from given weights (the module-level function executors map)."""
    settings, factory, train, state, c, folder, resume = job
    model = factory()
    model.load_state_dict(state)
    config = settings.chain.model_copy(update={"seed": settings.chain.seed + c})
    return run_chain(model, log_posterior(settings), config, dataset=train, chain=c, run_dir=folder,
                     resume=resume, progress=False).samples


def sample_chains(settings: PotentialStudySettings, factory: PotentialModelFactory, train: FrameDataset,
                  members: WeightSamples, *, executor: Any = None, run_dir: str | None = None,
                  resume: bool = False) -> WeightSamples:
    """One SG-MCMC chain from each ensemble member's weights (chain ``c`` seeded ``chain.seed + c``),
    through ``executor`` (default in-process); the chains' samples in chain order. ``resume``
    continues (or reloads) the chains' runs in ``run_dir``."""
    jobs = [(settings, factory, train, members.states[c], c, None if run_dir is None else f"{run_dir}/chain_{c:03d}",
             resume) for c in range(len(members))]
    done: dict[int, WeightSamples] = {}
    for index, samples in (executor or InProcessExecutor(show_progress=False)).map(_chain_job, jobs,
                                                                                   desc="SG-MCMC chains"):
        done[index] = samples
    return WeightSamples.concat([done[c] for c in range(len(jobs))])


ForceStats = tuple[np.ndarray, np.ndarray, np.ndarray]


def force_predictions(samples: WeightSamples, factory: PotentialModelFactory, frames: FrameDataset) -> ForceStats:
    """Mean and epistemic variance (spread over the samples) of the forces of ``frames``, and the
    reference forces: three float64 arrays of shape ``(frames, atoms, 3)``."""
    post = predict_forces(samples, factory(), frames.batch(), with_noise=False)
    variance = post.variance.double().clamp_min(1e-12)
    return post.mean.double().numpy(), variance.numpy(), frames.forces.double().numpy()


def uncertainty_metrics(val: ForceStats, test: ForceStats) -> dict[str, float]:
    """Force errors and calibration on ``test``, with the variance scale fitted on ``val``.

    Returned: ``rmse``, ``rmse_over_std`` (the test forces' standard deviation), ``scale``;
    ``nll`` and ``miscalibration_area`` of the force components before (``_raw``) and after
    (``_recalibrated``) scaling; ``spearman_atom``, the rank correlation of each atom's predicted
    std ``sqrt(sum_k var_k)`` with its force error ``|F - F_ref|``, and ``spearman_component``,
    the same per component (a scale changes no rank).
    """
    mean, var, y = test
    rmse = float(np.sqrt(np.mean((mean - y) ** 2)))
    scale = fit_variance_scale(*val)
    out = {"rmse": rmse, "rmse_over_std": rmse / float(np.std(y)), "scale": scale}
    for tag, v in (("raw", var), ("recalibrated", scale * var)):
        out[f"nll_{tag}"] = float(gaussian_nll(mean, v, y))
        out[f"miscalibration_area_{tag}"] = miscalibration_area(mean, v, y)
    atom_error = np.linalg.norm(mean - y, axis=-1)
    out["spearman_atom"] = spearman_std_error(var.sum(-1), np.zeros_like(atom_error), atom_error)
    out["spearman_component"] = spearman_std_error(var, mean, y)
    return out


def force_uncertainty_metrics(samples: WeightSamples, factory: PotentialModelFactory, val: FrameDataset,
                              test: FrameDataset) -> dict[str, float]:
    """:func:`uncertainty_metrics` of the samples' force predictions on ``val`` and ``test``."""
    out = uncertainty_metrics(force_predictions(samples, factory, val), force_predictions(samples, factory, test))
    return {"n_samples": float(len(samples)), **out}


def force_errors(samples: WeightSamples, factory: PotentialModelFactory, test: FrameDataset) -> dict[str, float]:
    """RMSE of the mean predicted force on ``test`` and its ratio to the forces' standard deviation."""
    post = predict_forces(samples, factory(), test.batch(), with_noise=False)
    y = test.forces.double()
    rmse = float((post.mean.double() - y).square().mean().sqrt())
    return {"n_samples": float(len(samples)), "rmse": rmse, "rmse_over_std": rmse / float(y.std())}


def chain_subset(samples: WeightSamples, chains: list[int]) -> WeightSamples:
    """The samples of the given chains only."""
    keep = [k for k, c in enumerate(samples.chains) if c in chains]
    return WeightSamples([samples.states[k] for k in keep], [samples.chains[k] for k in keep],
                         [samples.steps[k] for k in keep], samples.model_class, samples.model_config)


def frames_summary(frames: Mapping[str, Any]) -> dict[str, float]:
    """Sizes and force scale of the reference frames."""
    ds: xr.Dataset = frames["dataset"]
    return {"n_atoms": float(ds.sizes["atom"]), "frames_per_split": float(ds.sizes["frame"]),
            "force_std_test": frames["test"].force_std()}


def spread_samples(samples: WeightSamples, n: int) -> WeightSamples:
    """``n`` samples taken evenly over all chains (all of them when there are fewer)."""
    if len(samples) <= n:
        return samples
    keep = np.linspace(0, len(samples) - 1, n).round().astype(int).tolist()
    return WeightSamples([samples.states[k] for k in keep], [samples.chains[k] for k in keep],
                         [samples.steps[k] for k in keep], samples.model_class, samples.model_config)


def rdf_band(md: xr.Dataset, reference: xr.Dataset, r_max: float, n_bins: int) -> dict[str, Any]:
    """Each replica's time-averaged g(r), their 2.5-97.5 % band, and the reference g(r) of every
    reference frame; bins where neither reaches 0.05 (inside the repulsive core) are not scored."""
    per = np.stack([radial_distribution(md["positions"].values[m], md["cell"].values[m], r_max=r_max,
                                        n_bins=n_bins).g for m in range(md.sizes["sample"])])
    ref = radial_distribution(reference["positions"].values.reshape(-1, *reference["positions"].shape[2:]),
                              reference["cell"].values.reshape(-1, 3, 3), r_max=r_max, n_bins=n_bins)
    lower, upper = np.percentile(per, 2.5, axis=0), np.percentile(per, 97.5, axis=0)
    scored = np.maximum(ref.g, upper) >= 0.05
    inside = (ref.g >= lower) & (ref.g <= upper)
    return {"r": ref.r, "reference": ref.g, "lower": lower, "upper": upper, "median": np.median(per, axis=0),
            "fraction": float(inside[scored].mean()), "n_scored": int(scored.sum())}
