"""Lux et al.'s step 1 (SLT 2022): improve a pretrained network's embedding space with
L = L_triplet + lambda * L_BT.

The losses: a triplet loss on cosine distance (margin 1.0) and Barlow Twins (Zbontar et al.
2021) on a projector, combined in :class:`TripletBarlowLoss`.
:class:`TripletBarlowObjective` runs them in the one trainer over class-aware triplet batches
(:mod:`utter.data.triplets`): time masking on the inputs, the network embeds anchor, positive
and negative crops in one forward pass, and the loss takes the three embeddings. The fold
runner that trains one model per fold is :mod:`utter.transfer.triplet_barlow_folds`.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from utter.data.triplets import GROUPS
from utter.nnet.heads import Projector
from utter.nnet.specaug import SpecAugment
from utter.nnet.ssl_frontends import input_kind
from utter.train.objectives.base import Objective


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


class TripletBarlowLoss(nn.Module):
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


# ---------------------------------------------------------------- objective

class TripletBarlowObjective(Objective):
    """Triplet (cosine, margin) + lambda * Barlow Twins (projector) over triplet batches.

    ``time_mask_prob``/``time_mask_len``: wav2vec 2.0 span masking of the inputs in training
    (fbank frames through SpecAugment; for waveform networks on their 20 ms encoder frames).
    ``time_mask_len`` 0 picks 2 encoder frames for waveform networks (Lux et al.'s setting)
    and 4 fbank frames (the same 40 ms) otherwise.
    """

    def __init__(self, network: nn.Module, *, lambda_bt: float = 0.01, margin: float = 1.0, proj_dim: int = 64,
                 proj_layers: int = 3, offdiag_weight: float = 0.0051, triplet_on: str = "projector",
                 time_mask_prob: float = 0.2, time_mask_len: int = 0):
        self.model = network
        self.criterion = TripletBarlowLoss(network.embed_dim, lambda_bt=lambda_bt, margin=margin,
                                                       proj_dim=proj_dim, proj_layers=proj_layers,
                                                       offdiag_weight=offdiag_weight, triplet_on=triplet_on)
        self.waveform = input_kind(network) == "waveform"
        span = time_mask_len or (2 if self.waveform else 4)
        self.specaug = None
        if time_mask_prob > 0:
            if self.waveform:
                network.set_time_masking(time_mask_prob, span)
            else:
                self.specaug = SpecAugment(time_mask_prob=time_mask_prob, time_mask_len=span)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model, "criterion": self.criterion}

    def embed_groups(self, batch: Mapping[str, Any]) -> list[torch.Tensor]:
        """Embeddings of the anchor, positive and negative crops (one padded forward pass)."""
        xs = [batch[g] for g in GROUPS]
        lens = [batch[g + "_lengths"] for g in GROUPS]
        T = max(x.shape[1] for x in xs)
        x = torch.cat([F.pad(x, (0, 0, 0, T - x.shape[1])) for x in xs])
        lengths = torch.cat(lens)
        if self.specaug is not None and self.model.training:
            x = self.specaug(x, lengths)
        return list(self.model(x, lengths).chunk(3))

    def loss(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        a, p, n = self.embed_groups(batch)
        loss, parts = self.criterion(a, p, n)
        with torch.no_grad():
            cos = F.cosine_similarity
            gap = float((cos(a, p) - cos(a, n)).mean())
        return loss, {"triplet": float(parts["triplet"]), "barlow_twins": float(parts["barlow_twins"]),
                      "cos_gap": gap}
