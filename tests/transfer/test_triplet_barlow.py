"""Lux et al. step 1 and 2: triplet sampler properties, the objective's loss against the formulas,
and both stages end to end on synthetic kaldiio features with folds."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from utter.data.triplets import TripletPlan

# ---------------------------------------------------------------- sampler


def _plan_inputs():
    """4 classes: 'a' spoken by 3 speakers, 'b' by 2, 'c' by one speaker (2 utterances), 'd' one utterance."""
    rows = []
    for spk in ("s1", "s2", "s3"):
        rows += [(f"{spk}-a{i}", "a", spk) for i in range(3)]
    for spk in ("s1", "s2"):
        rows += [(f"{spk}-b{i}", "b", spk) for i in range(2)]
    rows += [("s3-c0", "c", "s3"), ("s3-c1", "c", "s3"), ("s1-d0", "d", "s1")]
    lab = {"a": 0, "b": 1, "c": 2, "d": 3}
    sources = {u: [u] for u, _, _ in rows}
    return (sources, {u: 100 + 7 * i for i, (u, _, _) in enumerate(rows)}, {u: lab[c] for u, c, _ in rows},
            {u: s for u, _, s in rows})


def _specs(plan, epochs=range(6)):
    out = []
    for e in epochs:
        perm = plan.prepare(e)
        out += [plan.batch(e, perm, g) for g in range(plan.num_global_batches(e))]
    return out


def test_sampler_negatives_positives_and_speakers():
    sources, kept, labels, spk = _plan_inputs()
    plan = TripletPlan(sources, kept, labels, spk, batch_size=4, chunk_frames=50, seed=3)
    n_seen = 0
    for spec in _specs(plan, range(20)):
        assert len(spec.groups["anchor"]) == len(spec.groups["positive"]) == len(spec.groups["negative"]) == 4
        for a, p, n in zip(spec.groups["anchor"], spec.groups["positive"], spec.groups["negative"]):
            assert labels[n.utt] != labels[a.utt], "negative of the anchor's class"
            assert labels[p.utt] == labels[a.utt]
            others = [u for u in sources if labels[u] == labels[a.utt] and spk[u] != spk[a.utt]]
            if others:
                assert spk[p.utt] != spk[a.utt], f"{a.utt}: positive from the same speaker"
            elif labels[a.utt] == 2:   # class c: one speaker, two utterances -> the other utterance
                assert p.utt != a.utt
            elif labels[a.utt] == 3:   # class d: a single utterance -> itself
                assert p.utt == a.utt
            for c in (a, p, n):
                assert c.length == min(50, kept[c.utt]) and 0 <= c.start <= kept[c.utt] - c.length
            n_seen += 1
    assert n_seen == 20 * (18 // 4) * 4  # every epoch: 18 anchors in batches of 4
    # every class is used as a negative
    negs = {labels[n.utt] for s in _specs(plan) for n in s.groups["negative"]}
    assert negs == {0, 1, 2, 3}


def test_sampler_deterministic_and_epochs_differ():
    sources, kept, labels, spk = _plan_inputs()
    a = _specs(TripletPlan(sources, kept, labels, spk, batch_size=4, seed=5))
    b = _specs(TripletPlan(sources, kept, labels, spk, batch_size=4, seed=5))
    c = _specs(TripletPlan(sources, kept, labels, spk, batch_size=4, seed=6))
    assert [s.groups for s in a] == [s.groups for s in b]
    assert [s.groups for s in a] != [s.groups for s in c]
    assert a[0].groups != a[4].groups  # epoch 0 vs epoch 1 (4 batches per epoch)


def test_sampler_needs_two_classes():
    sources, kept, labels, spk = _plan_inputs()
    with pytest.raises(ValueError, match="two classes"):
        TripletPlan(sources, kept, {u: 0 for u in labels}, spk, batch_size=4)


# ---------------------------------------------------------------- objective


def test_objective_loss_is_triplet_plus_lambda_bt():
    from utter.nnet import build_network
    from utter.train.objectives.triplet_barlow import TripletBarlowObjective

    torch.manual_seed(0)
    net = build_network({"arch": "tdnn", "feat_dim": 10, "channels": [16, 16, 16, 16, 32], "embed_dim": 12})
    obj = TripletBarlowObjective(net, lambda_bt=0.3, time_mask_prob=0.0)
    net.eval()                       # fixed batch-norm statistics, so per-group forwards match the joint one
    obj.criterion.train()
    g = torch.Generator().manual_seed(1)
    batch = {}
    for name, T in (("anchor", 40), ("positive", 35), ("negative", 40)):
        batch[name] = torch.randn(6, T, 10, generator=g)
        batch[name + "_lengths"] = torch.tensor([T, T - 3, T, T - 10, T, T])
    loss, metrics = obj.loss(batch)
    emb = [net(batch[k], batch[k + "_lengths"]) for k in ("anchor", "positive", "negative")]
    za, zp, zn = (obj.criterion.projector(e) for e in emb)

    def cosd(x, y):
        return 1 - (x * y).sum(1) / (x.norm(dim=1) * y.norm(dim=1))

    trip = torch.clamp(cosd(za, zp) - cosd(za, zn) + 1.0, min=0).mean()
    n = za.shape[0]
    s1 = (za - za.mean(0)) / torch.sqrt(za.var(0, unbiased=False) + 1e-5)
    s2 = (zp - zp.mean(0)) / torch.sqrt(zp.var(0, unbiased=False) + 1e-5)
    c = s1.T @ s2 / n
    bt = sum((1 - c[i, i]) ** 2 if i == j else 0.0051 * c[i, j] ** 2
             for i in range(c.shape[0]) for j in range(c.shape[1]))
    assert float(loss.detach()) == pytest.approx(float((trip + 0.3 * bt).detach()), rel=1e-5)
    assert metrics["triplet"] == pytest.approx(float(trip.detach()), rel=1e-5)
    assert metrics["barlow_twins"] == pytest.approx(float(bt.detach()), rel=1e-5)


def test_objective_time_masking_changes_inputs_in_training_only():
    from utter.nnet import build_network
    from utter.train.objectives.triplet_barlow import TripletBarlowObjective

    torch.manual_seed(0)
    net = build_network({"arch": "tdnn", "feat_dim": 10, "channels": [8, 8, 8, 8, 16], "embed_dim": 8})
    obj = TripletBarlowObjective(net, time_mask_prob=0.2)
    assert obj.specaug is not None and obj.specaug.opts["time_mask_len"] == 4
    seen = []
    net.forward = lambda x, lengths: seen.append(x.clone()) or torch.ones(x.shape[0], 8)  # noqa: ARG005
    x = torch.randn(4, 100, 10) + 5
    batch = {k: x for k in ("anchor", "positive", "negative")}
    batch.update({k + "_lengths": torch.full((4,), 100) for k in ("anchor", "positive", "negative")})
    net.train()
    obj.embed_groups(batch)
    frac = float((seen[-1] == 0).all(dim=2).float().mean())
    assert 0.1 < frac < 0.3
    net.eval()
    obj.embed_groups(batch)
    assert torch.equal(seen[-1], torch.cat([x, x, x]))


# ---------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """Features whose class (4 emotions) sets per-dimension spreads (sliding CMN keeps those) and
    whose speaker (6) sets spreads and a mean; 2 folds by speaker."""
    import kaldiio

    from utter.nnet import build_network
    from utter.train.checkpoint import save_checkpoint

    root = tmp_path_factory.mktemp("lux")
    data = root / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    dim, emos, spks = 12, ["ang", "hap", "neu", "sad"], [f"spk{i}" for i in range(1, 7)]
    emo_scale = {e: rng.uniform(0.3, 2.5, size=dim) for e in emos}
    spk_scale = {s: rng.uniform(0.85, 1.2, size=dim) for s in spks}
    spk_mean = {s: rng.normal(size=dim) * 1.5 for s in spks}
    utt2spk, utt2emo, frames = {}, {}, {}
    with kaldiio.WriteHelper(f"ark,scp:{data}/feats.ark,{data}/feats.scp") as w:
        for s in spks:
            for e in emos:
                for i in range(3):
                    u = f"{s}-{e}{i}"
                    T = int(rng.integers(60, 120))
                    w(u, (spk_mean[s] + rng.normal(size=(T, dim)) * emo_scale[e] * spk_scale[s]).astype(np.float32))
                    utt2spk[u], utt2emo[u], frames[u] = s, e, T
    for name, table in (("utt2spk", utt2spk), ("utt2emo", utt2emo), ("utt2num_frames", frames)):
        (data / name).write_text("".join(f"{k} {v}\n" for k, v in sorted(table.items())))
    (data / "spk2utt").write_text("".join(f"{s} {' '.join(sorted(u for u in utt2spk if utt2spk[u] == s))}\n"
                                          for s in spks))
    for k, (test, dev) in enumerate((("spk1", "spk2"), ("spk4", "spk5")), 1):
        fd = data / "folds" / str(k)
        fd.mkdir(parents=True)
        parts = {"test": [u for u in sorted(utt2spk) if utt2spk[u] == test],
                 "dev": [u for u in sorted(utt2spk) if utt2spk[u] == dev],
                 "train": [u for u in sorted(utt2spk) if utt2spk[u] not in (test, dev)]}
        for name, us in parts.items():
            (fd / name).write_text("".join(u + "\n" for u in us))
    torch.manual_seed(0)
    net = build_network({"arch": "tdnn", "feat_dim": dim, "channels": [24, 24, 24, 24, 48], "embed_dim": 16})
    model = root / "pretrained.pt"
    save_checkpoint(model, {"format_version": 1, "arch_config": net.config, "model": net.state_dict(),
                            "extra": {}, "optimizer": None, "scheduler": None, "step": 0, "epoch": 0, "rng": []})
    return root, data, model


def test_step1_then_step2_end_to_end(synth, capsys):
    from utter.bin import train_adapter, train_triplet_barlow
    from utter.bin.common import run
    from utter.train.checkpoint import load_embedder as load_network

    root, data, model = synth
    exp = root / "exp" / "triplet_barlow"
    argv = ["--init-model", str(model), "--exp-dir", str(exp), "--apply-vad", "false", "--batch-size", "8",
            "--chunk-frames", "50", "--max-steps", "60", "--lr", "3e-3", "--seed", "1", "--log-interval", "20",
            str(data)]
    assert run(train_triplet_barlow.main, train_triplet_barlow.build_parser(), argv) == 0
    res = json.loads((exp / "results.json").read_text())
    assert set(res["folds"]) == {"1", "2"}
    for fold in ("1", "2"):
        assert (exp / f"fold{fold}" / "final.pt").is_file()
        for when in ("before", "after"):
            figs = res["folds"][fold][when]
            assert 0 <= figs["test_ncm_acc"] <= 1 and figs["within_between"] > 0 and figs["davies_bouldin"] > 0
    # trained weights differ from the pretrained ones; the pretrained network is untouched
    a, b = load_network(model), load_network(exp / "fold1" / "final.pt")
    assert any(not torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    # step 1 tightens the classes on the training speakers (what its loss optimises)
    assert res["after"]["within_between"]["mean"] < 0.8 * res["before"]["within_between"]["mean"]
    assert res["after"]["ncm_acc_loo"]["mean"] > res["before"]["ncm_acc_loo"]["mean"]
    print("step 1 before:", {k: round(v["mean"], 3) for k, v in res["before"].items()})
    print("step 1 after: ", {k: round(v["mean"], 3) for k, v in res["after"].items()})

    out = root / "exp" / "adapter"
    argv = ["--apply-vad", "false", "--seeds", "0,1", "--adapter-epochs", "150", "--adapter-patience", "30",
            str(exp), str(data), str(out)]
    assert run(train_adapter.main, train_adapter.build_parser(), argv) == 0
    summary = json.loads((out / "results.json").read_text())
    assert [(r["fold"], r["seed"]) for r in summary["runs"]] == [("1", 0), ("1", 1), ("2", 0), ("2", 1)]
    assert summary["UA"]["n"] == 4 and summary["strategy"] == "adapter"
    for fold in ("1", "2"):
        assert (out / f"fold{fold}" / "emb.scp").is_file()
        run_res = json.loads((out / f"fold{fold}" / "seed0" / "results.json").read_text())
        test = (data / "folds" / fold / "test").read_text().split()
        preds = dict(line.split() for line in (out / f"fold{fold}" / "seed0" / "predictions").read_text().splitlines())
        assert sorted(preds) == sorted(test) and run_res["num_test"] == len(test)
        truth = dict(line.split() for line in (data / "utt2emo").read_text().splitlines())
        assert run_res["WA"] == pytest.approx(np.mean([preds[u] == truth[u] for u in test]))
    # the classes are separable: well above chance (0.25) on held-out speakers
    assert summary["UA"]["mean"] > 0.5
    print("step 2 adapter:", summary["summary"])

    # an adapter on the pretrained network for every fold (no step 1), as the comparison needs
    out2 = root / "exp" / "adapter_pretrained"
    argv = ["--apply-vad", "false", "--seeds", "0", "--adapter-epochs", "10", "--max-folds", "1",
            str(model), str(data), str(out2)]
    assert run(train_adapter.main, train_adapter.build_parser(), argv) == 0
    assert json.loads((out2 / "results.json").read_text())["UA"]["n"] == 1


def test_steps_scripts_with_shared_config(synth, root, shell_env, tmp_path):
    """steps/train_triplet_barlow.sh then steps/train_adapter.sh with one config holding both stages' options."""
    import subprocess

    _, data, model = synth
    conf = tmp_path / "triplet_barlow.conf"
    conf.write_text((root / "egs/iemocap/conf/mini/triplet_barlow.conf").read_text()
                    + "--apply-vad=false\n--max-folds=1\n--max-steps=4\n--batch-size=8\n--chunk-frames=50\n"
                    "--adapter-epochs=5\n")
    exp, out = tmp_path / "c", tmp_path / "a"
    for cmd in ([root / "steps/train_triplet_barlow.sh", "--train-config", conf, model, data, exp],
                [root / "steps/train_adapter.sh", "--train-config", conf, "--seeds", "3", exp, data, out]):
        r = subprocess.run([str(c) for c in cmd], env=shell_env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr + "".join(p.read_text() for p in (exp / "log").glob("*.log"))
    assert (exp / "fold1" / "final.pt").is_file() and (exp / "results.json").is_file()
    res = json.loads((out / "results.json").read_text())
    assert [(r["fold"], r["seed"]) for r in res["runs"]] == [("1", 3)]
    r = subprocess.run([str(root / "steps/train_adapter.sh"), exp, data, out], env=shell_env, capture_output=True,
                       text=True)
    assert r.returncode == 0 and "skipping" in r.stderr
