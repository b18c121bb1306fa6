"""Standard multi-fidelity test functions and their registry (:data:`TEST_PROBLEMS`).

Target fidelity ``s = 1``; two-level problems have the low-fidelity function at ``s = 0``,
declared cost ``1`` there and ``cost_ratio`` (default 10) at ``s = 1`` (affine in ``s``); the
BoTorch problems use the MF-KG tutorial's ``5 + s``.

=====================================  =  ========  ===========================================  ========
factory                                d  sense     fidelity (default)                           optimum
=====================================  =  ========  ===========================================  ========
:func:`forrester`                      1  minimise  continuous [0, 1], linear mix of low/high    -6.02074
:func:`currin`                         2  maximise  discrete {0, 1}                              13.79872
:func:`park91a`                        4  maximise  discrete {0, 1}                              25.58925
:func:`park91b`                        4  maximise  discrete {0, 1}                              5.926037
:func:`borehole`                       8  maximise  discrete {0, 1}                              309.5756
:func:`augmented_branin`               2  minimise  continuous [0, 1] (BoTorch)                  0.397887
:func:`augmented_hartmann`             6  minimise  continuous [0, 1] (BoTorch)                  -3.32237
=====================================  =  ========  ===========================================  ========
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from sciml.bo.costs import AffineFidelityCost
from sciml.bo.fidelity import DTYPE, Fidelity
from sciml.bo.problem import MultiFidelityProblem
from sciml.errors import ConfigError

__all__ = [
    "BOREHOLE_VARIABLES",
    "TEST_PROBLEMS",
    "augmented_branin",
    "augmented_hartmann",
    "borehole",
    "borehole_high",
    "borehole_low",
    "currin",
    "currin_high",
    "currin_low",
    "forrester",
    "forrester_high",
    "forrester_low",
    "get_test_problem",
    "park91a",
    "park91a_high",
    "park91a_low",
    "park91b",
    "park91b_high",
    "park91b_low",
    "problem_from_registry",
]


def forrester_high(X: Tensor) -> Tensor:
    """Forrester et al. (2008): ``f(x) = (6x - 2)^2 sin(12x - 4)`` on ``x in [0, 1]``; X ``(n, 1)``."""
    x = X[..., 0]
    return (6.0 * x - 2.0) ** 2 * torch.sin(12.0 * x - 4.0)


def forrester_low(X: Tensor) -> Tensor:
    """Forrester low fidelity ``A f(x) + B (x - 0.5) - C`` with ``A = 0.5, B = 10, C = -5``."""
    x = X[..., 0]
    return 0.5 * forrester_high(X) + 10.0 * (x - 0.5) + 5.0


def _currin_raw(x1: Tensor, x2: Tensor) -> Tensor:
    # 1 - exp(-1 / (2 x2)) -> 1 as x2 -> 0+ (torch gives 1/(2*0) = inf, exp(-inf) = 0)
    factor = 1.0 - torch.exp(-1.0 / (2.0 * x2))
    num = 2300.0 * x1**3 + 1900.0 * x1**2 + 2092.0 * x1 + 60.0
    den = 100.0 * x1**3 + 500.0 * x1**2 + 4.0 * x1 + 20.0
    return factor * num / den


def currin_high(X: Tensor) -> Tensor:
    """Currin et al. (1988) exponential function on ``[0, 1]^2``; X ``(n, 2)``.

    ``f(x) = [1 - exp(-1 / (2 x2))] (2300 x1^3 + 1900 x1^2 + 2092 x1 + 60)
    / (100 x1^3 + 500 x1^2 + 4 x1 + 20)`` (the bracket is 1 at ``x2 = 0``).
    """
    return _currin_raw(X[..., 0], X[..., 1])


def currin_low(X: Tensor) -> Tensor:
    """Xiong et al. (2013) low fidelity of :func:`currin_high`: mean of four shifted values.

    ``f_L(x) = [f(x1 + h, x2 + h) + f(x1 + h, max(0, x2 - h)) + f(x1 - h, x2 + h)
    + f(x1 - h, max(0, x2 - h))] / 4`` with ``h = 0.05``.
    """
    h = 0.05
    x1, x2 = X[..., 0], X[..., 1]
    x2m = torch.clamp(x2 - h, min=0.0)
    return 0.25 * (_currin_raw(x1 + h, x2 + h) + _currin_raw(x1 + h, x2m)
                   + _currin_raw(x1 - h, x2 + h) + _currin_raw(x1 - h, x2m))


def park91a_high(X: Tensor) -> Tensor:
    """Park (1991) function 1 on ``[0, 1]^4``; X ``(n, 4)``.

    ``f(x) = x1/2 [sqrt(1 + (x2 + x3^2) x4 / x1^2) - 1] + (x1 + 3 x4) exp(1 + sin x3)``,
    computed as ``[sqrt(x1^2 + (x2 + x3^2) x4) - x1] / 2 + ...`` (equal for ``x1 > 0``;
    the continuous extension at ``x1 = 0``).
    """
    x1, x2, x3, x4 = X[..., 0], X[..., 1], X[..., 2], X[..., 3]
    term1 = 0.5 * (torch.sqrt(x1**2 + (x2 + x3**2) * x4) - x1)
    return term1 + (x1 + 3.0 * x4) * torch.exp(1.0 + torch.sin(x3))


def park91a_low(X: Tensor) -> Tensor:
    """Xiong et al. (2013): ``f_L = (1 + sin(x1)/10) f(x) - 2 x1 + x2^2 + x3^2 + 0.5``."""
    x1, x2, x3 = X[..., 0], X[..., 1], X[..., 2]
    return (1.0 + torch.sin(x1) / 10.0) * park91a_high(X) - 2.0 * x1 + x2**2 + x3**2 + 0.5


def park91b_high(X: Tensor) -> Tensor:
    """Park (1991) function 2 on ``[0, 1]^4``: ``f = 2/3 exp(x1 + x2) - x4 sin(x3) + x3``."""
    x1, x2, x3, x4 = X[..., 0], X[..., 1], X[..., 2], X[..., 3]
    return 2.0 / 3.0 * torch.exp(x1 + x2) - x4 * torch.sin(x3) + x3


def park91b_low(X: Tensor) -> Tensor:
    """Xiong et al. (2013): ``f_L = 1.2 f(x) - 1``."""
    return 1.2 * park91b_high(X) - 1.0


#: Borehole design variables, units and bounds (Harper & Gupta 1983; VLSE).
BOREHOLE_VARIABLES: tuple[tuple[str, float, float, str], ...] = (
    ("rw", 0.05, 0.15, "m"),        # radius of the borehole
    ("r", 100.0, 50000.0, "m"),     # radius of influence
    ("Tu", 63070.0, 115600.0, "m2/yr"),  # transmissivity of the upper aquifer
    ("Hu", 990.0, 1110.0, "m"),     # potentiometric head of the upper aquifer
    ("Tl", 63.1, 116.0, "m2/yr"),   # transmissivity of the lower aquifer
    ("Hl", 700.0, 820.0, "m"),      # potentiometric head of the lower aquifer
    ("L", 1120.0, 1680.0, "m"),     # length of the borehole
    ("Kw", 9855.0, 12045.0, "m/yr"),  # hydraulic conductivity of the borehole
)


def _borehole(X: Tensor, numerator: float, one: float) -> Tensor:
    rw, r, tu, hu, tl, hl, length, kw = (X[..., i] for i in range(8))
    log_ratio = torch.log(r / rw)
    den = log_ratio * (one + 2.0 * length * tu / (log_ratio * rw**2 * kw) + tu / tl)
    return numerator * tu * (hu - hl) / den


def borehole_high(X: Tensor) -> Tensor:
    """Borehole water flow rate (m^3/yr); X ``(n, 8)`` = (rw, r, Tu, Hu, Tl, Hl, L, Kw).

    ``f = 2 pi Tu (Hu - Hl) / (ln(r/rw) [1 + 2 L Tu / (ln(r/rw) rw^2 Kw) + Tu / Tl])``.
    """
    return _borehole(X, 2.0 * math.pi, 1.0)


def borehole_low(X: Tensor) -> Tensor:
    """Xiong et al. (2013) / VLSE low fidelity: ``2 pi -> 5`` and the ``1`` in the bracket ``-> 1.5``.

    ``f_L = 5 Tu (Hu - Hl) / (ln(r/rw) [1.5 + 2 L Tu / (ln(r/rw) rw^2 Kw) + Tu / Tl])``.
    """
    return _borehole(X, 5.0, 1.5)


def _two_level(
    high: Callable[[Tensor], Tensor], low: Callable[[Tensor], Tensor]
) -> Callable[[Tensor, Tensor | None], Tensor]:
    """``f(X, s) = s f_H + (1 - s) f_L``; exactly ``f_H`` at ``s = 1`` and ``f_L`` at ``s = 0``."""

    def function(X: Tensor, s: Tensor | None) -> Tensor:
        fh = high(X)
        if s is None:
            return fh
        fl = low(X)
        mixed = torch.where(s == 0.0, fl, s * fh + (1.0 - s) * fl)
        return torch.where(s == 1.0, fh, mixed)

    return function


def _two_level_problem(
    name: str, high: Callable[[Tensor], Tensor], low: Callable[[Tensor], Tensor], *, bounds: Any,
    design_names: Sequence[str], maximize: bool, optimum_value: float, optimizers: Any,
    fidelity: str, cost_ratio: float,
) -> MultiFidelityProblem:
    if fidelity == "discrete":
        fid = Fidelity.discrete("s", (0.0, 1.0))
    elif fidelity == "continuous":
        fid = Fidelity.continuous("s", 0.0, 1.0)
    else:
        raise ConfigError(f"{name}: fidelity must be 'discrete' or 'continuous', got {fidelity!r}")
    if not (isinstance(cost_ratio, (int, float)) and math.isfinite(cost_ratio) and cost_ratio > 0):
        raise ConfigError(f"{name}: cost_ratio must be a finite number > 0, got {cost_ratio!r}")
    return MultiFidelityProblem(
        name=name, bounds=bounds, function=_two_level(high, low), fidelity=fid, maximize=maximize,
        cost=AffineFidelityCost(1.0, float(cost_ratio) - 1.0), design_names=design_names,
        optimum_value=optimum_value, optimizers=optimizers)


def forrester(*, fidelity: Literal["continuous", "discrete"] = "continuous",
              cost_ratio: float = 10.0) -> MultiFidelityProblem:
    """Forrester 1D function, minimised on ``x in [0, 1]``.

    ``f(x, s) = s f_H(x) + (1 - s) f_L(x)`` (:func:`forrester_high`, :func:`forrester_low`);
    minimum ``f_H(0.757249) = -6.020740``. Declared cost ``1 + (cost_ratio - 1) s``.

    Parameters
    ----------
    fidelity : {"continuous", "discrete"}
        ``s in [0, 1]`` or ``s in {0, 1}``.
    cost_ratio : float
        Cost of the target over the lowest fidelity.
    """
    return _two_level_problem(
        "forrester", forrester_high, forrester_low, bounds=[[0.0], [1.0]], design_names=("x",),
        maximize=False, optimum_value=-6.020740055767083, optimizers=[[0.7572487585]],
        fidelity=fidelity, cost_ratio=cost_ratio)


def currin(*, fidelity: Literal["continuous", "discrete"] = "discrete",
           cost_ratio: float = 10.0) -> MultiFidelityProblem:
    """Currin exponential function, maximised on ``[0, 1]^2``; max ``13.798722`` at ``(13/60, 0)``.

    Low fidelity :func:`currin_low` at ``s = 0``, high :func:`currin_high` at ``s = 1``.
    """
    return _two_level_problem(
        "currin", currin_high, currin_low, bounds=[[0.0, 0.0], [1.0, 1.0]], design_names=("x1", "x2"),
        maximize=True, optimum_value=13.798722044728434, optimizers=[[13.0 / 60.0, 0.0]],
        fidelity=fidelity, cost_ratio=cost_ratio)


def park91a(*, fidelity: Literal["continuous", "discrete"] = "discrete",
            cost_ratio: float = 10.0) -> MultiFidelityProblem:
    """Park91a, maximised on ``[0, 1]^4``; max ``25.589254`` at ``(1, 1, 1, 1)``.

    Low fidelity :func:`park91a_low` at ``s = 0`` (declared cost 1), high
    :func:`park91a_high` at ``s = 1`` (declared cost ``cost_ratio``, default 10).
    """
    return _two_level_problem(
        "park91a", park91a_high, park91a_low, bounds=[[0.0] * 4, [1.0] * 4],
        design_names=("x1", "x2", "x3", "x4"), maximize=True, optimum_value=25.589254158606547,
        optimizers=[[1.0, 1.0, 1.0, 1.0]], fidelity=fidelity, cost_ratio=cost_ratio)


def park91b(*, fidelity: Literal["continuous", "discrete"] = "discrete",
            cost_ratio: float = 10.0) -> MultiFidelityProblem:
    """Park91b, maximised on ``[0, 1]^4``; max ``2/3 e^2 + 1 = 5.926037`` at ``(1, 1, 1, 0)``."""
    return _two_level_problem(
        "park91b", park91b_high, park91b_low, bounds=[[0.0] * 4, [1.0] * 4],
        design_names=("x1", "x2", "x3", "x4"), maximize=True, optimum_value=2.0 / 3.0 * math.exp(2.0) + 1.0,
        optimizers=[[1.0, 1.0, 1.0, 0.0]], fidelity=fidelity, cost_ratio=cost_ratio)


def borehole(*, fidelity: Literal["continuous", "discrete"] = "discrete",
             cost_ratio: float = 10.0) -> MultiFidelityProblem:
    """Borehole flow rate (m^3/yr), maximised on its physical box (:data:`BOREHOLE_VARIABLES`).

    Max ``309.5756`` at the corner ``rw = 0.15, r = 100, Tu = 115600, Hu = 1110, Tl = 116,
    Hl = 700, L = 1120, Kw = 12045`` (the flow increases or decreases monotonically in
    every variable). Low fidelity :func:`borehole_low` at ``s = 0`` (declared cost 1),
    high :func:`borehole_high` at ``s = 1`` (declared cost ``cost_ratio``, default 10).
    """
    lo = [v[1] for v in BOREHOLE_VARIABLES]
    hi = [v[2] for v in BOREHOLE_VARIABLES]
    opt = [0.15, 100.0, 115600.0, 1110.0, 116.0, 700.0, 1120.0, 12045.0]
    return _two_level_problem(
        "borehole", borehole_high, borehole_low, bounds=[lo, hi],
        design_names=tuple(v[0] for v in BOREHOLE_VARIABLES), maximize=True,
        optimum_value=309.5755876604079, optimizers=[opt], fidelity=fidelity, cost_ratio=cost_ratio)


def _botorch_problem(name: str, test_function: Any, *, d: int, design_names: Sequence[str],
                     optimum_value: float, optimizers: Any, fixed_cost: float,
                     weight: float) -> MultiFidelityProblem:
    lo = [b[0] for b in test_function._bounds[:d]]
    hi = [b[1] for b in test_function._bounds[:d]]

    def function(X: Tensor, s: Tensor | None) -> Tensor:
        s = torch.ones(X.shape[0], dtype=DTYPE) if s is None else s
        return test_function.evaluate_true(torch.cat([X, s.reshape(-1, 1)], dim=1))

    return MultiFidelityProblem(
        name=name, bounds=[lo, hi], function=function, fidelity=Fidelity.continuous("s", 0.0, 1.0),
        maximize=False, cost=AffineFidelityCost(fixed_cost, weight), design_names=design_names,
        optimum_value=optimum_value, optimizers=optimizers)


def augmented_branin(*, fixed_cost: float = 5.0, weight: float = 1.0) -> MultiFidelityProblem:
    """BoTorch's ``AugmentedBranin``, minimised on ``[-5, 10] x [0, 15]``, fidelity ``s in [0, 1]``.

    ``B(x, s) = (x2 - (5.1/(4 pi^2) - 0.1 (1 - s)) x1^2 + 5 x1/pi - 6)^2
    + 10 (1 - 1/(8 pi)) cos x1 + 10``; at ``s = 1`` the standard Branin, minimum
    ``5/(4 pi) = 0.397887`` at ``(-pi, 12.275), (pi, 2.275), (3 pi, 2.475)``.
    Declared cost ``fixed_cost + weight * s`` (default: the MF-KG tutorial's ``5 + s``).
    """
    from botorch.test_functions.multi_fidelity import AugmentedBranin

    return _botorch_problem(
        "augmented_branin", AugmentedBranin(dtype=DTYPE), d=2, design_names=("x1", "x2"),
        optimum_value=5.0 / (4.0 * math.pi),
        optimizers=[[-math.pi, 12.275], [math.pi, 2.275], [3.0 * math.pi, 2.475]],
        fixed_cost=fixed_cost, weight=weight)


def augmented_hartmann(*, fixed_cost: float = 5.0, weight: float = 1.0) -> MultiFidelityProblem:
    """BoTorch's ``AugmentedHartmann`` (Hartmann-6), minimised on ``[0, 1]^6``, fidelity ``s in [0, 1]``.

    The first term's weight is ``alpha_1 - 0.1 (1 - s)``; at ``s = 1`` the standard
    Hartmann-6, minimum ``-3.32237`` at ``(0.20169, 0.150011, 0.476874, 0.275332, 0.311652,
    0.6573)``. Declared cost ``fixed_cost + weight * s`` (default ``5 + s``).
    """
    from botorch.test_functions.multi_fidelity import AugmentedHartmann

    # BoTorch builds the constants A, P, ALPHA with torch's default dtype; build them in
    # float64 so that entries such as A = 0.05 are not rounded to float32 (1e-8 relative).
    previous = torch.get_default_dtype()
    torch.set_default_dtype(DTYPE)
    try:
        test_function = AugmentedHartmann(dtype=DTYPE)
    finally:
        torch.set_default_dtype(previous)
    return _botorch_problem(
        "augmented_hartmann", test_function, d=6,
        design_names=tuple(f"x{i + 1}" for i in range(6)), optimum_value=-3.32237,
        optimizers=[[0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]],
        fixed_cost=fixed_cost, weight=weight)



#: Test-problem factories by name (see :func:`get_test_problem`).
TEST_PROBLEMS: dict[str, Callable[..., MultiFidelityProblem]] = {
    "forrester": forrester,
    "currin": currin,
    "park91a": park91a,
    "park91b": park91b,
    "borehole": borehole,
    "augmented_branin": augmented_branin,
    "augmented_hartmann": augmented_hartmann,
}


def problem_from_registry(registry: Mapping[str, Callable[..., MultiFidelityProblem]], name: str,
                          **kwargs: Any) -> MultiFidelityProblem:
    """Build the problem registered as ``name`` in ``registry`` with factory keyword arguments.

    Raises
    ------
    ConfigError
        Unknown name (the message lists the accepted ones) or bad keyword arguments.
    """
    if name not in registry:
        raise ConfigError(f"unknown problem {name!r}; accepted: {sorted(registry)}")
    try:
        return registry[name](**kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad arguments for problem {name!r}: {exc}") from None


def get_test_problem(name: str, **kwargs: Any) -> MultiFidelityProblem:
    """Build a test problem by name (:data:`TEST_PROBLEMS`); see :func:`problem_from_registry`."""
    return problem_from_registry(TEST_PROBLEMS, name, **kwargs)
