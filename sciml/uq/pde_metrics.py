"""PDEBench evaluation metrics for neural PDE solvers, computed over full rollouts.

The metrics follow Takamoto et al., "PDEBench: An Extensive Benchmark for Scientific
Machine Learning" (NeurIPS 2022 datasets track), ``pdebench/models/metrics.py``, re-derived
and written for channel-first tensors. Inputs are prediction and truth of shape::

    (batch, n_vars, n_t, *space)     *space = (n_x,) in 1D, (n_x, n_y) in 2D

:class:`RolloutMetrics` accumulates them exactly over uneven batches (its docstring
defines every metric and lists the differences from PDEBench); :func:`compute_metrics` is the
one-batch shortcut; the functions ``rmse``, ``nrmse``, ... compute one metric each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from sciml.surrogates.neural_pde.protocol import rollout
from sciml.uq.accumulator import MetricAccumulator

__all__ = [
    "FOURIER_BANDS",
    "METRIC_KEYS",
    "RolloutMetrics",
    "accumulate_rollouts",
    "brmse",
    "compute_metrics",
    "crmse",
    "frmse",
    "max_error",
    "nrmse",
    "nrmse_frame",
    "rmse",
]

#: Default band edges ``(low_end, high_start)``:
#: low ``s < 4``, mid ``4 <= s < 12``, high ``s >= 12``.
FOURIER_BANDS: tuple[int, int] = (4, 12)

#: Keys returned by :meth:`RolloutMetrics.compute`, in order.
METRIC_KEYS: tuple[str, ...] = (
    "rmse",
    "nrmse",
    "nrmse_frame",
    "crmse",
    "max_error",
    "brmse",
    "frmse_low",
    "frmse_mid",
    "frmse_high",
)

_SPATIAL_DIMS = (1, 2)


def _check_inputs(pred: Tensor, true: Tensor, skip_initial: int) -> None:
    """Raise ``ValueError`` when ``pred`` / ``true`` are not a valid metric input."""
    for name, x in (("pred", pred), ("true", true)):
        if not isinstance(x, Tensor):
            raise ValueError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
        if not x.is_floating_point():
            raise ValueError(f"{name} must be a real floating tensor; got dtype {x.dtype}")
    if pred.shape != true.shape:
        raise ValueError(
            f"pred and true must have the same shape (batch, n_vars, n_t, *space); got pred "
            f"{tuple(pred.shape)} and true {tuple(true.shape)}"
        )
    if pred.ndim - 3 not in _SPATIAL_DIMS:
        raise ValueError(
            "pred and true must have shape (batch, n_vars, n_t, n_x) in 1D or "
            f"(batch, n_vars, n_t, n_x, n_y) in 2D; got {pred.ndim} dims {tuple(pred.shape)}"
        )
    if pred.device != true.device:
        raise ValueError(
            f"pred and true must be on one device; got {pred.device} and {true.device}"
        )
    if min(pred.shape) == 0:
        raise ValueError(f"pred and true must not have an empty dimension; got {tuple(pred.shape)}")
    if not isinstance(skip_initial, int) or isinstance(skip_initial, bool):
        raise ValueError(f"skip_initial must be an int; got {skip_initial!r}")
    n_t = pred.shape[2]
    if not 0 <= skip_initial < n_t:
        raise ValueError(
            f"skip_initial must satisfy 0 <= skip_initial < n_t = {n_t}; got {skip_initial}"
        )
    for name, x in (("pred", pred), ("true", true)):
        finite = torch.isfinite(x)
        if not bool(finite.all()):
            n_nan = int(torch.isnan(x).sum())
            n_inf = int((~finite).sum()) - n_nan
            raise ValueError(
                f"{name} contains {n_nan} NaN and {n_inf} inf values; metrics need finite inputs"
            )


def _boundary_mask(space: tuple[int, ...], device: torch.device) -> Tensor:
    """Boolean mask of shape ``space``: True on cells with index 0 or n-1 along any axis."""
    mask = torch.zeros(space, dtype=torch.bool, device=device)
    for axis, n in enumerate(space):
        idx = [slice(None)] * len(space)
        idx[axis] = 0
        mask[tuple(idx)] = True
        idx[axis] = n - 1
        mask[tuple(idx)] = True
    return mask


def _fourier_shells(space: tuple[int, ...], device: torch.device) -> tuple[Tensor, Tensor, int]:
    """Shell index and conjugate-pair weight of every FFT mode.

    Returns
    -------
    shell : Tensor, shape ``(N,)``, int64
        ``floor(|k|)`` for each mode of ``fftn`` over ``space`` (flattened, C order).
    weight : Tensor, shape ``(N,)``, float64
        1 for self-conjugate modes (``k == -k mod n`` on every axis), 1/2 otherwise.
    n_shells : int
        ``min(space) // 2 + 1``; modes with ``shell >= n_shells`` are dropped.
    """
    grids = torch.meshgrid(
        *[torch.arange(n, device=device, dtype=torch.int64) for n in space], indexing="ij"
    )
    k2 = torch.zeros(space, dtype=torch.int64, device=device)
    self_conj = torch.ones(space, dtype=torch.bool, device=device)
    for j, n in zip(grids, space, strict=True):
        k = torch.where(j <= n // 2, j, j - n)  # signed wavenumber; only |k| matters
        k2 += k * k
        self_conj &= j == (-j) % n
    shell = torch.floor(torch.sqrt(k2.to(torch.float64))).to(torch.int64)
    # exact integer square root (guards against sqrt rounding)
    shell = torch.where((shell + 1) ** 2 <= k2, shell + 1, shell)
    shell = torch.where(shell**2 > k2, shell - 1, shell)
    weight = torch.where(self_conj, 1.0, 0.5).to(torch.float64)
    return shell.reshape(-1), weight.reshape(-1), min(space) // 2 + 1


class RolloutMetrics:
    """Accumulate PDEBench metrics over batches of rollouts; exact for uneven batches.

    Every metric is a function of per-sample sums (and a max), so :meth:`compute` after any
    sequence of :meth:`update` calls equals the result on the concatenation of all batches
    (up to float64 summation order).

    Notation: ``e = pred - true``; ``b`` sample, ``v`` variable, ``t`` time step (after dropping
    the first ``skip_initial`` frames, usually the ``initial_step`` frames given to the model),
    ``x`` a spatial cell; ``B, V, T`` the counts, ``N = prod(space)`` the number of cells;
    ``mean_x`` is the mean over all cells of a frame and ``||.||_x`` the RMS over them.

    =============  =============================================================================
    key            definition
    =============  =============================================================================
    ``rmse``       ``mean_{b,v,t} sqrt(mean_x e^2)``  -- RMS over space per frame, then averaged
    ``nrmse``      ``mean_{b,v} ||e_{bv}||_{t,x} / (||true_{bv}||_{t,x} + eps)`` -- per-sample
                   relative L2 error of the whole rollout (norms over time and space), averaged
                   over samples and variables. Robust when the truth decays to ~0 (high
                   viscosity), where per-frame ratios explode.
    ``nrmse_frame`` ``mean_{b,v,t} ||e_{bvt}||_x / (||true_{bvt}||_x + eps)`` -- PDEBench's
                   per-frame relative L2 error, averaged over frames and samples
    ``crmse``      ``mean_{v,t} sqrt(mean_b (mean_x e)^2)`` -- error of the conserved quantity
                   (spatial mean), RMS over samples, averaged over variables and time
    ``max_error``  ``max_{b,v,t,x} |e|``
    ``brmse``      ``mean_{b,v,t} sqrt(mean_{x in boundary} e^2)``; boundary cells are those with
                   an index ``0`` or ``n - 1`` along any spatial axis, each counted once (1D: the
                   first and last cell; 2D: the ``2 n_x + 2 n_y - 4`` edge cells)
    ``frmse_low``  ``mean_{v,t} mean_{s in band} sqrt(mean_b E_{bvts}) / N`` with bands
    ``frmse_mid``  ``s < 4``, ``4 <= s < 12``, ``s >= 12`` (see below)
    ``frmse_high``
    =============  =============================================================================

    Fourier spectrum. ``F = fftn(e)`` over space (unnormalised), ``k`` the signed integer
    wavenumbers, shell ``s = floor(|k|)`` (radial wavenumber in 2D) and::

        E_{bvts} = sum_{k : floor|k| = s} w_k |F_{bvt}(k)|^2,   w_k = 1 if k == -k (mod n) else 1/2

    so each complex-conjugate pair of modes is counted once, like a one-sided ``rfft``. Shells
    ``0 <= s <= min(space) // 2`` are kept. In 1D this is exactly PDEBench's
    ``sqrt(mean_b |rfft(e)_k|^2) / n_x`` per wavenumber (with domain length ``L_x = 1``). A
    band average is NaN when the grid has no shell in that band (e.g. ``frmse_high`` for
    ``n_x < 24``).

    Differences from PDEBench's ``metric_func`` / ``metrics``:
    * Aggregation over batches: PDEBench averages per-batch results (wrong when batch sizes
      differ, and RMS-over-batch quantities are not additive). Here every quantity is
      accumulated as exact sums over samples (:class:`RolloutMetrics`), so results equal
      those on the concatenation of all batches.
    * ``max_error``: PDEBench reports the maximum over samples and space, *averaged* over
      variables and time steps (and then over batches); here it is the plain maximum.
    * ``brmse`` in 2D: PDEBench averages over ``2 n_x + 2 n_y`` edge entries (corners counted
      twice); here each boundary cell counts once. 1D is identical.
    * ``frmse`` in 2D: PDEBench sums only the quadrant ``0 <= k_x, k_y < n/2`` (missing modes
      with ``k_x k_y < 0`` and ``k = n/2``) and keeps shells ``s < min(n)/2``. Here all modes
      are used with conjugate-pair weights (above), and shells up to ``min(n)//2``. For a
      single mode with ``k_x, k_y >= 0`` both give the same value. No domain-length factor
      (PDEBench multiplies by ``L_x L_y``; its default is 1).
    * ``nrmse`` adds ``eps`` (default ``1e-20``, as PDEBench's ``LpLoss``) to the norm of the
      truth so that an all-zero true frame predicted exactly contributes 0, not NaN.

    All sums are done in float64 whatever the input dtype.

    Parameters
    ----------
    skip_initial : int, default 0
        Number of leading time frames to exclude (e.g. the ``initial_step`` frames that were
        given to the model rather than predicted).
    bands : tuple of int, default ``(4, 12)``
        ``(low_end, high_start)``: Fourier bands are ``s < low_end``,
        ``low_end <= s < high_start`` and ``s >= high_start`` (radial wavenumber ``s``).
    eps : float, default 1e-20
        Added to the spatial L2 norm of the truth in ``nrmse``.

    Examples
    --------
    ::

        acc = RolloutMetrics(skip_initial=10)
        for pred, true in batches:       # each (batch, n_vars, n_t, *space)
            acc.update(pred, true)
        acc.compute()["nrmse"]
        acc.error_vs_time()              # (n_t - 10,) nRMSE per time step
    """

    def __init__(
        self, skip_initial: int = 0, bands: tuple[int, int] = FOURIER_BANDS, eps: float = 1e-20
    ) -> None:
        if not isinstance(skip_initial, int) or isinstance(skip_initial, bool) or skip_initial < 0:
            raise ValueError(f"skip_initial must be an int >= 0; got {skip_initial!r}")
        if len(bands) != 2 or not 0 < bands[0] <= bands[1]:
            raise ValueError(
                "bands must be (low_end, high_start) with 0 < low_end <= high_start; "
                f"got {bands!r}"
            )
        if not eps >= 0:
            raise ValueError(f"eps must be >= 0; got {eps!r}")
        self.skip_initial = skip_initial
        self.bands = (int(bands[0]), int(bands[1]))
        self.eps = float(eps)
        self.reset()

    def reset(self) -> RolloutMetrics:
        """Forget all accumulated batches; returns ``self``."""
        self.n_samples: int = 0
        self._shape: tuple[int, ...] | None = None  # (n_vars, n_t, *space) of the first batch
        self._acc = MetricAccumulator()
        self._fourier: tuple[Tensor, Tensor, int] | None = None
        self._bmask: Tensor | None = None
        return self

    @torch.no_grad()
    def update(self, pred: Tensor, true: Tensor) -> RolloutMetrics:
        """Add one batch.

        Parameters
        ----------
        pred, true : Tensor, shape ``(batch, n_vars, n_t, *space)``
            Prediction and truth over the full rollout (float32 or float64, finite, same
            shape and device; ``*space`` is ``(n_x,)`` or ``(n_x, n_y)``). ``n_vars``,
            ``n_t`` and ``space`` must be the same in every call.

        Returns
        -------
        RolloutMetrics
            ``self``.
        """
        _check_inputs(pred, true, self.skip_initial)
        shape = tuple(pred.shape[1:])
        if self._shape is not None and shape != self._shape:
            raise ValueError(
                f"every batch must have the same (n_vars, n_t, *space); first batch had "
                f"{self._shape}, this one {shape}"
            )
        space = tuple(pred.shape[3:])
        if self._shape is None:
            self._shape = shape
            self._bmask = _boundary_mask(space, pred.device)
            self._fourier = _fourier_shells(space, pred.device)
        y = true[:, :, self.skip_initial :].to(torch.float64)
        e = pred[:, :, self.skip_initial :].to(torch.float64) - y  # (B, V, T, *space)
        for key, per_sample in self._per_sample(e, y).items():
            self._acc.add_sum(key, per_sample)
        self._acc.add_max("max_abs", float(e.abs().max()))
        self.n_samples += e.shape[0]
        return self

    def _per_sample(self, e: Tensor, y: Tensor) -> dict[str, Tensor]:
        """The per-sample quantities every metric is a function of (see the class docstring)."""
        b, v, t = e.shape[:3]
        sdims = tuple(range(3, e.ndim))
        err_rms = torch.sqrt(torch.mean(e**2, dim=sdims))  # (B, V, T)
        true_rms = torch.sqrt(torch.mean(y**2, dim=sdims))
        traj_ratio = torch.sqrt(torch.mean(e**2, dim=(2, *sdims))) / (
            torch.sqrt(torch.mean(y**2, dim=(2, *sdims))) + self.eps)  # (B, V)
        flat = e.reshape(b, v, t, -1)
        shell, weight, n_shells = self._fourier
        power = torch.fft.fftn(e, dim=sdims).abs().square().reshape(b, v, t, -1) * weight
        keep = shell < n_shells
        energy = torch.zeros(b, v, t, n_shells, dtype=torch.float64, device=e.device)
        energy.index_add_(3, shell[keep], power[..., keep])  # (B, V, T, S)
        return {
            "rmse": err_rms,
            "nrmse": err_rms / (true_rms + self.eps),
            "nrmse_traj": traj_ratio,
            "cons_sq": torch.mean(e, dim=sdims).square(),
            "brmse": torch.sqrt(torch.mean(flat[..., self._bmask.reshape(-1)] ** 2, dim=-1)),
            "shell": energy,
        }

    def _require_data(self) -> None:
        if self.n_samples == 0:
            raise ValueError("no data: call update(pred, true) at least once before compute()")

    def compute(self) -> dict[str, float]:
        """The metrics over all samples seen so far.

        Returns
        -------
        dict of str to float
            Keys :data:`METRIC_KEYS`: ``rmse``, ``nrmse``, ``crmse``, ``max_error``,
            ``brmse``, ``frmse_low``, ``frmse_mid``, ``frmse_high`` (a Fourier band with no
            shell on this grid is NaN). Definitions in the class docstring.
        """
        self._require_data()
        acc = self._acc
        n_cells = math.prod(self._shape[2:])
        shell_amp = torch.sqrt(acc.mean("shell")) / n_cells  # (V, T, S)
        n_shells = shell_amp.shape[-1]
        lo, hi = self.bands
        out = {
            "rmse": float(acc.mean("rmse").mean()),
            "nrmse": float(acc.mean("nrmse_traj").mean()),
            "nrmse_frame": float(acc.mean("nrmse").mean()),
            "crmse": float(torch.sqrt(acc.mean("cons_sq")).mean()),
            "max_error": float(acc.max("max_abs")),
            "brmse": float(acc.mean("brmse").mean()),
        }
        for name, (s0, s1) in (("low", (0, lo)), ("mid", (lo, hi)), ("high", (hi, n_shells))):
            s1 = min(s1, n_shells)
            out[f"frmse_{name}"] = float(shell_amp[..., s0:s1].mean()) if s1 > s0 else math.nan
        return out

    def error_vs_time(self, metric: str = "nrmse") -> Tensor:
        """Per-time-step error curve, averaged over samples and variables.

        Parameters
        ----------
        metric : {"nrmse", "rmse"}, default "nrmse"
            ``nrmse``: ``mean_{b,v} ||e_{bvt}||_x / (||true_{bvt}||_x + eps)``;
            ``rmse``: ``mean_{b,v} sqrt(mean_x e_{bvt}^2)``. Their time averages are the
            ``nrmse_frame`` and ``rmse`` of :meth:`compute`.

        Returns
        -------
        Tensor, shape ``(n_t - skip_initial,)``, float64, on the CPU
            Entry ``i`` belongs to time frame ``skip_initial + i``.
        """
        self._require_data()
        if metric not in ("nrmse", "rmse"):
            raise ValueError(f"metric must be one of ['nrmse', 'rmse']; got {metric!r}")
        return self._acc.mean(metric).mean(0)


def compute_metrics(
    pred: Tensor,
    true: Tensor,
    *,
    skip_initial: int = 0,
    bands: tuple[int, int] = FOURIER_BANDS,
    eps: float = 1e-20,
) -> dict[str, float]:
    """All PDEBench metrics of one set of rollouts.

    Parameters
    ----------
    pred, true : Tensor, shape ``(batch, n_vars, n_t, *space)``
        Prediction and truth; ``*space`` is ``(n_x,)`` or ``(n_x, n_y)``.
    skip_initial : int, default 0
        Leading time frames to exclude.
    bands : tuple of int, default ``(4, 12)``
        Fourier band edges, see :class:`RolloutMetrics`.
    eps : float, default 1e-20
        Added to the truth norm in ``nrmse``.

    Returns
    -------
    dict of str to float
        Keys :data:`METRIC_KEYS`; definitions: :class:`RolloutMetrics`.
    """
    acc = RolloutMetrics(skip_initial=skip_initial, bands=bands, eps=eps)
    return acc.update(pred, true).compute()


def rmse(pred: Tensor, true: Tensor, *, skip_initial: int = 0) -> float:
    """``mean_{b,v,t} sqrt(mean_x (pred - true)^2)``; inputs ``(batch, n_vars, n_t, *space)``."""
    return compute_metrics(pred, true, skip_initial=skip_initial)["rmse"]


def nrmse(pred: Tensor, true: Tensor, *, skip_initial: int = 0, eps: float = 1e-20) -> float:
    """``mean_{b,v} ||pred - true||_{t,x} / (||true||_{t,x} + eps)`` (per-sample relative L2).

    Inputs have shape ``(batch, n_vars, n_t, *space)``; norms are over time and space.
    """
    return compute_metrics(pred, true, skip_initial=skip_initial, eps=eps)["nrmse"]


def nrmse_frame(pred: Tensor, true: Tensor, *, skip_initial: int = 0, eps: float = 1e-20) -> float:
    """``mean_{b,v,t} ||pred - true||_x / (||true||_x + eps)`` (PDEBench's per-frame nRMSE).

    Inputs have shape ``(batch, n_vars, n_t, *space)``; norms are over space only.
    """
    return compute_metrics(pred, true, skip_initial=skip_initial, eps=eps)["nrmse_frame"]


def crmse(pred: Tensor, true: Tensor, *, skip_initial: int = 0) -> float:
    """``mean_{v,t} sqrt(mean_b (mean_x pred - mean_x true)^2)`` (conserved-quantity error).

    Inputs have shape ``(batch, n_vars, n_t, *space)``.
    """
    return compute_metrics(pred, true, skip_initial=skip_initial)["crmse"]


def max_error(pred: Tensor, true: Tensor, *, skip_initial: int = 0) -> float:
    """``max |pred - true|`` over all samples, variables, times and cells."""
    return compute_metrics(pred, true, skip_initial=skip_initial)["max_error"]


def brmse(pred: Tensor, true: Tensor, *, skip_initial: int = 0) -> float:
    """``mean_{b,v,t} sqrt(mean_{boundary cells} (pred - true)^2)``.

    Boundary cells: index 0 or ``n - 1`` along any spatial axis, each counted once.
    Inputs have shape ``(batch, n_vars, n_t, *space)``.
    """
    return compute_metrics(pred, true, skip_initial=skip_initial)["brmse"]


def frmse(
    pred: Tensor, true: Tensor, *, skip_initial: int = 0, bands: tuple[int, int] = FOURIER_BANDS
) -> dict[str, float]:
    """Fourier-band RMSE; returns ``{"low": ..., "mid": ..., "high": ...}``.

    ``mean_{v,t} mean_{s in band} sqrt(mean_b E_{bvts}) / N`` with the conjugate-pair
    weighted shell energy ``E`` of :class:`RolloutMetrics`. Inputs have shape
    ``(batch, n_vars, n_t, *space)``. A band without shells on the grid is NaN.
    """
    out = compute_metrics(pred, true, skip_initial=skip_initial, bands=bands)
    return {k: out[f"frmse_{k}"] for k in ("low", "mid", "high")}


@torch.no_grad()
def accumulate_rollouts(
    model: nn.Module,
    data: Any,
    *,
    skip_initial: int,
    batch_size: int,
    keep: Sequence[int] = (),
) -> tuple[RolloutMetrics, dict[int, tuple[Tensor, Tensor]]]:
    """PDEBench metrics of full autoregressive rollouts over a trajectory dataset.

    Parameters
    ----------
    model : NeuralPDESolver
        Rolled out from the first ``initial_step`` frames of every trajectory, as it is (set
        its mode first).
    data : InMemoryTrajectoryDataset or TrajectoryDataset
        Anything with ``batches(batch_size)`` yielding ``(trajectories (b, n_vars, n_t,
        *space), params (b, n_params))`` (:mod:`sciml.data.torch_dataset`).
    skip_initial : int
        Frames left out of the metrics (at least ``initial_step``).
    batch_size : int
        Trajectories per rollout, in dataset order.
    keep : sequence of int
        Items whose truth and prediction are returned.

    Returns
    -------
    (RolloutMetrics, dict)
        The filled accumulator, and ``{i: (truth (n_vars, n_t, *space), prediction)}`` for
        ``i`` in ``keep``.
    """
    k = int(model.initial_step)
    acc = RolloutMetrics(skip_initial=skip_initial)
    wanted = {int(i) for i in keep}
    kept: dict[int, tuple[Tensor, Tensor]] = {}
    start = 0
    for traj, params in data.batches(batch_size):
        pred = rollout(model, traj[:, :, :k], traj.shape[2] - k, params if model.n_params else None)
        acc.update(pred, traj)
        for i in sorted(i for i in wanted if start <= i < start + traj.shape[0]):
            kept[i] = (traj[i - start], pred[i - start])
        start += traj.shape[0]
    return acc, kept
