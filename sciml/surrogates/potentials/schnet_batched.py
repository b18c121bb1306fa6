"""SchNet energies of M weight samples on M replicas, written out as batched tensor operations.

The same function as :meth:`SchNetPotential.energy_from_edges
<sciml.surrogates.potentials.SchNetPotential.energy_from_edges>` (torch_geometric's SchNet:
Gaussian smearing, continuous-filter convolutions with a cosine cutoff, shifted softplus,
sum readout; ``scale * h + shift`` and the optional repulsive prior), with every weight
stacked over samples ``(M, ...)``: linear layers become ``bmm`` and messages are gathered and
scattered on the flattened ``(M * n, F)`` features. Each pair is listed *once* (a half list):
its filter is computed once and carries the messages both ways, half the work of the directed
list. Used by :class:`~sciml.surrogates.potentials.stacked.StackedPotential` for plain SchNet
potentials (:func:`supports`); anything else goes through ``torch.func.vmap``.

Reference: K. T. Schütt et al., J. Chem. Phys. 148, 241722 (2018); torch_geometric's
``SchNet`` / ``CFConv`` / ``InteractionBlock``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BatchedSchNet", "supports"]


def supports(potential: nn.Module) -> bool:
    """Whether ``potential`` is a SchNetPotential of the plain form written out here (no dipole,
    mean/std, atomref or scale; sum readout; no prior or a RepulsivePrior)."""
    from torch_geometric.nn.aggr import SumAggregation

    from sciml.surrogates.potentials.schnet import RepulsivePrior, SchNetPotential

    if type(potential) is not SchNetPotential:
        return False
    s = potential.schnet
    plain = (not s.dipole and s.mean is None and s.std is None and s.atomref is None and s.scale is None
             and isinstance(s.readout, SumAggregation) and type(s.distance_expansion).__name__ == "GaussianSmearing")
    return plain and (potential.prior is None or type(potential.prior) is RepulsivePrior)


def _linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x (M, k, a) @ weight (M, o, a)^T + bias (M, o)``."""
    y = torch.bmm(x, weight.transpose(1, 2))
    return y if bias is None else y + bias.unsqueeze(1)


class BatchedSchNet:
    """The energy of a plain SchNetPotential with stacked weights (see the module docstring).

    Parameters
    ----------
    potential : SchNetPotential
        Supplies the constants (cutoff, Gaussian width, softplus shift, prior); the weights
        come with each call.
    """

    half_list = True

    def __init__(self, potential: nn.Module) -> None:
        s = potential.schnet
        self.cutoff = float(potential.cutoff)
        self.coeff = float(s.distance_expansion.coeff)
        self.shift = float(s.act.shift)
        self.n_interactions = len(s.interactions)
        prior = potential.prior
        self.prior = None if prior is None else (prior.sigma, prior.epsilon, prior.cutoff)

    def _ssp(self, x: Tensor) -> Tensor:
        return F.softplus(x) - self.shift

    def energies(self, states: Mapping[str, Tensor], numbers: Tensor, edge_index: Tensor, vectors: Tensor,
                 mask: Tensor) -> Tensor:
        """Energies ``(M,)``.

        Parameters
        ----------
        states : mapping
            The potential's parameters and buffers (state-dict names), stacked ``(M, ...)``.
        numbers : LongTensor, shape (n,)
        edge_index : LongTensor, shape (M, 2, P)
            Each pair once, local atom indices.
        vectors : Tensor, shape (M, P, 3)
        mask : BoolTensor, shape (M, P)
            Pairs within the cutoff.
        """
        n_rep, n_atoms = vectors.shape[0], numbers.shape[0]
        d = torch.where(mask, vectors.norm(dim=-1), torch.full_like(mask, self.cutoff, dtype=vectors.dtype))
        cosine = 0.5 * (torch.cos(d * (math.pi / self.cutoff)) + 1.0)
        offset = states["schnet.distance_expansion.offset"].unsqueeze(1)  # (M, 1, G)
        smeared = torch.exp(self.coeff * (d.unsqueeze(-1) - offset) ** 2)  # (M, P, G)
        rows = torch.arange(n_rep, device=numbers.device).unsqueeze(1)
        h = states["schnet.embedding.weight"][rows, numbers.unsqueeze(0)]  # (M, n, H)
        offsets = rows * n_atoms
        src, dst = (edge_index[:, 0] + offsets).reshape(-1), (edge_index[:, 1] + offsets).reshape(-1)
        for k in range(self.n_interactions):
            p = f"schnet.interactions.{k}."
            w = _linear(self._ssp(_linear(smeared, states[p + "mlp.0.weight"], states[p + "mlp.0.bias"])),
                        states[p + "mlp.2.weight"], states[p + "mlp.2.bias"]) * cosine.unsqueeze(-1)
            w = w.reshape(-1, w.shape[-1])
            x = _linear(h, states[p + "conv.lin1.weight"]).reshape(n_rep * n_atoms, -1)
            agg = torch.zeros_like(x).index_add_(0, dst, x.index_select(0, src) * w)
            agg = agg.index_add_(0, src, x.index_select(0, dst) * w)
            out = _linear(agg.reshape(n_rep, n_atoms, -1), states[p + "conv.lin2.weight"],
                          states[p + "conv.lin2.bias"])
            h = h + _linear(self._ssp(out), states[p + "lin.weight"], states[p + "lin.bias"])
        h = _linear(self._ssp(_linear(h, states["schnet.lin1.weight"], states["schnet.lin1.bias"])),
                    states["schnet.lin2.weight"], states["schnet.lin2.bias"])
        energy = states["energy_scale"] * h.sum((1, 2)) + states["energy_shift"] * n_atoms
        if self.prior is not None:
            sigma, epsilon, cut = self.prior
            pair = epsilon * ((sigma / d) ** 12 - (sigma / cut) ** 12)
            energy = energy + torch.where(mask & (d < cut), pair, torch.zeros_like(pair)).sum(1)
        return energy
