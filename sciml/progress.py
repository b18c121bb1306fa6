"""Progress bars that stay quiet when nobody is watching.

:func:`progress` wraps :class:`tqdm.tqdm`; by default it shows a bar only when standard error
is a terminal, so batch logs (Slurm, CI) stay readable.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T] | None = None, *, enabled: bool | None = None, **kwargs: Any) -> tqdm:
    """Return a tqdm progress bar, disabled unless ``enabled`` or stderr is a TTY.

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate over (as for :class:`tqdm.tqdm`).
    enabled : bool or None
        Force the bar on or off; ``None`` means "on if ``sys.stderr.isatty()``".
    **kwargs
        Passed to :class:`tqdm.tqdm` (``total``, ``desc``, ``unit``, ...).
    """
    if enabled is None:
        enabled = bool(getattr(sys.stderr, "isatty", lambda: False)())
    return tqdm(iterable, disable=not enabled, **kwargs)
