"""Contrastive + non-contrastive losses of Lux et al. (SLT 2022): triplet loss on cosine
distance and Barlow Twins (Zbontar et al. 2021) on a projector, L = L_triplet + lambda * L_BT.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from utter.nnet.heads import Projector


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 - cos(a_i, b_i) per row, in [0, 2]."""
    return 1.0 - F.cosine_similarity(a, b, dim=-1, eps=1e-8)


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                 margin: float = 1.0, reduction: str = "mean") -> torch.Tensor:
    """mean_i max(0, d(a_i, p_i) - d(a_i, n_i) + margin), d the cosine distance."""
    losses = F.relu(cosine_distance(anchor, positive) - cosine_distance(anchor, negative) + margin)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def barlow_twins_loss(z1: torch.Tensor, z2: torch.Tensor, offdiag_weight: float = 0.0051,
                      eps: float = 1e-5) -> torch.Tensor:
    """sum_i (1 - c_ii)^2 + w * sum_{i != j} c_ij^2, c = z1n^T z2n / N.

    z1n, z2n are z standardised per dimension over the batch as the reference does with
    BatchNorm1d(affine=False) in training mode: biased variance, eps inside the square root;
    c is divided by the batch size N (facebookresearch/barlowtwins, and Lux et al.'s code).
    """
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"Barlow Twins needs two [N, D] batches, got {tuple(z1.shape)} "
                         f"and {tuple(z2.shape)}")
    n = z1.shape[0]
    if n < 2:
        raise ValueError("Barlow Twins needs a batch of at least 2")

    def standardise(z: torch.Tensor) -> torch.Tensor:
        z = z - z.mean(dim=0)
        return z / (z.pow(2).mean(dim=0) + eps).sqrt()

    c = standardise(z1).T @ standardise(z2) / n
    diag = torch.diagonal(c)
    on = (1.0 - diag).pow(2).sum()
    off = c.pow(2).sum() - diag.pow(2).sum()
    return on + offdiag_weight * off


class ContrastiveNonContrastiveLoss(nn.Module):
    """L = L_triplet + lambda_bt * L_BT (Lux et al.), owning the Barlow Twins projector.

    Barlow Twins compares projector(anchor) with projector(positive) (each batch through the
    projector separately, so its BatchNorm statistics are per batch, as in the reference
    code). ``triplet_on`` picks
    where the triplet loss is taken: 'projector' (Lux et al.'s code: all three embeddings
    through the projector) or 'embedding' (the network's embeddings directly).
    """

    def __init__(self, embed_dim: int, lambda_bt: float = 0.01, margin: float = 1.0,
                 proj_dim: int = 64, proj_layers: int = 3, offdiag_weight: float = 0.0051,
                 triplet_on: str = "projector"):
        super().__init__()
        if triplet_on not in ("projector", "embedding"):
            raise ValueError(f"triplet_on must be 'projector' or 'embedding', got {triplet_on!r}")
        self.projector = Projector(embed_dim, proj_dim, proj_layers)
        self.lambda_bt, self.margin = lambda_bt, margin
        self.offdiag_weight, self.triplet_on = offdiag_weight, triplet_on

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(total loss, {'triplet', 'barlow_twins'} detached parts) from three [N, D] batches."""
        za, zp = self.projector(anchor), self.projector(positive)
        if self.triplet_on == "projector":
            lt = triplet_loss(za, zp, self.projector(negative), self.margin)
        else:
            lt = triplet_loss(anchor, positive, negative, self.margin)
        lbt = barlow_twins_loss(za, zp, self.offdiag_weight)
        loss = lt + self.lambda_bt * lbt
        return loss, {"triplet": lt.detach(), "barlow_twins": lbt.detach()}
