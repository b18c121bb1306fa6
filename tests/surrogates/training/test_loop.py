"""The common training loop on its own: a plain mini-batch task, in memory and on disk, exact
resume, the divergence stop, the one checkpoint format and its errors."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import pytest
import torch
from torch import nn

from sciml.config import StrictModel
from sciml.errors import ConfigError, FileFormatError
from sciml.surrogates.training import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    TrainingDivergedError,
    TrainingTask,
    UnitEnd,
    apply_update,
    load_checkpoint,
    run_training,
    stream_seed,
)


class RegressionConfig(StrictModel):
    steps: int = 30
    batch_size: int = 8
    lr: float = 0.3
    seed: int = 0


def _data(n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3


class RegressionTask(TrainingTask):
    """Minimise the MSE of a linear model over random mini-batches with Adam and a cosine
    schedule: the shape of a plain ensemble-member training (one unit = one step)."""

    family = "regression"
    label = "regression"
    unit = "step"

    def __init__(self, model: nn.Module, config: RegressionConfig, x: torch.Tensor, y: torch.Tensor,
                 *, fail_at: int | None = None, checkpoint_every: int = 1) -> None:
        self.model, self.config, self.x, self.y = model, config, x, y
        self.n_units, self.seed, self.progress = config.steps, config.seed, False
        self.checkpoint_every, self.fail_at = checkpoint_every, fail_at
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=config.steps)
        self.losses: list[float] = []

    def stateful(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer, "scheduler": self.scheduler}

    def batches(self, unit: int) -> Iterable[Any]:
        gen = torch.Generator().manual_seed(stream_seed(self.config.seed, unit, 0))
        idx = torch.randint(0, self.x.shape[0], (self.config.batch_size,), generator=gen)
        return [(self.x[idx], self.y[idx])]

    def step(self, unit: int, index: int, batch: Any) -> float:
        xb, yb = batch
        loss = nn.functional.mse_loss(self.model(xb), yb)
        if unit == self.fail_at:
            loss = loss * math.inf
        value, _ = apply_update(loss, self.optimizer, self.model)
        self.scheduler.step()
        self.losses.append(value)
        return value

    def end_unit(self, unit: int, started: float, train_seconds: float) -> UnitEnd:
        return UnitEnd(record={"step": unit + 1, "loss": self.losses[-1]}, metric=self.losses[-1])


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(3, 1)


def _by_hand(model: nn.Module, cfg: RegressionConfig, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """The same training written as a plain loop."""
    torch.manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.steps)
    out = []
    for step in range(cfg.steps):
        gen = torch.Generator().manual_seed(stream_seed(cfg.seed, step, 0))
        idx = torch.randint(0, x.shape[0], (cfg.batch_size,), generator=gen)
        loss = nn.functional.mse_loss(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        out.append(float(loss.detach()))
    return out


def test_a_plain_minibatch_training_in_memory_equals_the_hand_written_loop() -> None:
    x, y = _data()
    cfg = RegressionConfig()
    a, b = _model(), _model()
    task = RegressionTask(a, cfg, x, y)
    result = run_training(task, None)
    assert task.losses == _by_hand(b, cfg, x, y)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert result.completed == 30 and result.run_dir is None and len(result.history) == 30
    assert result.best_metric == min(task.losses) and task.losses[result.best_unit] == result.best_metric
    assert task.losses[-1] < 0.1 * task.losses[0]
    with pytest.raises(ConfigError, match="needs a run_dir"):
        run_training(RegressionTask(_model(), cfg, x, y), None, resume=True)


def test_files_resume_and_the_checkpoint_format(tmp_path) -> None:
    x, y = _data()
    cfg = RegressionConfig()
    straight = _model()
    run_training(RegressionTask(straight, cfg, x, y, checkpoint_every=4), tmp_path / "a")
    first = _model()
    run_training(RegressionTask(first, cfg, x, y, checkpoint_every=4), tmp_path / "b", stop_after=10)
    torch.manual_seed(99)
    second = _model(seed=7)
    result = run_training(RegressionTask(second, cfg, x, y, checkpoint_every=4), tmp_path / "b", resume=True)
    assert result.resumed_from == 10 and result.completed == 30
    assert all(torch.equal(p, q) for p, q in zip(straight.parameters(), second.parameters(), strict=True))
    rows = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 31))
    raw = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert (raw["format"], raw["family"], raw["unit"], raw["completed"], raw["kind"]) == (
        CHECKPOINT_FORMAT, "regression", "step", 30, "last")
    assert {"optimizer_state", "scheduler_state", "rng", "history", "train_config", "model_state"} <= raw.keys()
    best = load_checkpoint(tmp_path / "b" / "best.pt", family="regression")
    assert best["kind"] == "best" and best["completed"] == best["best_unit"] + 1
    # the same run is not overwritten, nor resumed with another configuration
    with pytest.raises(CheckpointError, match="resume=True"):
        run_training(RegressionTask(_model(), cfg, x, y), tmp_path / "b")
    with pytest.raises(CheckpointError, match="lr: 0.3 -> 0.1"):
        run_training(RegressionTask(_model(), cfg.model_copy(update={"lr": 0.1}), x, y), tmp_path / "b",
                     resume=True)


def test_divergence_stops_and_names_the_step_and_the_kept_checkpoint(tmp_path) -> None:
    x, y = _data()
    with pytest.raises(TrainingDivergedError,
                       match=r"training loss is inf at step 5 \(0-based\).*after 4 steps\) is kept"):
        run_training(RegressionTask(_model(), RegressionConfig(), x, y, fail_at=5, checkpoint_every=2),
                     tmp_path)
    assert load_checkpoint(tmp_path / "last.pt")["completed"] == 4


def test_checkpoint_errors_name_the_format_and_the_family(tmp_path) -> None:
    x, y = _data()
    run_training(RegressionTask(_model(), RegressionConfig(steps=2), x, y), tmp_path)
    with pytest.raises(FileFormatError, match=r"not a sciml ANP checkpoint \(written by the 'regression' trainer\)"):
        load_checkpoint(tmp_path / "last.pt", family="anp", label="ANP")
    old = tmp_path / "old.pt"
    torch.save({"format": "sciml.neural_pde.checkpoint", "format_version": 1}, old)
    with pytest.raises(FileFormatError, match="format 'sciml.neural_pde.checkpoint' was written by an earlier sciml"):
        load_checkpoint(old)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(FileFormatError, match=r"format None, expected 'sciml.training.checkpoint'"):
        load_checkpoint(foreign)
    with pytest.raises(ConfigError, match="stop_after must be an integer >= 0"):
        run_training(RegressionTask(_model(), RegressionConfig(), x, y), tmp_path / "c", stop_after=-1)


# ----------------------------------------------------------------------------- torch threads
class FakeThreads:
    """Stand-ins for ``torch.get_num_threads`` / ``torch.set_num_threads`` that record the calls."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, []

    def get(self) -> int:
        return self.n

    def set(self, n: int) -> None:
        self.calls.append(n)
        self.n = n


