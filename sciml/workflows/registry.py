"""The registry of workflow steps: every step class, by its ``kind``.

A new step is one module under :mod:`sciml.workflows.steps` with a
:class:`~sciml.workflows.step.WorkflowStep` subclass, listed here.
"""

from __future__ import annotations

from sciml.workflows.step import WorkflowStep
from sciml.workflows.steps.carpool_study import CARPoolStudyStep
from sciml.workflows.steps.evaluate_neural_pde import EvaluateNeuralPDEStep
from sciml.workflows.steps.generate import GenerateStep
from sciml.workflows.steps.mfbo import MFBOStep
from sciml.workflows.steps.plot_trajectories import PlotTrajectoriesStep
from sciml.workflows.steps.potentials_study import PotentialsStudyStep
from sciml.workflows.steps.probconserv_study import ProbConservStudyStep
from sciml.workflows.steps.summary import SummaryStep
from sciml.workflows.steps.train_neural_pde import TrainNeuralPDEStep
from sciml.workflows.steps.wgan_submodel import WGANSubmodelStep

__all__ = ["STEPS", "STEP_TYPES"]

#: every step class, in the order the documentation lists them
STEP_TYPES: tuple[type[WorkflowStep], ...] = (
    GenerateStep,
    PlotTrajectoriesStep,
    SummaryStep,
    TrainNeuralPDEStep,
    EvaluateNeuralPDEStep,
    MFBOStep,
    ProbConservStudyStep,
    PotentialsStudyStep,
    WGANSubmodelStep,
    CARPoolStudyStep,
)

#: step kind -> step class
STEPS: dict[str, type[WorkflowStep]] = {cls.model_fields["kind"].default: cls for cls in STEP_TYPES}
