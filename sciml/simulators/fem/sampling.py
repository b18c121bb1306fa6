"""Evaluate DOLFINx Functions at fixed points: a regular grid, or named points.

The cells containing the points are found once per mesh (``dolfinx.geometry.bb_tree``,
``compute_collisions_points``, ``compute_colliding_cells``); each evaluation then only
calls ``Function.eval``, which makes sampling every time step cheap. In parallel every rank
evaluates the points inside its *owned* cells, the values are gathered on rank 0 (a point
on a partition boundary is taken from the lowest rank) and broadcast back, so that every
rank returns the same array. Points inside no cell (outside the domain, e.g. in a hole)
get ``fill_value``; :attr:`PointEvaluator.found` tells them apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sciml.simulators.fem.backend import import_dolfinx

__all__ = ["GridSampler", "PointEvaluator", "PointSampler", "regular_grid"]


def regular_grid(bounds: Sequence[float], n: int | tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates ``x``, ``y`` of a regular grid over ``[x0, x1] x [y0, y1]``, ends included.

    Parameters
    ----------
    bounds : (x0, x1, y0, y1)
        The box.
    n : int or (int, int)
        Points per side (``>= 2``), or per side in ``x`` and ``y``.
    """
    nx, ny = (n, n) if isinstance(n, (int, np.integer)) else n
    if nx < 2 or ny < 2:
        raise ValueError(f"a regular grid needs at least 2 points per side; got {(nx, ny)}")
    x0, x1, y0, y1 = map(float, bounds)
    return np.linspace(x0, x1, int(nx)), np.linspace(y0, y1, int(ny))


class PointEvaluator:
    """Evaluate Functions on ``mesh`` at fixed physical points.

    Parameters
    ----------
    mesh : dolfinx.mesh.Mesh
        The mesh (2-D); the points are located once, here.
    points : array_like, shape ``(n, 2)`` or ``(n, 3)``
        Physical coordinates (the same on every rank).
    fill_value : float
        Value of points inside no cell.

    Attributes
    ----------
    found : ndarray of bool, shape ``(n,)``
        Whether each point lies in the mesh (the same on every rank).
    """

    def __init__(self, mesh: Any, points: Any, *, fill_value: float = np.nan) -> None:
        m = import_dolfinx()
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] not in (2, 3):
            raise ValueError(f"points must have shape (n, 2) or (n, 3); got {pts.shape}")
        self.points = np.zeros((pts.shape[0], 3))
        self.points[:, : pts.shape[1]] = pts
        self.comm = mesh.comm
        self.fill_value = float(fill_value)
        tdim = mesh.topology.dim
        tree = m.geometry.bb_tree(mesh, tdim)
        candidates = m.geometry.compute_collisions_points(tree, self.points)
        colliding = m.geometry.compute_colliding_cells(mesh, candidates, self.points)
        n_owned = mesh.topology.index_map(tdim).size_local
        idx, cells = [], []
        for i in range(self.points.shape[0]):
            owned = [c for c in colliding.links(i) if c < n_owned]
            if owned:
                idx.append(i)
                cells.append(owned[0])
        self._index = np.asarray(idx, dtype=np.int64)
        self._cells = np.asarray(cells, dtype=np.int32)
        mask = np.zeros(self.points.shape[0], dtype=np.int32)
        mask[self._index] = 1
        self.found = self.comm.allreduce(mask) > 0

    def __call__(self, u: Any) -> np.ndarray:
        """Values of ``u`` at the points, shape ``(n,)`` (scalar ``u``) or ``(n, *u.ufl_shape)``."""
        shape = tuple(u.ufl_shape)
        size = int(np.prod(shape)) if shape else 1
        local = u.eval(self.points[self._index], self._cells).reshape(len(self._index), size)
        if self.comm.size == 1:
            out = np.full((self.points.shape[0], size), self.fill_value)
            out[self._index] = local
        else:
            out = self._gather(local, size)
        return out.reshape((self.points.shape[0], *shape))

    def _gather(self, local: np.ndarray, size: int) -> np.ndarray:
        gathered = self.comm.gather((self._index, local), root=0)
        out = None
        if self.comm.rank == 0:
            out = np.full((self.points.shape[0], size), self.fill_value)
            for index, values in reversed(gathered):  # the lowest rank is written last and wins
                out[index] = values
        return self.comm.bcast(out, root=0)


class GridSampler:
    """Evaluate Functions on a regular ``x``-``y`` grid, ``out[i, j] = u(x[i], y[j])``.

    Parameters
    ----------
    mesh : dolfinx.mesh.Mesh
        The mesh.
    x, y : array_like
        Increasing grid coordinates.
    fill_value : float
        Value at grid points outside the mesh.
    """

    def __init__(self, mesh: Any, x: Any, y: Any, *, fill_value: float = np.nan) -> None:
        self.x = np.asarray(x, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        xx, yy = np.meshgrid(self.x, self.y, indexing="ij")
        self._evaluator = PointEvaluator(mesh, np.column_stack([xx.ravel(), yy.ravel()]), fill_value=fill_value)

    @property
    def inside(self) -> np.ndarray:
        """Whether each grid point lies in the mesh, shape ``(n_x, n_y)``."""
        return self._evaluator.found.reshape(self.x.size, self.y.size)

    def __call__(self, u: Any) -> np.ndarray:
        """Values of ``u`` on the grid, shape ``(n_x, n_y)`` or ``(n_x, n_y, *u.ufl_shape)``."""
        values = self._evaluator(u)
        return values.reshape((self.x.size, self.y.size, *values.shape[1:]))


class PointSampler:
    """Evaluate Functions at named points.

    Parameters
    ----------
    mesh : dolfinx.mesh.Mesh
        The mesh.
    points : mapping of str to (x, y)
        Named physical points.
    fill_value : float
        Value of points outside the mesh.
    """

    def __init__(self, mesh: Any, points: Mapping[str, Sequence[float]], *, fill_value: float = np.nan) -> None:
        self.names = list(points)
        coords = np.array([list(points[n]) for n in self.names], dtype=np.float64).reshape(len(self.names), -1)
        self._evaluator = PointEvaluator(mesh, coords, fill_value=fill_value)

    @property
    def found(self) -> dict[str, bool]:
        """Whether each named point lies in the mesh."""
        return dict(zip(self.names, self._evaluator.found.tolist(), strict=True))

    def __call__(self, u: Any) -> dict[str, np.ndarray]:
        """Value of ``u`` at each named point: a 0-d array (scalar ``u``) or shape ``u.ufl_shape``."""
        if not self.names:
            return {}
        values = self._evaluator(u)
        return {name: values[i] for i, name in enumerate(self.names)}
