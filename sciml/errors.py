"""Exception types shared across sciml.

Every error raised for bad user input derives from :class:`SciMLError` so that the CLI can
print it cleanly (without a traceback) and exit with a non-zero status.
"""

from __future__ import annotations


class SciMLError(Exception):
    """Base class for errors caused by bad input, configuration or files."""


class SchemaError(SciMLError, ValueError):
    """A dataset does not follow the sciml canonical layout."""


class ConfigError(SciMLError, ValueError):
    """A configuration file or object is invalid."""


class ParameterError(SciMLError, ValueError):
    """A simulator was given parameters outside its declared parameter space."""


class SimulationError(SciMLError, RuntimeError):
    """A simulator produced non-finite values or otherwise failed."""


class FileFormatError(SciMLError, OSError):
    """A file is truncated, foreign or otherwise unreadable."""
