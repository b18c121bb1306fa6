"""Multi-fidelity Bayesian optimisation on BoTorch/GPyTorch.

:mod:`sciml.bo.problems` defines the problems a loop optimises: :class:`Fidelity`,
:class:`MultiFidelityProblem`, the standard multi-fidelity test functions and
:class:`SimulatorSource`, which turns any sciml simulator into an information source.
:mod:`sciml.bo.models` fits the surrogate models: BoTorch's multi-fidelity GP (fidelity in
[0, 1], 1 = target), the linear autoregressive Kennedy–O'Hagan model
(:class:`AR1MultiFidelityGP`), a multi-task GP for unordered sources and the single-fidelity
baseline, with fitting fallbacks that report what was tried (:class:`ModelFitError`).
"""

from __future__ import annotations

from sciml.bo.models import (
    MODEL_KINDS,
    AR1MultiFidelityGP,
    ModelFitError,
    ModelInputError,
    fit_ar1_gp,
    fit_multifidelity_gp,
    fit_multitask_gp,
    fit_singletask_gp,
    model_for,
)
from sciml.bo.problems import (
    PROBLEMS,
    AffineFidelityCost,
    Fidelity,
    MultiFidelityProblem,
    PowerFidelityCost,
    SimulatorSource,
    TableFidelityCost,
    augmented_branin,
    augmented_hartmann,
    borehole,
    burgers_shock_time_problem,
    currin,
    forrester,
    get_problem,
    park91a,
    park91b,
    shock_time,
)

__all__ = [
    "MODEL_KINDS",
    "AR1MultiFidelityGP",
    "ModelFitError",
    "ModelInputError",
    "fit_ar1_gp",
    "fit_multifidelity_gp",
    "fit_multitask_gp",
    "fit_singletask_gp",
    "model_for",
    "PROBLEMS",
    "AffineFidelityCost",
    "Fidelity",
    "MultiFidelityProblem",
    "PowerFidelityCost",
    "SimulatorSource",
    "TableFidelityCost",
    "augmented_branin",
    "augmented_hartmann",
    "borehole",
    "burgers_shock_time_problem",
    "currin",
    "forrester",
    "get_problem",
    "park91a",
    "park91b",
    "shock_time",
]
