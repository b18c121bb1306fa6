"""Force matching: a potential with Gaussian noise on forces (and energies), its log-likelihood,
and its predictions as a posterior over weight samples.

The likelihood of one frame with reference forces ``F`` (``n x 3``) and energy ``E``::

    log p(F, E | theta) = sum_{a, k} log N(F_ak | -dE_theta/dx_ak, sigma_F^2)
                          + log N(E / n | E_theta / n, sigma_E^2)        (when an energy noise is set)

``sigma_F`` and ``sigma_E`` are :class:`~sciml.surrogates.sgmcmc.GaussianNoise` modules inside
:class:`ForceMatchingModel`, fixed or sampled with the weights. Predicted forces need the
gradient of the predicted energy, so training differentiates twice (double backward).

Reference: J. Thaler, M. Doehner, J. Zavadlav, "Scalable Bayesian uncertainty quantification
for neural network potentials: promise and pitfalls", JCTC 19, 4520 (2023).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from sciml.surrogates.posterior import SamplePosterior
from sciml.surrogates.potentials.frames import as_batch
from sciml.surrogates.sgmcmc import GaussianNoise, WeightSamples

__all__ = ["ForceMatchingModel", "force_matching_log_likelihood", "predict_forces", "predicted_forces"]


class ForceMatchingModel(nn.Module):
    """A potential (``potential.energy_and_forces``) with its observation noise models.

    Parameters
    ----------
    potential : nn.Module
        E.g. :class:`~sciml.surrogates.potentials.SchNetPotential`.
    force_noise : GaussianNoise
        Noise of each force component (energy / length).
    energy_noise : GaussianNoise, optional
        Noise of the energy per atom; None: forces only.
    """

    def __init__(self, potential: nn.Module, force_noise: GaussianNoise,
                 energy_noise: GaussianNoise | None = None) -> None:
        super().__init__()
        self.potential, self.force_noise, self.energy_noise = potential, force_noise, energy_noise

    def forward(self, batch: dict[str, Tensor], *, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        """Energies ``(B,)`` and forces ``(B, n, 3)`` of a batch of frames (:class:`FrameDataset` items)."""
        b = as_batch(batch)
        return self.potential.energy_and_forces(b["positions"], b["numbers"], b["cell"], b["pbc"],
                                                create_graph=create_graph)


def force_matching_log_likelihood(model: ForceMatchingModel, batch: dict[str, Tensor]) -> Tensor:
    """Per-frame log-likelihood ``(B,)`` of the reference forces (and energies) of ``batch``."""
    b = as_batch(batch)
    energy, forces = model(b, create_graph=torch.is_grad_enabled())
    dtype = forces.dtype
    out = model.force_noise.log_prob(forces, b["forces"].to(dtype))
    if model.energy_noise is not None:
        n = b["positions"].shape[1]
        out = out + model.energy_noise.log_prob(energy / n, b["energy"].to(dtype) / n)
    return out


def predicted_forces(model: ForceMatchingModel, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """Forces ``(B, n, 3)`` of one weight sample and their noise variance (for :class:`WeightSamples`)."""
    _, forces = model(as_batch(batch))
    return forces, model.force_noise.variance.expand_as(forces)


def predict_forces(samples: WeightSamples, model: ForceMatchingModel, batch: Any, *,
                   with_noise: bool = True) -> SamplePosterior:
    """The posterior of the forces of ``batch`` over weight samples: draws ``(M, B, n, 3)``,
    with each sample's force noise as its variance when ``with_noise``."""
    def output(m: nn.Module, inputs: Any) -> Tensor | tuple[Tensor, Tensor]:
        forces, var = predicted_forces(m, inputs)  # type: ignore[arg-type]
        return (forces, var) if with_noise else forces

    return samples.predict(model, batch, output=output, enable_grad=True)
