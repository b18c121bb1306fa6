"""Trainer: learning, curriculum rollouts, CAPE warm-up, checkpoints, bit-for-bit resume, faults.

Tiny stand-in solvers (a 3-tap circular Conv1d) and exact advection data (random sines on
16 cells, shifted one cell per frame) keep every test to a fraction of a second; the
exact solution of the learning problem is the kernel ``[1, 0, 0]`` (``u_new[i] = u[i-1]``).
"""

from __future__ import annotations

import json
import math
import re
import warnings

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from sciml.errors import ConfigError, SciMLError
from sciml.surrogates.neural_pde.curriculum import Curriculum
from sciml.surrogates.neural_pde.losses import rollout_errors
from sciml.surrogates.neural_pde.training import (
    CheckpointError,
    DatasetMismatchError,
    TrainConfig,
    Trainer,
    TrainingDivergedError,
    evaluate,
    load_checkpoint,
    load_weights,
    relative_l2,
)

N_X, N_T = 16, 6


# ----------------------------------------------------------------------------- data
class Advection(Dataset):
    """Exact periodic advection: ``u(t, x_i) = u0(x_{i - t})``, items as TrajectoryDataset's."""

    def __init__(self, n: int, *, seed: int, n_params: int = 1, n_vars: int = 1, n_t: int = N_T) -> None:
        g = torch.Generator().manual_seed(seed)
        x = torch.arange(N_X) * (2 * math.pi / N_X)
        amp = torch.randn(n, n_vars, 3, 1, generator=g)
        phase = 2 * math.pi * torch.rand(n, n_vars, 3, 1, generator=g)
        k = torch.arange(1, 4).reshape(1, 1, 3, 1)
        u0 = (amp * torch.sin(k * x + phase)).sum(dim=2)  # (n, n_vars, n_x)
        self.traj = torch.stack([torch.roll(u0, t, dims=-1) for t in range(n_t)], dim=2)
        self.params = torch.ones(n, n_params)

    def __len__(self) -> int:
        return self.traj.shape[0]

    def __getitem__(self, i: int) -> dict:
        return {"trajectory": self.traj[i], "params": self.params[i], "sample": i}


# ----------------------------------------------------------------------------- models
class TinySolver(nn.Module):
    """Protocol-conforming 3-tap circular convolution of the history."""

    n_vars, spatial_dims = 1, 1

    def __init__(self, initial_step: int = 1, n_params: int = 0) -> None:
        super().__init__()
        self.initial_step, self.n_params = initial_step, n_params
        self.config = {"initial_step": initial_step, "n_params": n_params}
        self.conv = nn.Conv1d(initial_step, 1, 3, padding=1, padding_mode="circular", bias=False)

    def forward(self, history: Tensor, params: Tensor | None = None) -> Tensor:
        return self.conv(history)


class OtherSolver(TinySolver):
    pass


class ExplodingSolver(TinySolver):
    """Returns NaN after ``explode_after`` training-mode calls (counter not in the state)."""

    def __init__(self, explode_after: int) -> None:
        super().__init__()
        self.explode_after, self.calls = explode_after, 0

    def forward(self, history: Tensor, params: Tensor | None = None) -> Tensor:
        out = super().forward(history, params)
        if self.training:
            self.calls += 1
            if self.calls > self.explode_after:
                out = out * float("nan")
        return out


class TinyCape(TinySolver):
    """A CAPE stand-in: a parameter-guided estimate (with dropout) feeds the main conv."""

    def __init__(self) -> None:
        super().__init__(initial_step=1, n_params=1)
        self.cape = nn.Conv1d(1, 1, 3, padding=1, padding_mode="circular", bias=False)
        self.scale = nn.Linear(1, 1)
        self.drop = nn.Dropout(0.2)
        self.conv = nn.Conv1d(2, 1, 3, padding=1, padding_mode="circular", bias=False)

    def cape_parameters(self):
        return list(self.cape.parameters()) + list(self.scale.parameters())

    def estimate(self, history: Tensor, params: Tensor) -> Tensor:
        return self.drop(self.cape(history)) * self.scale(params)[:, :, None]

    def forward_with_estimate(self, history: Tensor, params: Tensor | None) -> tuple[Tensor, Tensor]:
        assert params is not None
        est = self.estimate(history, params)
        return self.conv(torch.cat([history, est], dim=1)), est

    def forward(self, history: Tensor, params: Tensor | None = None) -> Tensor:
        return self.forward_with_estimate(history, params)[0]


