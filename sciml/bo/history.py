"""The observations and pending points of a BO loop, in model coordinates.

Every point carries the iteration that proposed it (its *tag*: ``0`` for the initial design)
and its position in that batch, so that the training data can be put in a canonical order
whatever order a parallel executor completed a batch in.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from sciml.bo.fidelity import DTYPE

__all__ = ["PENDING_MATCH_TOL", "History"]

logger = logging.getLogger(__name__)

PENDING_MATCH_TOL = 1e-6
"""An observed point is the pending point it is within this fraction of each coordinate's range of
(float32 round trips through a simulator stay well inside it)."""

#: Entries of :meth:`History.tensors` (and of a saved loop state).
TENSOR_KEYS = ("Z", "values", "costs", "tags", "pos", "pending", "pending_tags", "pending_pos")


class History:
    """Observed points ``Z`` ``(n, w)`` with values, costs, tags and positions; pending points ``(m, w)``.

    Parameters
    ----------
    width : int
        Columns of a model-coordinate point (``d + 1`` with a fidelity, else ``d``).
    """

    def __init__(self, width: int) -> None:
        self.width = int(width)
        self.Z = torch.empty(0, width, dtype=DTYPE)
        self.values = torch.empty(0, dtype=DTYPE)
        self.costs = torch.empty(0, dtype=DTYPE)
        self.tags = torch.empty(0, dtype=torch.long)
        self.pos = torch.empty(0, dtype=torch.long)  # position in its batch (-1: not proposed here)
        self.pending = torch.empty(0, width, dtype=DTYPE)
        self.pending_tags = torch.empty(0, dtype=torch.long)
        self.pending_pos = torch.empty(0, dtype=torch.long)

    @property
    def n_observations(self) -> int:
        """Number of observed points (failed ones included)."""
        return int(self.values.shape[0])

    @property
    def ok(self) -> Tensor:
        """``(n,)`` bool: the observations with a finite value."""
        return torch.isfinite(self.values)

    @property
    def empty(self) -> bool:
        """No observation and no pending point."""
        return self.n_observations == 0 and self.pending.shape[0] == 0

    def add_pending(self, Z: Tensor, tag: int) -> None:
        """Append proposed points ``Z`` ``(k, w)`` of iteration ``tag`` after those it already has."""
        start = int((self.tags == tag).sum()) + int((self.pending_tags == tag).sum())
        self.pending = torch.cat([self.pending, Z.to(DTYPE)], dim=0)
        self.pending_tags = torch.cat([self.pending_tags, torch.full((Z.shape[0],), tag, dtype=torch.long)])
        self.pending_pos = torch.cat([self.pending_pos, torch.arange(start, start + Z.shape[0])])

    def match_pending(self, z: Tensor, span: Tensor, name: str) -> int | None:
        """Index of the pending point within :data:`PENDING_MATCH_TOL` of ``z`` (``span``: coordinate ranges)."""
        if self.pending.shape[0] == 0:
            return None
        dist = ((self.pending - z) / span).abs().max(dim=1).values
        i = int(dist.argmin())
        if float(dist[i]) <= PENDING_MATCH_TOL:
            return i
        logger.warning("%s: an observed point matches none of the %d pending points (closest differs by %.3g of "
                       "the range); recorded as an extra observation, the pending points stay pending",
                       name, self.pending.shape[0], float(dist[i]))
        return None

    def pop_pending(self, j: int) -> tuple[Tensor, int, int]:
        """Remove pending point ``j``; return it, its tag and its position."""
        z, tag, pos = self.pending[j].clone(), int(self.pending_tags[j]), int(self.pending_pos[j])
        keep = torch.arange(self.pending.shape[0]) != j
        self.pending, self.pending_tags = self.pending[keep], self.pending_tags[keep]
        self.pending_pos = self.pending_pos[keep]
        return z, tag, pos

    def append(self, z: Tensor, value: Tensor, cost: Tensor, tag: int, pos: int) -> None:
        """Record one observation (``value``, ``cost``: tensors of shape ``(1,)``)."""
        self.Z = torch.cat([self.Z, z.reshape(1, -1)], dim=0)
        self.values = torch.cat([self.values, value])
        self.costs = torch.cat([self.costs, cost])
        self.tags = torch.cat([self.tags, torch.tensor([tag], dtype=torch.long)])
        self.pos = torch.cat([self.pos, torch.tensor([pos], dtype=torch.long)])

    def training_data(self) -> tuple[Tensor, Tensor]:
        """Successful observations ``(Z, values)`` in a canonical order: by batch, then position in it.

        The order in which a parallel executor completes a batch does not change the fitted
        model or the acquisition (exact reproducibility on resume).
        """
        ok = self.ok
        key = self.tags[ok].to(DTYPE) * 1e7 + self.pos[ok].to(DTYPE)
        order = torch.argsort(key, stable=True)
        return self.Z[ok][order], self.values[ok][order]

    def tensors(self) -> dict[str, Tensor]:
        """Copies of every tensor, keyed by :data:`TENSOR_KEYS`."""
        return {key: getattr(self, key).clone() for key in TENSOR_KEYS}

    def load(self, t: dict[str, Tensor]) -> None:
        """Replace the contents with the tensors of :meth:`tensors` (shapes checked by the caller)."""
        for key in ("Z", "values", "costs", "pending"):
            setattr(self, key, t[key].to(DTYPE))
        for key in ("tags", "pos", "pending_tags", "pending_pos"):
            setattr(self, key, t[key].to(torch.long))
