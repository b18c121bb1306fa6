"""An ASE ``Calculator`` that wraps any sciml potential, so that ASE drives MD with it.

:class:`PotentialCalculator` evaluates a potential with ``energy_and_forces`` and
``energy_forces_stress`` (a :class:`~sciml.surrogates.potentials.SchNetPotential`, a
:class:`~sciml.surrogates.potentials.LennardJonesPotential`, or the ``.potential`` of a
:class:`~sciml.surrogates.potentials.ForceMatchingModel`, which is unwrapped) on an
:class:`ase.Atoms`: energy (and ``free_energy``), forces and, for cells periodic in all three
directions, the stress in ASE's convention ``(1/V) dE/d(strain)``, Voigt order
``xx yy zz yz xz xy``. Units are the potential's (ASE's eV and Angstrom for models trained on
``"ase"`` data, sigma and epsilon for reduced LJ).

This module imports ASE when it is imported (``pip install 'sciml[md]'``); the package
exports :class:`PotentialCalculator` lazily.

Reference: ASE calculators, https://wiki.fysik.dtu.dk/ase/ase/calculators/calculators.html
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from sciml.errors import ParameterError
from sciml.simulators.md.driver import import_ase
from sciml.simulators.md.neighbors import check_min_distance
from sciml.surrogates.potentials.protocol import unwrap_potential

import_ase()
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes  # noqa: E402
from ase.stress import full_3x3_to_voigt_6_stress  # noqa: E402

__all__ = ["PotentialCalculator"]


class PotentialCalculator(Calculator):
    """ASE calculator of a sciml potential.

    Parameters
    ----------
    model : nn.Module
        A potential with ``energy_and_forces`` (and ``energy_forces_stress`` for stress), or a
        model holding one as ``.potential``. Used as is (not copied): load other weights into
        it and the calculator follows (call ``calc.reset()`` then).
    dtype : torch.dtype
        Floating type of the inputs; the potential's floating parameters must have it.
    device : torch.device or str, optional
        Device of the inputs (default: the potential's).
    min_distance : float, optional
        Refuse (ParameterError) a structure with two atoms closer than this (images included).

    Raises
    ------
    ParameterError
        Not a potential, or parameters of another dtype; at ``calculate``: species the model
        does not know, overlapping atoms, a periodic box thinner than twice the cutoff.
    PropertyNotImplementedError
        Stress of a structure not periodic in all three directions, or of a potential without
        ``energy_forces_stress``.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, model: nn.Module, *, dtype: torch.dtype = torch.float64, device: Any = None,
                 min_distance: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.potential = unwrap_potential(model)
        wrong = sorted({str(p.dtype) for p in self.potential.parameters() if p.is_floating_point()
                        and p.dtype != dtype})
        if wrong:
            raise ParameterError(f"the potential's parameters are {wrong}, the calculator's dtype is {dtype}; "
                                 f"convert the model (e.g. model.double()) or pass dtype=")
        first = next(iter(self.potential.parameters()), None)
        self.dtype = dtype
        self.device = torch.device(device) if device is not None else (
            first.device if first is not None else torch.device("cpu"))
        self.min_distance = min_distance

    def calculate(self, atoms: Any = None, properties: Any = ("energy",), system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        pbc = np.asarray(atoms.get_pbc(), dtype=bool)
        if self.min_distance is not None:
            check_min_distance(atoms.get_positions(), np.asarray(atoms.get_cell()), pbc, self.min_distance)
        as_tensor = {"dtype": self.dtype, "device": self.device}
        positions = torch.as_tensor(atoms.get_positions(), **as_tensor)
        numbers = torch.as_tensor(atoms.get_atomic_numbers(), dtype=torch.long, device=self.device)
        cell = torch.as_tensor(np.asarray(atoms.get_cell()), **as_tensor) if pbc.any() else None
        flags = tuple(bool(p) for p in pbc)
        if "stress" in properties:
            if not pbc.all() or not callable(getattr(self.potential, "energy_forces_stress", None)):
                raise PropertyNotImplementedError("stress needs a cell periodic in x, y and z and a potential with "
                                                  "energy_forces_stress")
            energy, forces, stress = self.potential.energy_forces_stress(positions, numbers, cell, flags)
            self.results["stress"] = full_3x3_to_voigt_6_stress(stress.detach().cpu().numpy().astype(np.float64))
        else:
            energy, forces = self.potential.energy_and_forces(positions, numbers, cell, flags)
        self.results["energy"] = self.results["free_energy"] = float(energy.detach())
        self.results["forces"] = forces.detach().cpu().numpy().astype(np.float64)
