"""Neural PDE solvers (FNO, U-Net, CAPE and baselines) as surrogates, and their training.

Their PDEBench metrics are in :mod:`sciml.uq.pde_metrics`."""

from sciml.surrogates.neural_pde.baselines import ConditionalSolver, count_parameters, match_width
from sciml.surrogates.neural_pde.cape import CAPE, ParameterTransform
from sciml.surrogates.neural_pde.curriculum import Curriculum, self_fed_share
from sciml.surrogates.neural_pde.factory import SOLVER_KINDS, build_solver
from sciml.surrogates.neural_pde.fno import FNO
from sciml.surrogates.neural_pde.losses import evaluate, relative_l2
from sciml.surrogates.neural_pde.protocol import (
    NeuralPDESolver,
    RolloutRequest,
    SolverModule,
    check_solver_inputs,
    predict_rollout,
    rollout,
)
from sciml.surrogates.neural_pde.spectral import SpectralConv1d, SpectralConv2d
from sciml.surrogates.neural_pde.training import TrainConfig, Trainer, TrainResult, load_weights
from sciml.surrogates.neural_pde.unet import UNet

__all__ = [
    "CAPE",
    "FNO",
    "SOLVER_KINDS",
    "ConditionalSolver",
    "Curriculum",
    "NeuralPDESolver",
    "ParameterTransform",
    "RolloutRequest",
    "SolverModule",
    "SpectralConv1d",
    "SpectralConv2d",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "UNet",
    "build_solver",
    "check_solver_inputs",
    "count_parameters",
    "evaluate",
    "load_weights",
    "match_width",
    "predict_rollout",
    "relative_l2",
    "rollout",
    "self_fed_share",
]
