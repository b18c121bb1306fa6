"""ProbConserv (Hansen et al., ICML 2023): probabilistic predictions that respect conservation laws.

Step 2 of ProbConserv conditions a Gaussian (or Gaussian-mixture) prediction of a space-time
field on the integral form of a conservation law, ``G u(t) = b(t)``. Here it is a wrapper,
:class:`ProbConserv`, that turns any field surrogate into a conserving one::

    inputs = FieldInputs(t, x, context_x=cx, context_y=cy, params=p, seed=0)
    base = AttentiveNeuralProcess(...)            # or ExactGPField, FNOEnsembleField, MCDropoutField
    model = ProbConserv(base, ProblemConstraint(conservation_problem("stefan")))
    posterior = model.predict(inputs)             # mean, variance, sample(n): G mean = b

The field models implement :class:`~sciml.surrogates.base.Surrogate` with one inputs type,
:class:`FieldInputs`, and return posteriors on the grid (:class:`FieldPosterior`,
:class:`ANPPosterior`). The update itself is :func:`conservation_update` /
:func:`conservation_update_samples`; ``G`` is built by :func:`constraint_matrix` and friends;
the five problems of the paper with exact solutions and conserved quantities are
:data:`CONSERVATION_PROBLEMS`; the ANP is trained by :class:`ANPTrainer`. The worked study
(training, evaluation, metrics) is :mod:`sciml.studies.probconserv`.
"""

from sciml.surrogates.probconserv.anp import ANPInputError, AttentiveNeuralProcess
from sciml.surrogates.probconserv.constraints import (
    cell_volume_weights,
    cell_volume_weights_2d,
    conserved_quantity_for,
    conserved_quantity_numeric,
    constraint_matrix,
    constraint_matrix_for,
    flatten_field,
    stack_constraints,
    trapezoid_weights,
    unflatten_field,
)
from sciml.surrogates.probconserv.dropout import MCDropoutField
from sciml.surrogates.probconserv.ensemble import FNOEnsembleField
from sciml.surrogates.probconserv.field_fno import FieldFNO, FNOTrainConfig
from sciml.surrogates.probconserv.gp_field import ExactGPField
from sciml.surrogates.probconserv.inputs import FieldInputError, FieldInputs
from sciml.surrogates.probconserv.posteriors import (
    ANPPosterior,
    ConservedMixturePosterior,
    ConservedPosterior,
    FieldPosterior,
)
from sciml.surrogates.probconserv.problem_suite import CONSERVATION_PROBLEMS, conservation_problem
from sciml.surrogates.probconserv.problems import ConservationProblem, ProblemBatch, evaluation_slice, grid_points
from sciml.surrogates.probconserv.training import ANPTrainConfig, ANPTrainer, ANPTrainResult, load_weights
from sciml.surrogates.probconserv.update import (
    ConservationInputError,
    ConservationJitterWarning,
    ConservationLayer,
    ConservedPrediction,
    NotPositiveDefiniteError,
    conservation_gain,
    conservation_update,
    conservation_update_samples,
)
from sciml.surrogates.probconserv.wrapper import LinearConstraint, ProbConserv, ProblemConstraint, conserve_posterior

__all__ = [
    "ANPInputError",
    "ANPPosterior",
    "ANPTrainConfig",
    "ANPTrainResult",
    "ANPTrainer",
    "AttentiveNeuralProcess",
    "CONSERVATION_PROBLEMS",
    "ConservationInputError",
    "ConservationJitterWarning",
    "ConservationLayer",
    "ConservationProblem",
    "ConservedMixturePosterior",
    "ConservedPosterior",
    "ConservedPrediction",
    "ExactGPField",
    "FNOEnsembleField",
    "FNOTrainConfig",
    "FieldFNO",
    "FieldInputError",
    "FieldInputs",
    "FieldPosterior",
    "LinearConstraint",
    "MCDropoutField",
    "NotPositiveDefiniteError",
    "ProbConserv",
    "ProblemBatch",
    "ProblemConstraint",
    "cell_volume_weights",
    "cell_volume_weights_2d",
    "conservation_gain",
    "conservation_problem",
    "conservation_update",
    "conservation_update_samples",
    "conserve_posterior",
    "conserved_quantity_for",
    "conserved_quantity_numeric",
    "constraint_matrix",
    "constraint_matrix_for",
    "evaluation_slice",
    "flatten_field",
    "grid_points",
    "load_weights",
    "stack_constraints",
    "trapezoid_weights",
    "unflatten_field",
]
