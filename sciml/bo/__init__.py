"""Multi-fidelity Bayesian optimisation on BoTorch/GPyTorch.

:mod:`sciml.bo.problems` defines the problems a loop optimises: :class:`Fidelity`,
:class:`MultiFidelityProblem`, the standard multi-fidelity test functions and
:class:`SimulatorSource`, which turns any sciml simulator into an information source;
:mod:`sciml.bo.surrogate_sources` makes a trained neural PDE solver one
(:class:`NeuralSolverSimulator`), e.g. the cheapest source beside the solver.
:mod:`sciml.bo.models` fits the surrogate models: BoTorch's multi-fidelity GP (fidelity in
[0, 1], 1 = target), the linear autoregressive Kennedy–O'Hagan model
(:class:`AR1MultiFidelityGP`), a multi-task GP for unordered sources and the single-fidelity
baseline, with fitting fallbacks that report what was tried (:class:`ModelFitError`).
:mod:`sciml.bo.acquisition` proposes candidates (cost-aware MF-KG, multi-fidelity GIBBON,
single-fidelity qLogNEI, AR1 augmented EI) and :mod:`sciml.bo.loop` runs the restartable
ask/tell loop (:class:`BOLoop`).
"""

from __future__ import annotations

from sciml.bo.acquisition import (
    ACQUISITION_KINDS,
    FAST,
    TUTORIAL,
    AcquisitionFailedError,
    AcquisitionInputError,
    AcquisitionSettings,
    AugmentedLogEI,
    MultiFidelityGIBBON,
    cost_model_for,
    max_posterior_mean,
    propose_candidates,
    recommend,
)
from sciml.bo.loop import (
    DEFAULT_MODEL,
    METHODS,
    BOLoop,
    BOLoopError,
    BOResult,
    bare_botorch_iteration,
    plot_best_vs_cost,
)
from sciml.bo.models import (
    MODEL_KINDS,
    AR1MultiFidelityGP,
    ModelFitError,
    ModelInputError,
    check_training_covariance,
    fit_ar1_gp,
    fit_multifidelity_gp,
    fit_multitask_gp,
    fit_singletask_gp,
    fix_fidelity_power,
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
    burgers_shock_time_2d_problem,
    burgers_shock_time_problem,
    currin,
    forrester,
    get_problem,
    park91a,
    park91b,
    shock_time,
)
from sciml.bo.surrogate_sources import (
    NeuralSolverSimulator,
    burgers_shock_time_surrogate_problem,
    train_burgers_surrogate,
)

__all__ = [
    "ACQUISITION_KINDS",
    "DEFAULT_MODEL",
    "FAST",
    "METHODS",
    "TUTORIAL",
    "AcquisitionFailedError",
    "AcquisitionInputError",
    "AcquisitionSettings",
    "AugmentedLogEI",
    "BOLoop",
    "BOLoopError",
    "BOResult",
    "MultiFidelityGIBBON",
    "bare_botorch_iteration",
    "cost_model_for",
    "max_posterior_mean",
    "plot_best_vs_cost",
    "propose_candidates",
    "recommend",
    "MODEL_KINDS",
    "AR1MultiFidelityGP",
    "ModelFitError",
    "ModelInputError",
    "fit_ar1_gp",
    "fit_multifidelity_gp",
    "fix_fidelity_power",
    "check_training_covariance",
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
    "burgers_shock_time_2d_problem",
    "burgers_shock_time_problem",
    "currin",
    "forrester",
    "get_problem",
    "park91a",
    "park91b",
    "shock_time",
    "NeuralSolverSimulator",
    "burgers_shock_time_surrogate_problem",
    "train_burgers_surrogate",
]
