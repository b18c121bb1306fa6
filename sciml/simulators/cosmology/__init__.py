"""Cosmology: Gaussian initial conditions, Zel'dovich/2LPT and particle-mesh simulations, summary statistics.

The simulators (:mod:`.simulators`: ``"cosmo_zeldovich"``, ``"cosmo_2lpt"``, ``"cosmo_pm"``)
share the white noise of a seed, so that cheap and expensive runs are paired realisations.
Modules, bottom up: :mod:`.mesh` (FFT layout, CIC), :mod:`.linear` (growth, Eisenstein-Hu,
P(k) tables), :mod:`.initial_conditions`, :mod:`.lpt`, :mod:`.pm`, :mod:`.power` (power
spectrum, bispectrum).
"""

from sciml.simulators.cosmology.linear import Cosmology, EisensteinHu, PowerSpectrumTable, linear_power
from sciml.simulators.cosmology.power import BinnedPower, bispectrum, power_from_grid, power_from_particles
from sciml.simulators.cosmology.simulators import (
    COSMOLOGY_PARAMETERS,
    CosmologySimulator,
    LPT2Simulator,
    PMSimulator,
    ZeldovichSimulator,
)

__all__ = ["COSMOLOGY_PARAMETERS", "BinnedPower", "Cosmology", "CosmologySimulator", "EisensteinHu", "LPT2Simulator",
           "PMSimulator", "PowerSpectrumTable", "ZeldovichSimulator", "bispectrum", "linear_power", "power_from_grid",
           "power_from_particles"]
