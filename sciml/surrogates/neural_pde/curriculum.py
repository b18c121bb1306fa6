"""Curriculum from teacher forcing to autoregressive training (CAPE, Takamoto et al. 2023).

An autoregressive solver trained only with teacher forcing (every input history is ground
truth) never sees its own errors; trained fully autoregressively from the start it learns
slowly because early predictions are noise. CAPE's curriculum moves smoothly from one to
the other: in every training rollout a share ``s`` of the steps feeds the model its own
predictions, and ``s`` follows a tanh ramp over the training epochs,

.. math::

    s(e) = \\frac{1}{2}\\left(1 + \\tanh\\frac{e - c}{w}\\right),
    \\qquad e = \\frac{\\text{epoch} - \\text{warmup}}{\\text{n\\_epochs} - \\text{warmup} - 1}
    \\in [0, 1],

with centre ``c = 0.5`` and width ``w = 0.2`` (``s(0) = 0.0067``, ``s(0.5) = 0.5``,
``s(1) = 0.9933``).

:class:`Curriculum` turns the share into the per-step choice of what is fed back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["Curriculum", "normalised_epoch", "self_fed_share"]

CurriculumKind = Literal["tanh", "teacher_forcing", "autoregressive"]
FeedbackOrder = Literal["self_fed_first", "teacher_forced_first"]


def self_fed_share(e: float, centre: float = 0.5, width: float = 0.2) -> float:
    """The tanh ramp ``s(e) = (1 + tanh((e - centre) / width)) / 2``.

    Parameters
    ----------
    e : float
        Normalised training progress, usually in ``[0, 1]`` (see :func:`normalised_epoch`).
    centre : float
        Progress at which half of the steps are self-fed.
    width : float
        Width of the transition (positive); smaller is steeper.

    Returns
    -------
    float
        The share of self-fed rollout steps, in ``(0, 1)``.
    """
    if not width > 0:
        raise ValueError(f"width must be positive; got {width!r}")
    return 0.5 * (1.0 + math.tanh((float(e) - centre) / width))


def normalised_epoch(epoch: int, n_epochs: int, warmup_epochs: int = 0) -> float:
    """Training progress ``e = (epoch - warmup) / (n_epochs - warmup - 1)``, clipped to [0, 1].

    ``epoch`` is 0-based, so the first curriculum epoch (``epoch == warmup_epochs``) has
    ``e = 0`` and the last (``epoch == n_epochs - 1``) has ``e = 1``. Warm-up epochs give
    ``e = 0``; with a single curriculum epoch ``e = 1``.
    """
    if n_epochs < 1:
        raise ValueError(f"n_epochs must be >= 1; got {n_epochs}")
    if not 0 <= warmup_epochs:
        raise ValueError(f"warmup_epochs must be >= 0; got {warmup_epochs}")
    span = n_epochs - warmup_epochs - 1
    if epoch < warmup_epochs:
        return 0.0
    if span <= 0:
        return 1.0
    return min(1.0, max(0.0, (epoch - warmup_epochs) / span))


@dataclass(frozen=True)
class Curriculum:
    """How many rollout steps are self-fed at each epoch.

    A training rollout of ``n`` steps starts from the ``initial_step`` ground-truth frames;
    step ``j`` (``0 <= j < n``) predicts frame ``initial_step + j`` from the newest
    ``initial_step`` frames of its history, and then the frame appended to the history is
    either the model's prediction (*fed back*) or the ground-truth frame (*teacher forced*).
    With ``n_self = floor(s * n + 1/2)`` (halves round up) (:meth:`Curriculum.self_fed_steps`):

    * ``order="self_fed_first"`` (default, as in the CAPE reference implementation): the
      predictions of the FIRST ``n_self`` steps are fed back and the later steps are teacher
      forced. The model rolls out freely from the true initial condition for ``n_self`` steps
      and then is reset to the truth; as ``s`` grows the free part lengthens until the whole
      rollout is autoregressive.
    * ``order="teacher_forced_first"``: the first ``n - n_self`` steps are teacher forced
      and the predictions of the LAST ``n_self`` steps are fed back.

    ``s = 0`` is pure teacher forcing and ``s = 1`` pure autoregressive training whichever the
    order. :meth:`Curriculum.feedback_mask` gives the per-step choice.

    Parameters
    ----------
    kind : {"tanh", "teacher_forcing", "autoregressive"}
        ``"tanh"``: the CAPE ramp :func:`self_fed_share`; ``"teacher_forcing"``: share 0
        always; ``"autoregressive"``: share 1 always.
    centre, width : float
        Parameters of the tanh ramp (ignored by the other kinds).
    order : {"self_fed_first", "teacher_forced_first"}
        Which steps of a rollout are self-fed (above).

    Examples
    --------
    >>> c = Curriculum()
    >>> round(c.share(0, 11), 4), round(c.share(5, 11), 4), round(c.share(10, 11), 4)
    (0.0067, 0.5, 0.9933)
    >>> c.feedback_mask(0.5, 4)
    [True, True, False, False]
    """

    kind: CurriculumKind = "tanh"
    centre: float = 0.5
    width: float = 0.2
    order: FeedbackOrder = "self_fed_first"

    def __post_init__(self) -> None:
        if self.kind not in ("tanh", "teacher_forcing", "autoregressive"):
            raise ValueError(
                f"curriculum kind must be 'tanh', 'teacher_forcing' or 'autoregressive'; "
                f"got {self.kind!r}"
            )
        if self.order not in ("self_fed_first", "teacher_forced_first"):
            raise ValueError(
                f"curriculum order must be 'self_fed_first' or 'teacher_forced_first'; got {self.order!r}"
            )
        if not (isinstance(self.width, (int, float)) and self.width > 0 and math.isfinite(self.width)):
            raise ValueError(f"curriculum width must be a positive number; got {self.width!r}")
        if not (isinstance(self.centre, (int, float)) and math.isfinite(self.centre)):
            raise ValueError(f"curriculum centre must be a finite number; got {self.centre!r}")

    def share(self, epoch: int, n_epochs: int, warmup_epochs: int = 0) -> float:
        """Share of self-fed steps at 0-based ``epoch`` of ``n_epochs`` (after ``warmup_epochs``).

        Warm-up epochs are teacher forced (share 0) for every kind.
        """
        e = normalised_epoch(epoch, n_epochs, warmup_epochs)
        if epoch < warmup_epochs:
            return 0.0
        if self.kind == "teacher_forcing":
            return 0.0
        if self.kind == "autoregressive":
            return 1.0
        return self_fed_share(e, self.centre, self.width)

    @staticmethod
    def self_fed_steps(share: float, n_steps: int) -> int:
        """``floor(share * n_steps + 1/2)``: how many of ``n_steps`` predictions are fed back.

        Halves round up (``share = 0.5`` of 5 steps gives 3), unlike Python's ``round``.
        """
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share must be in [0, 1]; got {share!r}")
        if n_steps < 0:
            raise ValueError(f"n_steps must be >= 0; got {n_steps}")
        return min(n_steps, int(math.floor(share * n_steps + 0.5)))

    def feedback_mask(self, share: float, n_steps: int) -> list[bool]:
        """Per rollout step, whether its prediction (True) or the truth (False) is appended.

        Parameters
        ----------
        share : float
            Share of self-fed steps, in ``[0, 1]`` (from :meth:`share`).
        n_steps : int
            Steps in the rollout.

        Returns
        -------
        list of bool, length ``n_steps``
            ``self_fed_steps(share, n_steps)`` entries are True: the first ones for
            ``order="self_fed_first"``, the last ones for ``order="teacher_forced_first"``.
        """
        n_self = self.self_fed_steps(share, n_steps)
        if self.order == "self_fed_first":
            return [j < n_self for j in range(n_steps)]
        return [j >= n_steps - n_self for j in range(n_steps)]