def _model(cls=TinySolver, seed: int = 0, **kw) -> nn.Module:
    torch.manual_seed(seed)
    return cls(**kw)


def _states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


QUICK = dict(batch_size=4, lr=0.05, weight_decay=0.0, progress=False)


# ----------------------------------------------------------------------------- tests
def test_learns_the_advection_shift(tmp_path) -> None:
    train, val = Advection(16, seed=1), Advection(8, seed=2)
    model = _model()
    before = evaluate(model, val)["nrmse"]
    cfg = TrainConfig(epochs=15, scheduler_step=8, scheduler_gamma=0.5, seed=3, **{**QUICK, "lr": 0.1})
    result = Trainer(model, cfg, tmp_path).fit(train, val)
    after = result.history[-1]["val_nrmse"]
    assert before > 0.5 and after < 0.03
    assert result.history[-1]["train_loss"] < 0.1 * result.history[0]["train_loss"]
    w = model.conv.weight.detach().flatten()
    assert torch.allclose(w, torch.tensor([1.0, 0.0, 0.0]), atol=0.03)
    # StepLR: 0.1 for epochs 0-7, 0.05 after
    assert [h["lr"] for h in result.history] == pytest.approx([0.1] * 8 + [0.05] * 7)


def test_rollout_feedback_follows_the_mask() -> None:
    """Identity 'solver': fed-back predictions freeze the field, teacher forcing resets it."""

    class Identity(TinySolver):
        def forward(self, history: Tensor, params: Tensor | None = None) -> Tensor:
            return history

    traj = Advection(3, seed=0).traj
    errors, _, _ = rollout_errors(Identity(), traj, None, 4, [True, True, False, False])
    u = traj
    expect = [relative_l2(u[:, :, 0], u[:, :, 1]),  # step 0 from the truth
              relative_l2(u[:, :, 0], u[:, :, 2]),  # its prediction (u0) was fed back
              relative_l2(u[:, :, 0], u[:, :, 3]),
              relative_l2(u[:, :, 3], u[:, :, 4])]  # step 2 was teacher forced: u3 appended
    torch.testing.assert_close(errors, torch.stack(expect, dim=1))
    # and the trainer logs the share and steps of the tanh ramp
    assert Curriculum().feedback_mask(Curriculum().share(2, 5), 4) == [True, True, False, False]


def test_metrics_jsonl_and_checkpoints(tmp_path) -> None:
    train, val = Advection(8, seed=1), Advection(4, seed=2)
    model = _model()
    cfg = TrainConfig(epochs=4, seed=0, **QUICK)
    result = Trainer(model, cfg, tmp_path).fit(train, val)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4
    rows = [json.loads(line) for line in lines]
    fields = {"epoch", "train_loss", "val_loss", "val_nrmse", "lr", "self_fed_share", "self_fed_steps",
              "seconds", "train_seconds", "samples_per_s", "phase"}
    for epoch, row in enumerate(rows):
        assert fields <= row.keys()
        assert row["epoch"] == epoch
        assert row["self_fed_share"] == pytest.approx(Curriculum().share(epoch, 4), abs=1e-15)
        assert row["self_fed_steps"] == Curriculum.self_fed_steps(row["self_fed_share"], N_T - 1)
        assert row["samples_per_s"] > 0 and row["seconds"] >= row["train_seconds"] > 0
    # weights_only loading, contents, and best.pt = the epoch of lowest val_nrmse
    raw = torch.load(tmp_path / "last.pt", weights_only=True)
    assert raw["epoch"] == 3 and raw["model_class"].endswith("TinySolver")
    assert raw["model_config"] == {"initial_step": 1, "n_params": 0}
    assert raw["model_attrs"] == {"n_vars": 1, "initial_step": 1, "n_params": 0, "spatial_dims": 1}
    assert {"optimizer_state", "scheduler_state", "rng", "history", "train_config"} <= raw.keys()
    assert _states_equal(raw["model_state"], model.state_dict())
    best = load_checkpoint(tmp_path / "best.pt")
    best_epoch = min(range(4), key=lambda e: rows[e]["val_nrmse"])
    assert best["epoch"] == result.best_epoch == best_epoch
    fresh = _model(seed=99)
    load_weights(fresh, tmp_path / "best.pt")
    assert evaluate(fresh, val)["nrmse"] == pytest.approx(rows[best_epoch]["val_nrmse"], rel=1e-6)
    # an existing run is not overwritten without resume=True
    with pytest.raises(CheckpointError, match="resume=True"):
        Trainer(_model(), cfg, tmp_path).fit(train, val)


