"""The training loop in one process: schedules, outputs, hooks, optimisers, clear errors."""
from __future__ import annotations

import json
import math

import pytest
import torch
from train_toy import ToyNet, ToyObjective, make_trainer

from utter.nnet import build_network
from utter.nnet.heads import DINOHead
from utter.train.checkpoint import CheckpointError, list_checkpoints, load_checkpoint
from utter.train.config import TrainConfig
from utter.train.objectives.base import weight_decay_groups
from utter.train.trainer import Trainer


def _read_tsv(path):
    lines = path.read_text().splitlines()
    cols = lines[0].split("\t")
    return [dict(zip(cols, ln.split("\t"))) for ln in lines[1:]]


def _closed_form_lr(step, base, final, total, warmup, start=0.0):
    """Linear warm-up then a half cosine reaching ``final`` on the last step, written out directly."""
    if step < warmup:
        return start + (base - start) * step / warmup
    t = (step - warmup) / (total - warmup - 1)
    return final + (base - final) * (1 + math.cos(math.pi * t)) / 2


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    exp = tmp_path_factory.mktemp("toy")
    trainer = make_trainer(exp)  # 3 epochs x 6 batches, checkpoint every 4 steps, keep 3, average 2
    final = trainer.train()
    return exp, trainer, final


def test_lr_follows_warmup_then_cosine(toy_run):
    exp, trainer, _ = toy_run
    rows = _read_tsv(exp / "train_log.tsv")
    assert [int(r["step"]) for r in rows] == list(range(1, 19))
    for i, r in enumerate(rows):
        assert float(r["lr"]) == pytest.approx(_closed_form_lr(i, 0.01, 1e-4, 18, 3), rel=1e-5, abs=1e-12)
    # what the optimiser used at the last step: the schedule value times the group's scale
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)
    assert [g["weight_decay"] for g in trainer.optimizer.param_groups] == [pytest.approx(0.01), 0.0]


