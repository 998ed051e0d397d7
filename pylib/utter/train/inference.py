"""Embeddings and class posteriors of audio files with a trained model, without a data dir.

Features follow the recipe exactly: audio read by ``utter.data.audio`` (of several channels, channel
0 or ``channel``, as make_fbank's ``--channel``; another sample rate is resampled to the fbank's),
Kaldi fbank and energy VAD (``utter.data.features``), then, as ``utter.data.dataset.FeatureReader``
does for extraction, sliding CMN over the whole utterance followed by VAD selection; an utterance
with too few voiced frames is embedded whole (as ``utter.train.extract``). Checkpoints do not record
the feature options, so they are given (the recipe's conf/fbank.conf values are the defaults).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from utter.data.audio import AudioError, pick_channel, read_audio_channels
from utter.data.features import compute_fbank, compute_vad, resample, sliding_cmn
from utter.data.options import FbankOptions, VadOptions
from utter.nnet import build_network
from utter.nnet.heads import AAMSoftmax, ClassifierHead
from utter.train.checkpoint import CheckpointError, load_checkpoint

log = logging.getLogger(__name__)


@dataclass
class FrontEnd:
    """Audio file -> network input features, as training and extraction prepare them."""

    fbank: FbankOptions = field(default_factory=FbankOptions)
    vad: VadOptions = field(default_factory=VadOptions)
    use_vad: bool = True
    cmn_window: int = 300
    min_voiced_frames: int = 50
    min_duration: float = 0.5      # seconds of audio below which a file is refused
    note: Callable[[str], None] = print
    channel: int = 0               # of multi-channel audio, as the recipes' make_fbank --channel

    def read(self, path: str) -> tuple[np.ndarray, float]:
        """(mono samples at int16 scale and the fbank's rate, duration in seconds)."""
        if os.path.isdir(path):
            raise AudioError(f"{path}: a directory, not an audio file")
        if not os.path.isfile(path):
            raise AudioError(f"{path}: no such audio file")
        data, rate = read_audio_channels(path, path)
        if data.shape[0] == 0:
            raise AudioError(f"{path}: empty recording")
        if data.shape[1] > 1:
            self.note(f"{path}: {data.shape[1]} channels: channel {self.channel} used, as the recipes do "
                      "(--channel to choose)")
        samples = pick_channel(data, self.channel, path)
        duration = len(samples) / rate
        if duration < self.min_duration:
            raise AudioError(f"{path}: {duration:.2f} s of audio is shorter than the minimum "
                             f"{self.min_duration:g} s")
        target = int(self.fbank.sample_frequency)
        if rate != target:
            self.note(f"{path}: resampled from {rate} Hz to {target} Hz")
            samples = resample(samples, rate, target)
        return samples, duration

    def features(self, path: str) -> tuple[np.ndarray, float]:
        """(features [T, F] ready for the network, duration in seconds) of one audio file."""
        samples, duration = self.read(path)
        feats, log_energy = compute_fbank(samples, int(self.fbank.sample_frequency), self.fbank, path)
        if self.cmn_window:
            feats = sliding_cmn(feats, window=self.cmn_window, center=True)
        if self.use_vad:
            voiced = compute_vad(log_energy, self.vad) > 0.5
            if voiced.sum() >= self.min_voiced_frames:
                feats = feats[voiced]
            else:
                self.note(f"{path}: {int(voiced.sum())} voiced frames (< {self.min_voiced_frames}): "
                          f"using all {len(feats)} frames")
        return np.ascontiguousarray(feats, dtype=np.float32), duration


def batched_forward(net: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], feats: Sequence[np.ndarray],
                    device: str | torch.device = "cpu", batch_size: int = 16) -> np.ndarray:
    """``net(padded feats, lengths)`` over batches of similar lengths; rows in input order."""
    device = torch.device(device)
    order = sorted(range(len(feats)), key=lambda i: len(feats[i]))
    out: list[np.ndarray | None] = [None] * len(feats)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            lengths = torch.tensor([len(feats[i]) for i in idx])
            x = torch.zeros(len(idx), int(lengths.max()), feats[idx[0]].shape[1])
            for row, i in enumerate(idx):
                x[row, :len(feats[i])] = torch.from_numpy(feats[i])
            y = net(x.to(device), lengths.to(device)).float().cpu().numpy()
            for row, i in enumerate(idx):
                out[i] = y[row]
    return np.stack(out)


class Classifier(nn.Module):
    """Network + classification head of a fine-tuned checkpoint: ``forward`` gives log-posteriors."""

    def __init__(self, network: nn.Module, head: nn.Module, labels: list[str], cosine: bool = False):
        super().__init__()
        self.network, self.head, self.labels, self.cosine = network, head, labels, cosine

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.network(feats, lengths))
        if isinstance(logits, tuple):  # AAM-softmax: (s * cos, None) without labels
            logits = logits[0]
        return torch.log_softmax(logits.float(), dim=1)


def _head_from_state(sd: dict, path) -> tuple[nn.Module, bool]:
    """Rebuild a ClassifierHead (linear or MLP) or an AAM-softmax head from its saved weights."""
    if set(sd) == {"weight"}:  # AAM-softmax class weights [C, D]
        w = sd["weight"]
        head = AAMSoftmax(w.shape[1], w.shape[0])
        head.load_state_dict(sd)
        return head, True
    idx = sorted({int(k.split(".")[1]) for k in sd if k.startswith("net.") and k.endswith(".weight")})
    if not idx:
        raise CheckpointError(f"{path}: the classifier head's weights are not a known head")
    sizes = [sd[f"net.{i}.weight"].shape for i in idx]
    step = idx[1] - idx[0] if len(idx) > 1 else 2
    head = ClassifierHead(sizes[0][1], sizes[-1][0], hidden=[s[0] for s in sizes[:-1]],
                          dropout=0.1 if step == 3 else 0.0, input_dropout=0.1 if idx[0] == 1 else 0.0)
    try:
        head.load_state_dict(sd)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: cannot rebuild the classifier head: {str(e).splitlines()[0]}") from e
    return head, False


def load_classifier(path: str | os.PathLike, device: str | torch.device = "cpu") -> Classifier:
    """The network, head and labels of a classification checkpoint (the dev-selected weights when
    the run kept them); a clear error for a checkpoint without a classification head."""
    state = load_checkpoint(path)
    extra = state.get("extra") or {}
    objective = extra.get("objective") or {}
    head_sd = (extra.get("modules") or {}).get("head")
    label_map = objective.get("label_map")
    if not isinstance(label_map, dict) or not head_sd:
        raise CheckpointError(f"{path} is not a classifier checkpoint (no classification head and label map): "
                              "use a fine-tuned model (steps/finetune.sh or train_xvector output)")
    model_sd = state["model"]
    best = objective.get("best")
    if isinstance(best, dict) and best.get("model") and best.get("head"):
        model_sd, head_sd = best["model"], best["head"]
        log.info("%s: using the weights selected on the dev set (step %s)", path, best.get("step"))
    net = build_network(dict(state["arch_config"]))
    net.load_state_dict(model_sd)
    head, cosine = _head_from_state(head_sd, path)
    labels = [lab for lab, _ in sorted(label_map.items(), key=lambda kv: kv[1])]
    if len(labels) != (head.num_classes):
        raise CheckpointError(f"{path}: {len(labels)} labels but the head has {head.num_classes} outputs")
    return Classifier(net, head, labels, cosine).to(device).eval()
