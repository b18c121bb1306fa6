"""Building the linear conservation constraint ``G u(t) = b(t)`` of ProbConserv.

``G`` (shape ``(n_c, n_x)``) turns values of ``u`` on a spatial grid into the ``n_c``
conserved quantities (usually the total mass ``int u dx``): one row of quadrature weights per
conserved quantity, in units of length (area in 2D). ``b(t)`` (shape ``(n_t, n_c)``) is the
value the conserved quantities must take, from a closed form or from boundary fluxes:

.. math::  \\int_\\Omega u(x, t)\\, dx = \\int_\\Omega u(x, 0)\\, dx + \\int_0^t [F(x_{min}, s) - F(x_{max}, s)]\\, ds,

with the flux ``F`` positive in the ``+x`` direction (``F = -k(u) u_x`` for the GPME).

Weights
-------
* :func:`trapezoid_weights`: point values on a (possibly non-uniform) grid.
* :func:`cell_volume_weights`, :func:`cell_volume_weights_2d`: finite-volume cell averages
  (``G`` = cell widths / areas); 2D fields of shape ``(n_x, n_y)`` are flattened in C order
  (:func:`flatten_field`, :func:`unflatten_field`) so that ``G`` acts on ``n_x * n_y`` values.
* :func:`constraint_matrix` builds a one-row ``G``; :func:`stack_constraints` several rows.

Right-hand sides
----------------
* :func:`conserved_quantity_for`: a simulator's exact ``conserved_quantity``, shape-checked.
* :func:`conserved_quantity_numeric`: initial mass plus the time integral of boundary fluxes.
* Closed forms live with the simulators (e.g. :func:`~sciml.simulators.pde.heat.heat_mass`,
  :func:`~sciml.simulators.pde.porous_medium.pme_mass`, :func:`~sciml.simulators.pde.stefan.stefan_mass`).

All builders return float64 numpy arrays; :func:`~sciml.surrogates.probconserv.update.conservation_update`
casts them to the dtype of the prediction.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from scipy.integrate import cumulative_trapezoid

from sciml.surrogates.probconserv.update import ConservationInputError

__all__ = [
    "cell_volume_weights",
    "cell_volume_weights_2d",
    "conserved_quantity_for",
    "conserved_quantity_numeric",
    "constraint_matrix",
    "constraint_matrix_for",
    "flatten_field",
    "stack_constraints",
    "trapezoid_weights",
    "unflatten_field",
]


def _grid(x: Any, name: str = "x") -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1 or arr.size < 2:
        raise ConservationInputError(f"{name} must be a 1D grid of at least 2 points, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConservationInputError(f"{name} must be finite")
    if not np.all(np.diff(arr) > 0):
        raise ConservationInputError(f"{name} must be strictly increasing")
    return arr


def _widths(d: Any, n: int | None, name: str) -> np.ndarray:
    arr = np.asarray(d, dtype=np.float64)
    if arr.ndim == 0:
        if n is None or isinstance(n, bool) or int(n) != n or n < 1:
            raise ConservationInputError(f"a scalar {name} needs the number of cells (a positive integer), got {n!r}")
        arr = np.full(int(n), float(arr))
    elif arr.ndim != 1 or (n is not None and arr.size != n):
        raise ConservationInputError(
            f"{name} must be a scalar or a 1D array of cell widths" + (f" of length {n}" if n is not None else "")
            + f", got shape {arr.shape}")
    if not np.all(np.isfinite(arr) & (arr > 0)):
        raise ConservationInputError(f"cell widths {name} must be finite and > 0")
    return arr


# =========================================================================== weights
def trapezoid_weights(x: Any) -> np.ndarray:
    """Trapezoid-rule weights ``w`` with ``sum_i w_i f(x_i) ~ int_{x_0}^{x_{n-1}} f dx``.

    Parameters
    ----------
    x : array_like, shape ``(n_x,)``
        Strictly increasing grid points (non-uniform allowed), ``n_x >= 2``.

    Returns
    -------
    ndarray, shape ``(n_x,)``
        ``w_0 = (x_1 - x_0)/2``, ``w_i = (x_{i+1} - x_{i-1})/2``, ``w_{n-1} = (x_{n-1} - x_{n-2})/2``
        (units of ``x``); ``sum(w) = x_{n-1} - x_0``.
    """
    xs = _grid(x)
    h = np.diff(xs)
    w = np.zeros_like(xs)
    w[:-1] += 0.5 * h
    w[1:] += 0.5 * h
    return w


def cell_volume_weights(dx: Any, n_cells: int | None = None) -> np.ndarray:
    """Finite-volume weights: ``sum_i w_i ubar_i = int u dx`` exactly for cell averages ``ubar``.

    Parameters
    ----------
    dx : float or array_like of shape ``(n_cells,)``
        Uniform cell width (then ``n_cells`` is required) or the width of each cell.
    n_cells : int, optional
        Number of cells (for scalar ``dx``; checked against an array ``dx``).

    Returns
    -------
    ndarray, shape ``(n_cells,)``
        The cell widths (units of length).
    """
    return _widths(dx, n_cells, "dx").copy()


def cell_volume_weights_2d(dx: Any, dy: Any, shape: tuple[int, int]) -> np.ndarray:
    """Cell areas of a 2D tensor-product grid, flattened in C order.

    Parameters
    ----------
    dx, dy : float or array_like
        Cell widths in ``x`` (scalar or ``(n_x,)``) and ``y`` (scalar or ``(n_y,)``).
    shape : (int, int)
        ``(n_x, n_y)``: the shape of a 2D field ``u[i, j]`` (``i`` along ``x``).

    Returns
    -------
    ndarray, shape ``(n_x * n_y,)``
        ``dx_i * dy_j`` at flat index ``i * n_y + j`` (the order of :func:`flatten_field`).
    """
    if len(shape) != 2:
        raise ConservationInputError(f"shape must be (n_x, n_y), got {shape!r}")
    n_x, n_y = shape
    wx = _widths(dx, n_x, "dx")
    wy = _widths(dy, n_y, "dy")
    return np.outer(wx, wy).ravel()


def flatten_field(u: Any, spatial_shape: tuple[int, ...]) -> Any:
    """Merge the trailing spatial axes: ``(..., *spatial_shape)`` -> ``(..., prod(spatial_shape))``.

    Works for numpy arrays and torch tensors (C order, matching :func:`cell_volume_weights_2d`).
    """
    spatial_shape = tuple(int(s) for s in spatial_shape)
    k = len(spatial_shape)
    if tuple(u.shape[u.ndim - k:]) != spatial_shape or u.ndim < k:
        raise ConservationInputError(
            f"field must end with the spatial shape {spatial_shape}, got shape {tuple(u.shape)}")
    return u.reshape(*u.shape[:u.ndim - k], math.prod(spatial_shape))


def unflatten_field(u: Any, spatial_shape: tuple[int, ...]) -> Any:
    """Inverse of :func:`flatten_field`: ``(..., prod(spatial_shape))`` -> ``(..., *spatial_shape)``."""
    spatial_shape = tuple(int(s) for s in spatial_shape)
    if u.ndim < 1 or u.shape[-1] != math.prod(spatial_shape):
        raise ConservationInputError(
            f"field must end with an axis of length {math.prod(spatial_shape)} = prod{spatial_shape}, "
            f"got shape {tuple(u.shape)}")
    return u.reshape(*u.shape[:-1], *spatial_shape)


# =========================================================================== G
def constraint_matrix(x: Any, rule: Literal["trapezoid", "cell"] = "trapezoid") -> np.ndarray:
    """One-row ``G`` for the total mass ``int u dx`` on a 1D grid.

    Parameters
    ----------
    x : array_like, shape ``(n_x,)``
        Grid points (``"trapezoid"``; any strictly increasing grid, the integral runs from
        ``x[0]`` to ``x[-1]``) or *uniform* cell centres (``"cell"``; the integral covers the
        cells, ``[x[0] - dx/2, x[-1] + dx/2]``). For non-uniform cells use
        ``cell_volume_weights(widths)[None, :]``.
    rule : {"trapezoid", "cell"}
        Quadrature rule.

    Returns
    -------
    ndarray, shape ``(1, n_x)``
    """
    xs = _grid(x)
    if rule == "trapezoid":
        return trapezoid_weights(xs)[None, :]
    if rule == "cell":
        h = np.diff(xs)
        if not np.allclose(h, h[0], rtol=1e-9, atol=0.0):
            raise ConservationInputError(
                "rule='cell' needs uniformly spaced cell centres (cell widths are ambiguous otherwise); "
                "use cell_volume_weights(widths)[None, :] for non-uniform cells")
        return cell_volume_weights(float(xs[-1] - xs[0]) / (xs.size - 1), xs.size)[None, :]
    raise ConservationInputError(f"rule must be 'trapezoid' or 'cell', got {rule!r}")


def constraint_matrix_for(simulator: Any) -> np.ndarray:
    """``G = dx * ones((1, n_cells))`` for a finite-volume simulator (cell averages on ``simulator.x``).

    Parameters
    ----------
    simulator : PDESimulator1D
        Any simulator with uniform cell centres ``x`` and width ``dx``.

    Returns
    -------
    ndarray, shape ``(1, n_cells)``
    """
    try:
        n, dx = int(simulator.n_cells), float(simulator.dx)
    except AttributeError as exc:
        raise ConservationInputError(
            f"{type(simulator).__name__} has no uniform cell grid (n_cells, dx)") from exc
    return cell_volume_weights(dx, n)[None, :]


def stack_constraints(*rows: Any) -> np.ndarray:
    """Stack constraint rows into one ``G`` of several conserved quantities.

    Parameters
    ----------
    *rows : array_like
        Each of shape ``(n_x,)`` or ``(k, n_x)``, all with the same ``n_x``.

    Returns
    -------
    ndarray, shape ``(n_c, n_x)``
        ``n_c`` = total number of rows. The rows must be linearly independent (otherwise
        ``G Sigma G^T`` is singular and exact conservation is ill-posed).
    """
    if not rows:
        raise ConservationInputError("stack_constraints needs at least one row")
    mats = [np.atleast_2d(np.asarray(r, dtype=np.float64)) for r in rows]
    n_x = {m.shape[-1] for m in mats}
    if any(m.ndim != 2 for m in mats) or len(n_x) != 1:
        raise ConservationInputError(
            f"constraint rows must have shape (n_x,) or (k, n_x) with one common n_x, got "
            f"{[np.shape(r) for r in rows]}")
    g = np.vstack(mats)
    if not np.all(np.isfinite(g)):
        raise ConservationInputError("constraint rows must be finite")
    if np.linalg.matrix_rank(g) < g.shape[0]:
        raise ConservationInputError(
            f"the {g.shape[0]} constraint rows are linearly dependent (rank {np.linalg.matrix_rank(g)}); "
            "drop the redundant ones")
    return g


# =========================================================================== b(t)
def conserved_quantity_for(simulator: Any, t: Any, params: Any, **kwargs: Any) -> np.ndarray:
    """``b(t)`` from a simulator's exact ``conserved_quantity(t, params)``, as a constraint right-hand side.

    Parameters
    ----------
    simulator : object
        Anything with ``conserved_quantity(t, params, **kwargs)`` returning the conserved
        quantity at times ``t`` (shape ``t.shape``, or ``(n_samples, *t.shape)`` for e.g.
        :class:`~sciml.simulators.pde.heat.HeatSimulator` with ``coefficients``).
    t : array_like, shape ``(n_t,)``
        Times.
    params : mapping
        Physical parameters of the simulator.
    **kwargs
        Passed on (e.g. ``coefficients=`` of the heat simulator).

    Returns
    -------
    ndarray, shape ``(n_t, 1)`` or ``(n_samples, n_t, 1)``
        ``b`` with the trailing conserved-quantity axis (``n_c = 1``), ready for
        :func:`~sciml.surrogates.probconserv.update.conservation_update`.
    """
    if not callable(getattr(simulator, "conserved_quantity", None)):
        raise ConservationInputError(f"{type(simulator).__name__} has no conserved_quantity(t, params) method")
    ts = np.asarray(t, dtype=np.float64)
    if ts.ndim != 1 or not np.all(np.isfinite(ts)):
        raise ConservationInputError(f"t must be a finite 1D array of times, got shape {ts.shape}")
    out = np.asarray(simulator.conserved_quantity(ts, params, **kwargs), dtype=np.float64)
    if out.ndim not in (1, 2) or out.shape[-1] != ts.size:
        raise ConservationInputError(
            f"{type(simulator).__name__}.conserved_quantity returned shape {out.shape}; expected "
            f"(n_t,) = ({ts.size},) or (n_samples, n_t)")
    if not np.all(np.isfinite(out)):
        raise ConservationInputError(f"{type(simulator).__name__}.conserved_quantity returned non-finite values")
    return out[..., None]


def conserved_quantity_numeric(t: Any, u_left_flux: Any, u_right_flux: Any, initial_mass: Any) -> np.ndarray:
    """``b(t) = M(0) + int_0^t [F(x_min, s) - F(x_max, s)] ds`` by the cumulative trapezoid rule.

    For problems without a closed-form mass. Second-order accurate in the time step for
    smooth fluxes.

    Parameters
    ----------
    t : array_like, shape ``(n_t,)``
        Strictly increasing times, starting at the time of ``initial_mass``.
    u_left_flux, u_right_flux : array_like, shape ``(..., n_t)``
        Flux ``F`` (positive towards ``+x``) at the left and right boundary at the times ``t``:
        inflow at the left is ``F(x_min) > 0``, outflow at the right ``F(x_max) > 0``.
        Units of ``u`` x length / time.
    initial_mass : float or array_like of shape ``(...)``
        ``int u(x, t[0]) dx``.

    Returns
    -------
    ndarray, shape ``(..., n_t)``
        ``b`` at the times ``t`` (``b[..., 0] = initial_mass``).
    """
    ts = _grid(t, "t")
    fl = np.asarray(u_left_flux, dtype=np.float64)
    fr = np.asarray(u_right_flux, dtype=np.float64)
    try:
        net = np.broadcast_to(fl - fr, np.broadcast_shapes(fl.shape, fr.shape))
    except ValueError as exc:
        raise ConservationInputError(
            f"u_left_flux {fl.shape} and u_right_flux {fr.shape} do not broadcast") from exc
    if net.ndim < 1 or net.shape[-1] != ts.size:
        raise ConservationInputError(
            f"the fluxes must have shape (..., n_t) with n_t = {ts.size}, got {net.shape}")
    m0 = np.asarray(initial_mass, dtype=np.float64)
    if not (np.all(np.isfinite(net)) and np.all(np.isfinite(m0))):
        raise ConservationInputError("fluxes and initial_mass must be finite")
    try:
        return np.asarray(m0)[..., None] + cumulative_trapezoid(net, ts, axis=-1, initial=0.0)
    except ValueError as exc:
        raise ConservationInputError(
            f"initial_mass of shape {m0.shape} does not broadcast with the fluxes' batch shape {net.shape[:-1]}"
        ) from exc
