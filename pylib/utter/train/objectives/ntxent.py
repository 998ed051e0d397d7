"""Contrastive self-supervised learning with in-batch negatives: SimCLR's NT-Xent (Chen et al. 2020).

The baseline the DINO paper argues against (for speakers: Zhang, Zou, Wang, ICASSP 2021; WeSpeaker's
SSL recipe). Each utterance gives ``num_views`` crops (the ``global`` views of the same multi-crop
batches DINO uses, here all of one length); network + projection head map every crop to a point on
the unit sphere, and each crop must pick out the other crops of its utterance among every crop of
the batch, at temperature ``tau``. With V views of B utterances (N = V B crops, view-major), anchor
a, one of its positives p (the same utterance, another view):

    l(a, p) = -log( exp(s(a, p) / tau) / sum_{k != a} exp(s(a, k) / tau) ),   s = cosine similarity,

and the loss is the mean of l over every (anchor, positive) pair: with V = 2 exactly NT-Xent (each
anchor, one positive, 2B - 2 negatives). Negatives are the crops of this process's batch (no
gathering across processes). Embeddings for extraction are the network's, before the projection
head, as in SimCLR.

Trained by ``python -m utter.bin.train_ssl --objective ntxent`` (registered below); in a recipe, the
systems entry ``ssl:ntxent`` with ``conf/ntxent.conf``.
"""
from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from utter.nnet.heads import Projector
from utter.nnet.specaug import SpecAugment
from utter.train.checkpoint import CheckpointError
from utter.train.objectives.base import Objective
from utter.train.objectives.registry import CropViews, ObjectiveSpec, register_objective


def ntxent_loss(z: torch.Tensor, num_views: int, temperature: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """NT-Xent of ``z`` [num_views * B, D] (view-major: view 0 of every utterance, then view 1 ...),
    and diagnostics: ``pos_sim`` (mean cosine of the positive pairs), ``neg_sim`` (of the others) and
    ``top1`` (the share of anchors whose most similar other crop is one of their positives)."""
    if num_views < 2:
        raise ValueError(f"NT-Xent needs at least 2 views of each utterance, got {num_views}")
    if z.ndim != 2 or z.shape[0] % num_views or z.shape[0] // num_views < 2:
        raise ValueError(f"NT-Xent needs [views x utterances, dim] with at least 2 utterances (the other is "
                         f"the negative), got {tuple(z.shape)} for {num_views} views")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    n = z.shape[0]
    utt = torch.arange(n, device=z.device) % (n // num_views)
    z = F.normalize(z.float(), dim=-1)
    sim = z @ z.t()
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    pos = (utt[:, None] == utt[None, :]) & ~self_mask
    logits = (sim / temperature).masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    loss = -log_prob[pos].mean()
    with torch.no_grad():
        neg = ~pos & ~self_mask
        nearest = logits.argmax(dim=1)
        stats = {"pos_sim": sim[pos].mean(), "neg_sim": sim[neg].mean(),
                 "top1": pos[torch.arange(n, device=z.device), nearest].float().mean()}
    return loss, stats


class NTXentObjective(Objective):
    """SimCLR: the network and a projection head (Linear-BN-ReLU-Linear, :class:`~utter.nnet.heads.Projector`)
    trained by :func:`ntxent_loss` on the ``global`` crops of multi-crop batches (``num_views`` per
    utterance, view-major). The network alone is exported (``model``)."""

    def __init__(self, network: nn.Module, *, num_views: int = 2, proj_dim: int = 128, proj_layers: int = 2,
                 temperature: float = 0.1, specaug: SpecAugment | None = None) -> None:
        if num_views < 2:
            raise ValueError(f"--num-views must be at least 2 (the positives), got {num_views}")
        self.model = network
        self.projection = Projector(network.embed_dim, dim=proj_dim, nlayers=proj_layers)
        self.num_views, self.temperature, self.specaug = num_views, temperature, specaug
        self.head_config = {"proj_dim": proj_dim, "proj_layers": proj_layers}

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model, "projection": self.projection}

    def loss(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        feats, lengths = batch["global"], batch["global_lengths"]
        if self.specaug is not None:
            feats = self.specaug(feats, lengths)
        loss, stats = ntxent_loss(self.projection(self.model(feats, lengths)), self.num_views, self.temperature)
        return loss, {k: float(v) for k, v in stats.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"head": dict(self.head_config), "num_views": self.num_views, "temperature": self.temperature}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Check the saved projection head (the temperature may change on resume)."""
        if state.get("head") != self.head_config:
            raise CheckpointError(f"checkpoint projection head {state.get('head')} differs from this run's "
                                  f"{self.head_config}")


def add_arguments(group: argparse._ArgumentGroup) -> None:
    """The options of ``train_ssl --objective ntxent``."""
    group.add_argument("--crop-frames", type=int, default=200, help="frames of each view (crop)")
    group.add_argument("--num-views", type=int, default=2, help="crops per utterance (positives of each other)")
    group.add_argument("--min-frames", type=int, default=50,
                       help="leave out utterances with fewer voiced frames (0: --crop-frames); shorter ones than a "
                            "crop give crops capped at their length")
    group.add_argument("--temperature", type=float, default=0.1, help="softmax temperature tau of NT-Xent")
    group.add_argument("--proj-dim", type=int, default=128, help="projection head width and output dimension")
    group.add_argument("--proj-layers", type=int, default=2, help="projection head linear layers")


def _views(args: argparse.Namespace) -> CropViews:
    return CropViews(global_frames=args.crop_frames, num_global=args.num_views, min_frames=args.min_frames)


def _build(network: nn.Module, args: argparse.Namespace, specaug: SpecAugment | None) -> NTXentObjective:
    return NTXentObjective(network, num_views=args.num_views, proj_dim=args.proj_dim, proj_layers=args.proj_layers,
                           temperature=args.temperature, specaug=specaug)


SPEC = register_objective(ObjectiveSpec(
    name="ntxent", summary="SimCLR NT-Xent, in-batch negatives", add_arguments=add_arguments,
    views=_views, build=_build))
