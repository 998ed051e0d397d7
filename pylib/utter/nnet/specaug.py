"""SpecAugment-style masking of feature frames and bins, seeded by a passed torch.Generator.

Two kinds of time masks: SpecAugment's (Park et al. 2019; ``time_masks`` masks of random
width up to ``time_width``) and wav2vec 2.0's span masking used by Lux et al.
(``time_mask_prob`` p, ``time_mask_len`` M: about p*L/M spans of M frames start at distinct
random frames, so roughly a fraction p of the frames is masked; their setting p=0.2, M=2 was on
20 ms wav2vec2 frames, i.e. M=4 on 10 ms fbank frames for the same duration).
Masks stay inside each utterance's valid frames. Masked values become ``fill`` (0 = the mean
of mean-normalised features).
"""
from __future__ import annotations

import torch
from torch import nn


def _rand(shape: tuple[int, ...], generator: torch.Generator | None, device) -> torch.Tensor:
    """Uniform [0, 1) numbers drawn on the generator's device, moved to ``device``."""
    gdev = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gdev).to(device)


def _random_bands(n_items: int, n_masks: int, max_width: int, extent: torch.Tensor,
                  size: int, generator: torch.Generator | None, device) -> torch.Tensor:
    """[n_items, size] bool: n_masks bands of width U{0..max_width} inside [0, extent)."""
    u = _rand((2, n_items, n_masks), generator, device)
    ext = extent.view(-1, 1).to(device)
    width = torch.minimum((u[0] * (max_width + 1)).long(), ext)
    start = (u[1] * (ext - width + 1).to(u.dtype)).long()
    pos = torch.arange(size, device=device).view(1, 1, -1)
    band = (pos >= start.unsqueeze(-1)) & (pos < (start + width).unsqueeze(-1))
    return band.any(dim=1)


def span_mask(lengths: torch.Tensor, max_len: int, prob: float, span: int,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """wav2vec 2.0 span mask, [B, max_len] bool: int(prob*L/span + u) spans, u ~ U[0, 1)."""
    device = lengths.device
    B = lengths.numel()
    u = _rand((B,), generator, device)
    n_starts = (lengths - span + 1).clamp(min=0)
    num = (prob * lengths.to(u.dtype) / span + u).long().clamp(max=n_starts)
    pos = torch.arange(max_len, device=device).view(1, -1)
    score = _rand((B, max_len), generator, device)
    score = score.masked_fill(pos >= n_starts.view(-1, 1), 2.0)
    rank = score.argsort(dim=1).argsort(dim=1)
    starts = (rank < num.view(-1, 1)).to(torch.int32)
    cs = torch.nn.functional.pad(starts.cumsum(dim=1), (span, 0))
    return (cs[:, span:] - cs[:, :-span]) > 0


def spec_augment(feats: torch.Tensor, lengths: torch.Tensor | None = None, *,
                 freq_masks: int = 0, freq_width: int = 0, time_masks: int = 0,
                 time_width: int = 0, time_mask_prob: float = 0.0, time_mask_len: int = 2,
                 fill: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Masked copy of feats [B, T, F]; randomness only from ``generator`` (torch default if None)."""
    B, T, Fdim = feats.shape
    device = feats.device
    if lengths is None:
        lengths = torch.full((B,), T, dtype=torch.long, device=device)
    lengths = lengths.to(device)
    tmask = torch.zeros(B, T, dtype=torch.bool, device=device)
    if time_masks > 0 and time_width > 0:
        tmask |= _random_bands(B, time_masks, time_width, lengths, T, generator, device)
    if time_mask_prob > 0:
        tmask |= span_mask(lengths, T, time_mask_prob, time_mask_len, generator)
    mask = tmask.unsqueeze(-1)
    if freq_masks > 0 and freq_width > 0:
        fext = torch.full((B,), Fdim, dtype=torch.long, device=device)
        fmask = _random_bands(B, freq_masks, freq_width, fext, Fdim, generator, device)
        valid = torch.arange(T, device=device).view(1, -1) < lengths.view(-1, 1)
        mask = mask | (fmask.unsqueeze(1) & valid.unsqueeze(-1))
    return feats.masked_fill(mask, fill)


class SpecAugment(nn.Module):
    """Module form of ``spec_augment``; identity in eval mode."""

    def __init__(self, freq_masks: int = 0, freq_width: int = 0, time_masks: int = 0,
                 time_width: int = 0, time_mask_prob: float = 0.0, time_mask_len: int = 2,
                 fill: float = 0.0):
        super().__init__()
        self.opts = dict(freq_masks=freq_masks, freq_width=freq_width, time_masks=time_masks,
                         time_width=time_width, time_mask_prob=time_mask_prob,
                         time_mask_len=time_mask_len, fill=fill)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        if not self.training:
            return feats
        return spec_augment(feats, lengths, generator=generator, **self.opts)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.opts.items())
