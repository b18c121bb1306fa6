"""Stochastic-gradient MCMC for any torch model, deep ensembles and MC dropout.

Samplers are optimisers over ``nn.Module`` parameters (:class:`SGLD`, :class:`PSGLD`,
:class:`SGHMC`) with step-size schedules (:mod:`~sciml.surrogates.sgmcmc.schedules`, cyclical
included), a temperature and their own noise generator. The potential they move down is built
from :class:`GaussianPrior`, :class:`GaussianNoise` and :func:`scaled_log_likelihood`
(:class:`LogPosterior`). Chains run on the one training loop (:func:`run_chain`,
:func:`run_chains` through any executor) and keep their samples as weights
(:class:`WeightSamples`), which predict a :class:`~sciml.surrogates.posterior.SamplePosterior`;
deep ensembles (:func:`train_ensemble`) and MC dropout (:func:`mc_dropout_posterior`) give the
same. Diagnostics: :func:`split_rhat`, :func:`effective_sample_size`.
"""

from sciml.surrogates.sgmcmc.chains import (
    ChainConfig,
    ChainResult,
    ChainsResult,
    SamplingTask,
    make_sampler,
    run_chain,
    run_chains,
)
from sciml.surrogates.sgmcmc.diagnostics import effective_sample_size, split_rhat
from sciml.surrogates.sgmcmc.ensemble import (
    EnsembleResult,
    MCDropoutSurrogate,
    MemberConfig,
    mc_dropout_posterior,
    train_ensemble,
)
from sciml.surrogates.sgmcmc.log_posterior import GaussianNoise, GaussianPrior, LogPosterior, scaled_log_likelihood
from sciml.surrogates.sgmcmc.psgld import PSGLD
from sciml.surrogates.sgmcmc.sampler import Sampler
from sciml.surrogates.sgmcmc.samples import SampledSurrogate, WeightSamples
from sciml.surrogates.sgmcmc.schedules import ConstantStep, CyclicalCosine, PolynomialDecay, StepSchedule
from sciml.surrogates.sgmcmc.sghmc import SGHMC
from sciml.surrogates.sgmcmc.sgld import SGLD

__all__ = [
    "PSGLD",
    "SGHMC",
    "SGLD",
    "ChainConfig",
    "ChainResult",
    "ChainsResult",
    "ConstantStep",
    "CyclicalCosine",
    "EnsembleResult",
    "GaussianNoise",
    "GaussianPrior",
    "LogPosterior",
    "MCDropoutSurrogate",
    "MemberConfig",
    "PolynomialDecay",
    "SampledSurrogate",
    "Sampler",
    "SamplingTask",
    "StepSchedule",
    "WeightSamples",
    "effective_sample_size",
    "make_sampler",
    "mc_dropout_posterior",
    "run_chain",
    "run_chains",
    "scaled_log_likelihood",
    "split_rhat",
    "train_ensemble",
]
