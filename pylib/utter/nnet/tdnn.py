"""Kaldi x-vector TDNN (Snyder et al. 2018): five frame layers, stats pooling, segment6 affine.

Frame layers are 1-D convolutions (Kaldi's TDNN splicing): contexts 5, 3, 3, 1, 1 with
dilations 1, 2, 3, 1, 1 ({-2..2}, {-2,0,2}, {-3,0,3}, {0}, {0}), each affine -> ReLU ->
BatchNorm as in Kaldi's relu-batchnorm-layer; 512 x 4 then 1500 channels. The embedding is
the segment6 affine output (Kaldi's tdnn6.affine, the x-vector), before its ReLU.
Unlike Kaldi (valid convolutions only), frames are zero padded at the edges so any
utterance of at least one frame has an embedding.
"""
from __future__ import annotations

import torch
from torch import nn

from utter.nnet.base import EmbeddingNetwork, apply_mask, check_feats
from utter.nnet.pooling import StatsPool


class TDNN(EmbeddingNetwork):
    """x-vector TDNN. ``last_affine()``: segment6 (the embedding affine) and its BN, if any."""

    _last_affine_prefixes = ("embedding.", "embedding_bn.")

    def __init__(self, feat_dim: int = 80, channels: list[int] = (512, 512, 512, 512, 1500),
                 kernel_sizes: list[int] = (5, 3, 3, 1, 1), dilations: list[int] = (1, 2, 3, 1, 1),
                 embed_dim: int = 512, embed_bn: bool = False):
        super().__init__()
        if not len(channels) == len(kernel_sizes) == len(dilations):
            raise ValueError(f"channels {list(channels)}, kernel_sizes {list(kernel_sizes)} and "
                             f"dilations {list(dilations)} must have the same length")
        if any(k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes must be odd (symmetric contexts), got {list(kernel_sizes)}")
        self.config = dict(arch="tdnn", feat_dim=feat_dim, channels=list(channels),
                           kernel_sizes=list(kernel_sizes), dilations=list(dilations),
                           embed_dim=embed_dim, embed_bn=embed_bn)
        self.feat_dim, self.embed_dim = feat_dim, embed_dim
        layers, in_ch = [], feat_dim
        for ch, k, d in zip(channels, kernel_sizes, dilations):
            layers.append(nn.Sequential(
                nn.Conv1d(in_ch, ch, k, dilation=d, padding=d * (k - 1) // 2),
                nn.ReLU(inplace=True), nn.BatchNorm1d(ch)))
            in_ch = ch
        self.frame_layers = nn.ModuleList(layers)
        self.pool = StatsPool()
        self.embedding = nn.Linear(2 * in_ch, embed_dim)
        self.embedding_bn = nn.BatchNorm1d(embed_dim) if embed_bn else None

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """feats [B, T, F], lengths [B] (valid frames) -> embeddings [B, embed_dim]."""
        check_feats(feats, self.feat_dim)
        mask = self.frame_mask(lengths, feats)
        x = feats.transpose(1, 2)
        for layer in self.frame_layers:
            x = layer(apply_mask(x, mask))
        emb = self.embedding(self.pool(x, mask))
        if self.embedding_bn is not None:
            emb = self.embedding_bn(emb)
        return emb
