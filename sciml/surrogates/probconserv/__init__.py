"""ProbConserv (Hansen et al., ICML 2023): probabilistic predictions that respect conservation laws.

Step 2 of ProbConserv conditions any Gaussian (or Gaussian-mixture) prediction on the
integral form of a conservation law, ``G u(t) = b(t)``:
:func:`conservation_update` / :class:`ConservationLayer` (and
:func:`conservation_update_samples` for latent-sample models). ``G`` and ``b`` are built by
the helpers of :mod:`sciml.surrogates.probconserv.constraints`. The base probabilistic model
is an :class:`AttentiveNeuralProcess` over ``(t, x)`` (:mod:`~sciml.surrogates.probconserv.anp`),
trained by :class:`ANPTrainer`; any model that returns a mean and a covariance on the grid can
be the base instead (:mod:`~sciml.surrogates.probconserv.bases`: an exact GP, a deep ensemble
of FNOs, MC dropout); the problems (heat, porous medium, Stefan, advection, Burgers)
with exact solutions and conserved quantities are in :mod:`~sciml.surrogates.probconserv.problems`,
and the evaluation (test functions, variant predictions, metrics) in
:mod:`~sciml.surrogates.probconserv.evaluation`.
"""

from sciml.surrogates.probconserv.anp import ANPOutput, ANPPrediction, AttentiveNeuralProcess
from sciml.surrogates.probconserv.bases import (
    ExactGPField,
    FieldInputError,
    FieldPrediction,
    FNOEnsembleField,
    MCDropout,
    MCDropoutField,
    MeanVarianceField,
    mc_dropout,
)
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
from sciml.surrogates.probconserv.evaluation import (
    MetricAccumulator,
    TestFunctions,
    VariantPrediction,
    anp_variants,
    evaluate_anps,
    front_levels,
    make_test_functions,
    mean_and_se,
    mixture_full_cov,
    profiles_and_positions,
    sample_shock_positions,
)
from sciml.simulators.pde.porous_medium import heat_mass, pme_mass
from sciml.simulators.pde.stefan import stefan_mass
from sciml.surrogates.probconserv.problem_suite import CONSERVATION_PROBLEMS, conservation_problem
from sciml.surrogates.probconserv.problems import (
    ConservationProblem,
    ProblemBatch,
    evaluation_slice,
    grid_points,
)
from sciml.surrogates.probconserv.training import (
    ANPTrainConfig,
    ANPTrainer,
    ANPTrainResult,
    beta_weighted_loss,
    pde_residual_penalty,
)
from sciml.surrogates.probconserv.update import (
    JITTER_LEVELS,
    ConservationInputError,
    ConservationJitterWarning,
    ConservationLayer,
    ConservedPrediction,
    NotPositiveDefiniteError,
    conservation_update,
    conservation_update_samples,
)

__all__ = [
    "ANPOutput",
    "ANPPrediction",
    "ANPTrainConfig",
    "ANPTrainResult",
    "ANPTrainer",
    "AttentiveNeuralProcess",
    "ExactGPField",
    "FNOEnsembleField",
    "FieldInputError",
    "FieldPrediction",
    "MCDropout",
    "MCDropoutField",
    "MeanVarianceField",
    "MetricAccumulator",
    "TestFunctions",
    "VariantPrediction",
    "anp_variants",
    "evaluate_anps",
    "front_levels",
    "make_test_functions",
    "mean_and_se",
    "mixture_full_cov",
    "profiles_and_positions",
    "sample_shock_positions",
    "beta_weighted_loss",
    "mc_dropout",
    "ConservationProblem",
    "CONSERVATION_PROBLEMS",
    "ProblemBatch",
    "evaluation_slice",
    "conservation_problem",
    "grid_points",
    "pde_residual_penalty",
    "JITTER_LEVELS",
    "ConservationInputError",
    "ConservationJitterWarning",
    "ConservationLayer",
    "ConservedPrediction",
    "NotPositiveDefiniteError",
    "cell_volume_weights",
    "cell_volume_weights_2d",
    "conservation_update",
    "conservation_update_samples",
    "conserved_quantity_for",
    "conserved_quantity_numeric",
    "constraint_matrix",
    "constraint_matrix_for",
    "flatten_field",
    "heat_mass",
    "pme_mass",
    "stack_constraints",
    "stefan_mass",
    "trapezoid_weights",
    "unflatten_field",
]
