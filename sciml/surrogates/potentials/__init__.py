"""Neural-network interatomic potentials with uncertainty.

* :class:`SchNetPotential` — PyG's SchNet on sciml's periodic neighbour lists: energies,
  forces (autograd), stresses; an optional repulsive pair prior;
* :class:`FrameDataset` — frames of a trajectory dataset as training structures;
* :class:`ForceMatchingModel`, :func:`force_matching_log_likelihood` — force matching with
  Gaussian noise on forces (and energies), the target of MAP training, SG-MCMC
  (:mod:`sciml.surrogates.sgmcmc`) and deep ensembles; :func:`predict_forces` — the posterior of
  forces over weight samples.
"""

from sciml.surrogates.potentials.force_matching import (
    ForceMatchingModel,
    force_matching_log_likelihood,
    predict_forces,
    predicted_forces,
)
from sciml.surrogates.potentials.frames import FrameDataset
from sciml.surrogates.potentials.schnet import RepulsivePrior, SchNetPotential

__all__ = [
    "ForceMatchingModel",
    "FrameDataset",
    "RepulsivePrior",
    "SchNetPotential",
    "force_matching_log_likelihood",
    "predict_forces",
    "predicted_forces",
]