def test_resume_is_bit_for_bit(tmp_path) -> None:
    train, val = Advection(10, seed=1), Advection(4, seed=2)
    cfg = TrainConfig(
        epochs=4, warmup_epochs=1, aux_loss_weight=0.3, input_noise_std=0.01, scheduler_step=2,
        scheduler_gamma=0.5, grad_clip=1.0, seed=7, batch_size=3, lr=0.02, progress=False,
    )
    straight = _model(TinyCape)
    r1 = Trainer(straight, cfg, tmp_path / "a").fit(train, val)

    first = _model(TinyCape)
    Trainer(first, cfg, tmp_path / "b").fit(train, val, stop_after_epochs=2)
    torch.manual_seed(12345)  # disturb the global RNGs: resume must restore them
    resumed = _model(TinyCape, seed=5)  # different init: resume must overwrite it
    r2 = Trainer(resumed, cfg, tmp_path / "b").fit(train, val, resume=True)

    assert r2.resumed_from_epoch == 1 and len(r2.history) == 4
    for (name, p), q in zip(straight.named_parameters(), resumed.parameters()):
        assert torch.equal(p, q), name
    strip = ("seconds", "train_seconds", "samples_per_s")
    assert [{k: v for k, v in h.items() if k not in strip} for h in r1.history] == [
        {k: v for k, v in h.items() if k not in strip} for h in r2.history
    ]
    assert len((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()) == 4
    # resuming a finished run trains nothing
    done = Trainer(resumed, cfg, tmp_path / "b").fit(train, val, resume=True)
    assert len(done.history) == 4 and all(torch.equal(p, q) for p, q in zip(straight.parameters(), resumed.parameters()))
    # a changed hyper-parameter is refused
    with pytest.raises(CheckpointError, match="lr"):
        Trainer(_model(TinyCape), cfg.model_copy(update={"lr": 0.1}), tmp_path / "b").fit(train, val, resume=True)


def test_resume_on_other_data_is_refused(tmp_path) -> None:
    train, val = Advection(6, seed=1), Advection(3, seed=2)
    cfg = TrainConfig(epochs=3, seed=0, batch_size=3, lr=0.02, progress=False)
    Trainer(_model(), cfg, tmp_path).fit(train, val, stop_after_epochs=1)
    changed = Advection(6, seed=1)
    changed.traj[5, 0, -1, 0] += 1e-3  # one value of one frame
    with pytest.raises(CheckpointError, match="the training data changed since it was written"):
        Trainer(_model(), cfg, tmp_path).fit(changed, val, resume=True)
    with pytest.raises(CheckpointError, match="training data changed"):
        Trainer(_model(), cfg, tmp_path).fit(train, Advection(3, seed=3), resume=True)  # other validation data
    r = Trainer(_model(), cfg, tmp_path).fit(Advection(6, seed=1), Advection(3, seed=2), resume=True)  # equal data
    assert r.resumed_from_epoch == 0 and len(r.history) == 3


def test_warmup_trains_only_the_cape_block(tmp_path) -> None:
    train, val = Advection(6, seed=1), Advection(3, seed=2)
    model = _model(TinyCape)
    main0 = model.conv.weight.detach().clone()
    cape0 = model.cape.weight.detach().clone()
    cfg = TrainConfig(epochs=4, warmup_epochs=2, **QUICK)
    result = Trainer(model, cfg, tmp_path).fit(train, val, stop_after_epochs=2)
    assert [h["phase"] for h in result.history] == ["warmup", "warmup"]
    assert [h["self_fed_share"] for h in result.history] == [0.0, 0.0]
    assert torch.equal(model.conv.weight, main0)
    assert not torch.equal(model.cape.weight, cape0)
    assert result.history[1]["train_aux_loss"] < result.history[0]["train_aux_loss"]
    # a model without a CAPE block skips the warm-up, with a note
    with pytest.warns(UserWarning, match="warm-up skipped"):
        r = Trainer(_model(), cfg, tmp_path / "plain").fit(train, val, stop_after_epochs=1)
    assert r.history[0]["phase"] == "train" and any("warm-up skipped" in n for n in r.notes)


def test_nan_loss_stops_and_keeps_the_last_good_epoch(tmp_path) -> None:
    train, val = Advection(8, seed=1), Advection(4, seed=2)
    cfg = TrainConfig(epochs=4, seed=0, **QUICK)  # 2 batches x 5 steps = 10 calls per epoch
    with pytest.raises(TrainingDivergedError) as info:
        Trainer(_model(ExplodingSolver, explode_after=25), cfg, tmp_path / "bad").fit(train, val)
    msg = str(info.value)
    assert isinstance(info.value, SciMLError)
    assert "epoch 2" in msg and "batch 1" in msg and "nan" in msg
    assert "last good checkpoint (epoch 1)" in msg and str(tmp_path / "bad" / "last.pt") in msg
    kept = load_checkpoint(tmp_path / "bad" / "last.pt")
    assert kept["epoch"] == 1
    good = _model(ExplodingSolver, explode_after=10**9)
    Trainer(good, cfg, tmp_path / "good").fit(train, val, stop_after_epochs=2)
    assert _states_equal(kept["model_state"], good.state_dict())
    assert len((tmp_path / "bad" / "metrics.jsonl").read_text().splitlines()) == 2


def test_nan_in_first_epoch_says_no_checkpoint(tmp_path) -> None:
    cfg = TrainConfig(epochs=2, **QUICK)
    with pytest.raises(TrainingDivergedError, match="no checkpoint was written"):
        Trainer(_model(ExplodingSolver, explode_after=0), cfg, tmp_path).fit(Advection(4, seed=1))


def test_checkpoint_of_another_model_class(tmp_path) -> None:
    train = Advection(4, seed=1)
    cfg = TrainConfig(epochs=1, **QUICK)
    Trainer(_model(), cfg, tmp_path).fit(train)
    with pytest.raises(CheckpointError, match=r"TinySolver.*OtherSolver"):
        Trainer(_model(OtherSolver), cfg, tmp_path).fit(train, resume=True)
    with pytest.raises(CheckpointError, match=r"TinySolver.*OtherSolver"):
        load_weights(_model(OtherSolver), tmp_path / "best.pt")


@pytest.mark.parametrize(
    ("model_kw", "data_kw", "match"),
    [
        ({"n_params": 1}, {"n_params": 2}, r"params of shape \(2,\).*n_params = 1"),
        ({}, {"n_vars": 2}, r"2 variable\(s\).*n_vars = 1"),
        ({"initial_step": 6}, {}, r"6 frame\(s\).*initial_step \(6\)"),
    ],
)
def test_dataset_mismatch_fails_before_training(tmp_path, model_kw, data_kw, match) -> None:
    cfg = TrainConfig(epochs=1, **QUICK)
    with pytest.raises(DatasetMismatchError, match=match):
        Trainer(_model(**model_kw), cfg, tmp_path).fit(Advection(4, seed=1, **data_kw))
    assert not (tmp_path / "last.pt").exists()


def test_spatial_dims_mismatch(tmp_path) -> None:
    class Flat(Dataset):
        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int) -> dict:
            return {"trajectory": torch.zeros(1, N_T, 4, 4), "params": torch.zeros(0)}

    with pytest.raises(DatasetMismatchError, match="2 spatial dim"):
        Trainer(_model(), TrainConfig(epochs=1, **QUICK), tmp_path).fit(Flat())


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="learning_rate"):
        Trainer(_model(), {"learning_rate": 0.1}, "unused")
    with pytest.raises(ValueError, match="warmup_epochs"):
        TrainConfig(epochs=2, warmup_epochs=2)
    cfg = TrainConfig.model_validate({"curriculum": {"kind": "autoregressive"}})
    assert cfg.curriculum == Curriculum(kind="autoregressive")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert TrainConfig(device="auto").resolved_device().type in ("cpu", "cuda")


