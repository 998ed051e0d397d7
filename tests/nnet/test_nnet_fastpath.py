"""The networks' fast paths give the same numbers as the plain ones.

* Masks skipped (``skip_full_masks``, the default) on a batch without padding == the masked
  path forced with ``skip_full_masks = False`` (all-true masks): embeddings, gradients and
  batch-norm statistics, in training and eval mode.
* The masked path still handles unequal lengths: each embedding equals that utterance run
  alone without padding (eval mode), with and without channels-last.
* ResNet's channels-last activations == the NCHW ones (fp32, to summation-order rounding);
  parameters and checkpoints keep the default layout.
* bf16 autocast on CPU (the code path the GPU's mixed precision takes) runs and stays close
  to fp32.
"""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from utter.nnet import build_network
from utter.nnet.pooling import length_mask

NETS = {
    "resnet": dict(arch="resnet", base_channels=4, blocks=[1, 2, 1], strides=[1, 2, 2],
                   embed_dim=6, embed_bn=True, feat_dim=20),
    "resnet_freq_only": dict(arch="resnet", base_channels=3, blocks=[1, 1], strides=[1, 2],
                             downsample_time=False, embed_dim=5, feat_dim=16),
    "tdnn": dict(arch="tdnn", feat_dim=20, channels=[16, 16, 16, 16, 24], embed_dim=8),
    "ecapa": dict(arch="ecapa", feat_dim=20, channels=16, scale=4, se_channels=4,
                  mfa_channels=24, attention_channels=8, embed_dim=8),
}


def make(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = build_network(NETS[name])
    g = torch.Generator().manual_seed(seed + 1)
    for m in net.modules():  # non-trivial norms, so a masking slip shows
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.5)
    return net


def feats(name: str, batch: int, frames: int, seed: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, frames, NETS[name]["feat_dim"], generator=g)


def test_length_mask_skip_full():
    full = torch.tensor([7, 7, 7])
    assert length_mask(full, 7) is None
    forced = length_mask(full, 7, skip_full=False)
    assert forced.shape == (3, 7) and forced.all()
    ragged = length_mask(torch.tensor([7, 3]), 7)
    assert ragged.tolist() == [[True] * 7, [True] * 3 + [False] * 4]
    assert length_mask(None, 7, skip_full=False) is None
    for bad in ([0, 7], [8, 7]):
        with pytest.raises(ValueError, match=r"lengths must lie in \[1, 7\]"):
            length_mask(torch.tensor(bad), 7, skip_full=False)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", sorted(NETS))
def test_skipped_masks_equal_masked_path_on_equal_lengths(name, train):
    fast = make(name).train(train)
    masked = copy.deepcopy(fast)
    masked.skip_full_masks = False
    x = feats(name, 4, 23)
    lengths = torch.full((4,), 23)
    outs = []
    for net in (fast, masked):
        xx = x.clone().requires_grad_(True)
        emb = net(xx, lengths)
        emb.pow(2).sum().backward()
        outs.append((emb.detach(), xx.grad, {n: p.grad for n, p in net.named_parameters()}))
    (e1, gx1, g1), (e2, gx2, g2) = outs
    torch.testing.assert_close(e1, e2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gx1, gx2, rtol=1e-5, atol=1e-6)
    for n in g1:
        # an element's rounding error scales with the terms summed into it, not with the sum: an entry
        # that cancels to ~0 differs by ~1e-5 when the gradient's entries reach ~50 (ECAPA's first conv),
        # so the absolute tolerance is relative to the gradient's scale; a wrong mask differs by ~the scale
        scale = float(g2[n].abs().max())
        torch.testing.assert_close(g1[n], g2[n], rtol=1e-4, atol=1e-6 * max(scale, 1.0), msg=f"gradient of {n}")
    for (n, b1), b2 in zip(fast.named_buffers(), masked.buffers()):
        torch.testing.assert_close(b1, b2, rtol=1e-5, atol=1e-6, msg=f"buffer {n}")
    # and no lengths at all is the same as full lengths
    torch.testing.assert_close(fast.eval()(x), masked.eval()(x, lengths), rtol=1e-5, atol=1e-6)


UNEQUAL = [(n, None) for n in sorted(NETS) if not n.startswith("resnet")] + \
    [(n, cl) for n in sorted(NETS) if n.startswith("resnet") for cl in (True, False)]


@pytest.mark.parametrize(("name", "channels_last"), UNEQUAL)
def test_masked_path_handles_unequal_lengths(name, channels_last):
    net = make(name).eval()
    if channels_last is not None:  # a ResNet switch
        net.channels_last = channels_last
    x = feats(name, 3, 31)
    lengths = torch.tensor([31, 17, 9])
    with torch.no_grad():
        batch = net(x, lengths)
        alone = torch.cat([net(x[i:i + 1, :n]) for i, n in enumerate(lengths.tolist())])
    torch.testing.assert_close(batch, alone, rtol=1e-4, atol=1e-5)
    # padding with garbage changes nothing either
    x2 = x.clone()
    for i, n in enumerate(lengths.tolist()):
        x2[i, n:] = 1e3
    with torch.no_grad():
        torch.testing.assert_close(net(x2, lengths), batch, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["resnet", "resnet_freq_only"])
def test_channels_last_equals_nchw(name):
    nchw = make(name).train()
    nchw.channels_last = False
    cl = copy.deepcopy(nchw)
    cl.channels_last = True
    x = feats(name, 4, 19)
    lengths = torch.tensor([19, 19, 12, 7])
    outs = []
    for net in (nchw, cl):
        emb = net(x, lengths)
        emb.pow(2).sum().backward()
        outs.append((emb.detach(), [p.grad for p in net.parameters()]))
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=1e-4, atol=1e-5)
    for (n, _), a, b in zip(nchw.named_parameters(), outs[0][1], outs[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5, msg=f"gradient of {n}")
    # the parameters (and so checkpoints) keep the default layout
    assert all(t.is_contiguous() for t in cl.state_dict().values())
    assert "channels_last" not in cl.config and "skip_full_masks" not in cl.config


@pytest.mark.parametrize("name", ["resnet", "tdnn"])
def test_bf16_autocast_on_cpu(name):
    net = make(name).train()
    x = feats(name, 4, 40)
    lengths = torch.full((4,), 40)
    ref = net(x, lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        emb = net(x, lengths)
    assert torch.isfinite(emb).all()
    emb.float().pow(2).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    rel = (emb.float() - ref).norm() / ref.norm()
    assert rel < 0.05, f"bf16 autocast embedding differs from fp32 by {rel:.3f} (relative)"
