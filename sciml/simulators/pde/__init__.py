"""Built-in batched 1D PDE simulators and their exact/reference solutions.

Periodic (PDEBench family): :class:`AdvectionSimulator`, :class:`BurgersSimulator`,
:class:`DiffusionReactionSimulator`. Generalised porous-medium family (ProbConserv):
:class:`HeatSimulator`, :class:`PorousMediumSimulator`, :class:`StefanSimulator`.
"""

from sciml.simulators.pde.advection import AdvectionSimulator, exact_shift_cell_averages, gauss_cell_averages
from sciml.simulators.pde.advection import exact_solution as advection_exact_solution
from sciml.simulators.pde.burgers import BurgersSimulator, cole_hopf_solution
from sciml.simulators.pde.diffusion_reaction import DiffusionReactionSimulator, logistic_solution
from sciml.simulators.pde.grid import PDESimulator1D
from sciml.simulators.pde.initial_conditions import SineIC, SineSumIC
from sciml.simulators.pde.heat import DirichletSineSeriesIC, HeatSimulator
from sciml.simulators.pde.porous_medium import (
    PorousMediumSimulator,
    barenblatt_front,
    barenblatt_mass,
    barenblatt_solution,
)
from sciml.simulators.pde.stefan import StefanSimulator, stefan_alpha

__all__ = [
    "AdvectionSimulator",
    "BurgersSimulator",
    "DiffusionReactionSimulator",
    "DirichletSineSeriesIC",
    "HeatSimulator",
    "PDESimulator1D",
    "PorousMediumSimulator",
    "SineIC",
    "SineSumIC",
    "StefanSimulator",
    "advection_exact_solution",
    "barenblatt_front",
    "barenblatt_mass",
    "barenblatt_solution",
    "cole_hopf_solution",
    "exact_shift_cell_averages",
    "gauss_cell_averages",
    "logistic_solution",
    "stefan_alpha",
]
