"""Embedding networks: shapes, padding invariance, registry round trip, last_affine, gradients.

References: padding invariance is checked against each utterance run alone without padding;
last_affine against re-applying the named modules to the pooled statistics.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from utter.nnet import build_network, network_options

TINY = {
    "lresnet34": dict(arch="lresnet34", base_channels=2, embed_dim=8),
    "resnet34": dict(arch="resnet34", base_channels=2, blocks=[1, 1, 1, 1], embed_dim=8,
                     feat_dim=24),
    "resnet": dict(arch="resnet", base_channels=3, blocks=[1, 2, 1], strides=[1, 2, 2],
                   embed_dim=6, embed_bn=True, feat_dim=20),
    "tdnn": dict(arch="tdnn", feat_dim=20, channels=[16, 16, 16, 16, 24], embed_dim=8),
    "tdnn_bn": dict(arch="tdnn", feat_dim=20, channels=[8, 8, 8, 8, 12], embed_dim=8,
                    embed_bn=True),
    "ecapa": dict(arch="ecapa", feat_dim=20, channels=16, scale=4, se_channels=4,
                  mfa_channels=24, attention_channels=8, embed_dim=8),
    "ecapa_noctx": dict(arch="ecapa", feat_dim=20, channels=8, scale=2, se_channels=4,
                        mfa_channels=12, attention_channels=4, global_context=False,
                        embed_dim=8, embed_bn=True),
}


def randomise_norms(net: nn.Module, seed: int = 0) -> nn.Module:
    """Give BN layers non-trivial statistics and affine terms, so masking bugs show up."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.5)
    return net.eval()


def feats_for(cfg: dict, batch: int, frames: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, frames, cfg.get("feat_dim", 80), generator=g)


@pytest.mark.parametrize("name", sorted(TINY))
def test_shapes_and_config(name):
    cfg = TINY[name]
    net = build_network(cfg)
    out = net(feats_for(cfg, 3, 37), torch.tensor([37, 20, 9]))
    assert out.shape == (3, cfg["embed_dim"]) and net.embed_dim == cfg["embed_dim"]
    assert torch.isfinite(out).all()
    assert net.config["arch"] == cfg["arch"]
    for k, v in cfg.items():
        assert net.config[k] == v
    assert set(net.config) == set(network_options(cfg["arch"])) | {"arch"}


@pytest.mark.parametrize("arch,dim,params", [
    ("lresnet34", 256, (1.5e6, 2.5e6)), ("resnet34", 256, (2.0e7, 3.0e7)),
    ("tdnn", 512, (4.0e6, 4.7e6)), ("ecapa", 192, (5.5e6, 7.0e6))])
def test_paper_sizes(arch, dim, params):
    """Default configs are the published sizes (ECAPA c512 ~6.2M as WeSpeaker/SpeechBrain,
    Kaldi x-vector up to segment6 ~4.3M)."""
    net = build_network({"arch": arch}).eval()
    n = sum(p.numel() for p in net.parameters())
    assert params[0] < n < params[1], n
    with torch.no_grad():
        assert net(torch.randn(2, 16, 80), torch.tensor([16, 11])).shape == (2, dim)


def test_resnet_family_defaults():
    assert network_options("lresnet34")["base_channels"] == 16
    assert network_options("resnet34")["base_channels"] == 64
    assert network_options("lresnet34")["blocks"] == [3, 4, 6, 3]
    assert network_options("lresnet34")["strides"] == [1, 2, 2, 2]
    assert network_options("tdnn")["channels"] == [512, 512, 512, 512, 1500]
    assert network_options("tdnn")["kernel_sizes"] == [5, 3, 3, 1, 1]


