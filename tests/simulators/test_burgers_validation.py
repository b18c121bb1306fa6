"""1D PDE simulators refuse an initial condition they cannot run, when they are built (issue 16)."""

from __future__ import annotations

import pytest

from sciml.errors import ConfigError, ParameterError
from sciml.simulators import build_simulator
from sciml.simulators.pde.burgers import BurgersAmplitudeSimulator, BurgersSimulator
from sciml.simulators.pde.initial_conditions import SineIC, SineSumIC


@pytest.mark.parametrize("cls", [BurgersSimulator, BurgersAmplitudeSimulator])
def test_a_configuration_mapping_is_refused_with_the_way_to_build_it(cls):
    with pytest.raises(ParameterError) as info:
        cls(initial_condition={"kind": "sine", "amplitude": 1.0})
    message = str(info.value)
    assert message.startswith("initial_condition must be None or an initial-condition object")
    assert "got dict {'kind': 'sine', 'amplitude': 1.0}" in message
    assert "initial_condition_from_config" in message and "build_simulator" in message
    assert "['dirichlet_sine_series', 'sine', 'sine_sum']" in message


@pytest.mark.parametrize("bad", [{}, "sine", 3, object()], ids=["empty-dict", "str", "int", "object"])
def test_other_objects_are_refused(bad):
    with pytest.raises(ParameterError, match=f"got {type(bad).__name__} "):
        BurgersSimulator(initial_condition=bad)


@pytest.mark.parametrize("ic", [None, SineIC(amplitude=0.5), SineSumIC(n_waves=1)])
def test_accepted_initial_conditions_run(ic):
    sim = BurgersSimulator(n_cells=16, n_frames=3, t_final=0.01, initial_condition=ic)
    ds = sim.run({"nu": 0.1}, seed=0, n_samples=2)
    assert ds["u"].shape == (2, 3, 16)


def test_build_simulator_still_builds_it_from_a_mapping_and_reports_bad_ones():
    sim = build_simulator({"kind": "burgers1d", "n_cells": 16, "initial_condition": {"kind": "sine", "k": 2}})
    assert sim.initial_condition == SineIC(k=2)
    with pytest.raises(ConfigError, match=r"^r\.yaml: simulator: initial_condition must be None .* got str 'sine'"):
        build_simulator({"kind": "burgers1d", "initial_condition": "sine"}, source="r.yaml: simulator")


@pytest.mark.parametrize("cls", ["AdvectionSimulator", "DiffusionReactionSimulator"])
def test_every_1d_pde_simulator_refuses_a_mapping(cls):
    import sciml.simulators.pde as pde

    with pytest.raises(ParameterError, match=r"initial_condition must be None or an initial-condition object"):
        getattr(pde, cls)(initial_condition={"kind": "sine"})
