"""ResNet34-family speaker embedding networks on fbank (hyperion LResNet34 / WeSpeaker ResNet34).

Input [B, T, F] is treated as a one-channel image over (frequency, time); a stride-1 3x3
first conv, four stages of basic blocks (3-4-6-3) with strides 1, 2, 2, 2 on both axes,
mean+std pooling over time of the flattened channel x frequency map, then the embedding
affine layer (+ optional BatchNorm).
"""
from __future__ import annotations

import torch
from torch import nn

from utter.nnet.base import EmbeddingNetwork, apply_mask, check_feats
from utter.nnet.pooling import StatsPool, downsample_lengths


class BasicBlock(nn.Module):
    """Two 3x3 convs with BN and ReLU, identity or 1x1-conv shortcut (He et al. 2016)."""

    def __init__(self, in_ch: int, out_ch: int, stride: tuple[int, int]):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = None
        if stride != (1, 1) or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """x is masked at the input resolution; mask is at the output resolution."""
        out = apply_mask(self.relu(self.bn1(self.conv1(x))), mask)
        out = self.bn2(self.conv2(out))
        out = out + (x if self.shortcut is None else self.shortcut(x))
        return apply_mask(self.relu(out), mask)


class ResNet(EmbeddingNetwork):
    """ResNet x-vector: configurable width (base_channels), depth (blocks) and embed_dim.

    ``last_affine()``: the embedding affine layer after pooling and its BatchNorm, if any.
    BatchNorm in training mode uses statistics of every frame, padded ones included: train
    on equal-length chunks (padding invariance is exact in eval mode).

    Speed (same arithmetic, see bench/dino_step.py): a batch without padding skips the
    length masks (``skip_full_masks``), and with ``channels_last`` the activations after the
    one-channel first convolution are kept in channels-last order, whose oneDNN (CPU) and
    cuDNN (GPU, mixed precision) kernels are faster than the default NCHW ones. Both are
    run-time switches, not part of ``config``; parameters keep the default layout, so
    checkpoints do not change.
    """

    _last_affine_prefixes = ("embedding.", "embedding_bn.")
    #: Run the convolutions after the first in channels-last memory order on CUDA (see the class doc).
    #: Not on the CPU: this torch build's oneDNN backward aborts the process (SIGABRT) on the tiny
    #: ResNets of the test suite (tests/transfer/test_beyond_pseudo.py), so the CPU keeps NCHW.
    channels_last: bool = True

    def __init__(self, arch: str = "resnet", feat_dim: int = 80, base_channels: int = 32,
                 blocks: list[int] = (3, 4, 6, 3), strides: list[int] = (1, 2, 2, 2),
                 downsample_time: bool = True, embed_dim: int = 256, embed_bn: bool = False):
        super().__init__()
        if len(blocks) != len(strides):
            raise ValueError(f"blocks {list(blocks)} and strides {list(strides)} differ in length")
        self.config = dict(arch=arch, feat_dim=feat_dim, base_channels=base_channels,
                           blocks=list(blocks), strides=list(strides),
                           downsample_time=downsample_time, embed_dim=embed_dim,
                           embed_bn=embed_bn)
        self.feat_dim, self.embed_dim = feat_dim, embed_dim
        self.conv1 = nn.Conv2d(1, base_channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(base_channels)
        self.relu = nn.ReLU(inplace=True)
        self.time_strides = []
        stages, in_ch, freq = [], base_channels, feat_dim
        for i, (n, s) in enumerate(zip(blocks, strides)):
            out_ch = base_channels * 2 ** i
            ts = s if downsample_time else 1
            layer = [BasicBlock(in_ch, out_ch, (s, ts))]
            layer += [BasicBlock(out_ch, out_ch, (1, 1)) for _ in range(n - 1)]
            stages.append(nn.ModuleList(layer))
            self.time_strides.append(ts)
            in_ch, freq = out_ch, (freq + s - 1) // s
        self.stages = nn.ModuleList(stages)
        self.pool = StatsPool()
        self.pool_dim = 2 * in_ch * freq
        self.embedding = nn.Linear(self.pool_dim, embed_dim)
        self.embedding_bn = nn.BatchNorm1d(embed_dim) if embed_bn else None

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """feats [B, T, F], lengths [B] (valid frames) -> embeddings [B, embed_dim]."""
        check_feats(feats, self.feat_dim)
        mask = self.frame_mask(lengths, feats)
        x = apply_mask(feats.transpose(1, 2).unsqueeze(1), mask)        # [B, 1, F, T]
        x = apply_mask(self.relu(self.bn1(self.conv1(x))), mask)
        if self.channels_last and x.is_cuda:  # after conv1: a one-channel input has no channel order
            x = x.contiguous(memory_format=torch.channels_last)
        for stage, ts in zip(self.stages, self.time_strides):
            if mask is not None and ts > 1:  # lengths valid by construction: no check, no host sync
                lengths = downsample_lengths(lengths.to(feats.device), ts)
                mask = torch.arange((x.shape[-1] + ts - 1) // ts, device=feats.device)[None, :] < lengths[:, None]
            for block in stage:
                x = block(x, mask)
        x = x.flatten(1, 2)                                              # [B, C*F', T']
        emb = self.embedding(self.pool(x, mask))
        if self.embedding_bn is not None:
            emb = self.embedding_bn(emb)
        return emb
