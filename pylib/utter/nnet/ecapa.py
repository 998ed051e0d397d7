"""ECAPA-TDNN (Desplanques et al. 2020) as in SpeechBrain/WeSpeaker.

Conv1d(k=5) block, three SE-Res2Blocks (kernel 3, dilations 2, 3, 4, Res2 scale 8,
squeeze-excitation), multi-layer feature aggregation (1x1 conv over the concatenated block
outputs), attentive statistics pooling with global context, BN, embedding affine.
Blocks are applied in sequence (SpeechBrain/WeSpeaker), not on the sum of earlier outputs.
"""
from __future__ import annotations

import torch
from torch import nn

from utter.nnet.base import EmbeddingNetwork, apply_mask, check_feats
from utter.nnet.pooling import AttentiveStatsPool


class TDNNBlock(nn.Module):
    """Conv1d -> ReLU -> BN, with padded frames zeroed at the input."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv1d(in_ch, out_ch, kernel_size, dilation=dilation,
                              padding=dilation * (kernel_size - 1) // 2)
        self.relu = nn.ReLU(inplace=True)
        self.bn = nn.BatchNorm1d(out_ch)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.bn(self.relu(self.conv(apply_mask(x, mask))))


class SEBlock(nn.Module):
    """Squeeze-excitation over channels from the masked time average."""

    def __init__(self, channels: int, se_channels: int):
        super().__init__()
        self.fc1 = nn.Conv1d(channels, se_channels, 1)
        self.fc2 = nn.Conv1d(se_channels, channels, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if mask is None:
            s = x.mean(dim=-1, keepdim=True)
        else:
            m = mask.unsqueeze(1).to(x.dtype)
            s = (x * m).sum(dim=-1, keepdim=True) / m.sum(dim=-1, keepdim=True)
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))
        return x * s


class SERes2Block(nn.Module):
    """1x1 TDNN block, Res2Net dilated convs (scale groups), 1x1 TDNN block, SE, residual."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, scale: int,
                 se_channels: int):
        super().__init__()
        if channels % scale:
            raise ValueError(f"ECAPA channels {channels} must be divisible by scale {scale}")
        self.scale = scale
        width = channels // scale
        self.tdnn1 = TDNNBlock(channels, channels, 1)
        self.res2 = nn.ModuleList(TDNNBlock(width, width, kernel_size, dilation)
                                  for _ in range(scale - 1))
        self.tdnn2 = TDNNBlock(channels, channels, 1)
        self.se = SEBlock(channels, se_channels)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        out = self.tdnn1(x, mask)
        chunks = out.chunk(self.scale, dim=1)
        ys, y = [chunks[0]], None
        for i, conv in enumerate(self.res2, start=1):
            y = conv(chunks[i] if y is None else chunks[i] + y, mask)
            ys.append(y)
        out = self.tdnn2(torch.cat(ys, dim=1), mask)
        return self.se(out, mask) + x


class ECAPATDNN(EmbeddingNetwork):
    """ECAPA-TDNN. ``last_affine()``: the post-pooling BN, the embedding affine and its BN.

    The attention of the pooling layer is not included (it acts on frames, before pooling).
    """

    _last_affine_prefixes = ("pool_bn.", "embedding.", "embedding_bn.")

    def __init__(self, feat_dim: int = 80, channels: int = 512, kernel_size: int = 3,
                 dilations: list[int] = (2, 3, 4), scale: int = 8, se_channels: int = 128,
                 mfa_channels: int = 1536, attention_channels: int = 128,
                 global_context: bool = True, embed_dim: int = 192, embed_bn: bool = False):
        super().__init__()
        self.config = dict(arch="ecapa", feat_dim=feat_dim, channels=channels,
                           kernel_size=kernel_size, dilations=list(dilations), scale=scale,
                           se_channels=se_channels, mfa_channels=mfa_channels,
                           attention_channels=attention_channels, global_context=global_context,
                           embed_dim=embed_dim, embed_bn=embed_bn)
        self.feat_dim, self.embed_dim = feat_dim, embed_dim
        self.layer1 = TDNNBlock(feat_dim, channels, 5)
        self.blocks = nn.ModuleList(SERes2Block(channels, kernel_size, d, scale, se_channels)
                                    for d in dilations)
        self.mfa = TDNNBlock(channels * len(dilations), mfa_channels, 1)
        self.pool = AttentiveStatsPool(mfa_channels, attention_channels, global_context)
        self.pool_bn = nn.BatchNorm1d(2 * mfa_channels)
        self.embedding = nn.Linear(2 * mfa_channels, embed_dim)
        self.embedding_bn = nn.BatchNorm1d(embed_dim) if embed_bn else None

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """feats [B, T, F], lengths [B] (valid frames) -> embeddings [B, embed_dim]."""
        check_feats(feats, self.feat_dim)
        mask = self.frame_mask(lengths, feats)
        x = self.layer1(feats.transpose(1, 2), mask)
        outs = []
        for block in self.blocks:
            x = block(apply_mask(x, mask), mask)
            outs.append(x)
        x = self.mfa(torch.cat(outs, dim=1), mask)
        emb = self.embedding(self.pool_bn(self.pool(x, mask)))
        if self.embedding_bn is not None:
            emb = self.embedding_bn(emb)
        return emb
