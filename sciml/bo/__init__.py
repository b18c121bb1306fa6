"""Multi-fidelity Bayesian optimisation on BoTorch/GPyTorch.

A problem (:class:`BOProblem`; :class:`MultiFidelityProblem` implements it) has a design box, an
optional :class:`Fidelity` in physical units and a declared cost; :class:`MultiSourceProblem`
builds one from a list of :class:`Source` (any sciml simulator, e.g. a solver at a resolution or
a trained surrogate through its adapter) and an objective on their output. :class:`BOLoop` runs
a restartable, cost-aware ask/tell loop with a method of :data:`METHODS` and a model that is a
kind of :data:`MODELS` or any callable returning a BoTorch model (:mod:`sciml.bo.models`).
:mod:`sciml.bo.analysis` turns runs into regret curves; the standard test functions are in
:mod:`sciml.bo.synthetic`.
"""

from __future__ import annotations

from sciml.bo.acquisition import AcquisitionFailedError, propose_candidates, recommend
from sciml.bo.analysis import cost_to_reach, mean_curve, regret_curve
from sciml.bo.ar1 import AR1MultiFidelityGP, fit_ar1_gp
from sciml.bo.costs import AffineFidelityCost, PowerFidelityCost, TableFidelityCost
from sciml.bo.fidelity import Fidelity
from sciml.bo.fitting import ModelFitError
from sciml.bo.gp import fit_multifidelity_gp, fit_singletask_gp
from sciml.bo.loop import BOLoop, BOLoopError
from sciml.bo.models import MODELS, ModelFactory
from sciml.bo.multitask import fit_multitask_gp
from sciml.bo.names import DEFAULT_MODEL, METHODS, MODEL_KINDS
from sciml.bo.problem import BOProblem, MultiFidelityProblem, as_problem
from sciml.bo.result import BOResult
from sciml.bo.settings import FAST, TUTORIAL, AcquisitionSettings
from sciml.bo.sources import MultiSourceProblem, SimulatorSource, Source
from sciml.bo.synthetic import (
    TEST_PROBLEMS,
    augmented_branin,
    augmented_hartmann,
    borehole,
    currin,
    forrester,
    get_test_problem,
    park91a,
    park91b,
)

__all__ = [
    "DEFAULT_MODEL",
    "FAST",
    "METHODS",
    "MODELS",
    "MODEL_KINDS",
    "TEST_PROBLEMS",
    "TUTORIAL",
    "AR1MultiFidelityGP",
    "AcquisitionFailedError",
    "AcquisitionSettings",
    "AffineFidelityCost",
    "BOLoop",
    "BOLoopError",
    "BOProblem",
    "BOResult",
    "Fidelity",
    "ModelFactory",
    "ModelFitError",
    "MultiFidelityProblem",
    "MultiSourceProblem",
    "PowerFidelityCost",
    "SimulatorSource",
    "Source",
    "TableFidelityCost",
    "as_problem",
    "augmented_branin",
    "augmented_hartmann",
    "borehole",
    "cost_to_reach",
    "currin",
    "fit_ar1_gp",
    "fit_multifidelity_gp",
    "fit_multitask_gp",
    "fit_singletask_gp",
    "forrester",
    "get_test_problem",
    "mean_curve",
    "park91a",
    "park91b",
    "propose_candidates",
    "recommend",
    "regret_curve",
]
