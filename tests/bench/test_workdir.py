"""Work directories of resumable benchmarks: settings recorded once, mismatches refused."""

from __future__ import annotations

import json

import pytest

from sciml.bench.workdir import claim_work_dir
from sciml.errors import ConfigError


def test_claim_records_then_accepts_the_same_settings(tmp_path):
    wd = tmp_path / "new" / "wd"
    assert claim_work_dir(wd, "mfbo", "quick", {"seeds": (0, 1), "budget": 2.0}) == wd
    saved = json.loads((wd / "settings.json").read_text())
    assert saved == {"benchmark": "mfbo", "mode": "quick", "settings": {"seeds": [0, 1], "budget": 2.0}}
    claim_work_dir(wd, "mfbo", "quick", {"seeds": [0, 1], "budget": 2.0})  # tuple == list after JSON


@pytest.mark.parametrize("benchmark, mode, settings, message", [
    ("cape", "quick", {"seeds": [0, 1], "budget": 2.0}, "of benchmark 'mfbo'"),
    ("mfbo", "full", {"seeds": [0, 1], "budget": 2.0}, "with other mode 'quick'"),
    ("mfbo", "quick", {"seeds": [0, 1, 2], "budget": 3.0}, r"with other settings \(budget, seeds\)"),
])
def test_claim_refuses_other_runs(tmp_path, benchmark, mode, settings, message):
    claim_work_dir(tmp_path, "mfbo", "quick", {"seeds": [0, 1], "budget": 2.0})
    with pytest.raises(ConfigError, match=message):
        claim_work_dir(tmp_path, benchmark, mode, settings)
    # nothing was overwritten
    assert json.loads((tmp_path / "settings.json").read_text())["settings"]["seeds"] == [0, 1]


def test_unreadable_settings_file_is_a_clear_error(tmp_path):
    (tmp_path / "settings.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read .*settings.json"):
        claim_work_dir(tmp_path, "mfbo", "quick", {})


def test_unset_mode_and_settings_are_not_compared(tmp_path):
    claim_work_dir(tmp_path, "mfbo")
    assert json.loads((tmp_path / "settings.json").read_text()) == {"benchmark": "mfbo"}
    claim_work_dir(tmp_path, "mfbo")
    with pytest.raises(ConfigError, match="of benchmark 'mfbo'"):
        claim_work_dir(tmp_path, "cape")



def test_a_held_work_dir_refuses_a_second_run_and_is_free_afterwards(tmp_path):
    from sciml.bench.workdir import held
    from sciml.locks import LockError

    wd = tmp_path / "wd"
    with held(wd):
        with pytest.raises(LockError, match=r"work dir .*wd is in use by PID \d+"):
            with held(wd):
                pass
    with held(wd):
        pass
    with held(None):  # no work dir: nothing to hold
        pass


def test_mfbo_bench_refuses_a_work_dir_in_use(tmp_path):
    from sciml.bench.mfbo import run_mfbo_benchmark
    from sciml.bench.mfbo_settings import MFBOBenchSettings, ProblemSpec
    from sciml.locks import LockError, hold

    tiny = MFBOBenchSettings(problems=(ProblemSpec("park91a", methods=("qlognei",), max_iterations=1, n_init=2),),
                             seeds=(0,), overhead_methods=(), workers=1, portable_numerics=False)
    with hold(tmp_path / "wd", what="work dir"):
        with pytest.raises(LockError, match="in use by PID"):
            run_mfbo_benchmark(settings=tiny, work_dir=tmp_path / "wd")
    assert not (tmp_path / "wd" / "settings.json").exists()  # nothing claimed or written
