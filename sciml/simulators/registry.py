"""Registry of simulators by name, and construction from configuration.

Simulators are registered by import path so that optional heavy ones (FEniCSx, ASE) are
imported only when used. :func:`build_simulator` checks the configuration fields against
the simulator's constructor and reports unknown or bad fields with the accepted ones.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from sciml.errors import ConfigError, ParameterError
from sciml.simulators.base import Simulator

#: name -> "module:ClassName"
SIMULATORS: dict[str, str] = {
    "advection1d": "sciml.simulators.pde.advection:AdvectionSimulator",
    "burgers1d": "sciml.simulators.pde.burgers:BurgersSimulator",
    "burgers1d_amplitude": "sciml.simulators.pde.burgers:BurgersAmplitudeSimulator",
    "cosmo_2lpt": "sciml.simulators.cosmology.simulators:LPT2Simulator",
    "cosmo_pm": "sciml.simulators.cosmology.simulators:PMSimulator",
    "cosmo_zeldovich": "sciml.simulators.cosmology.simulators:ZeldovichSimulator",
    "diffusion_reaction1d": "sciml.simulators.pde.diffusion_reaction:DiffusionReactionSimulator",
    "emt_metal": "sciml.simulators.md.emt:EMTMetalSimulator",
    "fem_diffusion2d": "sciml.simulators.fem.diffusion:DiffusionSimulator",
    "fem_plate_dynamics": "sciml.simulators.fem.elastodynamics:PlateDynamicsSimulator",
    "fem_plate_submodel": "sciml.simulators.fem.submodel:PlateSubmodel",
    "heat1d": "sciml.simulators.pde.heat:HeatSimulator",
    "lj_fluid": "sciml.simulators.md.lennard_jones:LJFluidSimulator",
    "pme1d": "sciml.simulators.pde.porous_medium:PorousMediumSimulator",
    "stefan1d": "sciml.simulators.pde.stefan:StefanSimulator",
}


def simulator_class(kind: str) -> type:
    """Import and return the simulator class registered as ``kind``."""
    if kind not in SIMULATORS:
        raise ConfigError(f"unknown simulator {kind!r}; accepted: {sorted(SIMULATORS)}")
    module, _, cls = SIMULATORS[kind].partition(":")
    return getattr(importlib.import_module(module), cls)


def constructor_fields(cls: type) -> list[str]:
    """Keyword arguments accepted by a simulator class's constructor (its whole MRO)."""
    names: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters
        for name, p in params.items():
            if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if name not in names:
                names.append(name)
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            break
    return names


def build_simulator(config: Mapping[str, Any], *, source: str = "simulator") -> Simulator:
    """Construct a simulator from ``{"kind": name, **constructor_options}``.

    Parameters
    ----------
    config : mapping
        The simulator's name under ``kind`` and its numerical configuration.
    source : str
        Where the configuration comes from (file and field), prefixed to errors.

    Raises
    ------
    ConfigError
        Unknown simulator, unknown option (the message lists the accepted ones) or an
        option of the wrong type or range.
    """
    cfg = dict(config)
    kind = cfg.pop("kind", None)
    if kind is None:
        raise ConfigError(f"{source}: field 'kind' is required; accepted: {sorted(SIMULATORS)}")
    try:
        cls = simulator_class(kind)
    except ConfigError as exc:
        raise ConfigError(f"{source}.kind: {exc}") from None
    accepted = constructor_fields(cls)
    unknown = sorted(set(cfg) - set(accepted))
    if unknown:
        raise ConfigError(
            f"{source}: unknown field(s) {unknown} for simulator {kind!r}; accepted: {accepted}"
        )
    if "initial_condition" in cfg and isinstance(cfg["initial_condition"], Mapping):
        from sciml.simulators.pde.initial_conditions import initial_condition_from_config

        try:
            cfg["initial_condition"] = initial_condition_from_config(dict(cfg["initial_condition"]))
        except ValueError as exc:
            raise ConfigError(f"{source}.initial_condition: {exc}") from None
    try:
        return cls(**cfg)
    except (ParameterError, ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: {exc}") from None
