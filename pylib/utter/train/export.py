"""Export an embedding network to TorchScript or ONNX, with dynamic batch size and time length.

The networks are traced (``torch.jit.trace``), not scripted: their ``config: dict`` class
annotation and Python-side input checks do not compile under ``torch.jit.script``. Tracing
is exact for them because their only data-dependent Python branches are (a) input checks
and (b) ``length_mask`` skipping the mask when every length equals T; the trace is taken
with unequal lengths, so it always applies the mask, which gives the same result when all
frames are valid. Every export is checked against the eager network on inputs of other
batch sizes and lengths (equal and unequal) before it is kept. The exported model takes
``feats [B, T, F]`` float32 and ``lengths [B]`` int64 and returns ``[B, D]``; lengths are
not validated by it (they must lie in [1, T]).
"""
from __future__ import annotations

import importlib.util
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from utter.atomic import atomic_path
from utter.train.checkpoint import load_embedder

log = logging.getLogger(__name__)

FORMATS = ("torchscript", "onnx")


def example_inputs(feat_dim: int, batch: int = 3, frames: int = 64, seed: int = 0
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random features and unequal lengths (the first full, the others shorter)."""
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(batch, frames, feat_dim, generator=g)
    lengths = torch.tensor([frames] + [max(1, frames * (batch - i) // (batch + 1)) for i in range(1, batch)],
                           dtype=torch.int64)
    return feats, lengths


def check_inputs(feat_dim: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Inputs an export must reproduce: other batch sizes and lengths, padded and not."""
    checks = [example_inputs(feat_dim, 2, 37, seed=1), example_inputs(feat_dim, 5, 150, seed=2)]
    g = torch.Generator().manual_seed(3)
    checks.append((torch.randn(1, 91, feat_dim, generator=g), torch.tensor([91])))
    checks.append((torch.randn(2, 40, feat_dim, generator=g), torch.tensor([40, 40])))
    return checks


def _feat_dim(net: nn.Module) -> int:
    dim = getattr(net, "feat_dim", None) or (getattr(net, "config", None) or {}).get("feat_dim")
    if not dim:
        raise ValueError(f"cannot tell the feature dimension of {type(net).__name__} (no feat_dim)")
    return int(dim)


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max()) if a.numel() else 0.0


def trace_network(net: nn.Module, atol: float = 1e-4) -> torch.jit.ScriptModule:
    """TorchScript trace of ``net`` (eval mode, CPU) accepting any B and T; checked against ``net``."""
    net = net.to("cpu").eval()
    dim = _feat_dim(net)
    with torch.no_grad(), warnings.catch_warnings():
        # the networks' input checks and all-valid shortcut convert tensors to Python values:
        # expected, see the module docstring; the result is checked below instead
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.trace.* is deprecated", category=FutureWarning)
        traced = torch.jit.trace(net, example_inputs(dim), check_trace=False)
    verify(traced, net, atol=atol, what="TorchScript trace")
    return traced


def verify(exported, net: nn.Module, atol: float = 1e-4, what: str = "export") -> float:
    """Largest |difference| between ``exported(feats, lengths)`` and ``net`` on :func:`check_inputs`."""
    worst = 0.0
    with torch.no_grad():
        for feats, lengths in check_inputs(_feat_dim(net)):
            want = net(feats, lengths)
            got = exported(feats, lengths)
            got = torch.as_tensor(got)
            if got.shape != want.shape:
                raise RuntimeError(f"{what} gives shape {tuple(got.shape)} for input {tuple(feats.shape)}, "
                                   f"the network {tuple(want.shape)}")
            diff = _max_diff(got, want)
            worst = max(worst, diff)
            if not diff <= atol * max(1.0, float(want.abs().max())):
                raise RuntimeError(f"{what} differs from the network by {diff:.3g} on input "
                                   f"{tuple(feats.shape)} with lengths {lengths.tolist()}")
    return worst


def export_torchscript(net: nn.Module, out: str | os.PathLike) -> Path:
    """Trace ``net`` and save it with ``torch.jit.save`` (atomically); load with ``torch.jit.load``."""
    traced = trace_network(net)
    out = Path(out)
    with atomic_path(out) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.save.* is deprecated", category=FutureWarning)
        torch.jit.save(traced, str(tmp))
    return out


def require_onnx() -> None:
    """Raise a clear error when the optional ``onnx`` package is not installed."""
    if importlib.util.find_spec("onnx") is None:
        raise RuntimeError("ONNX export needs the optional 'onnx' package, which is not installed: "
                           "install it into this environment (e.g. tools/venv/bin/pip install onnx, "
                           "and onnxruntime to run or check the exported model)")


def export_onnx(net: nn.Module, out: str | os.PathLike, opset: int = 17) -> Path:
    """Export ``net`` to ONNX with dynamic batch and time axes; checked with onnxruntime when installed.

    Uses the TorchScript-based exporter (``dynamo=False``) on the same trace as
    :func:`export_torchscript`. Inputs ``feats`` and ``lengths``, output ``embeddings``.
    """
    require_onnx()
    import onnx

    net = net.to("cpu").eval()
    dim = _feat_dim(net)
    out = Path(out)
    with atomic_path(out) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(net, example_inputs(dim), str(tmp), input_names=["feats", "lengths"],
                          output_names=["embeddings"], opset_version=opset, dynamo=False,
                          dynamic_axes={"feats": {0: "batch", 1: "frames"}, "lengths": {0: "batch"},
                                        "embeddings": {0: "batch"}})
        onnx.checker.check_model(onnx.load(str(tmp)))
        if importlib.util.find_spec("onnxruntime") is not None:
            verify(onnx_runner(tmp), net, what="ONNX export")
        else:
            log.warning("onnxruntime is not installed: %s was not checked against the network", out)
    return out


def onnx_runner(path: str | os.PathLike):
    """``f(feats, lengths) -> torch.Tensor`` running an exported ONNX model with onnxruntime (CPU)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]

    def run(feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        feed = {"feats": feats.numpy().astype("float32"), "lengths": lengths.numpy().astype("int64")}
        return torch.from_numpy(sess.run(None, {k: v for k, v in feed.items() if k in names})[0])

    return run


def export_model(model: str | os.PathLike, out: str | os.PathLike, fmt: str = "torchscript") -> Path:
    """Export the embedding network of checkpoint ``model`` to ``out`` in format ``fmt``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}")
    if fmt == "onnx":
        require_onnx()
    net = load_embedder(model, device="cpu")
    path = export_torchscript(net, out) if fmt == "torchscript" else export_onnx(net, out)
    log.info("exported %s (%s) to %s as %s", model, getattr(net, "config", {}).get("arch", type(net).__name__),
             path, fmt)
    return path
