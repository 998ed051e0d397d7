"""Checkpoints: weights_only round trips (RNG states included), averaging, architecture checks, load_embedder."""
from __future__ import annotations

import io
import random
import zipfile

import numpy as np
import pytest
import torch
from train_toy import ToyNet

import utter.nnet
from utter.train import checkpoint as ck
from utter.train.config import TrainConfig
from utter.train.objectives.base import Objective
from utter.train.trainer import Trainer


def _state(arch: dict, model: dict, step: int = 1) -> dict:
    return {"format_version": ck.FORMAT_VERSION, "arch_config": arch, "model": model,
            "extra": {"modules": {"model": None, "head": {k: v * 2 for k, v in model.items()}}, "objective": {}},
            "optimizer": {"state": {}, "param_groups": []}, "scheduler": {"step": step}, "step": step,
            "epoch": 0, "rng": [ck.capture_rng_state()]}


def _draws(gen: np.random.Generator) -> list:
    return [torch.rand(3).tolist(), random.random(), float(np.random.standard_normal()), gen.random(2).tolist()]


def test_rng_states_round_trip_under_weights_only():
    gen = np.random.default_rng(7)
    _draws(gen)
    buf = io.BytesIO()
    torch.save({"rng": ck.capture_rng_state(), "gen": ck.numpy_generator_state(gen)}, buf)
    first = _draws(gen)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)  # no pickled code: plain types and tensors only
    ck.restore_rng_state(loaded["rng"])
    ck.set_numpy_generator_state(gen, loaded["gen"])
    assert _draws(gen) == first


def test_save_load_round_trip(tmp_path):
    arch = {"type": "toy_mlp", "hidden": 4}
    model = {"w": torch.randn(3, 4), "n": torch.tensor(5)}
    path = ck.save_checkpoint(tmp_path / ck.checkpoint_name(12), _state(arch, model, 12))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt-00000012.pt"]  # no temporary left behind
    raw = torch.load(path, weights_only=True)
    assert raw["step"] == 12
    got = ck.load_checkpoint(path, expected_arch=dict(arch))
    assert torch.equal(got["model"]["w"], model["w"]) and torch.equal(got["extra"]["modules"]["head"]["w"],
                                                                        model["w"] * 2)


def test_save_requires_every_key(tmp_path):
    with pytest.raises(ValueError, match="lacks optimizer"):
        ck.save_checkpoint(tmp_path / "x.pt", {k: None for k in ck.REQUIRED_KEYS if k != "optimizer"})


def test_other_architecture_is_named(tmp_path):
    path = ck.save_checkpoint(tmp_path / "a.pt", _state({"type": "resnet", "channels": 16}, {"w": torch.ones(1)}))
    with pytest.raises(ck.CheckpointError) as err:
        ck.load_checkpoint(path, expected_arch={"type": "tdnn", "channels": 16})
    msg = str(err.value)
    assert "resnet" in msg and "tdnn" in msg and str(path) in msg


def test_unreadable_and_foreign_files(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ck.CheckpointError, match="cannot read"):
        ck.load_checkpoint(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.ones(2)}, foreign)
    with pytest.raises(ck.CheckpointError, match="not an utter checkpoint"):
        ck.load_checkpoint(foreign)
    with pytest.raises(ck.CheckpointError, match="does not exist"):
        ck.load_checkpoint(tmp_path / "missing.pt")


def test_latest_checkpoint_orders_by_step(tmp_path):
    assert ck.latest_checkpoint(tmp_path) is None
    for name in ("ckpt-00000009.pt", "ckpt-00000010.pt", ".ckpt-00000011.pt.abc.tmp", "final.pt"):
        with zipfile.ZipFile(tmp_path / name, "w") as z:   # torch.save writes zip archives
            z.writestr("data.pkl", b"x")
    assert ck.latest_checkpoint(tmp_path).name == "ckpt-00000010.pt"
    assert [p.name for p in ck.list_checkpoints(tmp_path)] == ["ckpt-00000009.pt", "ckpt-00000010.pt"]