@pytest.mark.parametrize("name", sorted(TINY))
def test_padding_invariance(name):
    """Each utterance padded in a batch (padding = large garbage) gives its unpadded embedding."""
    cfg = TINY[name]
    torch.manual_seed(0)
    net = randomise_norms(build_network(cfg))
    lengths = [41, 40, 23, 8, 1]
    x = feats_for(cfg, len(lengths), max(lengths))
    x = x * torch.linspace(0.5, 2.0, len(lengths)).view(-1, 1, 1)  # utterances clearly differ
    garbage = 100 * torch.randn_like(x)
    for i, n in enumerate(lengths):
        x[i, n:] = garbage[i, n:]
    with torch.no_grad():
        batch = net(x, torch.tensor(lengths))
        alone = torch.cat([net(x[i:i + 1, :n], torch.tensor([n])) for i, n in enumerate(lengths)])
        nolen = net(x[:1, :lengths[0]], None)
    torch.testing.assert_close(batch, alone, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(nolen, alone[:1], rtol=1e-5, atol=1e-5)
    assert (batch - batch.mean(0)).abs().max() > 1e-3  # not vacuous: utterances differ


@pytest.mark.parametrize("name", sorted(TINY))
def test_registry_rebuilds_from_config(name, tmp_path):
    cfg = TINY[name]
    torch.manual_seed(0)
    net = randomise_norms(build_network(cfg))
    path = tmp_path / "net.pt"
    torch.save({"arch_config": net.config, "model": net.state_dict()}, path)
    ck = torch.load(path, weights_only=True)
    net2 = build_network(ck["arch_config"]).eval()
    net2.load_state_dict(ck["model"])
    x = feats_for(cfg, 2, 30)
    with torch.no_grad():
        torch.testing.assert_close(net(x, torch.tensor([30, 17])), net2(x, torch.tensor([30, 17])))


def test_registry_errors():
    with pytest.raises(ValueError, match="bogus_option"):
        build_network({"arch": "tdnn", "bogus_option": 3, "embed_dim": 4})
    with pytest.raises(ValueError, match="unknown network arch 'vit'"):
        build_network({"arch": "vit"})
    with pytest.raises(ValueError, match="'arch'"):
        build_network({"embed_dim": 3})


def test_input_errors():
    net = build_network(TINY["tdnn"])
    with pytest.raises(ValueError, match="20"):
        net(torch.randn(2, 10, 80), torch.tensor([10, 10]))
    with pytest.raises(ValueError, match="lengths"):
        net(torch.randn(2, 10, 20), torch.tensor([10, 0]))
    with pytest.raises(ValueError, match="lengths"):
        net(torch.randn(2, 10, 20), torch.tensor([11, 10]))


@pytest.mark.parametrize("name", sorted(TINY))
def test_last_affine_is_post_pooling(name):
    """Applying the modules named by last_affine() to the pooled statistics gives the embedding."""
    cfg = TINY[name]
    net = randomise_norms(build_network(cfg))
    names = net.last_affine()
    params = dict(net.named_parameters())
    assert names and all(n in params for n in names)
    assert any(n.startswith("embedding.") for n in names)
    prefixes = list(dict.fromkeys(n.rsplit(".", 1)[0] for n in names))
    pooled = {}
    net.pool.register_forward_hook(lambda m, i, o: pooled.setdefault("x", o))
    x = feats_for(cfg, 3, 25)
    with torch.no_grad():
        emb = net(x, torch.tensor([25, 19, 4]))
        y = pooled["x"]
        for p in prefixes:
            y = net.get_submodule(p)(y)
    torch.testing.assert_close(y, emb)
    # everything not named is before pooling: no parameter module sits between pool and them
    others = [n for n in params if n not in names]
    assert all(not n.startswith(tuple(p + "." for p in prefixes)) for n in others)


@pytest.mark.parametrize("name", sorted(TINY))
def test_gradients_flow(name):
    cfg = TINY[name]
    net = build_network(cfg).train()
    out = net(feats_for(cfg, 4, 24), torch.tensor([24, 24, 15, 6]))
    (out ** 2).sum().backward()
    for n, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n
        assert p.grad.abs().sum() > 0, n
