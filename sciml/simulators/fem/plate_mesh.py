"""A rectangular plate with a circular hole, and the square window around the hole, as DOLFINx meshes.

The plate is ``[-W, W] x [-H, H]`` with a hole of radius ``r`` at the origin; the *window* is the
square ``[-w, w]^2`` (``r < w < min(W, H)``) minus the hole, the sub-domain of a submodel, whose
outer boundary is the *interface*. The mesh is generated here (no mesh generator needed):

* the window is an O-grid: ``4 n_s`` spokes joining the hole (uniform in angle) to the window's
  boundary (uniform in arc length, ``n_s`` even segments a side), with ``n_r`` radially graded layers;
* the rest of the plate is the tensor grid of the lines ``x = x_i``, ``y = y_j`` through the window's
  boundary nodes, its cells inside the window removed;
* every quadrilateral is split into two triangles (alternating diagonals).

``region="window"`` builds the window alone with the *same* nodes and cells as the window part of
``region="full"``, so that a submodel and the full model share their mesh on the sub-domain.
Mesh ``resolution`` is cells per unit length (``n_s = 2 ceil(w resolution)``).

Tags: facets ``LEFT, RIGHT, BOTTOM, TOP`` (plate sides), ``HOLE``, ``INTERFACE`` (the window's
boundary: interior facets of the full mesh, boundary facets of the window mesh); cells ``WINDOW``
and ``OUTER``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sciml.errors import ParameterError
from sciml.simulators.fem.backend import import_dolfinx

__all__ = ["BOTTOM", "HOLE", "INTERFACE", "LEFT", "OUTER", "REGIONS", "RIGHT", "TOP", "WINDOW",
           "PlateGeometry", "PlateMesh", "create_plate_mesh", "interface_arc_length", "interface_points",
           "plate_mesh_arrays"]

#: Facet tags.
LEFT, RIGHT, BOTTOM, TOP, HOLE, INTERFACE = 1, 2, 3, 4, 5, 6
#: Cell tags.
WINDOW, OUTER = 1, 2
#: Accepted ``region`` values.
REGIONS: tuple[str, ...] = ("full", "window")


@dataclass(frozen=True)
class PlateGeometry:
    """Plate ``[-W, W] x [-H, H]``, hole of radius ``r`` at the origin, window ``[-w, w]^2``.

    Parameters
    ----------
    half_width, half_height : float
        ``W`` and ``H`` (length units of the problem).
    hole_radius : float
        ``r``, with ``0 < r < w``.
    window_half_width : float
        ``w``, with ``w < min(W, H)``.

    Raises
    ------
    ParameterError
        A non-positive or non-finite length, or the lengths out of order.
    """

    half_width: float = 2.0
    half_height: float = 0.5
    hole_radius: float = 0.15
    window_half_width: float = 0.3

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise ParameterError(f"plate geometry: {name} must be a finite number > 0; got {value!r}")
        r, w = self.hole_radius, self.window_half_width
        if not r < w < min(self.half_width, self.half_height):
            raise ParameterError(
                f"plate geometry: need hole_radius < window_half_width < min(half_width, half_height); got "
                f"hole_radius={r:g}, window_half_width={w:g}, half_width={self.half_width:g}, "
                f"half_height={self.half_height:g}")

    @property
    def interface_length(self) -> float:
        """Perimeter ``8 w`` of the window."""
        return 8.0 * self.window_half_width

    def bounds(self, region: str = "full") -> tuple[float, float, float, float]:
        """``(x0, x1, y0, y1)`` of the plate (``"full"``) or of the window."""
        if region == "window":
            w = self.window_half_width
            return (-w, w, -w, w)
        return (-self.half_width, self.half_width, -self.half_height, self.half_height)

    def config(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def _check_resolution(resolution: Any) -> int:
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 1:
        raise ParameterError(f"mesh resolution must be an integer >= 1; got {resolution!r}")
    return int(resolution)


def _check_region(region: Any) -> str:
    if region not in REGIONS:
        raise ParameterError(f"region {region!r} is not accepted; accepted: {list(REGIONS)}")
    return str(region)


def _lines(lo: float, hi: float, w: float, n_s: int, resolution: int) -> np.ndarray:
    """Grid lines over ``[lo, hi]`` through ``[-w, w]`` (``n_s`` segments) and the two outer bands."""
    n_out_lo = max(1, math.ceil((-w - lo) * resolution))
    n_out_hi = max(1, math.ceil((hi - w) * resolution))
    return np.concatenate([np.linspace(lo, -w, n_out_lo + 1)[:-1], np.linspace(-w, w, n_s + 1),
                           np.linspace(w, hi, n_out_hi + 1)[1:]])


def _window_sizes(g: PlateGeometry, resolution: int) -> tuple[int, int]:
    """Segments ``n_s`` per window side and radial layers ``n_r`` at ``resolution``."""
    w, r = g.window_half_width, g.hole_radius
    n_s = 2 * math.ceil(w * resolution)
    h_square, h_hole = 2.0 * w / n_s, 2.0 * math.pi * r / (4 * n_s)
    radial = 0.5 * ((w - r) + (math.sqrt(2.0) * w - r))
    return n_s, max(1, math.ceil(radial / (0.5 * (h_square + h_hole))))


def _perimeter(ix: np.ndarray, iy: np.ndarray, n_s: int) -> list[tuple[int, int]]:
    """Grid indices of the window's boundary nodes, counter-clockwise from ``(w, 0)``."""
    i0, j0 = int(ix[0]), int(iy[0])
    i1, j1, half = i0 + n_s, j0 + n_s, n_s // 2
    path = [(i1, j) for j in range(j0 + half, j1)] + [(i, j1) for i in range(i1, i0, -1)]
    path += [(i0, j) for j in range(j1, j0, -1)] + [(i, j0) for i in range(i0, i1)]
    path += [(i1, j) for j in range(j0, j0 + half)]
    return path