def test_relative_l2_floor_bounds_the_reference_norm():
    from sciml.surrogates.neural_pde.training import relative_l2

    true = torch.tensor([[3.0, 4.0], [1e-9, 0.0]])
    pred = true + torch.tensor([[0.3, 0.4], [0.1, 0.0]])
    # no floor: 0.5/5 = 0.1 and 0.1/1e-9 = 1e8
    torch.testing.assert_close(relative_l2(pred, true), torch.tensor([0.1, 1e8]), rtol=1e-5, atol=0)
    # floor of 1 per sample: the first is unchanged (||true|| = 5 > 1), the second is 0.1 / 1
    torch.testing.assert_close(relative_l2(pred, true, torch.tensor([1.0, 1.0])), torch.tensor([0.1, 0.1]))


# ----------------------------------------------------------------------------- numerics (issue 16)
class Persistence(TinySolver):
    """Predicts the last frame exactly (frozen kernel ``[0, 1, 0]``); a dummy weight, multiplied
    by 0, keeps the loss differentiable, so that training runs and the loss is known."""

    def __init__(self) -> None:
        super().__init__()
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([[[0.0, 1.0, 0.0]]]))
        self.conv.weight.requires_grad_(False)
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, history: Tensor, params: Tensor | None = None) -> Tensor:
        return self.conv(history) + 0.0 * self.dummy


