"""The FNO fields train on the common loop exactly as the hand-written Adam loop they replaced."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sciml.surrogates.probconserv.field_fno import FNOTrainConfig, train_field_fno
from sciml.surrogates.training import TrainingDivergedError


def _hand_written(net, inputs, targets, cfg, seed):
    """The loop of the FNO bases before the common loop (reference)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.steps, 1))
    net.train()
    hist = []
    bs = min(cfg.batch_size, inputs.shape[0])
    for _ in range(cfg.steps):
        idx = torch.randint(0, inputs.shape[0], (bs,), generator=gen)
        xb, yb = inputs[idx], targets[idx]
        mean, var = net(xb)
        loss = F.mse_loss(mean, yb)
        if var is not None:
            loss = loss + 0.5 * (torch.log(var) + (yb - mean.detach()) ** 2 / var).mean()
        opt.zero_grad()
        loss.backward()
        if cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        hist.append(float(loss.detach()))
    net.eval()
    return hist


@pytest.mark.parametrize("dropout, variance_head, grad_clip", [(0.0, True, 1.0), (0.2, True, None), (0.0, False, 0.5)])
def test_common_loop_equals_the_hand_written_loop(dropout, variance_head, grad_clip):
    cfg = FNOTrainConfig(steps=12, batch_size=8, width=8, modes=4, n_layers=2, proj_hidden=16, pad=4,
                         variance_head=variance_head, grad_clip=grad_clip)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(20, 3, 16, generator=g, dtype=torch.float64)
    y = torch.randn(20, 16, generator=g, dtype=torch.float64)
    torch.manual_seed(11)
    ours = cfg.build(dropout=dropout).double()
    torch.manual_seed(11)
    ref = cfg.build(dropout=dropout).double()
    assert train_field_fno(ours, x, y, cfg, seed=5) == _hand_written(ref, x, y, cfg, seed=5)
    assert not ours.training
    for (name, a), b in zip(ours.state_dict().items(), ref.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_a_non_finite_loss_stops_the_training():
    cfg = FNOTrainConfig(steps=5, batch_size=4, width=8, modes=4, n_layers=2, proj_hidden=16, pad=4)
    x = torch.randn(6, 3, 16, dtype=torch.float64)
    y = torch.full((6, 16), float("nan"), dtype=torch.float64)
    net = cfg.build().double()
    with pytest.raises(TrainingDivergedError, match="diverged: the training loss is nan at step 0"):
        train_field_fno(net, x, y, cfg, seed=0)
