"""Fingerprints of what determines a stored result, so that a resume never mixes stale content.

A result (a campaign's part files, a workflow step's output, a benchmark job) depends on its
inputs and on the code that made it. :func:`stable_hash` hashes JSON-able inputs canonically;
:func:`code_fingerprint` hashes sciml's sources that given modules import (the closure of
sciml-internal imports, function-level ones included, read with ``ast``) and records the
versions of the numerical libraries under them; :func:`describe_changes` names the top-level
fields in which two fingerprints differ, for error messages.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

import sciml

__all__ = ["LIBRARIES", "array_digest", "code_fingerprint", "describe_changes", "file_digest", "source_closure",
           "stable_hash"]

#: Distributions whose versions enter a fingerprint (missing ones are recorded as ``None``).
LIBRARIES = ("numpy", "scipy", "torch", "gpytorch", "botorch", "numba", "xarray")

_ROOT = Path(sciml.__file__).resolve().parent


def _module_file(name: str, root: Path) -> Path | None:
    """The source file of the sciml module ``name`` (a package's ``__init__.py``), or ``None``."""
    parts = name.split(".")
    if parts[0] != "sciml":
        return None
    base = root.joinpath(*parts[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported(path: Path, name: str) -> set[str]:
    """Names of the modules that the module ``name`` at ``path`` imports (absolute, resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)  # ``from pkg import module``
    return out


def source_closure(modules: Iterable[str], root: Path = _ROOT) -> list[Path]:
    """The sciml source files that ``modules`` import, transitively, themselves and parent packages included.

    Raises ``ValueError`` for a module that is not a sciml module under ``root``.
    """
    todo, seen = list(modules), {}
    for name in todo:
        if _module_file(name, root) is None:
            raise ValueError(f"{name!r} is not a sciml module under {root}")
    while todo:
        name = todo.pop()
        path = _module_file(name, root)
        if path is None or name in seen:
            continue
        seen[name] = path
        parents = [".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 1)]
        todo.extend(parents + sorted(_imported(path, name)))
    return sorted(set(seen.values()))


def code_fingerprint(modules: Iterable[str], root: Path = _ROOT) -> dict[str, Any]:
    """``{"sciml": version, "sources": sha256 of the closure's files, "libraries": {name: version}}``.

    The hash covers each file's path relative to ``root`` and its bytes, in sorted order; any
    edit of a source the modules run changes it.
    """
    digest = hashlib.sha256()
    for path in source_closure(modules, root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    versions: dict[str, str | None] = {}
    for lib in LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = None
    return {"sciml": sciml.__version__, "sources": digest.hexdigest(), "libraries": versions}


def stable_hash(obj: object) -> str:
    """SHA-256 (hex) of the canonical JSON of ``obj`` (sorted keys; tuples as lists; others by ``repr``)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=repr).encode()).hexdigest()


def describe_changes(old: Mapping[str, object], new: Mapping[str, object]) -> list[str]:
    """The sorted top-level keys whose values differ between two fingerprints (compared as canonical JSON)."""
    keys = set(old) | set(new)
    return sorted(k for k in keys if stable_hash(old.get(k)) != stable_hash(new.get(k)))


def file_digest(path: str | os.PathLike[str], chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 (hex) of a file's bytes, read in chunks of ``chunk_bytes``.

    Raises ``OSError`` when the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def array_digest(a: Any) -> str:
    """SHA-256 (hex) of an array's dtype, shape and values (a NumPy array, or a torch tensor on any device).

    Arrays equal in dtype, shape and every bit of their values have equal digests.
    """
    dtype = str(getattr(a, "dtype", ""))
    if hasattr(a, "detach"):  # a torch tensor: to host; bfloat16 widens losslessly for NumPy
        a = a.detach().cpu()
        a = a.float() if dtype == "torch.bfloat16" else a
        a = a.numpy()
    values = np.ascontiguousarray(np.asarray(a))
    digest = hashlib.sha256(f"{dtype}|{values.dtype.str}|{values.shape}".encode())
    digest.update(values.view(np.uint8).reshape(-1) if values.size else b"")
    return digest.hexdigest()
