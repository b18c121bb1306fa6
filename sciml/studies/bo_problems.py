"""Named BO problems and objectives: the registry that workflows and the benchmark build from.

:data:`BO_PROBLEMS` joins the generic test functions of :data:`sciml.bo.synthetic.TEST_PROBLEMS`
and the worked studies (the Burgers shock time; the plate's peak stress, the mesh level of a
finite-element model as the fidelity); :data:`OBJECTIVES` holds the objective factories a problem
built from sources can name (``objective(dataset) -> float`` made from the truth's simulator and
options).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sciml.bo.problem import MultiFidelityProblem
from sciml.bo.sources import Objective
from sciml.bo.synthetic import TEST_PROBLEMS, problem_from_registry
from sciml.errors import ConfigError
from sciml.simulators.base import Simulator
from sciml.studies.burgers import burgers_shock_time_2d_problem, burgers_shock_time_problem, shock_time_target
from sciml.studies.fem_plate import peak_stress_target, plate_peak_stress_problem

__all__ = ["BO_PROBLEMS", "OBJECTIVES", "ObjectiveFactory", "get_bo_problem", "get_objective"]

#: ``factory(truth_simulator, **options) -> objective(dataset) -> float``.
ObjectiveFactory = Callable[..., Objective]

#: Problem factories by name: the test functions and the studies (see :func:`get_bo_problem`).
BO_PROBLEMS: dict[str, Callable[..., MultiFidelityProblem]] = {
    **TEST_PROBLEMS,
    "burgers_shock_time": burgers_shock_time_problem,
    "burgers_shock_time_2d": burgers_shock_time_2d_problem,
    "fem_plate_peak_stress": plate_peak_stress_problem,
}

#: Objective factories by name (see :func:`get_objective`).
OBJECTIVES: dict[str, ObjectiveFactory] = {
    "shock_time": shock_time_target,
    "peak_stress": peak_stress_target,
}


def get_bo_problem(name: str, **kwargs: Any) -> MultiFidelityProblem:
    """Build a registered problem by name (:data:`BO_PROBLEMS`) with factory keyword arguments.

    Raises
    ------
    ConfigError
        Unknown name (the message lists the accepted ones) or bad keyword arguments.
    """
    return problem_from_registry(BO_PROBLEMS, name, **kwargs)


def get_objective(name: str, truth: Simulator, **options: Any) -> Objective:
    """Build the objective registered as ``name`` for sources whose truth is ``truth``.

    Raises
    ------
    ConfigError
        Unknown name (the message lists :data:`OBJECTIVES`) or bad options.
    """
    if name not in OBJECTIVES:
        raise ConfigError(f"unknown objective {name!r}; accepted: {sorted(OBJECTIVES)}")
    try:
        return OBJECTIVES[name](truth, **options)
    except TypeError as exc:
        raise ConfigError(f"bad options for objective {name!r}: {exc}") from None
