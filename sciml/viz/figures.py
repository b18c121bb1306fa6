"""Shared figure plumbing: a headless pyplot and an atomic save."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sciml.data.atomic import atomic_path

__all__ = ["pyplot", "save_figure"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend unless one was chosen already (headless runs)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, *, dpi: int = 110) -> Path:
    """Write ``fig`` atomically to ``path`` (format from the suffix, PNG without one) and close it.

    The figure is closed even if writing fails; ``path`` is then left as it was.
    """
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png", bbox_inches="tight")
    finally:
        plt.close(fig)
    return path
