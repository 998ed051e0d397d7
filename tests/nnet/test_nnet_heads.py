"""Heads and SpecAugment: AAM-softmax against the ArcFace formula (acos in float64), DINO head's
weight-normalised last layer against g*v/||v||, gradient cancelling, projector/classifier shapes,
SpecAugment masks against their definitions."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utter.nnet.adapter import Adapter
from utter.nnet.heads import AAMSoftmax, ClassifierHead, DINOHead, Projector, cancel_last_layer_gradients
from utter.nnet.specaug import SpecAugment, span_mask, spec_augment


def _aam_expected(emb, weight, labels, s, m, easy):
    cos = (F.normalize(emb.double(), dim=1) @ F.normalize(weight.double(), dim=1).T)
    out = s * cos.clone()
    for i, y in enumerate(labels.tolist()):
        c = cos[i, y].item()
        theta = math.acos(max(-1.0, min(1.0, c)))
        if easy:
            t = math.cos(theta + m) if c > 0 else c
        else:
            t = math.cos(theta + m) if theta + m < math.pi else c - m * math.sin(m)
        out[i, y] = s * t
    return out


@pytest.mark.parametrize("easy", [False, True])
def test_aam_softmax_logits_and_loss(easy):
    torch.manual_seed(0)
    head = AAMSoftmax(6, 5, scale=30.0, margin=0.3, easy_margin=easy).double()
    emb = torch.randn(40, 6, dtype=torch.float64)
    labels = torch.randint(0, 5, (40,))
    # force some targets near theta = pi (below the threshold) and some near 0
    emb[:4] = -head.weight[labels[:4]].detach() + 0.01 * torch.randn(4, 6, dtype=torch.float64)
    emb[4:8] = head.weight[labels[4:8]].detach()
    logits, loss = head(emb, labels)
    expected = _aam_expected(emb, head.weight.detach(), labels, 30.0, 0.3, easy)
    torch.testing.assert_close(logits, expected, rtol=1e-6, atol=1e-6)
    lse = torch.log(torch.exp(expected).sum(dim=1))
    ce = (lse - expected[torch.arange(40), labels]).mean()
    torch.testing.assert_close(loss, ce)
    loss.backward()
    assert torch.isfinite(head.weight.grad).all()


def test_aam_softmax_margin_setting():
    head = AAMSoftmax(4, 3, scale=10.0, margin=0.2)
    emb, labels = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    head.set_margin(0.0)
    logits, _ = head(emb, labels)
    torch.testing.assert_close(logits, 10.0 * head.cosine(emb), rtol=1e-5, atol=1e-5)
    head.set_margin(0.5)
    assert head.margin == 0.5
    torch.testing.assert_close(head(emb, labels)[0],
                               _aam_expected(emb, head.weight.detach(), labels, 10.0, 0.5,
                                             False).float(), rtol=1e-4, atol=1e-4)
    assert head(emb)[1] is None


def test_dino_head_formula_and_frozen_gain():
    torch.manual_seed(1)
    head = DINOHead(12, out_dim=50, hidden=16, bottleneck=8, nlayers=3)
    linears = [m for m in head.mlp if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(12, 16), (16, 16), (16, 8)]
    assert sum(isinstance(m, nn.GELU) for m in head.mlp) == 2
    x = torch.randn(7, 12)
    v = head.last_layer.weight_v.detach().clone()
    expected = F.normalize(head.mlp(x), dim=-1) @ (v / v.norm(dim=1, keepdim=True)).T
    torch.testing.assert_close(head(x), expected)
    assert not head.last_layer.weight_g.requires_grad
    opt = torch.optim.SGD([p for p in head.parameters() if p.requires_grad], lr=1.0)
    head(x).pow(2).sum().backward()
    opt.step()
    assert torch.equal(head.last_layer.weight_g, torch.ones(50, 1))
    assert not torch.equal(head.last_layer.weight_v.detach(), v)
    # gain trainable without norm_last_layer
    head2 = DINOHead(12, out_dim=50, hidden=16, bottleneck=8, norm_last_layer=False)
    head2(x).pow(2).sum().backward()
    assert head2.last_layer.weight_g.grad is not None


def test_dino_head_state_dict_round_trip(tmp_path):
    head = DINOHead(6, out_dim=20, hidden=8, bottleneck=4, nlayers=2)
    with torch.no_grad():
        head.last_layer.weight_v.mul_(3.0)  # norm differs from 1: the output must not change
    keys = set(head.state_dict())
    assert {"last_layer.weight_v", "last_layer.weight_g"} <= keys
    torch.save(head.state_dict(), tmp_path / "h.pt")
    head2 = DINOHead(6, out_dim=20, hidden=8, bottleneck=4, nlayers=2)
    head2.load_state_dict(torch.load(tmp_path / "h.pt", weights_only=True))
    x = torch.randn(3, 6)
    torch.testing.assert_close(head(x), head2(x))


def test_cancel_last_layer_gradients():
    model = nn.ModuleDict({"net": nn.Linear(5, 6),
                           "head": DINOHead(6, out_dim=10, hidden=8, bottleneck=4)})
    model["head"](model["net"](torch.randn(3, 5))).sum().backward()
    assert model["head"].last_layer.weight_v.grad is not None
    cancel_last_layer_gradients(model)
    assert model["head"].last_layer.weight_v.grad is None
    assert model["head"].mlp[0].weight.grad is not None and model["net"].weight.grad is not None


def test_projector_classifier_adapter():
    proj = Projector(32, 64, 3)
    linears = [m for m in proj.net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features, m.bias) for m in linears] == \
        [(32, 64, None), (64, 64, None), (64, 64, None)]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in proj.net) == 2
    assert proj(torch.randn(5, 32)).shape == (5, 64)
    lin = ClassifierHead(10, 4)
    assert len(list(lin.parameters())) == 2 and lin(torch.randn(3, 10)).shape == (3, 4)
    ad = Adapter(10, 4)
    x = torch.randn(64, 10)
    ad.train()
    assert not torch.equal(ad(x), ad(x))  # dropout active
    ad.eval()
    assert torch.equal(ad(x), ad(x)) and ad(x).shape == (64, 4)
    assert any(isinstance(m, nn.Dropout) and m.p == 0.5 for m in ad.net)


def _runs(row: torch.Tensor) -> list[int]:
    """Lengths of runs of True in a 1-D bool tensor."""
    runs, n = [], 0
    for v in row.tolist() + [False]:
        if v:
            n += 1
        elif n:
            runs.append(n)
            n = 0
    return runs


def test_spec_augment_masks():
    x = torch.randn(6, 120, 40) + 5.0
    lengths = torch.tensor([120, 100, 60, 30, 5, 1])
    for i, n in enumerate(lengths.tolist()):
        x[i, n:] = 77.0
    g = torch.Generator().manual_seed(3)
    y = spec_augment(x, lengths, freq_masks=1, freq_width=7, time_masks=1, time_width=9,
                     generator=g)
    masked = y == 0
    for i, n in enumerate(lengths.tolist()):
        assert torch.equal(y[i, n:], x[i, n:])  # padding untouched
        tm = masked[i, :n].all(dim=1)           # fully masked frames
        fm = masked[i, :n].all(dim=0)           # fully masked bins
        assert all(r <= 9 for r in _runs(tm)) and len(_runs(tm)) <= 1
        assert all(r <= 7 for r in _runs(fm)) and len(_runs(fm)) <= 1
        # every masked element is in a masked frame or a masked bin
        assert torch.equal(masked[i, :n], tm[:, None] | fm[None, :])
    same = spec_augment(x, lengths, freq_masks=1, freq_width=7, time_masks=1, time_width=9,
                        generator=torch.Generator().manual_seed(3))
    assert torch.equal(same, y)
    other = spec_augment(x, lengths, freq_masks=1, freq_width=7, time_masks=1, time_width=9,
                         generator=torch.Generator().manual_seed(4))
    assert not torch.equal(other, y)


def test_span_mask_fraction_and_module():
    g = torch.Generator().manual_seed(0)
    L = 20000
    m = span_mask(torch.tensor([L, 50]), L, 0.2, 2, g)
    # about 0.1 L distinct starts among L-1; a frame is covered by a start at t or t-1
    assert abs(m[0].float().mean().item() - (1 - 0.9 ** 2)) < 0.01
    assert min(_runs(m[0])) >= 2 and not m[1, 50:].any()
    aug = SpecAugment(time_mask_prob=0.2, time_mask_len=2)
    x = torch.randn(2, 30, 8)
    assert not torch.equal(aug(x, generator=torch.Generator().manual_seed(1)), x)
    aug.eval()
    assert aug(x) is x
