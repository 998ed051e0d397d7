"""DINO pieces against direct computations from the formulas: loss (explicit loops over views
and samples, explicit softmax / log-softmax in float64), centre EMA, teacher EMA, entropy
diagnostics, DDP (one gloo process). The schedules are tested in test_train_schedules.py, the
parameter groups in test_train_trainer.py."""
from __future__ import annotations

import math

import pytest
import torch
import torch.distributed as dist
from torch import nn

from utter.nnet import build_network
from utter.nnet.heads import DINOHead
from utter.train.objectives.dino import DINOLoss, ema_update, entropy_stats


def direct_dino_loss(student, teacher, center, n_t, n_s, ts, tt, student_sees):
    """Reference: mean over (teacher view, student view) pairs of mean_b sum_k -q log p."""
    student, teacher, center = student.double(), teacher.double(), center.double()[0]
    B = teacher.shape[0] // n_t
    total, pairs = 0.0, 0
    for i in range(n_t):
        for v in range(n_s):
            if student_sees and v == i:
                continue
            acc = 0.0
            for b in range(B):
                t = (teacher[i * B + b] - center) / tt
                q = torch.exp(t - t.max())
                q = q / q.sum()
                s = student[v * B + b] / ts
                logp = s - (s.max() + torch.log(torch.exp(s - s.max()).sum()))
                acc += float(-(q * logp).sum())
            total += acc / B
            pairs += 1
    return total / pairs


@pytest.mark.parametrize("n_t,n_s,sees", [(2, 6, True), (2, 4, False), (1, 3, True)])
def test_dino_loss_matches_formula(n_t, n_s, sees):
    torch.manual_seed(0)
    K, B = 11, 5
    loss_fn = DINOLoss(K, n_teacher_crops=n_t, n_student_crops=n_s, student_temp=0.1,
                       teacher_temp=0.04, student_sees_teacher_crops=sees)
    loss_fn.center.copy_(torch.randn(1, K) * 0.3)
    c0 = loss_fn.center.clone()
    student = torch.randn(n_s * B, K, requires_grad=True)
    teacher = torch.randn(n_t * B, K)
    loss = loss_fn(student, teacher, step=0)
    expected = direct_dino_loss(student.detach(), teacher, c0, n_t, n_s, 0.1, 0.04, sees)
    assert abs(loss.item() - expected) < 1e-5 * max(1.0, abs(expected))
    assert len(loss_fn.pairs()) == (n_t * (n_s - 1) if sees else n_t * n_s)
    loss.backward()
    assert student.grad is not None and torch.isfinite(student.grad).all()
    # centre: EMA of the batch mean teacher output
    torch.testing.assert_close(loss_fn.center, 0.9 * c0 + 0.1 * teacher.mean(dim=0, keepdim=True))


def test_dino_centre_and_state():
    loss_fn = DINOLoss(4, n_teacher_crops=2, n_student_crops=2, center_momentum=0.8)
    t1, t2 = torch.randn(6, 4), torch.randn(6, 4)
    loss_fn(torch.randn(6, 4), t1, step=0)
    loss_fn(torch.randn(6, 4), t2, step=1)
    expected = 0.8 * (0.2 * t1.mean(0)) + 0.2 * t2.mean(0)
    torch.testing.assert_close(loss_fn.center[0], expected)
    assert "center" in loss_fn.state_dict()
    other = DINOLoss(4, n_teacher_crops=2, n_student_crops=2)
    other.load_state_dict(loss_fn.state_dict())
    torch.testing.assert_close(other.center, loss_fn.center)
    loss_fn.eval()
    before = loss_fn.center.clone()
    loss_fn(torch.randn(6, 4), t1, step=2)
    assert torch.equal(before, loss_fn.center)  # no update in eval mode
    with pytest.raises(ValueError, match="views"):
        loss_fn(torch.randn(5, 4), t1, step=0)


