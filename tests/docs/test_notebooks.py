"""Execute every notebook in docs/notebooks at its SMOKE size, and build the API reference."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "docs" / "notebooks").glob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path, tmp_path, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("SCIML_SMOKE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors == []
    assert sum(c.cell_type == "code" for c in nb.cells) >= 3


def test_notebooks_exist():
    assert any(p.name == "quickstart.py" for p in NOTEBOOKS)


@pytest.mark.slow
def test_api_reference_builds(tmp_path):
    pytest.importorskip("pdoc")
    out = tmp_path / "api"
    subprocess.run([sys.executable, str(ROOT / "docs" / "build_api.py"), str(out)],
                   check=True, cwd=ROOT, env={**os.environ, "MPLBACKEND": "Agg"},
                   capture_output=True, timeout=300)
    for page in ("sciml.html", "sciml/data/schema.html", "sciml/simulators/base.html",
                 "sciml/executors.html", "sciml/simulators/pde/burgers.html"):
        assert (out / page).is_file(), page
    text = (out / "sciml/data/schema.html").read_text()
    assert 'id="validate"' in text and "SchemaError" in text
