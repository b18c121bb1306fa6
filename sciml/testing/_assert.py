"""The assertion helper of the contract suites (kept when Python runs with ``-O``)."""

from __future__ import annotations


def require(condition: object, message: str) -> None:
    """Raise ``AssertionError(message)`` unless ``condition`` is true."""
    if not condition:
        raise AssertionError(message)
