"""The one training loop of sciml's neural surrogates and its checkpoint format.

A model family supplies a :class:`TrainingTask` (its batches, its step, its evaluation);
:func:`run_training` gives it seeds, atomic checkpoints read with ``weights_only=True``, exact
resume, a divergence stop, ``metrics.jsonl`` and a progress bar. The neural PDE
:class:`~sciml.surrogates.neural_pde.Trainer` and the ANP
:class:`~sciml.surrogates.probconserv.ANPTrainer` are built on it.
"""

from sciml.surrogates.training.checkpoints import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    CheckpointError,
    TrainingDivergedError,
    load_checkpoint,
    load_weights,
)
from sciml.surrogates.training.loop import (
    LoopResult,
    NonFiniteLoss,
    TrainingTask,
    UnitEnd,
    apply_update,
    as_config,
    run_training,
    seed_everything,
    stream_seed,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CheckpointError",
    "LoopResult",
    "NonFiniteLoss",
    "TrainingDivergedError",
    "TrainingTask",
    "UnitEnd",
    "apply_update",
    "as_config",
    "load_checkpoint",
    "load_weights",
    "run_training",
    "seed_everything",
    "stream_seed",
]
