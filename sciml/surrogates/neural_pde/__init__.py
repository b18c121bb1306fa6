"""Neural PDE solvers: FNO, U-Net, CAPE, training and PDEBench metrics."""

from sciml.surrogates.neural_pde.baselines import ConditionalSolver, count_parameters, match_width
from sciml.surrogates.neural_pde.cape import CAPE, ParameterTransform
from sciml.surrogates.neural_pde.curriculum import Curriculum, self_fed_share
from sciml.surrogates.neural_pde.fno import FNO
from sciml.surrogates.neural_pde.metrics import MetricAccumulator, compute_metrics
from sciml.surrogates.neural_pde.protocol import NeuralPDESolver, check_solver_inputs, rollout
from sciml.surrogates.neural_pde.spectral import SpectralConv1d, SpectralConv2d
from sciml.surrogates.neural_pde.training import TrainConfig, Trainer, TrainResult, evaluate
from sciml.surrogates.neural_pde.unet import UNet

__all__ = [
    "CAPE",
    "FNO",
    "ConditionalSolver",
    "Curriculum",
    "MetricAccumulator",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "compute_metrics",
    "evaluate",
    "self_fed_share",
    "NeuralPDESolver",
    "ParameterTransform",
    "SpectralConv1d",
    "SpectralConv2d",
    "UNet",
    "check_solver_inputs",
    "count_parameters",
    "match_width",
    "rollout",
]
