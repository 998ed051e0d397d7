"""Shared pieces of the embedding networks: the interface every network keeps, and frame masking."""
from __future__ import annotations

import torch
from torch import nn

from utter.nnet.pooling import length_mask


def apply_mask(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Zero the padded frames of x ([B, C, T] or [B, C, F, T]) given a [B, T] bool mask.

    Convolutions then see zeros beyond each utterance's end, exactly as for the unpadded
    utterance with zero padding, so the embedding does not depend on the padding.
    """
    if mask is None:
        return x
    shape = (mask.shape[0],) + (1,) * (x.dim() - 2) + (mask.shape[1],)
    return x * mask.view(shape).to(x.dtype)


def check_feats(feats: torch.Tensor, feat_dim: int) -> None:
    """Raise ValueError unless feats is [B, T, feat_dim]."""
    if feats.dim() != 3 or feats.shape[-1] != feat_dim:
        raise ValueError(f"expected features [batch, frames, {feat_dim}], "
                         f"got shape {tuple(feats.shape)}")


class EmbeddingNetwork(nn.Module):
    """Base of the utterance embedding networks.

    Subclasses set ``embed_dim`` and ``config`` (the full config dict, defaults filled in,
    from which ``utter.nnet.build_network`` rebuilds the network) and list the prefixes of
    their post-pooling embedding layers in ``_last_affine_prefixes``.
    """

    embed_dim: int
    config: dict
    _last_affine_prefixes: tuple[str, ...] = ()
    #: Skip masking when every length equals the padded length (the mask would be all ones):
    #: the same embeddings, without the mask multiplications. False forces the masked path
    #: (tests, benchmarks). A run-time switch, not part of ``config``.
    skip_full_masks: bool = True

    def frame_mask(self, lengths: torch.Tensor | None, feats: torch.Tensor) -> torch.Tensor | None:
        """[B, T] frame mask of feats [B, T, F] from lengths, None when nothing is padded."""
        return length_mask(lengths, feats.shape[1], feats.shape[0], feats.device,
                           skip_full=self.skip_full_masks)

    def last_affine(self) -> list[str]:
        """Names of the parameters 'affine-first' fine-tuning trains (post-pooling layers)."""
        return [n for n, _ in self.named_parameters()
                if n.startswith(self._last_affine_prefixes)]
