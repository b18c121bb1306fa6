"""The code fingerprint of benchmark jobs: the closure of sciml sources they import, hashed."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

import sciml
from sciml.fingerprint import code_fingerprint, source_closure

ROOT = Path(sciml.__file__).resolve().parent


def test_the_closure_follows_imports_and_leaves_out_what_the_job_does_not_run():
    files = {p.relative_to(ROOT).as_posix() for p in source_closure(["sciml.bench.mfbo_jobs"])}
    # direct, transitive (through sciml.studies.bo_problems) and parent-package imports
    assert {"bench/mfbo_jobs.py", "bo/loop.py", "simulators/pde/burgers.py", "studies/bo_problems.py",
            "bench/__init__.py", "__init__.py"} <= files
    assert "surrogates/probconserv/anp.py" not in files and "bench/cape.py" not in files
    with pytest.raises(ValueError, match="'numpy' is not a sciml module"):
        source_closure(["numpy"])


def test_the_fingerprint_hashes_the_closure_and_changes_with_any_source(tmp_path):
    fp = code_fingerprint(["sciml.bench.mfbo_jobs"])
    digest = hashlib.sha256()
    for path in source_closure(["sciml.bench.mfbo_jobs"]):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    assert fp["sources"] == digest.hexdigest() and fp["sciml"] == sciml.__version__
    assert fp["libraries"]["botorch"] and fp["libraries"]["torch"]
    # a copy of the package: same sources, same hash; one edited line in a closure file, another hash
    copy = tmp_path / "sciml"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert code_fingerprint(["sciml.bench.mfbo_jobs"], root=copy)["sources"] == fp["sources"]
    gp = copy / "bo" / "gp.py"
    gp.write_text(gp.read_text() + "\n# edited\n")
    assert code_fingerprint(["sciml.bench.mfbo_jobs"], root=copy)["sources"] != fp["sources"]
    # a file outside the closure does not count
    gp.write_text((ROOT / "bo" / "gp.py").read_text())
    anp = copy / "surrogates" / "probconserv" / "anp.py"
    anp.write_text(anp.read_text() + "\n# edited\n")
    assert code_fingerprint(["sciml.bench.mfbo_jobs"], root=copy)["sources"] == fp["sources"]
