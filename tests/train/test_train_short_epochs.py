"""Short epochs (a small corpus): with a checkpoint interval, an epoch's end checkpoints only when the
interval is due or training ends, and a run resumed from a checkpoint in mid-epoch ends exactly as an
uninterrupted one (the toy objective of tests/train_toy.py)."""
from __future__ import annotations

import shutil

import torch
from train_toy import make_trainer

from utter.train.checkpoint import list_checkpoints, load_checkpoint


def _names(exp):
    return [p.name for p in list_checkpoints(exp)]


def test_short_epochs_checkpoint_at_the_interval_not_at_every_epoch(tmp_path):
    # 3 batches an epoch, 4 epochs: 12 steps; every 5 steps and the last, not after steps 3, 6, 9
    make_trainer(tmp_path / "a", batches=3, epochs=4, checkpoint_interval=5, keep_last=10,
                 average_last=1).train()
    assert _names(tmp_path / "a") == ["ckpt-00000005.pt", "ckpt-00000010.pt", "ckpt-00000012.pt"]
    mid = load_checkpoint(tmp_path / "a" / "ckpt-00000005.pt")
    assert (mid["epoch"], mid["batch_in_epoch"]) == (1, 2)  # resumes in the second epoch, after 2 batches
    # without an interval every epoch's end still checkpoints
    make_trainer(tmp_path / "b", batches=3, epochs=2, checkpoint_interval=0, keep_last=10, average_last=1).train()
    assert _names(tmp_path / "b") == ["ckpt-00000003.pt", "ckpt-00000006.pt"]


def test_resume_from_a_mid_epoch_checkpoint_of_short_epochs_is_exact(tmp_path):
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    opts = dict(batches=3, epochs=4, checkpoint_interval=5, keep_last=10, average_last=1)
    make_trainer(ref, **opts).train()
    shutil.copytree(ref, cut)
    for name in ("ckpt-00000010.pt", "ckpt-00000012.pt", "final.pt"):
        (cut / name).unlink()
    make_trainer(cut, **opts).train(resume=True)
    a, b = load_checkpoint(ref / "final.pt"), load_checkpoint(cut / "final.pt")
    assert a["step"] == b["step"] == 12
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
