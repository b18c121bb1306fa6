"""Output locks: one holder at a time, a clear error naming it, stale locks of dead processes taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from sciml.errors import SciMLError
from sciml.locks import LockError, hold, lock_path_for

HOLD_SCRIPT = """
import sys, time
from sciml.locks import hold
with hold(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_lock_path_of_a_file_and_of_a_directory_existing_or_not(tmp_path):
    assert lock_path_for(tmp_path / "out.nc") == tmp_path / "out.nc.lock"
    before = lock_path_for(tmp_path / "wd")
    (tmp_path / "wd").mkdir()
    assert lock_path_for(tmp_path / "wd") == before == tmp_path / "wd.lock"  # the same name once it exists


def test_a_second_holder_gets_an_error_naming_the_first(tmp_path):
    target = tmp_path / "data.nc"
    proc = subprocess.Popen([sys.executable, "-c", HOLD_SCRIPT, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        holder = json.loads(lock_path_for(target).read_text())
        assert holder["pid"] == proc.pid
        with pytest.raises(LockError, match=rf"output {target} is in use by PID {proc.pid} on ") as info:
            with hold(target):
                pass
        assert isinstance(info.value, SciMLError)  # the CLI prints it as one line
        proc.send_signal(signal.SIGKILL)  # kill -9: the kernel releases the lock
        proc.wait(timeout=10)
        assert json.loads(lock_path_for(target).read_text())["pid"] == proc.pid  # the dead holder's record
        with hold(target) as path:  # the stale lock is taken over
            assert json.loads(path.read_text())["pid"] == os.getpid()
        assert not path.exists()  # released: the lock file is gone
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_the_lock_is_released_when_the_block_raises(tmp_path):
    with pytest.raises(RuntimeError):
        with hold(tmp_path / "x"):
            raise RuntimeError("boom")
    with hold(tmp_path / "x"):
        pass


def test_two_holders_in_one_process_exclude_each_other(tmp_path):
    # flock locks belong to open files: a second open in the same process is excluded too
    with hold(tmp_path / "x"):
        with pytest.raises(LockError, match=f"PID {os.getpid()}"):
            with hold(tmp_path / "x"):
                pass
    with hold(tmp_path / "x"):  # released by the outer block's exit
        pass
