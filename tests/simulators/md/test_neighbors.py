"""Periodic neighbour lists equal an O(N^2) reference over all images; pair vectors are differentiable;
small boxes and overlapping atoms are refused with the numbers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from sciml.errors import ParameterError
from sciml.simulators.md.neighbors import (
    batched_neighbor_pairs,
    check_cell,
    check_min_distance,
    neighbor_arrays,
    neighbor_pairs,
    pair_vectors,
    vesin_available,
)

BACKENDS = ["torch", pytest.param("vesin", marks=pytest.mark.skipif(not vesin_available(), reason="no vesin"))]


def brute_force(pos: np.ndarray, cell: np.ndarray, pbc, cutoff: float, reach: int = 4) -> dict:
    """``{(i, j, shift): distance}`` over the images ``|S_k| <= reach`` (ample for the cells below)."""
    ranges = [range(-reach, reach + 1) if p else [0] for p in pbc]
    out = {}
    for s in itertools.product(*ranges):
        d = pos[None, :, :] - pos[:, None, :] + np.array(s, dtype=float) @ cell
        r = np.linalg.norm(d, axis=-1)
        for i, j in zip(*np.nonzero(r < cutoff), strict=True):
            if i == j and s == (0, 0, 0):
                continue
            out[(int(i), int(j), s)] = r[i, j]
    return out


def random_system(kind: str, seed: int):
    rng = np.random.default_rng(seed)
    if kind == "cubic":
        cell, pbc, n = np.eye(3) * 6.0, (True, True, True), 40
    elif kind == "triclinic":
        cell = np.array([[6.0, 0.0, 0.0], [2.0, 5.5, 0.0], [-1.5, 1.0, 6.5]]) + 0.2 * rng.standard_normal((3, 3))
        pbc, n = (True, True, True), 40
    elif kind == "small":  # every width below twice the cutoff, one below the cutoff
        cell, pbc, n = np.array([[2.0, 0.0, 0.0], [0.6, 3.1, 0.0], [0.3, -0.4, 4.0]]), (True, True, True), 12
    else:  # mixed pbc: a slab periodic in x and z, with a zero cell vector along y
        cell, pbc, n = np.array([[5.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 4.5]]), (True, False, True), 30
    frac = rng.uniform(-0.3, 1.3, size=(n, 3))  # some atoms outside the cell: shifts must account for it
    basis = cell.copy()
    if kind == "mixed":
        basis[1] = [0.0, 7.0, 0.0]
    return frac @ basis, cell, pbc


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["cubic", "triclinic", "small", "mixed"])
def test_pairs_equal_the_brute_force_reference(kind, backend):
    cutoff = 2.7
    for seed in range(2):
        pos, cell, pbc = random_system(kind, seed)
        ref = brute_force(pos, cell, pbc, cutoff)
        got = neighbor_arrays(pos, cell, pbc, cutoff, backend=backend)
        keys = [(int(a), int(b), tuple(int(x) for x in s)) for a, b, s in zip(got.i, got.j, got.shifts, strict=True)]
        assert len(keys) == len(set(keys)) == len(ref) > 0
        assert set(keys) == set(ref)
        np.testing.assert_allclose(got.distances, [ref[k] for k in keys], rtol=1e-12)
        assert keys == sorted(keys)
        pairs = neighbor_pairs(torch.tensor(pos), torch.tensor(cell), pbc, cutoff, backend=backend)  # torch face
        np.testing.assert_array_equal(pairs.i.numpy(), got.i)
        np.testing.assert_array_equal(pairs.j.numpy(), got.j)
        np.testing.assert_array_equal(pairs.shifts.numpy(), got.shifts)


def test_non_periodic_system_without_a_cell():
    rng = np.random.default_rng(5)
    pos = rng.uniform(0, 5, size=(30, 3))
    ref = brute_force(pos, np.zeros((3, 3)), (False,) * 3, 1.8)
    for backend in ("torch", "auto"):
        got = neighbor_arrays(pos, None, False, 1.8, backend=backend)
        assert {(int(a), int(b), (0, 0, 0)) for a, b in zip(got.i, got.j, strict=True)} == set(ref)


def test_backends_agree_in_float32():
    pos, cell, pbc = random_system("triclinic", 3)
    p32 = torch.tensor(pos, dtype=torch.float32)
    a = neighbor_pairs(p32, torch.tensor(cell, dtype=torch.float32), pbc, 2.5, backend="torch")
    assert a.shifts.dtype == torch.float32 and a.i.dtype == torch.long
    if vesin_available():
        b = neighbor_pairs(p32, torch.tensor(cell, dtype=torch.float32), pbc, 2.5, backend="vesin")
        assert torch.equal(a.i, b.i) and torch.equal(a.j, b.j) and torch.equal(a.shifts, b.shifts)


def lj_energy(pos: torch.Tensor, cell: torch.Tensor, pairs) -> torch.Tensor:
    r2 = pair_vectors(pos, cell, pairs).square().sum(-1)
    return 0.5 * (4.0 * (r2**-6 - r2**-3)).sum()  # full list counts each pair twice


@pytest.mark.parametrize("backend", BACKENDS)
def test_pair_energy_gradients_equal_finite_differences(backend):
    rng = np.random.default_rng(1)
    cell = torch.tensor([[4.0, 0.0, 0.0], [0.8, 4.2, 0.0], [0.3, 0.5, 4.4]], dtype=torch.float64)
    # a jittered lattice keeps every pair distance away from the repulsive core
    grid = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3) / 3.0
    pos = torch.tensor((grid + 0.03 * rng.standard_normal(grid.shape)) @ cell.numpy(), requires_grad=True)
    cell = cell.clone().requires_grad_(True)
    pairs = neighbor_pairs(pos, cell, True, 3.0, backend=backend)
    energy = lj_energy(pos, cell, pairs)
    g_pos, g_cell = torch.autograd.grad(energy, (pos, cell))
    h = 1e-6
    for idx in [(0, 0), (5, 1), (17, 2)]:
        dp = torch.zeros_like(pos)
        dp[idx] = h
        with torch.no_grad():
            fd = (lj_energy(pos + dp, cell, pairs) - lj_energy(pos - dp, cell, pairs)) / (2 * h)
        assert float(g_pos[idx]) == pytest.approx(float(fd), rel=1e-6, abs=1e-8)
    for idx in [(0, 0), (1, 0), (2, 2)]:
        dc = torch.zeros_like(cell)
        dc[idx] = h
        with torch.no_grad():
            fd = (lj_energy(pos, cell + dc, pairs) - lj_energy(pos, cell - dc, pairs)) / (2 * h)
        assert float(g_cell[idx]) == pytest.approx(float(fd), rel=1e-6, abs=1e-8)


def test_batched_pairs_index_one_stacked_graph():
    systems = [random_system("triclinic", s) for s in range(3)]
    pos = torch.tensor(np.stack([s[0] for s in systems]))
    cells = torch.tensor(np.stack([s[1] for s in systems]))
    pairs = batched_neighbor_pairs(pos, cells, True, 2.5)
    vec = pair_vectors(pos, cells, pairs)
    for b in range(3):
        single = neighbor_arrays(pos[b].numpy(), cells[b].numpy(), True, 2.5)
        mask = (pairs.batch == b).numpy()
        np.testing.assert_array_equal(pairs.i.numpy()[mask], single.i + b * pos.shape[1])
        np.testing.assert_array_equal(pairs.j.numpy()[mask], single.j + b * pos.shape[1])
        np.testing.assert_allclose(vec.numpy()[mask], single.vectors, rtol=1e-12, atol=1e-12)


def test_check_cell_names_the_widths():
    assert np.allclose(check_cell(np.eye(3) * 5.2, True, 2.5), 5.2)
    with pytest.raises(ParameterError, match=r"perpendicular widths \(a: 4\.8, b: 4\.8, c: 4\.8\) must each be "
                                             r">= 2 \* cutoff = 5"):
        check_cell(np.eye(3) * 4.8, True, 2.5)
    sheared = np.array([[6.0, 0, 0], [3.0, 5.0, 0], [0, 0, 6.0]])  # b's width is 5 although |b| = 5.83
    with pytest.raises(ParameterError, match=r"b: 5,"):
        check_cell(sheared, True, 2.6)
    widths = check_cell(np.diag([6.0, 1.0, 6.0]), (True, False, True), 2.5)  # y is not periodic
    assert widths[1] == np.inf


def test_check_min_distance_names_the_closest_pair():
    pos = np.array([[0.1, 0.1, 0.1], [2.0, 2.0, 2.0], [4.8, 0.2, 0.1], [2.0, 2.0, 3.5]])
    check_min_distance(pos, None, False, 0.5)  # without periodicity atoms 0 and 2 are far apart
    with pytest.raises(ParameterError, match=r"atoms 0 and 2 are 0\.3162 apart \(cell shift \[-1, 0, 0\]\), "
                                             r"closer than min_distance 0\.5"):
        check_min_distance(pos, np.eye(3) * 5.0, True, 0.5)
    frames = np.stack([pos + [0, 0, 0.0], pos])
    frames[0, 2] = [3.0, 3.0, 3.0]
    with pytest.raises(ParameterError, match=r"\(frame 1\)"):
        check_min_distance(frames, np.eye(3) * 5.0, True, 0.5)


def test_bad_input_is_refused():
    pos = torch.zeros(4, 3)
    with pytest.raises(ParameterError, match="needs a cell"):
        neighbor_pairs(pos, None, True, 1.0)
    with pytest.raises(ParameterError, match="cutoff must be"):
        neighbor_pairs(pos, torch.eye(3), True, -1.0)
    with pytest.raises(ParameterError, match=r"shape \(n, 3\)"):
        neighbor_pairs(torch.zeros(4, 2), torch.eye(3), True, 1.0)
    with pytest.raises(ParameterError, match="linearly dependent"):
        neighbor_pairs(pos, torch.tensor([[1.0, 0, 0], [2.0, 0, 0], [0, 0, 1.0]]), True, 1.0)
    with pytest.raises(ParameterError, match="backend"):
        neighbor_pairs(pos, torch.eye(3), True, 1.0, backend="cuda")
