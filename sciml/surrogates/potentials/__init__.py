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

# issue 17 (H4): ASE calculator (lazy: it imports ASE), analytic LJ, batched posterior MD
from sciml.surrogates.potentials.batched_md import replica_seeds, run_posterior_md  # noqa: E402
from sciml.surrogates.potentials.md_timing import time_posterior_md  # noqa: E402
from sciml.surrogates.potentials.pair import LennardJonesPotential  # noqa: E402
from sciml.surrogates.potentials.stacked import StackedPotential  # noqa: E402

__all__ += ["LennardJonesPotential", "PotentialCalculator", "StackedPotential", "replica_seeds", "run_posterior_md",
            "time_posterior_md"]


def __getattr__(name: str):
    """``PotentialCalculator`` is imported on first use (its module imports ASE: ``pip install 'sciml[md]'``)."""
    if name == "PotentialCalculator":
        from sciml.surrogates.potentials.calculator import PotentialCalculator

        return PotentialCalculator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
