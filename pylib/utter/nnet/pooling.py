"""Pooling over time with padding masks: mean+std statistics and attentive statistics (ECAPA).

Every function here takes a frame mask so that padded frames never change the result.
"""
from __future__ import annotations

import torch
from torch import nn


def length_mask(lengths: torch.Tensor | None, max_len: int, batch: int | None = None,
                device: torch.device | None = None, *, skip_full: bool = True) -> torch.Tensor | None:
    """[B, T] bool mask of valid frames from lengths; None when every frame is valid.

    With ``skip_full`` (the default), a batch whose every length equals ``max_len`` (DINO
    crops, fixed-length chunks) gets None, so the networks skip masking altogether: the
    same result as multiplying by a mask of ones, without the work. ``skip_full=False``
    returns the all-true mask instead (to test or time the masked path). The lengths are
    checked with one device-to-host copy (their min and max together).

    Raises ValueError if a length is below 1 or above max_len.
    """
    if lengths is None:
        return None
    if lengths.dim() != 1 or (batch is not None and lengths.numel() != batch):
        raise ValueError(f"lengths must be a 1-D tensor with one entry per batch item, "
                         f"got shape {tuple(lengths.shape)} for batch {batch}")
    lengths = lengths.to(device=device if device is not None else lengths.device)
    lmin, lmax = (int(v) for v in torch.stack(torch.aminmax(lengths)).tolist())
    if lmin < 1 or lmax > max_len:
        raise ValueError(f"lengths must lie in [1, {max_len}] (the padded length), "
                         f"got min {lmin}, max {lmax}")
    if lmin == max_len and skip_full:
        return None
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def downsample_lengths(lengths: torch.Tensor | None, stride: int) -> torch.Tensor | None:
    """Valid lengths after a 'same'-padded convolution with this stride: ceil(L / stride)."""
    if lengths is None or stride == 1:
        return lengths
    return (lengths + stride - 1) // stride


def masked_mean_std(x: torch.Tensor, mask: torch.Tensor | None, eps: float = 1e-5
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of x [B, C, T] over valid frames (mask [B, T] or None).

    Two-pass (centred) variance, biased (divided by the frame count, as Kaldi's stats
    pooling), floored at eps before the square root so the gradient stays finite.
    """
    if mask is None:
        mean = x.mean(dim=-1)
        var = (x - mean.unsqueeze(-1)).pow(2).mean(dim=-1)
    else:
        m = mask.unsqueeze(1).to(x.dtype)
        n = m.sum(dim=-1)
        mean = (x * m).sum(dim=-1) / n
        var = ((x - mean.unsqueeze(-1)) * m).pow(2).sum(dim=-1) / n
    return mean, var.clamp(min=eps).sqrt()


class StatsPool(nn.Module):
    """Mean+std statistics pooling over time: [B, C, T] -> [B, 2C] (means first, then stds)."""

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        mean, std = masked_mean_std(x, mask, self.eps)
        return torch.cat([mean, std], dim=1)


class AttentiveStatsPool(nn.Module):
    """Attentive statistics pooling with global context (ECAPA-TDNN, Desplanques et al. 2020).

    Per-channel attention weights over time from [x; mean(x); std(x)] through a 1x1-conv
    bottleneck (ReLU/BN/tanh), softmax over valid frames only; output [weighted mean;
    weighted std], [B, 2C].
    """

    def __init__(self, channels: int, attention_channels: int = 128, global_context: bool = True,
                 eps: float = 1e-5):
        super().__init__()
        self.global_context = global_context
        self.eps = eps
        in_ch = channels * 3 if global_context else channels
        self.attention = nn.Sequential(
            nn.Conv1d(in_ch, attention_channels, kernel_size=1),
            nn.ReLU(),
            nn.BatchNorm1d(attention_channels),
            nn.Tanh(),
            nn.Conv1d(attention_channels, channels, kernel_size=1),
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        T = x.shape[-1]
        if self.global_context:
            mean, std = masked_mean_std(x, mask, self.eps)
            ctx = torch.cat([x, mean.unsqueeze(-1).expand(-1, -1, T),
                             std.unsqueeze(-1).expand(-1, -1, T)], dim=1)
        else:
            ctx = x
        scores = self.attention(ctx)
        if mask is not None:
            scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        w = torch.softmax(scores, dim=-1)
        mu = (w * x).sum(dim=-1)
        var = (w * (x - mu.unsqueeze(-1)).pow(2)).sum(dim=-1)
        return torch.cat([mu, var.clamp(min=self.eps).sqrt()], dim=1)
