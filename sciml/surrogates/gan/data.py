"""Histories in and out of the generators: training data, and what ``predict`` is asked for.

Training data are ``N`` histories of one shape ``event_shape`` whose last axis is time —
``(n_time,)`` or ``(n_channels, n_time)`` (more leading axes are flattened into channels) —
optionally with ``P`` conditioning parameters per history. They come as a tensor or array
``(N, *event_shape)``, an :class:`xarray.DataArray` with a ``sample`` dimension (time is ``t``
when present, else the last dimension), or an :class:`xarray.Dataset` and the name of its
variable; parameters as an array ``(N, P)`` or, with a Dataset, the names of per-sample
variables.

A generator's ``predict(inputs)`` takes an int (that many draws, unconditional), parameters
``(B, P)`` (``n_draws`` draws per row, conditional) or a :class:`GenerationRequest`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from sciml.errors import SciMLError

__all__ = ["GenerationRequest", "HistoryData", "HistoryInputError", "as_history_data", "as_request"]


class HistoryInputError(SciMLError, ValueError):
    """Training histories, parameters or a generation request of the wrong shape or with bad values."""


@dataclass(frozen=True)
class HistoryData:
    """``N`` histories as float64 ``x`` ``(N, n_channels, n_time)``, their ``event_shape``, and
    parameters ``params`` ``(N, P)`` (None: unconditional) named ``param_names``."""

    x: Tensor
    event_shape: tuple[int, ...]
    params: Tensor | None = None
    param_names: tuple[str, ...] = ()

    @property
    def n_params(self) -> int:
        return 0 if self.params is None else int(self.params.shape[1])


def _finite_float64(value: Any, what: str) -> Tensor:
    if isinstance(value, xr.DataArray):
        value = value.values
    try:
        t = value.detach().cpu().to(torch.float64) if isinstance(value, Tensor) else \
            torch.as_tensor(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise HistoryInputError(f"{what} must be numbers: {exc}") from None
    bad = int((~torch.isfinite(t)).sum())
    if bad:
        raise HistoryInputError(f"{what} has {bad} non-finite value(s)")
    return t


def _from_xarray(data: xr.Dataset | xr.DataArray, variable: str | None) -> xr.DataArray:
    if isinstance(data, xr.Dataset):
        candidates = sorted(str(v) for v in data.data_vars if data[v].ndim >= 2 and "sample" in data[v].dims)
        if variable is None or variable not in data.data_vars:
            raise HistoryInputError(f"variable {variable!r} is not in the Dataset; history variables "
                                    f"(with a 'sample' dimension and time): {candidates}")
        data = data[variable]
    if "sample" not in data.dims:
        raise HistoryInputError(f"the histories need a 'sample' dimension; got dims {data.dims}")
    return data.transpose("sample", ..., "t") if "t" in data.dims else data.transpose("sample", ...)


def _params(data: Any, params: Any, n: int) -> tuple[Tensor | None, tuple[str, ...]]:
    if params is None:
        return None, ()
    names: tuple[str, ...] = ()
    if isinstance(data, xr.Dataset) and isinstance(params, Sequence) and not isinstance(params, str) \
            and all(isinstance(p, str) for p in params):
        missing = [p for p in params if p not in data.data_vars]
        if missing:
            raise HistoryInputError(f"parameter variable(s) {missing} not in the Dataset; variables: "
                                    f"{sorted(str(v) for v in data.data_vars)}")
        names = tuple(params)
        params = np.stack([np.asarray(data[p].values, dtype=np.float64) for p in params], axis=1)
    p = _finite_float64(params, "parameters")
    if p.ndim != 2 or p.shape[0] != n or p.shape[1] < 1:
        raise HistoryInputError(f"parameters must have shape (N, P) = ({n}, P >= 1); got {tuple(p.shape)}")
    return p, names or tuple(f"p{i}" for i in range(p.shape[1]))


def as_history_data(data: Any, *, variable: str | None = None, params: Any = None) -> HistoryData:
    """Training histories (and parameters) from a tensor, an array, a DataArray or a Dataset variable.

    Raises
    ------
    HistoryInputError
        Fewer than 2 histories, a history without a time axis, non-finite values, a missing
        variable, parameters that are not ``(N, P)``.
    """
    arr = _from_xarray(data, variable) if isinstance(data, (xr.Dataset, xr.DataArray)) else data
    x = _finite_float64(arr, "histories")
    if x.ndim < 2 or x.shape[0] < 2 or x.shape[-1] < 1:
        raise HistoryInputError(f"histories must have shape (N >= 2, [n_channels,] n_time); got {tuple(x.shape)}")
    event_shape = tuple(int(s) for s in x.shape[1:])
    p, names = _params(data, params, int(x.shape[0]))
    return HistoryData(x.reshape(x.shape[0], -1, x.shape[-1]), event_shape, p, names)


@dataclass(frozen=True)
class GenerationRequest:
    """What to generate: ``n_draws`` histories (per parameter row when ``params`` ``(B, P)`` is given),
    from the seed ``seed``."""

    n_draws: int
    params: Any = None
    seed: int = 0


def as_request(inputs: Any, n_params: int, default_draws: int) -> tuple[int, Tensor | None, int]:
    """``(n_draws, params (B, P) float64 or None, seed)`` of ``predict``'s ``inputs``.

    Raises
    ------
    HistoryInputError
        A count for a conditional generator, parameters for an unconditional one, parameters
        that are not ``(B, P)`` or not finite, a count that is not an integer >= 1.
    """
    if isinstance(inputs, GenerationRequest):
        n, params, seed = inputs.n_draws, inputs.params, inputs.seed
    elif isinstance(inputs, (int, np.integer)) and not isinstance(inputs, bool):
        n, params, seed = int(inputs), None, 0
    else:
        n, params, seed = default_draws, inputs, 0
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise HistoryInputError(f"the number of draws must be an integer >= 1; got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise HistoryInputError(f"seed must be an integer; got {seed!r}")
    if params is None:
        if n_params:
            raise HistoryInputError(f"this generator is conditioned on {n_params} parameter(s): pass parameters "
                                    f"(B, {n_params}) or a GenerationRequest with params")
        return int(n), None, int(seed)
    if not n_params:
        raise HistoryInputError("this generator is unconditional: pass a number of draws, not parameters")
    p = _finite_float64(params, "parameters")
    if p.ndim != 2 or p.shape[1] != n_params or p.shape[0] < 1:
        raise HistoryInputError(f"parameters must have shape (B, {n_params}); got {tuple(p.shape)}")
    return int(n), p, int(seed)
