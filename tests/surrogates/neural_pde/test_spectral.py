"""Spectral convolutions against dense operators built independently from DFT formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sciml.surrogates.neural_pde.spectral import SpectralConv1d, SpectralConv2d


def _half_spectrum_weights(n: int, ks: np.ndarray) -> np.ndarray:
    """Multiplicity of rfft frequency ``k`` in a real signal: 1 for 0 and Nyquist, else 2."""
    c = np.full(ks.shape, 2.0)
    c[ks == 0] = 1.0
    if n % 2 == 0:
        c[ks == n // 2] = 1.0
    return c


def dense_1d(w: np.ndarray, n: int) -> np.ndarray:
    """Dense matrix ``(out*n, in*n)`` of ``x -> irfft(W * rfft(x)[:m])`` with explicit DFT sums.

    ``w``: complex ``(in, out, modes)``; ``m = min(modes, n//2 + 1)``.
    """
    c_in, c_out, modes = w.shape
    m = min(modes, n // 2 + 1)
    ks = np.arange(m)
    j = np.arange(n)
    fwd = np.exp(-2j * np.pi * np.outer(ks, j) / n)  # (m, n): x_j -> X_k
    inv = (_half_spectrum_weights(n, ks)[None, :] / n) * np.exp(2j * np.pi * np.outer(j, ks) / n)
    # A[o, j', i, j] = Re sum_k inv[j', k] w[i, o, k] fwd[k, j]
    a = np.einsum("pk,iok,kj->opij", inv, w[:, :, :m], fwd).real
    return a.reshape(c_out * n, c_in * n)


def dense_2d(w_pos: np.ndarray, w_neg: np.ndarray, nx: int, ny: int) -> np.ndarray:
    """Dense matrix ``(out*nx*ny, in*nx*ny)`` of the FNO 2D spectral layer, by explicit sums.

    ``w_pos``/``w_neg``: complex ``(in, out, modes_x, modes_y)``; ``w_neg[..., j, :]`` is
    frequency ``kx = j - modes_x``.
    """
    c_in, c_out, modes_x, modes_y = w_pos.shape
    mx, my = min(modes_x, nx // 2), min(modes_y, ny // 2 + 1)
    kxs = np.concatenate([np.arange(mx), np.arange(-mx, 0)])  # physical kx
    wk = np.concatenate([w_pos[:, :, :mx, :my], w_neg[:, :, modes_x - mx:, :my]], axis=2)
    kys = np.arange(my)
    a_idx, b_idx = np.arange(nx), np.arange(ny)
    fx = np.exp(-2j * np.pi * np.outer(kxs, a_idx) / nx)  # (Kx, nx)
    fy = np.exp(-2j * np.pi * np.outer(kys, b_idx) / ny)  # (Ky, ny)
    gx = np.exp(2j * np.pi * np.outer(a_idx, kxs) / nx) / nx  # full inverse DFT in x
    gy = (_half_spectrum_weights(ny, kys)[None, :] / ny) * np.exp(
        2j * np.pi * np.outer(b_idx, kys) / ny
    )  # Hermitian inverse in y (real part taken below)
    # y[o,a',b'] = Re sum_{kx,ky} gy[b',ky] gx[a',kx] w[i,o,kx,ky] fx[kx,a] fy[ky,b] x[i,a,b]
    a = np.einsum("qy,px,ioxy,xa,yb->opqiab", gy, gx, wk, fx, fy, optimize=True).real
    return a.reshape(c_out * nx * ny, c_in * nx * ny)


def _complex(weight: torch.Tensor) -> np.ndarray:
    return torch.view_as_complex(weight.detach()).numpy()


@pytest.mark.parametrize(("n", "modes"), [(64, 16), (16, 9), (15, 16), (7, 2)])
def test_spectral_conv1d_equals_dense_dft_operator(n: int, modes: int) -> None:
    torch.manual_seed(0)
    layer = SpectralConv1d(3, 2, modes).double()
    a = dense_1d(_complex(layer.weight), n)
    x = torch.randn(4, 3, n, dtype=torch.float64)
    y = layer(x).detach().numpy().reshape(4, -1)
    ref = x.numpy().reshape(4, -1) @ a.T
    assert np.max(np.abs(y - ref)) < 1e-10
    # the operator materialised from its action on basis vectors is the same matrix
    basis = torch.eye(3 * n, dtype=torch.float64).reshape(3 * n, 3, n)
    op = layer(basis).detach().numpy().reshape(3 * n, -1).T
    assert np.max(np.abs(op - a)) < 1e-10


@pytest.mark.parametrize(("nx", "ny", "modes"), [(16, 12, (4, 3)), (10, 9, (8, 8)), (8, 8, 2)])
def test_spectral_conv2d_equals_dense_dft_operator(nx: int, ny: int, modes) -> None:
    torch.manual_seed(1)
    layer = SpectralConv2d(2, 3, modes).double()
    a = dense_2d(_complex(layer.weight_pos), _complex(layer.weight_neg), nx, ny)
    x = torch.randn(3, 2, nx, ny, dtype=torch.float64)
    y = layer(x).detach().numpy().reshape(3, -1)
    ref = x.numpy().reshape(3, -1) @ a.T
    assert np.max(np.abs(y - ref)) < 1e-10
    basis = torch.eye(2 * nx * ny, dtype=torch.float64).reshape(-1, 2, nx, ny)
    op = layer(basis).detach().numpy().reshape(2 * nx * ny, -1).T
    assert np.max(np.abs(op - a)) < 1e-10


def test_spectral_conv1d_is_resolution_consistent_on_band_limited_inputs() -> None:
    """The same continuous band-limited function at 32 and 128 cells maps to the same function."""
    torch.manual_seed(2)
    layer = SpectralConv1d(2, 2, 6).double()
    coef = torch.randn(2, 5, dtype=torch.float64)

    def f(n: int) -> torch.Tensor:
        x = torch.arange(n, dtype=torch.float64) / n  # nodes: coarse node i is fine node 4i
        k = torch.arange(1, 6, dtype=torch.float64)
        return (coef[:, :, None] * torch.sin(2 * torch.pi * k[:, None] * x)).sum(1)[None]

    coarse, fine = layer(f(32)), layer(f(128))
    assert torch.max(torch.abs(fine[..., ::4] - coarse)) < 1e-12
