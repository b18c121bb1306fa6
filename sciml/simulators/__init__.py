"""Simulators (data adapters): PDE solvers, and later MD and cosmology.

Every simulator satisfies :class:`sciml.simulators.base.Simulator`; the registry in
:mod:`sciml.simulators.registry` builds them from configuration by name.
"""

from sciml.simulators.base import Parameter, ParameterSpace, Simulator
from sciml.simulators.registry import SIMULATORS, build_simulator

__all__ = ["SIMULATORS", "Parameter", "ParameterSpace", "Simulator", "build_simulator"]