def _split_quads(quads: np.ndarray, parity: np.ndarray) -> np.ndarray:
    """Two triangles per quadrilateral ``(a, b, c, d)`` (cyclic), diagonal ``a-c`` or ``b-d`` by parity."""
    a, b, c, d = quads.T
    even = parity % 2 == 0
    t1 = np.where(even[:, None], np.column_stack([a, b, c]), np.column_stack([a, b, d]))
    t2 = np.where(even[:, None], np.column_stack([a, c, d]), np.column_stack([b, c, d]))
    return np.concatenate([t1, t2])


def plate_mesh_arrays(geometry: PlateGeometry | None = None, resolution: int = 16,
                      region: str = "full") -> tuple[np.ndarray, np.ndarray]:
    """Vertices and triangles of the plate (``"full"``) or of the window (``"window"``).

    Parameters
    ----------
    geometry : PlateGeometry, optional
        Default :class:`PlateGeometry` ``()``.
    resolution : int
        Cells per unit length, ``>= 1``.
    region : {"full", "window"}
        The whole plate or the window around the hole.

    Returns
    -------
    points : ndarray, shape ``(n_vertices, 2)``
    cells : ndarray of int64, shape ``(n_cells, 3)``
        Counter-clockwise triangles.

    Raises
    ------
    ParameterError
        ``resolution`` not an integer ``>= 1``, or an unknown ``region``.
    """
    g = geometry or PlateGeometry()
    res, region = _check_resolution(resolution), _check_region(region)
    w, r = g.window_half_width, g.hole_radius
    n_s, n_r = _window_sizes(g, res)
    xs, ys = _lines(-g.half_width, g.half_width, w, n_s, res), _lines(-g.half_height, g.half_height, w, n_s, res)
    ix = np.flatnonzero(np.isclose(xs, -w) | ((xs > -w) & (xs <= w)))
    iy = np.flatnonzero(np.isclose(ys, -w) | ((ys > -w) & (ys <= w)))
    perimeter = _perimeter(ix, iy, n_s)
    n_p = len(perimeter)
    # the O-grid: layer 0 on the hole, layer n_r on the window's boundary
    q = (4.0 * w / (math.pi * r)) ** (1.0 / max(n_r - 1, 1))
    xi = np.linspace(0.0, 1.0, n_r + 1) if abs(q - 1.0) < 1e-12 else (q ** np.arange(n_r + 1) - 1) / (q**n_r - 1)
    theta = 2.0 * np.pi * np.arange(n_p) / n_p
    hole = r * np.column_stack([np.cos(theta), np.sin(theta)])
    square = np.array([[xs[i], ys[j]] for i, j in perimeter])
    rings = [(1 - s) * hole + s * square for s in xi[:-1]] + [square]
    ring_ids = np.arange((n_r + 1) * n_p).reshape(n_r + 1, n_p)
    points = [np.concatenate(rings)]
    jj, kk = np.meshgrid(np.arange(n_r), np.arange(n_p), indexing="ij")
    k1 = (kk + 1) % n_p
    quads = [np.column_stack([ring_ids[jj, kk].ravel(), ring_ids[jj + 1, kk].ravel(),
                              ring_ids[jj + 1, k1].ravel(), ring_ids[jj, k1].ravel()])]
    parities = [(jj + kk).ravel()]
    if region == "full":
        p, qd, par = _outer_grid(xs, ys, w, perimeter, ring_ids[-1], offset=ring_ids.size)
        points.append(p)
        quads.append(qd)
        parities.append(par)
    cells = _split_quads(np.concatenate(quads), np.concatenate(parities))
    pts = np.concatenate(points)
    return pts, _counter_clockwise(pts, cells).astype(np.int64)


