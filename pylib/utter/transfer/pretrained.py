"""The pretrained network a downstream run starts from, and whole-utterance embeddings from it.

Pretrained networks are utter checkpoints (DINO teacher, x-vector; any ``final.pt``) or
wav2vec 2.0 / HuBERT checkpoints (torchaudio ``.pt`` or a Hugging Face directory) pooled
to one vector per utterance. Lux et al.'s two steps (:mod:`~utter.transfer.triplet_barlow_folds`,
:mod:`~utter.transfer.adapter`) both load and embed through here.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from utter.data.dataset import Corpus
from utter.data.triplets import make_reader, utterance_loader
from utter.nnet.ssl_frontends import input_kind, load_ssl_frontend
from utter.train.checkpoint import load_embedder
from utter.train.extract import ExtractOptions, embed_data_dir


@dataclass
class PretrainedSpec:
    """Where the pretrained network comes from, and how an SSL checkpoint is pooled."""

    path: str
    ssl_layer: int = 0
    ssl_pooling: str = "mean_std"
    ssl_arch: str | None = None

    def load(self) -> nn.Module:
        return load_pretrained(self.path, ssl_layer=self.ssl_layer, ssl_pooling=self.ssl_pooling,
                               ssl_arch=self.ssl_arch)


def load_pretrained(path: str | os.PathLike, *, ssl_layer: int = 0, ssl_pooling: str = "mean_std",
                    ssl_arch: str | None = None) -> nn.Module:
    """An utter checkpoint's network, or an SSL frontend from a HF dir / torchaudio ``.pt``."""
    path = Path(path)
    if path.is_dir():
        return load_ssl_frontend(path, arch=ssl_arch, layer=ssl_layer, pooling=ssl_pooling)
    if not path.is_file():
        raise OSError(f"{path}: no such pretrained model")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "format_version" in state:
        return load_embedder(path)
    return load_ssl_frontend(path, arch=ssl_arch, layer=ssl_layer, pooling=ssl_pooling)


def embed_utterances(net: nn.Module, data_dir: str | os.PathLike, utts: Sequence[str], *,
                     apply_vad: bool = True, cmn_window: int = 300, device: str | torch.device = "cpu",
                     batch_size: int = 16) -> dict[str, np.ndarray]:
    """utt -> embedding of whole utterances: ``utter.train.extract`` for fbank networks, waveform
    batches (sorted by length) for SSL frontends."""
    device = torch.device(device)
    if input_kind(net) != "waveform":
        opts = ExtractOptions(batch_size=batch_size, use_vad=apply_vad, cmn_window=cmn_window)
        return dict(embed_data_dir(net, data_dir, opts, device=device, utts=utts, progress=False))
    reader = make_reader(Corpus(data_dir), utts, waveform=True)
    out: dict[str, np.ndarray] = {}
    net = net.to(device).eval()
    with torch.inference_mode():
        for batch in utterance_loader(reader, utts, batch_size=batch_size)():
            emb = net(batch["feats"].to(device), batch["feats_lengths"].to(device)).float().cpu().numpy()
            for utt, vec in zip(batch["utts"], emb):
                if not np.all(np.isfinite(vec)):
                    raise ValueError(f"{utt}: non-finite embedding")
                out[utt] = vec
    return out