def test_teacher_temperature_schedule_and_stats():
    loss_fn = DINOLoss(8, teacher_temp=0.04, teacher_temp_final=0.07, warmup_steps=10)
    assert loss_fn.teacher_temp_at(0) == pytest.approx(0.04)
    assert loss_fn.teacher_temp_at(5) == pytest.approx(0.055)
    assert loss_fn.teacher_temp_at(10) == pytest.approx(0.07)
    assert loss_fn.teacher_temp_at(1000) == pytest.approx(0.07)
    assert DINOLoss(8).teacher_temp_at(123) == 0.04
    _, stats = loss_fn(torch.randn(12, 8), torch.randn(4, 8), step=5, return_stats=True)
    assert stats["teacher_temp"].item() == pytest.approx(0.055)
    K = 16
    uniform = entropy_stats(torch.full((5, K), 1.0 / K))
    assert uniform["entropy"].item() == pytest.approx(math.log(K), rel=1e-6)
    onehot = entropy_stats(torch.eye(K))
    assert onehot["entropy"].item() == pytest.approx(0.0, abs=1e-6)
    assert onehot["batch_entropy"].item() == pytest.approx(math.log(K), rel=1e-6)
    same = entropy_stats(torch.eye(K)[[3, 3, 3]])
    assert same["batch_entropy"].item() == pytest.approx(0.0, abs=1e-6)


def _tiny_net():
    return build_network(dict(arch="tdnn", feat_dim=6, channels=[4, 4, 4, 4, 5], embed_dim=3,
                              embed_bn=True))


@pytest.mark.parametrize("mode", ["ema", "copy", "keep"])
def test_ema_update(mode):
    torch.manual_seed(0)
    teacher, student = _tiny_net(), _tiny_net()
    student.train()(torch.randn(4, 9, 6))  # move the student's BN statistics
    t0 = {k: v.clone() for k, v in teacher.state_dict().items()}
    s0 = {k: v.clone() for k, v in student.state_dict().items()}
    params = {n for n, _ in teacher.named_parameters()}
    ema_update(teacher, student, 0.9, buffers=mode)
    for k, v in teacher.state_dict().items():
        if k in params or (mode == "ema" and v.is_floating_point()):
            torch.testing.assert_close(v, 0.9 * t0[k] + 0.1 * s0[k])
        elif mode == "keep":
            assert torch.equal(v, t0[k])
        else:
            assert torch.equal(v, s0[k])
    with pytest.raises(ValueError):
        ema_update(teacher, nn.Linear(2, 2), 0.9)


def test_gradients_through_student_not_teacher():
    torch.manual_seed(0)
    student = nn.ModuleDict({"net": _tiny_net(), "head": DINOHead(3, 12, 8, 4)})
    teacher = nn.ModuleDict({"net": _tiny_net(), "head": DINOHead(3, 12, 8, 4)})
    teacher.load_state_dict(student.state_dict())
    loss_fn = DINOLoss(12, n_teacher_crops=2, n_student_crops=4)
    long, short = torch.randn(2 * 3, 20, 6), torch.randn(2 * 3, 10, 6)
    s_out = torch.cat([student["head"](student["net"](long)), student["head"](student["net"](short))])
    t_out = teacher["head"](teacher["net"](long))
    loss_fn(s_out, t_out, step=0).backward()
    for n, p in student.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), n
    assert all(p.grad is None for p in teacher.parameters())


def test_ddp_single_process(tmp_path):
    """Under torch.distributed (gloo, world size 1): centre all-reduce, DDP head, EMA unwrap."""
    if dist.is_initialized():
        pytest.skip("a process group is already initialised")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        head = DINOHead(5, 9, 8, 4)
        ddp = nn.parallel.DistributedDataParallel(head)
        teacher = DINOHead(5, 9, 8, 4)
        loss_fn = DINOLoss(9, n_teacher_crops=1, n_student_crops=2)
        t = teacher(torch.randn(3, 5)).detach()
        loss_fn(ddp(torch.randn(6, 5)), t, step=0).backward()
        torch.testing.assert_close(loss_fn.center, 0.1 * t.mean(0, keepdim=True))
        assert head.mlp[0].weight.grad is not None
        t0 = {k: v.clone() for k, v in teacher.state_dict().items()}
        ema_update(teacher, ddp, 0.5)
        for k, v in teacher.state_dict().items():
            torch.testing.assert_close(v, 0.5 * t0[k] + 0.5 * head.state_dict()[k])
    finally:
        dist.destroy_process_group()
