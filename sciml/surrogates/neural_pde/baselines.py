"""Baselines CAPE is compared against, and parameter-count matching.

The paper's baselines, built from the same base solvers:

- *parameter-blind*: the base model itself (``FNO(...)``, ``UNet(...)``);
- *2-step history*: the base with ``initial_step=2`` (it can infer the dynamics from two frames);
- *conditional*: :class:`ConditionalSolver`, the PDE parameters appended as constant channels.

For a fair comparison every baseline is sized to CAPE's parameter count with :func:`match_width`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from sciml.surrogates.neural_pde.cape import ParameterTransform, Transform, validate_base
from sciml.surrogates.neural_pde.protocol import SolverModule, check_solver_inputs

__all__ = ["ConditionalSolver", "count_parameters", "match_width"]


class ConditionalSolver(SolverModule):
    """A base solver conditioned on the PDE parameters through constant input channels.

    Parameters
    ----------
    base : nn.Module
        A parameter-blind solver built with ``extra_in_channels = n_params``, e.g.
        ``FNO(n_vars=1, initial_step=1, extra_in_channels=1)``.
    n_params : int
        Number of PDE parameters.
    param_transform, param_scale, param_bounds
        Applied to the parameters before broadcasting (see
        :class:`~sciml.surrogates.neural_pde.cape.ParameterTransform`; the same default as CAPE,
        so both see identically scaled parameters).

    Shapes
    ------
    history ``(batch, initial_step * n_vars, *space)``, params ``(batch, n_params)`` ->
    ``(batch, n_vars, *space)``; the base receives ``extra`` of shape ``(batch, n_params, *space)``
    with channel ``j`` constant, equal to ``T(params[:, j])``.
    """

    def __init__(self, base: nn.Module, n_params: int, *, param_transform: Transform = "symlog",
                 param_scale: float | Sequence[float] = 1.0,
                 param_bounds: tuple[float, float] | Sequence[tuple[float, float]] | None = None) -> None:
        super().__init__()
        if int(n_params) != n_params or n_params < 1:
            raise ValueError(f"ConditionalSolver: n_params must be an integer >= 1; got "
                             f"{n_params!r}")
        validate_base("ConditionalSolver", base, int(n_params), "n_params")
        self.base = base
        self.n_vars: int = base.n_vars
        self.initial_step: int = base.initial_step
        self.spatial_dims: int = base.spatial_dims
        self.n_params = int(n_params)
        self.transform = ParameterTransform(self.n_params, param_transform, param_scale, param_bounds)

    def forward(self, history: Tensor, params: Tensor | None = None) -> Tensor:
        """Predict the next frame, ``(batch, n_vars, *space)``; ``params`` is required."""
        check_solver_inputs(self, history, params)
        p = self.transform(params.to(history.dtype))
        space = history.shape[2:]
        extra = p.reshape(*p.shape, *(1,) * len(space)).expand(*p.shape, *space)
        return self.base(history, extra=extra)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars (``requires_grad`` parameters; buffers excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def match_width(
    build: Callable[[int], nn.Module],
    target: int,
    *,
    tol: float = 0.05,
    lo: int = 2,
    hi: int = 512,
) -> tuple[int, nn.Module]:
    """Find an integer width whose model has ``target`` parameters within relative ``tol``.

    Bisection over ``width in [lo, hi]``, assuming the parameter count does not decrease with
    the width (true for widths of FNO, U-Net and the wrappers); about ``log2(hi - lo)`` models
    are built.

    Parameters
    ----------
    build : callable ``int -> nn.Module``
        Builds the model of a given width (e.g. ``lambda w: FNO(1, 1, width=w)``).
    target : int
        Desired number of trainable parameters (e.g. ``count_parameters(cape_model)``).
    tol : float
        Accepted relative deviation ``|count - target| / target``.
    lo, hi : int
        Search range of widths (inclusive).

    Returns
    -------
    (width, model)
        The width whose count is closest to ``target``, and the model built with it.

    Raises
    ------
    ValueError
        If no width in ``[lo, hi]`` gives a count within ``tol`` of ``target``.
    """
    if target < 1 or tol < 0 or lo < 1 or hi < lo:
        raise ValueError(f"match_width: need target >= 1, tol >= 0 and 1 <= lo <= hi; got "
                         f"target={target}, tol={tol}, lo={lo}, hi={hi}")
    cache: dict[int, tuple[int, nn.Module]] = {}

    def count(width: int) -> int:
        if width not in cache:
            model = build(width)
            cache[width] = (count_parameters(model), model)
        return cache[width][0]

    # smallest width with count >= target (or hi if none)
    a, b = lo, hi
    while a < b:
        mid = (a + b) // 2
        if count(mid) >= target:
            b = mid
        else:
            a = mid + 1
    candidates = [w for w in (a - 1, a) if lo <= w <= hi]
    best = min(candidates, key=lambda w: abs(count(w) - target))
    rel = abs(count(best) - target) / target
    if rel > tol:
        raise ValueError(
            f"match_width: no width in [{lo}, {hi}] gives {target} parameters within "
            f"{tol:.1%}; closest: width {best} with {count(best)} ({rel:.1%} off; counts "
            + ", ".join(f"{w}->{count(w)}" for w in candidates)
            + "). Change the range or another size knob (layers, modes)."
        )
    return best, cache[best][1]