def test_outputs_of_a_run(toy_run):
    exp, trainer, final = toy_run
    assert final == exp / "final.pt"
    assert (exp / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = json.loads((exp / "config.json").read_text())
    assert config["train"]["lr"] == 0.01 and config["arch"]["hidden"] == 16 and config["run"] == {"toy": True}
    # the training length, stated before training (a toy loader has no data facts)
    plan = json.loads((exp / "train_plan.json").read_text())
    assert plan == {"total_steps": 18, "steps_per_epoch": 6, "epochs": 3.0, "data": {}}
    assert [p.name for p in list_checkpoints(exp)] == ["ckpt-00000012.pt", "ckpt-00000016.pt", "ckpt-00000018.pt"]
    last = load_checkpoint(exp / "ckpt-00000018.pt")
    assert (last["step"], last["epoch"], last["batch_in_epoch"]) == (18, 3, 0)
    mid = load_checkpoint(exp / "ckpt-00000016.pt")
    assert (mid["epoch"], mid["batch_in_epoch"]) == (2, 4)  # 4 batches into the third epoch
    # the exported model is the EMA teacher, stored once; the student is in extra
    teacher = trainer.objective.teacher.state_dict()
    assert all(torch.equal(last["model"][k], v) for k, v in teacher.items())
    assert last["extra"]["modules"]["teacher"] is None
    assert last["extra"]["objective"]["steps_seen"] == 18
    # final.pt: mean of the last two checkpoints' weights
    avg = load_checkpoint(final)
    for k, v in avg["model"].items():
        assert torch.allclose(v, (mid["model"][k] + last["model"][k]) / 2, atol=1e-7, rtol=0)


def test_hooks_and_learning(toy_run):
    _, trainer, _ = toy_run
    assert trainer.objective.epochs_seen == [0, 1, 2]
    assert trainer.objective.length == (18, 6) and trainer.objective.steps_begun == list(range(18))
    assert trainer.objective.steps_seen == 18
    rows = _read_tsv(trainer.tsv_path)
    first = sum(float(r["loss"]) for r in rows[:6]) / 6
    last = sum(float(r["loss"]) for r in rows[-6:]) / 6
    assert last < 0.8 * first
    assert all(0 < float(r["grad_norm"]) for r in rows)


def test_refuses_to_overwrite_without_resume(toy_run):
    exp, _, _ = toy_run
    with pytest.raises(RuntimeError, match="already holds checkpoints"):
        make_trainer(exp).train()


def test_resume_of_a_finished_run_is_a_no_op(toy_run, tmp_path):
    exp, trainer, final = toy_run
    before = load_checkpoint(final)["model"]
    again = make_trainer(exp)
    again.train(resume=True)
    assert again.step == 18 and again.objective.steps_seen == 18
    after = load_checkpoint(final)["model"]
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_resume_with_another_architecture_names_both(toy_run):
    exp, _, _ = toy_run
    with pytest.raises(CheckpointError) as err:
        make_trainer(exp, hidden=8).train(resume=True)
    assert "hidden=16" in str(err.value) and "hidden=8" in str(err.value)


def _toy_objective():
    torch.manual_seed(0)
    return ToyObjective(ToyNet(4, 0.0), noise=0.0)


def test_empty_training_set(tmp_path):
    with pytest.raises(RuntimeError, match="yielded no batches for epoch 0"):
        Trainer(_toy_objective(), lambda *a: [], TrainConfig(), tmp_path / "a").train()

    def no_len(*a):  # a generator has no len(): steps_per_epoch comes from the config
        yield from ()

    with pytest.raises(RuntimeError, match="training set is empty"):
        Trainer(_toy_objective(), no_len, TrainConfig(steps_per_epoch=5), tmp_path / "b").train()
    with pytest.raises(ValueError, match="set steps_per_epoch"):
        Trainer(_toy_objective(), no_len, TrainConfig(), tmp_path / "c").train()


@pytest.mark.parametrize("name,cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                                      ("sgd", torch.optim.SGD)])
def test_optimisers_and_group_scales(tmp_path, name, cls):
    objective = _toy_objective()

    class Scaled(type(objective)):
        def param_groups(self):
            return [{"params": list(self.net.body[0].parameters()), "lr_scale": 0.1},
                    {"params": list(self.net.body[3].parameters()), "wd_scale": 0.0}]

    objective.__class__ = Scaled
    batches = [(torch.randn(4, 6), torch.randn(4, 3)) for _ in range(2)]
    cfg = TrainConfig(optimizer=name, lr=0.5, min_lr=0.5, weight_decay=0.2, amsgrad=True, betas=(0.8, 0.9))
    trainer = Trainer(objective, lambda e, r, w, s: batches[s:], cfg, tmp_path)
    trainer.train()
    opt = trainer.optimizer
    assert type(opt) is cls
    assert [g["lr"] for g in opt.param_groups] == [pytest.approx(0.05), pytest.approx(0.5)]
    assert [g["weight_decay"] for g in opt.param_groups] == [pytest.approx(0.2), 0.0]
    if name != "sgd":
        assert opt.param_groups[0]["amsgrad"] and opt.param_groups[0]["betas"] == (0.8, 0.9)


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="optimizer must be"):
        TrainConfig(optimizer="lamb")
    with pytest.raises(ValueError, match="average_last"):
        TrainConfig(keep_last=2, average_last=3)


def test_non_finite_loss_stops_with_a_reason(tmp_path):
    batches = [(torch.full((4, 6), float("nan")), torch.zeros(4, 3))]
    with pytest.raises(RuntimeError, match="loss is nan at step 1"):
        Trainer(_toy_objective(), lambda *a: batches, TrainConfig(), tmp_path).train()


def test_weight_decay_groups():
    """Weights decay, biases and 1-D parameters do not; frozen ones are left out on request."""
    net = build_network(dict(arch="tdnn", feat_dim=6, channels=[4, 4, 4, 4, 5], embed_dim=3, embed_bn=True))
    model = torch.nn.ModuleDict({"net": net, "head": DINOHead(3, 10, 8, 4)})
    decay, no_decay = weight_decay_groups([model], include_frozen=False)
    assert (decay["name"], decay["wd_scale"]) == ("decay", 1.0) and (no_decay["name"], no_decay["wd_scale"]) == \
        ("no_decay", 0.0)
    names = {id(p): n for n, p in model.named_parameters()}
    dn = {names[id(p)] for p in decay["params"]}
    nn_ = {names[id(p)] for p in no_decay["params"]}
    assert all(n.endswith(".bias") or model.get_parameter(n).dim() == 1 for n in nn_)
    assert all(not n.endswith(".bias") and model.get_parameter(n).dim() > 1 for n in dn)
    assert "head.last_layer.weight_g" not in dn | nn_  # frozen
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert dn | nn_ == trainable and not dn & nn_
    # with the frozen ones (the trainer's default), and a module given twice counts once
    every = weight_decay_groups([model, model["head"]])
    assert sum(len(g["params"]) for g in every) == len(list(model.parameters()))


def test_every_checkpoint_damaged_stops_instead_of_starting_over(tmp_path):
    """Resume when no checkpoint is usable: a clear stop listing what was tried (issue 26 point 4),
    not a silent start from step 1 that writes over them."""
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "ckpt-00000004.pt").write_bytes(b"")
    (exp / "ckpt-00000008.pt").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(RuntimeError, match=r"no usable checkpoint to resume from \(tried ckpt-00000004.pt \(.+\), "
                                           r"ckpt-00000008.pt \(.+\)\); to train again from step 1, rerun the "
                                           r"training step with --restart true"):
        make_trainer(exp).train(resume=True)
    assert (exp / "ckpt-00000004.pt").read_bytes() == b"" and not (exp / "final.pt").exists()


@pytest.mark.parametrize("epochs,min_steps,total,num_epochs", [(2, 0, 12, 2), (2, 15, 15, 3), (2, 5, 12, 2),
                                                               (3, 18, 18, 3)])
def test_length_in_epochs_with_a_floor_in_steps(tmp_path, epochs, min_steps, total, num_epochs):
    """epochs x steps per epoch, raised to min_steps for a tiny corpus (worked out by hand: 6 steps an epoch)."""
    trainer = Trainer(_toy_objective(), lambda *a: [None] * 6, TrainConfig(epochs=epochs, min_steps=min_steps),
                      tmp_path)
    trainer._setup()  # what train() does first: the optimiser, the length and the schedules
    assert (trainer.steps_per_epoch, trainer.total_steps, trainer.num_epochs) == (6, total, num_epochs)
    assert len(trainer.lr_values) == total  # the schedules span the whole run


def test_min_steps_is_not_negative():
    with pytest.raises(ValueError, match="must not be negative"):
        TrainConfig(min_steps=-1)
