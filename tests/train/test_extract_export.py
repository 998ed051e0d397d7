"""Exported extractors (TorchScript always; ONNX when onnx and onnxruntime are installed) give the
same embeddings as the PyTorch network, for every architecture, at batch sizes and lengths
other than the ones traced, padded or not."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
import torch

from utter.nnet import ARCHS, build_network
from utter.train import checkpoint as ck
from utter.train.export import export_model, export_onnx, export_torchscript, onnx_runner

FEAT_DIM = 20
TINY = {
    "tdnn": dict(channels=[8, 8, 8, 8, 16], embed_dim=8),
    "lresnet34": dict(base_channels=4, blocks=[1, 1, 1, 1], embed_dim=8),
    "resnet34": dict(base_channels=4, blocks=[1, 2, 1, 1], embed_dim=8, embed_bn=True),
    "resnet": dict(base_channels=4, blocks=[1, 1], strides=[1, 2], downsample_time=False, embed_dim=8),
    "ecapa": dict(channels=16, embed_dim=8, mfa_channels=48, se_channels=8, attention_channels=8, scale=4),
}
# torch.jit is deprecated upstream but still the format asked for; its warnings are expected here
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.* is deprecated:FutureWarning")
HAVE_ONNX = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))


def _net(arch: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = build_network({"arch": arch, "feat_dim": FEAT_DIM, **TINY[arch]})
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
    return net.eval()


def _inputs():
    g = torch.Generator().manual_seed(42)
    for B, T, lengths in [(1, 17, [17]), (3, 123, [123, 80, 5]), (2, 300, [300, 300]), (6, 64, [64, 1, 33, 64, 2, 50])]:
        yield torch.randn(B, T, FEAT_DIM, generator=g), torch.tensor(lengths)


def _ckpt(path, net) -> str:
    state = {"format_version": ck.FORMAT_VERSION, "arch_config": net.config, "model": net.state_dict(),
             "extra": {}, "optimizer": None, "scheduler": None, "step": 0, "epoch": 0, "rng": []}
    return str(ck.save_checkpoint(path, state))


def test_every_arch_is_covered():
    assert set(TINY) == set(ARCHS)


@pytest.mark.parametrize("arch", sorted(TINY))
def test_torchscript_equals_pytorch(arch, tmp_path):
    net = _net(arch)
    path = export_torchscript(net, tmp_path / "x.ts")
    loaded = torch.jit.load(str(path))
    with torch.no_grad():
        for feats, lengths in _inputs():
            want = net(feats, lengths)
            got = loaded(feats, lengths)
            assert got.shape == want.shape
            torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
            # and each padded row equals that utterance alone (the export keeps the masking)
            i = int(lengths.argmin())
            alone = net(feats[i:i + 1, :int(lengths[i])], lengths[i:i + 1])
            torch.testing.assert_close(got[i:i + 1], alone, atol=1e-5, rtol=0)


def test_export_program_and_errors(tmp_path):
    net = _net("tdnn")
    model = _ckpt(tmp_path / "final.pt", net)
    r = subprocess.run([sys.executable, "-m", "utter.bin.export_model", "--format", "torchscript", model,
                        str(tmp_path / "x.ts")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    loaded = torch.jit.load(str(tmp_path / "x.ts"))
    feats, lengths = next(iter(_inputs()))
    with torch.no_grad():
        torch.testing.assert_close(loaded(feats, lengths), net(feats, lengths), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="unknown export format 'tflite'"):
        export_model(model, tmp_path / "y", "tflite")
    if importlib.util.find_spec("onnx") is None:
        with pytest.raises(RuntimeError, match="needs the optional 'onnx' package"):
            export_model(model, tmp_path / "y.onnx", "onnx")
        assert not (tmp_path / "y.onnx").exists()


@pytest.mark.skipif(not HAVE_ONNX, reason="onnx and onnxruntime are optional and not installed")
@pytest.mark.parametrize("arch", ["tdnn", "lresnet34", "ecapa"])
def test_onnx_equals_pytorch(arch, tmp_path):
    net = _net(arch)
    run = onnx_runner(export_onnx(net, tmp_path / "x.onnx"))
    with torch.no_grad():
        for feats, lengths in _inputs():
            torch.testing.assert_close(run(feats, lengths), net(feats, lengths), atol=1e-5, rtol=0)
