"""The NT-Xent objective (utter.train.objectives.ntxent), trained by the generic program train_ssl.

Reference for the loss: SimCLR's definition (Chen et al. 2020, eq. 1) computed here by brute force,
one (anchor, positive) pair at a time with explicit loops over every other crop, in float64.
"""
from __future__ import annotations

import math

import pytest
import torch
from test_train_stages import FEAT_DIM, TINY_NET, write_feature_set

from utter.bin import train_ssl
from utter.bin.common import run
from utter.train.checkpoint import load_checkpoint, load_embedder
from utter.train.objectives.ntxent import ntxent_loss
from utter.train.objectives.registry import objective_names, objective_spec


def brute_force_ntxent(z: torch.Tensor, num_views: int, tau: float) -> float:
    """Mean over anchors a and positives p (same utterance, another view) of
    -log(exp(cos(a, p) / tau) / sum_{k != a} exp(cos(a, k) / tau)), by loops."""
    n = z.shape[0]
    b = n // num_views
    rows = [z[i].double() for i in range(n)]

    def cos(i: int, j: int) -> float:
        return float(rows[i] @ rows[j] / (rows[i].norm() * rows[j].norm()))

    terms = []
    for a in range(n):
        denom = sum(math.exp(cos(a, k) / tau) for k in range(n) if k != a)
        for p in range(n):
            if p != a and p % b == a % b:
                terms.append(-math.log(math.exp(cos(a, p) / tau) / denom))
    return sum(terms) / len(terms)


@pytest.mark.parametrize("num_views,batch,tau", [(2, 5, 0.1), (3, 4, 0.5), (2, 2, 1.0)])
def test_loss_matches_brute_force(num_views, batch, tau):
    z = torch.randn(num_views * batch, 7, generator=torch.Generator().manual_seed(num_views * 10 + batch))
    loss, stats = ntxent_loss(z, num_views, tau)
    assert float(loss) == pytest.approx(brute_force_ntxent(z, num_views, tau), rel=1e-5)
    # top1 by loops: the nearest other crop is one of the anchor's positives
    n, zn = z.shape[0], torch.nn.functional.normalize(z, dim=1)
    hits = 0
    for a in range(n):
        nearest = max((k for k in range(n) if k != a), key=lambda k: float(zn[a] @ zn[k]))
        hits += nearest % batch == a % batch
    assert float(stats["top1"]) == pytest.approx(hits / n)


def test_loss_low_for_separated_views_and_gradients_flow():
    base = torch.eye(4) * 5.0
    together = torch.cat([base, base + 0.01])          # each utterance's two views agree, utterances orthogonal
    apart = torch.cat([base, base.roll(1, dims=0)])    # each view agrees with another utterance's
    assert float(ntxent_loss(together, 2, 0.1)[0]) < 0.01 < float(ntxent_loss(apart, 2, 0.1)[0])
    z = torch.randn(6, 3, requires_grad=True)
    ntxent_loss(z, 2, 0.2)[0].backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


@pytest.mark.parametrize("shape,views,tau,needle", [((6, 3), 1, 0.1, "at least 2 views"),
                                                    ((5, 3), 2, 0.1, "views x utterances"),
                                                    ((2, 3), 2, 0.1, "at least 2 utterances"),
                                                    ((4, 3), 2, 0.0, "temperature")])
def test_bad_input_is_named(shape, views, tau, needle):
    with pytest.raises(ValueError, match=needle):
        ntxent_loss(torch.randn(*shape), views, tau)


def test_registered_and_unknown_names():
    assert "ntxent" in objective_names()
    assert objective_spec("ntxent").name == "ntxent"
    with pytest.raises(ValueError, match="unknown objective 'nosuch'.*ntxent"):
        objective_spec("nosuch")


def test_train_ssl_trains_ntxent(tmp_path):
    data = write_feature_set(tmp_path / "train")
    exp = tmp_path / "exp"
    args = ["--objective", "ntxent", *TINY_NET, "--crop-frames", "100", "--proj-dim", "16", "--batch-size", "4",
            "--temperature", "0.2", "--warmup-steps", "1", "--max-steps", "3", "--log-interval", "1",
            "--exp-dir", str(exp), str(data)]
    assert run(train_ssl.main, train_ssl.build_parser(args), args) == 0
    state = load_checkpoint(exp / "final.pt")
    assert state["step"] == 3
    assert state["extra"]["objective"] == {"head": {"proj_dim": 16, "proj_layers": 2}, "num_views": 2,
                                           "temperature": 0.2}
    net = load_embedder(exp / "final.pt")
    with torch.no_grad():
        assert net(torch.randn(2, 100, FEAT_DIM), torch.tensor([100, 80])).shape == (2, 24)
    log = (exp / "train_log.tsv").read_text().splitlines()
    assert "top1" in log[0] and len(log) == 4