def _decayed(n: int, factor: float, *, seed: int = 1) -> Advection:
    """Advection data whose sample 0 decays to ``factor`` times its size after the first frame."""
    data = Advection(n, seed=seed)
    data.traj[0, :, 1:] *= factor
    return data


def _persistence_loss(traj: Tensor, floor: float) -> float:
    """Teacher-forced training loss of :class:`Persistence`: the mean over samples and steps of
    ``||u_j - u_{j+1}|| / max(||u_{j+1}||, floor * ||u_0||)``."""
    u = traj[:, 0].double()
    diff = (u[:, :-1] - u[:, 1:]).norm(dim=-1)
    ref = torch.maximum(u[:, 1:].norm(dim=-1), floor * u[:, :1].norm(dim=-1))
    return float((diff / ref).mean())


def test_default_floor_keeps_a_decayed_trajectory_s_loss_bounded(tmp_path) -> None:
    assert TrainConfig().relative_floor == 0.01
    data = _decayed(4, 0.0)  # sample 0 is exactly 0 after its first frame
    cfg = TrainConfig(epochs=1, curriculum={"kind": "teacher_forcing"}, **QUICK)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no near-zero warning: the floor handles it
        result = Trainer(Persistence(), cfg, tmp_path).fit(data)
    loss = result.history[0]["train_loss"]
    # sample 0: step 0 errs by ||u_0|| / (0.01 ||u_0||) = 100, the 4 other steps by 0 / floor = 0,
    # so its mean is 20; the advection samples err by ||u_j - u_{j+1}|| / ||u_0|| <= 2 (a shift
    # keeps the norm): the loss is (20 + 3 * 2) / 4 = 6.5 at most, and exactly:
    assert loss == pytest.approx(_persistence_loss(data.traj, 0.01), rel=1e-5)
    assert 20 / 4 < loss <= (20 + 3 * 2) / 4
    # without the floor this step's error is ||u_0|| / tiny: 1e38 or inf
    with torch.no_grad():
        errors, _, _ = rollout_errors(Persistence(), data.traj[:1], None, 1, [False])
    assert float(errors[0, 0]) > 1e37


def test_near_zero_references_warn_once_with_the_numbers(tmp_path) -> None:
    data = _decayed(4, 1e-6)  # decays to 1e-6: a finite but absurd relative loss
    cfg = TrainConfig(epochs=2, curriculum={"kind": "teacher_forcing"}, relative_floor=0.0, **QUICK)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = Trainer(Persistence(), cfg, tmp_path).fit(data)
    near = [w for w in caught if issubclass(w.category, RuntimeWarning) and "near-zero" in str(w.message)]
    assert len(near) == 1, [str(w.message) for w in caught]  # once per fit, not per batch or epoch
    message = str(near[0].message)
    # one batch of 4 samples x 5 steps; sample 0's 5 references are 1e-6 ||u_0||
    assert "5 of 20 terms (sample x step), in 1 of 4 samples" in message
    assert "make up 100% of it" in message and "relative_floor is 0" in message
    assert near[0].filename == __file__  # points at the fit call
    # the loss it warns about: sample 0's step 0 errs by ~1e6, so the loss is ~1e6 / 20
    loss = result.history[0]["train_loss"]
    assert loss == pytest.approx(_persistence_loss(data.traj, 0.0), rel=1e-4)
    assert 4e4 < loss < 6e4