def test_average_checkpoints_is_the_elementwise_mean(tmp_path):
    arch = {"type": "toy_mlp"}
    g = torch.Generator().manual_seed(0)
    models = [{"w": torch.randn(4, 3, generator=g), "count": torch.tensor(i)} for i in range(3)]
    paths = [ck.save_checkpoint(tmp_path / f"{i}.pt", _state(arch, m, i)) for i, m in enumerate(models)]
    avg = ck.average_checkpoints(paths)
    # reference: the plain mean in float64 over the stacked tensors
    want = torch.stack([m["w"].double() for m in models]).mean(0).float()
    assert torch.allclose(avg["model"]["w"], want, atol=1e-7, rtol=0)
    assert torch.allclose(avg["extra"]["modules"]["head"]["w"], 2 * want, atol=1e-6, rtol=0)
    assert avg["model"]["count"].item() == 2  # integers come from the last checkpoint
    assert avg["optimizer"] is None and avg["step"] == 2
    ck.save_checkpoint(tmp_path / "avg.pt", avg)
    assert ck.load_checkpoint(tmp_path / "avg.pt")["averaged_from"] == ["0.pt", "1.pt", "2.pt"]
    other = ck.save_checkpoint(tmp_path / "o.pt", _state({"type": "resnet"}, models[0]))
    with pytest.raises(ck.CheckpointError, match="resnet"):
        ck.average_checkpoints([paths[0], other])


def test_load_embedder_rebuilds_from_arch_config(tmp_path, monkeypatch):
    net = ToyNet(hidden=5, dropout=0.5)
    path = ck.save_checkpoint(tmp_path / "final.pt", _state(net.config, net.state_dict()))
    calls = []

    def fake_build(config):
        calls.append(config)
        return ToyNet(config["hidden"], config["dropout"])

    monkeypatch.setattr(ck, "build_network", fake_build)  # where load_embedder looks it up
    emb = ck.load_embedder(path, "cpu")
    assert calls == [net.config] and not emb.training
    x = torch.randn(4, 6)
    net.eval()
    assert torch.equal(emb(x), net(x))
    with pytest.raises(ck.CheckpointError, match="hidden=7"):
        ck.load_embedder(path, expected_arch={**net.config, "hidden": 7})


class _TinyClassifier(Objective):
    """Cross-entropy over a linear head on a real utter.nnet network (for the end-to-end check)."""

    def __init__(self, net: torch.nn.Module, num_classes: int) -> None:
        self.net = net
        self.head = torch.nn.Linear(net.embed_dim, num_classes)

    def modules(self) -> dict:
        return {"model": self.net, "head": self.head}

    def loss(self, batch):
        feats, lengths, labels = batch
        logits = self.head(self.net(feats, lengths))
        return torch.nn.functional.cross_entropy(logits, labels), {}


def test_load_embedder_with_a_real_network(tmp_path):
    config = {"arch": "tdnn", "feat_dim": 8, "channels": [12, 12, 16], "kernel_sizes": [3, 3, 1],
              "dilations": [1, 2, 1], "embed_dim": 6}
    torch.manual_seed(0)
    net = utter.nnet.build_network(config)
    objective = _TinyClassifier(net, num_classes=3)

    def factory(epoch, rank, world_size, start_batch):
        g = torch.Generator().manual_seed(epoch)
        batches = [(torch.randn(4, 30, 8, generator=g), torch.tensor([30, 25, 30, 20]),
                    torch.randint(0, 3, (4,), generator=g)) for _ in range(3)]
        return batches[start_batch:]

    cfg = TrainConfig(epochs=2, lr=0.01, average_last=1, keep_last=1, log_interval=2)
    final = Trainer(objective, factory, cfg, tmp_path).train()
    emb = ck.load_embedder(final, "cpu")
    assert not emb.training and emb.config == net.config
    feats, lengths = torch.randn(2, 40, 8), torch.tensor([40, 33])
    net.eval()
    with torch.no_grad():
        assert torch.equal(emb(feats, lengths), net(feats, lengths))