@pytest.fixture
def threads(monkeypatch) -> FakeThreads:
    fake = FakeThreads(3)
    monkeypatch.setattr(torch, "get_num_threads", fake.get)
    monkeypatch.setattr(torch, "set_num_threads", fake.set)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    return fake


class CountingTask(RegressionTask):
    """Records the torch thread count seen by every step."""

    def step(self, unit: int, index: int, batch: Any) -> float:
        self.seen_threads = [*getattr(self, "seen_threads", []), torch.get_num_threads()]
        return super().step(unit, index, batch)


def test_a_worker_s_omp_num_threads_sizes_torch_during_training_only(monkeypatch, threads) -> None:
    x, y = _data()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as sciml's process-pool initializer sets it
    task = CountingTask(_model(), RegressionConfig(steps=3), x, y)
    run_training(task, None)
    assert task.seen_threads == [1, 1, 1]
    assert threads.calls == [1, 3] and threads.n == 3  # set, then restored
    # restored also when the training fails
    failing = CountingTask(_model(), RegressionConfig(steps=3), x, y, fail_at=1)
    with pytest.raises(TrainingDivergedError):
        run_training(failing, None)
    assert threads.calls == [1, 3, 1, 3] and threads.n == 3


def test_num_threads_overrides_and_no_setting_changes_nothing(monkeypatch, threads) -> None:
    x, y = _data()
    task = CountingTask(_model(), RegressionConfig(steps=2), x, y)
    task.num_threads = 2
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run_training(task, None)
    assert task.seen_threads == [2, 2] and threads.calls == [2, 3]
    threads.calls.clear()
    for value in (None, "", "abc", "0", "3"):  # unset, invalid, or already the count: left alone
        if value is None:
            monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        else:
            monkeypatch.setenv("OMP_NUM_THREADS", value)
        run_training(CountingTask(_model(), RegressionConfig(steps=1), x, y), None)
    assert threads.calls == []


def test_default_torch_threads_reads_omp_num_threads(monkeypatch) -> None:
    from sciml.surrogates.training.loop import default_torch_threads, torch_threads

    for value, expected in (("4", 4), (" 2 ", 2), ("4,2", 4), ("0", None), ("-1", None), ("x", None), ("", None)):
        monkeypatch.setenv("OMP_NUM_THREADS", value)
        assert default_torch_threads() == expected, value
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert default_torch_threads() is None
    before = torch.get_num_threads()  # the real setting
    target = 1 if before != 1 else 2
    with torch_threads(target):
        assert torch.get_num_threads() == target
    assert torch.get_num_threads() == before
