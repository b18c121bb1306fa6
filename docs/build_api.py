"""Build the API reference from the docstrings with pdoc: ``python docs/build_api.py OUT``.

pdoc documents only what a package's ``__all__`` lists, so every module of ``sciml`` is
passed explicitly (private modules, whose names start with ``_``, are left out).
"""

from __future__ import annotations

import os
import pkgutil
import sys
from pathlib import Path


def sciml_modules() -> list[str]:
    """Names of every public module of the sciml package."""
    import sciml

    names = ["sciml"]
    for info in pkgutil.walk_packages(sciml.__path__, "sciml."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


def main(out: str = "docs/api") -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    import pdoc
    import pdoc.render

    pdoc.render.configure(docformat="numpy", search=True)
    pdoc.pdoc(*sciml_modules(), output_directory=Path(out))
    print(f"API reference written to {out}/index.html")


if __name__ == "__main__":
    main(*sys.argv[1:2])