def _outer_grid(xs: np.ndarray, ys: np.ndarray, w: float, perimeter: list[tuple[int, int]],
                perimeter_ids: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tensor-grid vertices outside the window, and its quadrilaterals outside the window."""
    nx, ny = xs.size, ys.size
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    tol = 1e-12 * max(abs(xs).max(), abs(ys).max())
    inside = (np.abs(X) < w - tol) & (np.abs(Y) < w - tol)
    on_window = ~inside & (np.abs(X) < w + tol) & (np.abs(Y) < w + tol)
    ids = np.full((nx, ny), -1, dtype=np.int64)
    for (i, j), pid in zip(perimeter, perimeter_ids, strict=True):
        ids[i, j] = pid
    new = ~inside & ~on_window
    ids[new] = offset + np.arange(int(new.sum()))
    ii, jj = np.meshgrid(np.arange(nx - 1), np.arange(ny - 1), indexing="ij")
    cx, cy = 0.5 * (xs[ii] + xs[ii + 1]), 0.5 * (ys[jj] + ys[jj + 1])
    keep = ~((np.abs(cx) < w) & (np.abs(cy) < w))
    ii, jj = ii[keep], jj[keep]
    quads = np.column_stack([ids[ii, jj], ids[ii + 1, jj], ids[ii + 1, jj + 1], ids[ii, jj + 1]])
    return np.column_stack([X[new], Y[new]]), quads, ii + jj


def _counter_clockwise(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    a, b, c = (points[cells[:, i]] for i in range(3))
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    out = cells.copy()
    out[area < 0, 1], out[area < 0, 2] = cells[area < 0, 2], cells[area < 0, 1]
    return out


def interface_points(geometry: PlateGeometry, n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_points`` points equally spaced along the interface, counter-clockwise from ``(w, 0)``.

    Returns
    -------
    s : ndarray, shape ``(n_points,)``
        Arc length from ``(w, 0)``, in ``[0, 8 w)``.
    xy : ndarray, shape ``(n_points, 2)``
        Positions.

    Raises
    ------
    ParameterError
        ``n_points`` not an integer ``>= 4``.
    """
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 4:
        raise ParameterError(f"interface points must be an integer >= 4; got {n_points!r}")
    s = geometry.interface_length * np.arange(n_points) / n_points
    return s, _square_point(s, geometry.window_half_width)


def _square_point(s: np.ndarray, w: float) -> np.ndarray:
    """Points at arc length ``s`` (mod ``8 w``) along the square ``max(|x|, |y|) = w`` from ``(w, 0)``."""
    t = np.mod(np.asarray(s, dtype=np.float64) + w, 8.0 * w)  # arc length from the corner (w, -w)
    side, u = np.divmod(t, 2.0 * w)
    corners = np.array([[w, -w], [w, w], [-w, w], [-w, -w]])
    directions = np.array([[0.0, 1.0], [-1.0, 0.0], [0.0, -1.0], [1.0, 0.0]])
    side = np.minimum(side.astype(int), 3)
    return corners[side] + u[:, None] * directions[side]


def interface_arc_length(xy: np.ndarray, w: float) -> np.ndarray:
    """Arc length from ``(w, 0)`` (counter-clockwise, in ``[0, 8 w)``) of points on the interface.

    Parameters
    ----------
    xy : ndarray, shape ``(n, 2)`` (or ``(n, 3)``)
        Points on the square ``max(|x|, |y|) = w``.
    w : float
        Window half-width.
    """
    x, y = np.asarray(xy)[:, 0], np.asarray(xy)[:, 1]
    right, top, left = x >= w - 1e-9 * w, y >= w - 1e-9 * w, x <= -w + 1e-9 * w
    s = np.where(right, np.mod(y, 8 * w), 0.0)
    s = np.where(~right & top, 2 * w - x, s)
    s = np.where(~right & ~top & left, 4 * w - y, s)
    s = np.where(~right & ~top & ~left, 6 * w + x, s)
    return np.mod(s, 8 * w)


@dataclass
class PlateMesh:
    """A DOLFINx plate or window mesh with its tags.

    Attributes
    ----------
    mesh : dolfinx.mesh.Mesh
    facet_tags, cell_tags : dolfinx.mesh.MeshTags
        Tags named in the module docstring.
    geometry : PlateGeometry
    resolution : int
    region : {"full", "window"}
    """

    mesh: Any
    facet_tags: Any
    cell_tags: Any
    geometry: PlateGeometry
    resolution: int
    region: str

    def cells(self, tag: int) -> np.ndarray:
        """Local indices of the cells tagged ``tag``."""
        return self.cell_tags.find(tag)

    def facets(self, tag: int) -> np.ndarray:
        """Local indices of the facets tagged ``tag``."""
        return self.facet_tags.find(tag)


def create_plate_mesh(geometry: PlateGeometry | None = None, resolution: int = 16, *, region: str = "full",
                      comm: Any = None) -> PlateMesh:
    """The plate or window mesh on ``comm`` (ghosted by shared facet), with its facet and cell tags.

    Parameters
    ----------
    geometry : PlateGeometry, optional
    resolution : int
        Cells per unit length, ``>= 1``.
    region : {"full", "window"}
    comm : mpi4py communicator, optional
        Default ``MPI.COMM_SELF``; rank 0 generates the vertices and cells, DOLFINx distributes them.

    Raises
    ------
    ParameterError
        Bad ``resolution`` or ``region``.
    """
    m = import_dolfinx()
    g = geometry or PlateGeometry()
    comm = comm if comm is not None else m.MPI.COMM_SELF
    res, region = _check_resolution(resolution), _check_region(region)
    if comm.rank == 0:
        points, cells = plate_mesh_arrays(g, res, region)
    else:
        points, cells = np.zeros((0, 2)), np.zeros((0, 3), dtype=np.int64)
    element = m.ufl.Mesh(_basix_ufl().element("Lagrange", "triangle", 1, shape=(2,)))
    partitioner = m.mesh.create_cell_partitioner(m.mesh.GhostMode.shared_facet, 2) if comm.size > 1 else None
    msh = m.mesh.create_mesh(comm, cells, element, points, partitioner=partitioner)
    facet_tags, cell_tags = _tags(msh, g, region)
    return PlateMesh(mesh=msh, facet_tags=facet_tags, cell_tags=cell_tags, geometry=g, resolution=res,
                     region=region)


def _basix_ufl() -> Any:
    import_dolfinx()
    import basix.ufl

    return basix.ufl


def _tags(msh: Any, g: PlateGeometry, region: str) -> tuple[Any, Any]:
    m = import_dolfinx()
    tdim = msh.topology.dim
    fdim = tdim - 1
    msh.topology.create_connectivity(fdim, tdim)
    W, H, r, w = g.half_width, g.half_height, g.hole_radius, g.window_half_width
    tol = 1e-10 * max(W, H)
    markers = {
        LEFT: lambda x: np.abs(x[0] + W) < tol, RIGHT: lambda x: np.abs(x[0] - W) < tol,
        BOTTOM: lambda x: np.abs(x[1] + H) < tol, TOP: lambda x: np.abs(x[1] - H) < tol,
        HOLE: lambda x: np.abs(np.hypot(x[0], x[1]) - r) < tol,
        INTERFACE: lambda x: np.abs(np.maximum(np.abs(x[0]), np.abs(x[1])) - w) < tol,
    }
    if region == "window":
        markers = {k: markers[k] for k in (HOLE, INTERFACE)}
    found = [(m.mesh.locate_entities(msh, fdim, marker), tag) for tag, marker in markers.items()]
    facets = np.concatenate([f for f, _ in found]).astype(np.int32)
    values = np.concatenate([np.full(f.size, tag, dtype=np.int32) for f, tag in found])
    order = np.argsort(facets, kind="stable")
    facet_tags = m.mesh.meshtags(msh, fdim, facets[order], values[order])
    n_cells = msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts
    in_window = m.mesh.locate_entities(
        msh, tdim, lambda x: np.maximum(np.abs(x[0]), np.abs(x[1])) < w + tol)
    cell_values = np.full(n_cells, OUTER, dtype=np.int32)
    cell_values[in_window] = WINDOW
    cell_tags = m.mesh.meshtags(msh, tdim, np.arange(n_cells, dtype=np.int32), cell_values)
    return facet_tags, cell_tags
