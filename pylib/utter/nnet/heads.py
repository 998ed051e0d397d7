"""Heads on top of an embedding network: AAM-softmax, DINO head, Lux projector, classifier MLP."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class AAMSoftmax(nn.Module):
    """Additive angular margin softmax (ArcFace; Deng et al. 2019), as WeSpeaker's ArcMarginProduct.

    Target logit s*cos(theta + m), others s*cos(theta), theta the angle between the
    embedding and the class weight. cos(theta + m) is not monotonic once theta + m > pi, so
    (ArcFace's handling): with ``easy_margin`` the margin applies only where cos(theta) > 0;
    otherwise, where cos(theta) <= cos(pi - m) the target logit becomes
    s*(cos(theta) - m*sin(m)) (a linear continuation that keeps it decreasing in theta).
    ``set_margin`` changes m (margin warm-up).
    """

    def __init__(self, embed_dim: int, num_classes: int, scale: float = 30.0,
                 margin: float = 0.3, easy_margin: bool = False):
        super().__init__()
        self.embed_dim, self.num_classes = embed_dim, num_classes
        self.scale, self.easy_margin = scale, easy_margin
        self.weight = nn.Parameter(torch.empty(num_classes, embed_dim))
        nn.init.xavier_uniform_(self.weight)
        self.set_margin(margin)

    def set_margin(self, margin: float) -> None:
        """Set the angular margin m (radians), e.g. from a warm-up schedule."""
        self.margin = float(margin)
        self.cos_m, self.sin_m = math.cos(self.margin), math.sin(self.margin)
        self.th = math.cos(math.pi - self.margin)
        self.mm = math.sin(math.pi - self.margin) * self.margin

    def cosine(self, emb: torch.Tensor) -> torch.Tensor:
        """Cosine between each embedding and each class weight, [B, num_classes], in float32
        even under autocast (the margin arithmetic near cos = +-1 needs the precision)."""
        with torch.autocast(device_type=emb.device.type, enabled=False):
            w = self.weight.float() if self.weight.dtype in (torch.float16, torch.bfloat16) \
                else self.weight
            x = emb.float() if emb.dtype in (torch.float16, torch.bfloat16) else emb
            return F.linear(F.normalize(x, dim=1), F.normalize(w, dim=1))

    def forward(self, emb: torch.Tensor, labels: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits [B, C], cross-entropy loss); without labels, s*cos logits and loss None."""
        cos = self.cosine(emb)
        if labels is None:
            return self.scale * cos, None
        sin = (1.0 - cos * cos).clamp(min=1e-12).sqrt()
        phi = cos * self.cos_m - sin * self.sin_m
        if self.easy_margin:
            phi = torch.where(cos > 0, phi, cos)
        else:
            phi = torch.where(cos > self.th, phi, cos - self.mm)
        target = F.one_hot(labels, self.num_classes).to(torch.bool)
        logits = self.scale * torch.where(target, phi, cos)
        return logits, F.cross_entropy(logits, labels)


class NormedLinear(nn.Module):
    """Linear layer without bias, weight g * v / ||v|| per output row (explicit weight norm).

    Replaces the deprecated ``torch.nn.utils.weight_norm``: plain parameters ``weight_v``
    and ``weight_g``, so DDP, EMA and state_dict round trips need nothing special.
    With ``freeze_gain`` the gain g stays 1 (requires_grad False), as DINO's
    norm_last_layer.
    """

    def __init__(self, in_dim: int, out_dim: int, freeze_gain: bool = True):
        super().__init__()
        self.weight_v = nn.Parameter(torch.empty(out_dim, in_dim))
        nn.init.trunc_normal_(self.weight_v, std=0.02)
        self.weight_g = nn.Parameter(torch.ones(out_dim, 1), requires_grad=not freeze_gain)

    def weight(self) -> torch.Tensor:
        return self.weight_g * self.weight_v / self.weight_v.norm(dim=1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight())


class DINOHead(nn.Module):
    """DINO projection head (Caron et al. 2021): MLP (GELU) -> bottleneck -> L2 norm -> normed linear.

    ``nlayers`` linear layers in the MLP (hidden, ..., bottleneck), then the weight-normalised
    last layer to out_dim (its gain frozen at 1 when norm_last_layer).
    """

    def __init__(self, in_dim: int, out_dim: int = 65536, hidden: int = 2048,
                 bottleneck: int = 256, nlayers: int = 3, norm_last_layer: bool = True,
                 use_bn: bool = False):
        super().__init__()
        if nlayers < 1:
            raise ValueError(f"DINOHead needs nlayers >= 1, got {nlayers}")
        layers: list[nn.Module] = []
        dims = [in_dim] + [hidden] * (nlayers - 1) + [bottleneck]
        for i in range(nlayers):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < nlayers - 1:
                if use_bn:
                    layers.append(nn.BatchNorm1d(dims[i + 1]))
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.last_layer = NormedLinear(bottleneck, out_dim, freeze_gain=norm_last_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.normalize(self.mlp(x), dim=-1, eps=1e-6)
        return self.last_layer(x)

    def cancel_last_layer_gradients(self) -> None:
        """Drop the last layer's gradients (DINO's freeze_last_layer, the first epoch)."""
        for p in self.last_layer.parameters():
            p.grad = None


def cancel_last_layer_gradients(model: nn.Module) -> None:
    """Cancel the last-layer gradients of every DINOHead inside model (DDP-wrapped or not)."""
    for m in model.modules():
        if isinstance(m, DINOHead):
            m.cancel_last_layer_gradients()


class Projector(nn.Module):
    """Barlow Twins projector as in Lux et al.'s code: nlayers bias-free linears to dim,
    BatchNorm + ReLU between them (not after the last)."""

    def __init__(self, in_dim: int, dim: int = 64, nlayers: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(nlayers):
            layers.append(nn.Linear(in_dim if i == 0 else dim, dim, bias=False))
            if i < nlayers - 1:
                layers += [nn.BatchNorm1d(dim), nn.ReLU(inplace=True)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ClassifierHead(nn.Module):
    """Linear classifier, or an MLP when ``hidden`` lists layer sizes (ReLU, dropout).

    ``input_dropout`` is applied to the embedding, ``dropout`` after each hidden layer.
    """

    def __init__(self, in_dim: int, num_classes: int, hidden: Sequence[int] = (),
                 dropout: float = 0.0, input_dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        if input_dropout > 0:
            layers.append(nn.Dropout(input_dropout))
        d = in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU(inplace=True)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            d = h
        layers.append(nn.Linear(d, num_classes))
        self.net = nn.Sequential(*layers)
        self.in_dim, self.num_classes = in_dim, num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
