"""Triplet (cosine distance) and Barlow Twins losses against direct loops over their formulas,
Barlow Twins against a closed form (orthonormal standardised batches give c = I, loss 0),
and the combined Lux et al. loss against its parts."""
from __future__ import annotations

import math

import pytest
import torch

from utter.train.objectives.triplet_barlow import TripletBarlowLoss, barlow_twins_loss, triplet_loss


def _cos(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def direct_triplet(a, p, n, margin):
    a, p, n = a.tolist(), p.tolist(), n.tolist()
    losses = [max(0.0, (1 - _cos(a[i], p[i])) - (1 - _cos(a[i], n[i])) + margin)
              for i in range(len(a))]
    return sum(losses) / len(losses)


def direct_barlow(z1, z2, w, eps=1e-5):
    z1, z2 = z1.tolist(), z2.tolist()
    N, D = len(z1), len(z1[0])

    def standardise(z):
        out = [[0.0] * D for _ in range(N)]
        for d in range(D):
            mean = sum(z[i][d] for i in range(N)) / N
            var = sum((z[i][d] - mean) ** 2 for i in range(N)) / N
            for i in range(N):
                out[i][d] = (z[i][d] - mean) / math.sqrt(var + eps)
        return out

    a, b = standardise(z1), standardise(z2)
    loss = 0.0
    for i in range(D):
        for j in range(D):
            c = sum(a[n][i] * b[n][j] for n in range(N)) / N
            loss += (1 - c) ** 2 if i == j else w * c * c
    return loss


def test_triplet_matches_formula():
    torch.manual_seed(0)
    a, p, n = torch.randn(3, 9, 5, dtype=torch.float64).unbind(0)
    for margin in (1.0, 0.2):
        assert triplet_loss(a, p, n, margin).item() == pytest.approx(direct_triplet(a, p, n, margin))
    # identical positive, opposite negative: distances 0 and 2, loss max(0, -2 + m)
    assert triplet_loss(a, a, -a, 1.0).item() == pytest.approx(0.0, abs=1e-12)
    assert triplet_loss(a, -a, a, 1.0).item() == pytest.approx(3.0)
    assert triplet_loss(a, p, n, reduction="none").shape == (9,)
    with pytest.raises(ValueError):
        triplet_loss(a, p, n, reduction="max")


def test_barlow_twins_matches_formula():
    torch.manual_seed(1)
    z1 = torch.randn(7, 5, dtype=torch.float64)
    z2 = z1 + 0.5 * torch.randn(7, 5, dtype=torch.float64)
    for w in (0.0051, 1.0):
        assert barlow_twins_loss(z1, z2, w).item() == pytest.approx(direct_barlow(z1, z2, w), rel=1e-9)


def test_barlow_twins_closed_form():
    """Columns orthonormal and zero-mean, scaled by sqrt(N): c = I (up to eps), loss ~ 0."""
    N, D = 16, 4
    x = torch.randn(N, D, dtype=torch.float64)
    x = x - x.mean(0)
    q, _ = torch.linalg.qr(x)
    z = math.sqrt(N) * q
    c = 1.0 / (1.0 + 1e-5)  # unit variance, eps inside the square root of each side
    assert barlow_twins_loss(z, z, 0.0051).item() == pytest.approx(D * (1 - c) ** 2, rel=1e-6)
    # perfectly anti-correlated: c = -I
    assert barlow_twins_loss(z, -z, 0.0051).item() == pytest.approx(D * (1 + c) ** 2, rel=1e-9)
    with pytest.raises(ValueError):
        barlow_twins_loss(z, z[:, :2])


@pytest.mark.parametrize("triplet_on", ["projector", "embedding"])
def test_combined_loss(triplet_on):
    torch.manual_seed(2)
    loss_fn = TripletBarlowLoss(12, lambda_bt=0.01, margin=1.0, triplet_on=triplet_on)
    a, p, n = (torch.randn(8, 12, requires_grad=True) for _ in range(3))
    loss, parts = loss_fn(a, p, n)
    proj = loss_fn.projector
    za, zp, zn = proj(a), proj(p), proj(n)
    lt = triplet_loss(za, zp, zn, 1.0) if triplet_on == "projector" else triplet_loss(a, p, n, 1.0)
    lbt = barlow_twins_loss(za, zp, 0.0051)
    torch.testing.assert_close(loss, lt + 0.01 * lbt)
    torch.testing.assert_close(parts["triplet"], lt.detach())
    torch.testing.assert_close(parts["barlow_twins"], lbt.detach())
    assert za.shape == (8, 64)
    loss.backward()
    assert a.grad is not None and p.grad is not None and n.grad is not None
    assert all(q.grad is not None for q in proj.parameters())