def test_normal_data_gives_no_numerics_warning(tmp_path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i, floor in enumerate((0.0, 0.01)):
            cfg = TrainConfig(epochs=2, relative_floor=floor, **QUICK)
            Trainer(_model(), cfg, tmp_path / f"plain{i}").fit(Advection(8, seed=1), Advection(4, seed=2))
            cfg = TrainConfig(epochs=3, warmup_epochs=2, relative_floor=floor, **QUICK)
            Trainer(_model(TinyCape), cfg, tmp_path / f"cape{i}").fit(Advection(8, seed=1))


def test_warmup_warns_about_near_zero_references_too(tmp_path) -> None:
    cfg = TrainConfig(epochs=2, warmup_epochs=1, relative_floor=0.0, **QUICK)
    with pytest.warns(RuntimeWarning, match=r"training loss \(warm-up\) is dominated by near-zero"):
        Trainer(_model(TinyCape), cfg, tmp_path).fit(_decayed(4, 1e-6))


def test_near_zero_references_definition() -> None:
    from sciml.surrogates.neural_pde.losses import near_zero_references

    refs = torch.tensor([[1.0, 2.0], [1e-4, 1.0]])  # scale 1: 1e-4 < 1e-3 is the one near-zero term
    report = near_zero_references(torch.tensor([[1.0, 1.0], [6.0, 1.0]]), refs, 1.0)
    assert report is not None
    assert (report.n_terms, report.n_near_zero, report.n_samples, report.n_samples_near_zero) == (4, 1, 2, 1)
    assert report.share == pytest.approx(6 / 9) and report.loss == pytest.approx(9 / 4)
    assert report.smallest == pytest.approx(1e-4)
    # half of the loss or less: not dominated; no near-zero term: nothing to say
    assert near_zero_references(torch.tensor([[1.0, 1.0], [2.0, 0.0]]), refs, 1.0) is None
    assert near_zero_references(torch.tensor([[1.0, 1.0], [6.0, 1.0]]), refs, 0.05) is None
    # an infinite loss from a near-zero term is dominated; a NaN one is another problem
    inf = near_zero_references(torch.tensor([[1.0, 1.0], [math.inf, 1.0]]), refs, 1.0)
    assert inf is not None and inf.share == 1.0
    assert near_zero_references(torch.tensor([[math.nan, 1.0], [6.0, 1.0]]), refs, 1.0) is None
    assert near_zero_references(torch.tensor([[1.0, 1.0], [6.0, 1.0]]), torch.zeros(2, 2), 0.0) is None


def test_num_threads_and_progress_lines(tmp_path, monkeypatch, capsys) -> None:
    calls: list[int] = []
    state = {"n": 3}
    monkeypatch.setattr(torch, "get_num_threads", lambda: state["n"])
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (calls.append(n), state.update(n=n)))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cfg = TrainConfig(epochs=2, num_threads=2, **{**QUICK, "progress": None})  # None: lines off a TTY
    Trainer(_model(), cfg, tmp_path).fit(Advection(8, seed=1))
    assert calls == [2, 3] and state["n"] == 3  # the config's count wins over OMP_NUM_THREADS; restored
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and re.fullmatch(r"neural-PDE training: 2/2 epochs \(100%\) elapsed \d+s, loss=\S+",
                                            lines[0]), lines
    # num_threads may change on resumption
    resumed = Trainer(_model(), cfg.model_copy(update={"num_threads": None}), tmp_path).fit(
        Advection(8, seed=1), resume=True)
    assert resumed.resumed_from_epoch == 1 and calls == [2, 3, 1, 3]  # OMP_NUM_THREADS, then restored


def test_resuming_with_more_epochs_warns_that_the_curriculum_changes(tmp_path) -> None:
    train = Advection(6, seed=1)
    cfg = TrainConfig(epochs=2, seed=0, batch_size=3, lr=0.02, progress=False)
    Trainer(_model(), cfg, tmp_path).fit(train, stop_after_epochs=1)
    with pytest.warns(UserWarning, match=r"with epochs 2 -> 3: the curriculum follows the new total"):
        Trainer(_model(), cfg.model_copy(update={"epochs": 3}), tmp_path).fit(train, resume=True)
