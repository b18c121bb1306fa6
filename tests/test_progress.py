"""sciml.progress: a bar on a terminal, rate-limited plain lines elsewhere, silence on request."""

from __future__ import annotations

import io
import re
import sys

import pytest

import sciml.progress as progress_module
from sciml.progress import progress


class Clock:
    """A settable stand-in for ``time.monotonic``."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", c)
    return c


def _lines(capsys) -> list[str]:
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err.splitlines()


def test_non_tty_logs_a_line_per_update(capsys) -> None:
    assert not sys.stderr.isatty()  # capsys's stream
    seen = list(progress(range(5), desc="mfbo bench", unit="job", log_interval=0))
    assert seen == [0, 1, 2, 3, 4]
    lines = _lines(capsys)
    assert len(lines) == 5
    for i, line in enumerate(lines, start=1):
        assert line.startswith(f"mfbo bench: {i}/5 jobs ({20 * i}%) elapsed 0s"), line
    assert "left" not in lines[-1]  # no remaining time once done


def test_enabled_false_prints_nothing(capsys) -> None:
    assert list(progress(range(5), enabled=False, log_interval=0)) == [0, 1, 2, 3, 4]
    with progress(total=3, desc="quiet", enabled=False, log_interval=0) as bar:
        bar.update(3)
    assert capsys.readouterr().err == ""


def test_large_interval_logs_only_the_final_line(capsys) -> None:
    for _ in progress(range(5), desc="epochs", unit="epoch", log_interval=1e9):
        pass
    assert _lines(capsys) == ["epochs: 5/5 epochs (100%) elapsed 0s"]
    # without a total, the last line comes with close() (the context manager)
    with progress(desc="tasks", log_interval=1e9) as bar:
        bar.update(2)
        bar.update(1)
    assert _lines(capsys) == ["tasks: 3 it elapsed 0s"]


def test_rate_limit_elapsed_eta_and_postfix(capsys, clock) -> None:
    with progress(total=36, desc="mfbo bench", unit="job") as bar:  # default interval: 30 s
        assert progress_module.LOG_INTERVAL == 30.0
        for dt in (10, 10, 15, 5, 40):  # updates at 10, 20, 35, 40 and 80 s
            clock.t += dt
            bar.update(1)
        bar.set_postfix(loss=0.25)
        clock.t += 50
        bar.update(31)  # reaches the total: always logged
        bar.update(0)
    # lines at 35 s (3 jobs) and 80 s (5 jobs, 45 s after the previous), then the last at 130 s
    assert _lines(capsys) == [
        "mfbo bench: 3/36 jobs (8%) elapsed 35s, ~6m25s left",  # 35 s * 33/3 = 385 s
        "mfbo bench: 5/36 jobs (13%) elapsed 1m20s, ~8m16s left",  # 80 s * 31/5 = 496 s
        "mfbo bench: 36/36 jobs (100%) elapsed 2m10s, loss=0.25",
    ]


def test_float_totals_and_an_early_close(capsys, clock) -> None:
    bar = progress(total=10.0, desc="BO qLogNEI on hartmann6", unit="cost", log_interval=60)
    clock.t += 3725
    bar.update(2.5)
    bar.close()
    bar.close()  # once only
    assert _lines(capsys) == ["BO qLogNEI on hartmann6: 2.5/10 cost (25%) elapsed 1h02m05s, ~3h06m15s left"]


def test_a_terminal_gets_the_tqdm_bar(monkeypatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    bar = progress(range(3), desc="bar", file=term, mininterval=0)
    assert list(bar) == [0, 1, 2]
    assert "\r" in term.getvalue() and re.search(r"3/3", term.getvalue())
    assert "elapsed" not in term.getvalue()


def test_bad_interval() -> None:
    with pytest.raises(ValueError, match="log_interval"):
        progress(range(2), log_interval=-1)
