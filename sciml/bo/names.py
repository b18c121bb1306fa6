"""The names of the optimisation methods and surrogate model kinds, defined once.

Everything that names a method or a model kind (the loop, the acquisitions, the model registry,
the workflow step's schema, the benchmark) uses these constants and ``Literal`` aliases.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "AR1",
    "AR1_EI",
    "BASELINE_METHOD",
    "DEFAULT_METHOD",
    "DEFAULT_MODEL",
    "METHODS",
    "MFGP",
    "MFKG",
    "MFMES",
    "MODEL_KINDS",
    "MULTITASK",
    "MULTI_FIDELITY_METHODS",
    "MethodName",
    "ModelKind",
    "QLOGNEI",
    "SINGLETASK",
]

#: An optimisation method (acquisition): cost-aware multi-fidelity knowledge gradient,
#: multi-fidelity GIBBON, single-fidelity qLogNEI at the target, AR(1) augmented EI.
MethodName = Literal["mfkg", "mfmes", "qlognei", "ar1-ei"]
#: A registered surrogate model kind (:data:`sciml.bo.models.MODELS`).
ModelKind = Literal["mfgp", "ar1", "multitask", "singletask"]

METHODS: tuple[MethodName, ...] = get_args(MethodName)
MFKG, MFMES, QLOGNEI, AR1_EI = METHODS
MODEL_KINDS: tuple[ModelKind, ...] = get_args(ModelKind)
MFGP, AR1, MULTITASK, SINGLETASK = MODEL_KINDS

#: Methods that need a problem with a fidelity.
MULTI_FIDELITY_METHODS: tuple[MethodName, ...] = (MFKG, MFMES, AR1_EI)
#: The single-fidelity baseline.
BASELINE_METHOD: MethodName = QLOGNEI
#: The method of :class:`sciml.bo.loop.BOLoop` when none is given.
DEFAULT_METHOD: MethodName = MFMES
#: Default surrogate kind of each method.
DEFAULT_MODEL: dict[MethodName, ModelKind] = {MFKG: MFGP, MFMES: MFGP, QLOGNEI: SINGLETASK, AR1_EI: AR1}
