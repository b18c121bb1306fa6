"""Reading trajectories out of lists of :class:`ase.Atoms` frames (helpers of :mod:`sciml.data.particles`).

ASE is optional: :func:`import_ase` imports it or raises an ImportError with the install hint.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from sciml.errors import SchemaError

__all__ = ["import_ase", "velocity_factor", "frames_by_sample", "ase_getters", "gather", "frame_times",
           "INSTALL_HINT"]

#: How to install the optional dependencies of the particle-data layer.
INSTALL_HINT = "pip install 'sciml[md]'"


def import_ase() -> ModuleType:
    """``import ase`` (with its calculators), or ImportError with the install hint."""
    try:
        import ase
        import ase.calculators.singlepoint  # noqa: F401
    except ImportError as exc:  # pragma: no cover - ase is installed in the test environment
        raise ImportError(f"this needs ASE (the Atomic Simulation Environment): {INSTALL_HINT}") from exc
    return ase


def velocity_factor(unit_system: str) -> float:
    """Dataset velocity unit in ASE's (Angstrom per ASE time unit): ``v_ase = v * factor``."""
    if unit_system == "lj":
        return 1.0  # ASE's LennardJones with sigma = epsilon = mass = 1: ASE time unit is tau
    if unit_system == "ase":
        from ase import units

        return 1.0 / units.fs
    raise SchemaError(f"unit_system must be 'lj' or 'ase'; got {unit_system!r}")


def frames_by_sample(frames: Any) -> list[list[Any]]:
    """Frames as one list per sample: equal lengths, one atom count, fixed species and pbc per sample."""
    from ase import Atoms

    items = list(frames)
    if items and isinstance(items[0], Atoms):
        items = [items]
    samples = [list(s) for s in items]
    if not samples or not samples[0]:
        raise SchemaError("from_ase_frames needs at least one frame")
    lengths = {len(s) for s in samples}
    if len(lengths) > 1:
        raise SchemaError(f"samples have different numbers of frames {sorted(lengths)}; pass equal-length lists")
    n_atom = len(samples[0][0])
    for i, s in enumerate(samples):
        for j, a in enumerate(s):
            if not isinstance(a, Atoms):
                raise SchemaError(f"sample {i} frame {j} is a {type(a).__name__}, not an ase.Atoms")
            if len(a) != n_atom:
                raise SchemaError(f"the number of atoms must be constant: sample {i} frame {j} has "
                                  f"{len(a)} atoms, sample 0 frame 0 has {n_atom}")
    for name, get in (("atomic_numbers", lambda a: a.numbers), ("pbc", lambda a: a.pbc)):
        changed = [(i, j) for i, s in enumerate(samples) for j, a in enumerate(s)
                   if not np.array_equal(get(a), get(s[0]))]
        if changed:
            raise SchemaError(f"{name} change within sample {changed[0][0]} (frame {changed[0][1]}); "
                              "a trajectory keeps its atoms and boundary conditions")
    return samples


def ase_getters(factor: float) -> dict[str, Callable[[Any], Any]]:
    """Per-frame readers of each quantity (``None`` where a frame lacks it)."""
    from ase.stress import full_3x3_to_voigt_6_stress

    def result(key: str) -> Any:
        return lambda a: (getattr(a.calc, "results", None) or {}).get(key)

    def stress(a: Any) -> Any:
        s = result("stress")(a)
        return None if s is None else (full_3x3_to_voigt_6_stress(s) if np.shape(s) == (3, 3) else s)

    return {
        "positions": lambda a: a.positions,
        "cell": lambda a: a.cell.array,
        "velocities": lambda a: a.get_velocities() / factor if "momenta" in a.arrays else None,
        "masses": lambda a: a.arrays.get("masses"),
        "energy": result("energy"),
        "forces": result("forces"),
        "stress": stress,
    }


def gather(samples: list[list[Any]], name: str, getter: Any) -> np.ndarray | None:
    """``(n_sample, n_frame, ...)`` array of one quantity; None when no frame has it."""
    got = [[getter(a) for a in s] for s in samples]
    missing = [(i, j) for i, row in enumerate(got) for j, v in enumerate(row) if v is None]
    total = sum(len(row) for row in got)
    if len(missing) == total:
        return None
    if missing:
        i, j = missing[0]
        raise SchemaError(f"{name} is present in {total - len(missing)} of {total} frames (missing first "
                          f"in sample {i} frame {j}); a trajectory has it in every frame or in none")
    return np.asarray(got, dtype=np.float64)


def frame_times(samples: list[list[Any]], time: Any) -> tuple[np.ndarray, dict[str, str]]:
    """Frame times and the attributes of the ``time`` coordinate."""
    n_frame = len(samples[0])
    if time is not None:
        return np.asarray(time, dtype=np.float64), {}
    if not all("time" in a.info for s in samples for a in s):
        return np.arange(n_frame, dtype=np.float64), {"units": "1", "long_name": "frame index (no time recorded)"}
    times = np.asarray([[float(a.info["time"]) for a in s] for s in samples])
    if not np.all(times == times[0]):
        raise SchemaError("the samples' info['time'] differ; a trajectory dataset has one time axis")
    return times[0], {}
