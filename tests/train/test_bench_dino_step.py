"""The DINO step of bench/dino_step.py, on tiny networks: the trainer's step (every fast path on and
off) gives the plain PyTorch reference's loss, step after step, from the same weights and batches.

The reference (written in the bench, independently of utter: plain conv blocks without masks,
the DINO loss, centre, EMA and Adam by hand) is what the bench times ours against, so this is
both a check of the bench and of the trainer's DINO step. Nothing is timed here.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import dino_step  # noqa: E402

TINY = {
    "resnet": dict(
        net=dict(arch="resnet", base_channels=4, blocks=[1, 2], strides=[1, 2], embed_dim=16, feat_dim=20),
        head=dict(out_dim=64, hidden=32, bottleneck=16, head_layers=3, head_bn=False),
        num_global=2, global_frames=24, num_local=3, local_frames=12,
        teacher_momentum=0.996, teacher_momentum_final=1.0),
    "tdnn": dict(
        net=dict(arch="tdnn", channels=[16, 16, 16, 16, 32], embed_dim=16, feat_dim=20),
        head=dict(out_dim=64, hidden=32, bottleneck=16, head_layers=3, head_bn=True),
        num_global=2, global_frames=24, num_local=2, local_frames=12,
        teacher_momentum=0.99, teacher_momentum_final=0.99),
}


@pytest.mark.parametrize("variant", ["ours", "ours-masked", "ours-nchw", "before"])
@pytest.mark.parametrize("name", sorted(TINY))
def test_trainer_dino_step_matches_plain_reference(tmp_path, name, variant):
    cfg, batch, steps = TINY[name], 3, 4
    device = torch.device("cpu")
    base = dino_step.make_objective(cfg)
    ref = dino_step.build_variant("reference", cfg, batch, steps, device, base, str(tmp_path))
    ours = dino_step.build_variant(variant, cfg, batch, steps, device, base, str(tmp_path))
    losses = []
    for i in range(steps):
        b = dino_step.make_batch(cfg, batch, i, device)
        losses.append((ref.step(b), ours.step(b)))
    assert abs(losses[0][0] - losses[0][1]) < 1e-5, losses
    assert max(abs(a - b) for a, b in losses) < 1e-4, losses
    assert abs(losses[-1][0] - losses[0][0]) > 1e-4  # training moved
    # the teachers (EMA of the students) agree too, but for parameters whose gradient is zero up to
    # rounding (a bias followed by batch norm: ~1e-8), which Adam turns into lr-sized steps of either sign
    checked = 0
    for (n, a), b, g in zip(ours.objective.teacher.named_parameters(), ref.teacher.parameters(),
                            ref.student.parameters()):
        if g.grad is not None and g.grad.abs().max() > 1e-6:
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5, msg=f"teacher {n}")
            checked += 1
    assert checked >= len(list(ref.teacher.parameters())) - 2
