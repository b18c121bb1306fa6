"""Generators of random histories (e.g. a submodel's interface displacements): WGAN-GP and a Gaussian-PCA baseline.

Both are Surrogates whose ``predict`` returns a
:class:`~sciml.surrogates.posterior.SamplePosterior` of generated histories::

    gan = WGANGP({"n_steps": 2000}).fit(histories)            # (N, [n_channels,] n_time)
    draws = gan.predict(1000).draws                            # (1000, [n_channels,] n_time)
    gan = WGANGP().fit(ds, variable="u_interface", params=["E", "load"])
    draws = gan.predict(GenerationRequest(500, params=p, seed=1)).draws   # (500, B, ...)

:class:`WGANGP` trains on the one training loop (checkpoints, exact resume); the gradient
penalty is :func:`gradient_penalty`; :class:`GaussianPCA` is the linear-Gaussian baseline.
Compare generators with :func:`sciml.uq.sliced_wasserstein_distance`.
"""

from sciml.surrogates.gan.data import (
    GenerationRequest,
    HistoryData,
    HistoryInputError,
    as_history_data,
)
from sciml.surrogates.gan.gaussian_pca import GaussianPCA
from sciml.surrogates.gan.networks import ConvGenerator, Critic, PCAGenerator, ProjectedCritic, UniformLatentGenerator
from sciml.surrogates.gan.pca import PCABasis, fit_pca
from sciml.surrogates.gan.penalty import gradient_penalty, interpolate
from sciml.surrogates.gan.wgan import WGANGP, WGANConfig, WGANModules, WGANTask

__all__ = [
    "WGANGP",
    "ConvGenerator",
    "Critic",
    "GaussianPCA",
    "GenerationRequest",
    "HistoryData",
    "HistoryInputError",
    "PCABasis",
    "PCAGenerator",
    "ProjectedCritic",
    "UniformLatentGenerator",
    "WGANConfig",
    "WGANModules",
    "WGANTask",
    "as_history_data",
    "fit_pca",
    "gradient_penalty",
    "interpolate",
]
