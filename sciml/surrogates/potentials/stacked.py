"""M weight samples of one potential evaluated on M replicas in one forward pass.

:class:`StackedPotential` holds the samples' state entries stacked over samples
(``name -> (M, *shape)``) and evaluates replica ``m`` (its own positions and padded edge list,
from :class:`~sciml.surrogates.potentials.verlet_list.VerletLists`) with sample ``m``, all in
one pass: plain SchNet potentials through the written-out batched kernel
(:mod:`~sciml.surrogates.potentials.schnet_batched`, half lists), any other potential with
``energy_from_edges`` through ``torch.func.functional_call`` mapped with ``torch.func.vmap``
(full lists). Forces are ``-dE/dx`` by autograd on the stacked positions (the energy of
replica ``m`` depends on its own positions only).

Reference: PyTorch, "Model ensembling" with ``torch.func.stack_module_state`` and ``vmap``,
https://pytorch.org/tutorials/intermediate/ensembling.html
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from sciml.errors import ConfigError, ParameterError
from sciml.surrogates.potentials.protocol import unwrap_potential
from sciml.surrogates.potentials.schnet_batched import BatchedSchNet, supports
from sciml.surrogates.potentials.verlet_list import VerletLists

__all__ = ["StackedPotential", "potential_states"]


class _EdgeEnergy(nn.Module):
    """``forward`` = the potential's ``energy_from_edges`` of one structure (state keys ``potential.*``)."""

    def __init__(self, potential: nn.Module) -> None:
        super().__init__()
        self.potential = potential

    def forward(self, numbers: Tensor, edge_index: Tensor, vectors: Tensor, batch: Tensor, mask: Tensor) -> Tensor:
        return self.potential.energy_from_edges(numbers, edge_index, vectors, batch, 1, mask)[0]


def potential_states(potential: nn.Module, stacked: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The entries of ``stacked`` (a model's or its potential's state, stacked) that belong to ``potential``,
    keyed as in ``potential.state_dict()``.

    Raises
    ------
    ConfigError
        An entry of the potential is missing (neither ``name`` nor ``potential.name``) or has
        another shape.
    """
    out, missing = {}, []
    entries = dict(potential.named_parameters())  # tied parameters once (SchNet shares its filter nets)
    entries.update(potential.named_buffers())
    for name, value in entries.items():
        entry = stacked.get(name, stacked.get(f"potential.{name}"))
        if entry is None:
            missing.append(name)
        elif tuple(entry.shape[1:]) != tuple(value.shape):
            raise ConfigError(f"sample entry {name!r} has shape {tuple(entry.shape[1:])}, the potential's "
                              f"{tuple(value.shape)}: the samples belong to another model")
        else:
            out[name] = entry
    if missing:
        raise ConfigError(f"the samples lack {len(missing)} entries of the potential, e.g. {missing[:3]}: they "
                          "belong to another model")
    return out


class _VmapKernel:
    """Any ``energy_from_edges`` potential, mapped over the stacked states with ``vmap`` (full lists)."""

    half_list = False

    def __init__(self, potential: nn.Module) -> None:
        self.template = _EdgeEnergy(potential)
        self._energies = vmap(self._one, in_dims=(0, None, 0, 0, None, 0))

    def _one(self, state: dict[str, Tensor], numbers: Tensor, edge_index: Tensor, vectors: Tensor, batch: Tensor,
             mask: Tensor) -> Tensor:
        return functional_call(self.template, state, (numbers, edge_index, vectors, batch, mask))

    def energies(self, states: Mapping[str, Tensor], numbers: Tensor, edge_index: Tensor, vectors: Tensor,
                 mask: Tensor) -> Tensor:
        batch = torch.zeros(numbers.shape[0], dtype=torch.long, device=numbers.device)
        prefixed = {f"potential.{k}": v for k, v in states.items()}
        return self._energies(prefixed, numbers, edge_index, vectors, batch, mask)


class StackedPotential:
    """A potential with ``M`` weight samples, evaluated on ``M`` replicas at once.

    Parameters
    ----------
    model : nn.Module
        A potential with ``energy_from_edges`` and ``cutoff`` (e.g. SchNetPotential), or a
        model holding one as ``.potential`` (ForceMatchingModel). Copied, not changed.
    stacked : mapping of str to Tensor
        State entries stacked over samples, ``(M, *shape)`` (``WeightSamples.stack()``), of
        the model or of its potential.
    dtype, device
        Of the computation (floating entries are cast to ``dtype``).
    method : {"auto", "vmap"}
        ``"auto"``: the batched SchNet kernel where it applies, else ``vmap``.

    Attributes
    ----------
    n_replicas : int
    cutoff : float
    half_list : bool
        Whether the kernel wants each pair once (:class:`VerletLists` ``half``).

    Raises
    ------
    ParameterError
        The model has no ``energy_from_edges``, or an unknown method.
    ConfigError
        Samples of another model.
    """

    def __init__(self, model: nn.Module, stacked: Mapping[str, Tensor], *, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None, method: str = "auto") -> None:
        potential = unwrap_potential(model)
        if not callable(getattr(potential, "energy_from_edges", None)):
            raise ParameterError(f"{type(potential).__name__} has no energy_from_edges: batched MD needs it")
        if method not in ("auto", "vmap"):
            raise ParameterError(f"method must be 'auto' or 'vmap', got {method!r}")
        self.states = {k: (v.to(dtype) if v.is_floating_point() else v).to(device)
                       for k, v in potential_states(potential, stacked).items()}
        sizes = {int(v.shape[0]) for v in self.states.values()}
        if len(sizes) != 1:
            raise ConfigError(f"stacked entries have different numbers of samples: {sorted(sizes)}")
        self.n_replicas = sizes.pop()
        self.potential = copy.deepcopy(potential).to(dtype=dtype, device=device).eval()
        self.kernel = BatchedSchNet(self.potential) if method == "auto" and supports(self.potential) \
            else _VmapKernel(self.potential)
        self.half_list = self.kernel.half_list
        self.cutoff = float(self.potential.cutoff)

    def check_species(self, numbers: Tensor) -> None:
        """The potential's species check (ParameterError naming unknown atomic numbers)."""
        check = getattr(self.potential, "check_species", None)
        if check is not None:
            check(numbers)

    def energy_and_forces(self, positions: Tensor, numbers: Tensor,
                          lists: VerletLists) -> tuple[Tensor, Tensor, Tensor]:
        """Energies ``(M,)``, forces ``(M, n, 3)`` and each replica's shortest pair distance ``(M,)``
        (``inf`` without pairs) of ``positions (M, n, 3)`` over the current ``lists``."""
        x = positions.detach().requires_grad_(True)
        with torch.enable_grad():
            edge_index, vectors, mask = lists.edges(x)
            energy = self.kernel.energies(self.states, numbers, edge_index, vectors, mask)
            (grad,) = torch.autograd.grad(energy.sum(), x)
        closest = vectors.detach().norm(dim=-1).masked_fill(~mask, float("inf")).min(1).values
        return energy.detach(), -grad, closest
