"""Fine-tuning: strategy stages train exactly the named parameters, every strategy runs and prints
its metrics, and a killed fold run resumes to the result of an uninterrupted one."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from transfer_synth import feature_data, tiny_pretrained

from utter.data.dataset import chunk_loader_factory
from utter.train.checkpoint import load_embedder
from utter.train.config import TrainConfig
from utter.train.objectives.classification import ClassificationObjective
from utter.train.trainer import Trainer
from utter.transfer.finetune import FinetuneOptions, run_finetune


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("ft")
    data, _ = feature_data(root, aug=True)
    return root, data, tiny_pretrained(root / "pre.pt")


def _snapshot(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def test_affine_stage_leaves_other_parameters_bit_identical_and_full_stage_changes_all(synth, tmp_path):
    root, data, pre = synth
    net = load_embedder(pre).train()
    factory = chunk_loader_factory(data, batch_size=4, chunk_frames=40, label_table="utt2emo", num_batches=3,
                                   min_frames=20)
    labels = factory.extra["label_map"]
    affine = net.last_affine()
    assert affine and len(affine) < len(dict(net.named_parameters()))
    before = _snapshot(net)
    obj = ClassificationObjective(net, labels, train_params=affine)
    head_before = _snapshot(obj.head)
    cfg = TrainConfig(total_steps=3, steps_per_epoch=3, lr=0.05, keep_last=1)
    Trainer(obj, factory, cfg, tmp_path / "stage1").train()
    after = _snapshot(net)
    params = dict(net.named_parameters())
    for name, t in before.items():
        if name in affine:
            assert not torch.equal(t, after[name]), f"{name} (last affine) did not change"
        else:  # other parameters, and the frozen layers' batch-norm statistics
            assert torch.equal(t, after[name]), f"{name} changed in stage 1"
    assert all(not torch.equal(v, obj.head.state_dict()[k]) for k, v in head_before.items())
    stage2 = ClassificationObjective(net, labels, head=obj.head, train_params=None)
    Trainer(stage2, factory, dataclasses.replace(cfg, lr=0.01), tmp_path / "stage2").train()
    final = dict(net.named_parameters())
    unchanged = [n for n in params if torch.equal(after[n], final[n].detach())]
    assert not unchanged, f"stage 2 left parameters unchanged: {unchanged}"


def _opts(strategy: str, steps: int = 8, interval: int = 0, **kw) -> FinetuneOptions:
    cfg = TrainConfig(total_steps=steps, steps_per_epoch=steps, lr=0.01, keep_last=1, checkpoint_interval=interval)
    return FinetuneOptions(strategy=strategy, train=cfg, stage2=dataclasses.replace(cfg, lr=0.003),
                           chunk_frames=kw.pop("chunk_frames", 50), min_frames=20, batch_size=6,
                           eval_interval=kw.pop("eval_interval", 4), **kw)


@pytest.mark.parametrize("strategy,chunk", [("affine-then-full", 50), ("full", 0), ("head-only", 50)])
def test_strategies_run_and_report(synth, tmp_path, strategy, chunk, capsys):
    root, data, pre = synth
    res = run_finetune(pre, data, tmp_path / strategy, _opts(strategy, chunk_frames=chunk), seeds=[1],
                       folds_dir=str(data / "folds"), max_folds=1, aug_dirs=[str(root / "data_aug")])
    print(strategy, res["summary"])
    assert res["num_runs"] == 1 and 0.0 <= res["UA"]["mean"] <= 1.0
    run = tmp_path / strategy / "fold1" / "seed1"
    stages = ["stage1", "stage2"] if strategy == "affine-then-full" else ["train"]
    assert all((run / s / "selected.pt").is_file() for s in stages)
    fig = json.loads((run / "results.json").read_text())
    assert [s["stage"] for s in fig["stages"]] == stages
    assert fig["stages"][0]["dev_UA"] is not None          # the fold has a dev list: best-on-dev weights
    assert (tmp_path / strategy / "confusion.png").is_file()
    n_scores = len((run / "scores").read_text().splitlines())
    assert n_scores == len((data / "folds" / "1" / "test").read_text().split())


def test_killed_run_resumes_to_the_uninterrupted_result(synth, tmp_path, monkeypatch):
    root, data, pre = synth
    kw = dict(seeds=[3], folds_dir=str(data / "folds"), max_folds=1)
    ref = run_finetune(pre, data, tmp_path / "ref", _opts("affine-then-full", interval=2), **kw)

    real = ClassificationObjective.after_step
    calls = {"n": 0}

    def dying(self, step):
        real(self, step)
        calls["n"] += 1
        if calls["n"] == 13:   # stage 2, step 5 of 8 (checkpoints every 2 steps)
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(ClassificationObjective, "after_step", dying)
    with pytest.raises(KeyboardInterrupt):
        run_finetune(pre, data, tmp_path / "run", _opts("affine-then-full", interval=2), **kw)
    run = tmp_path / "run" / "fold1" / "seed3"
    assert (run / "stage1" / "selected.pt").is_file() and not (run / "results.json").exists()
    monkeypatch.setattr(ClassificationObjective, "after_step", real)
    res = run_finetune(pre, data, tmp_path / "run", _opts("affine-then-full", interval=2), **kw)
    assert (run / "scores").read_text() == (tmp_path / "ref" / "fold1" / "seed3" / "scores").read_text()
    assert res["UA"] == ref["UA"]
    # a finished run is skipped: its results are read back, nothing is trained again
    monkeypatch.setattr(Trainer, "train", lambda *a, **k: pytest.fail("a finished run was trained again"))
    again = run_finetune(pre, data, tmp_path / "run", _opts("affine-then-full", interval=2), **kw)
    assert again["UA"] == res["UA"]


def test_full_gets_the_budget_of_both_affine_then_full_stages():
    """Budget parity (issue 14): full trains stage 1 + stage 2 steps (or epochs), unless switched off."""
    s1, s2 = TrainConfig(total_steps=30, lr=3e-3), TrainConfig(total_steps=20, lr=1e-3)
    opts = FinetuneOptions(strategy="full", train=s1, stage2=s2)
    assert opts.full_budget().total_steps == 50 and opts.full_budget().lr == 3e-3
    assert dataclasses.replace(opts, equal_budget=False).full_budget().total_steps == 30
    by_epochs = FinetuneOptions(strategy="full", train=TrainConfig(epochs=10), stage2=TrainConfig(epochs=4))
    assert by_epochs.full_budget().epochs == 14
    mixed = FinetuneOptions(strategy="full", train=TrainConfig(total_steps=30), stage2=TrainConfig(epochs=2))
    with pytest.raises(ValueError, match="both in epochs"):
        mixed.full_budget()


def test_speaker_posteriors_are_the_mean_of_the_segments_posteriors():
    """Reference: the mean of exp(log-posterior) over each speaker's rows, by a plain loop."""
    import numpy as np

    from utter.transfer.runs import speaker_log_posteriors, speaker_targets

    rng = np.random.default_rng(0)
    utts = [f"s{i % 3}-u{i}" for i in range(10)]
    lp = np.log(rng.dirichlet(np.ones(2), size=len(utts)))
    utt2spk = {u: u.split("-")[0] for u in utts}
    spks, got = speaker_log_posteriors(utts, lp, utt2spk)
    assert spks == ["s0", "s1", "s2"]
    for s, row in zip(spks, got):
        probs = [np.exp(lp[i]) for i, u in enumerate(utts) if utt2spk[u] == s]
        assert np.allclose(np.exp(row), sum(probs) / len(probs))
    truth = {u: ("cc" if utt2spk[u] == "s1" else "hc") for u in utts}
    assert speaker_targets(truth, utt2spk, utts) == {"s0": "hc", "s1": "cc", "s2": "hc"}
    truth[utts[4]] = "cc"   # s1's segment is cc already; make one of s0's segments disagree
    truth[utts[0]] = "cc"
    with pytest.raises(ValueError, match="speaker s0: segments labelled both"):
        speaker_targets(truth, utt2spk, utts)
    with pytest.raises(ValueError, match="not in utt2spk"):
        speaker_targets(truth, {}, utts)


def test_speaker_unit_reports_one_decision_per_test_speaker(synth, tmp_path):
    """score_unit="speaker" (ADReSS): the run's predictions, scores and figures are per speaker of the
    fold's test list, and its UA is that of those speaker predictions."""
    import shutil

    from utter.data.datadir import read_table, utt2spk_to_spk2utt, write_table
    from utter.metrics.classification import classification_report

    root, data, pre = synth
    spk_data = tmp_path / "data"
    shutil.copytree(data, spk_data, symlinks=True)
    utt2emo = read_table(spk_data / "utt2emo")
    utt2spk = {u: f"{s}-{utt2emo[u]}" for u, s in read_table(spk_data / "utt2spk").items()}  # one label each
    write_table(spk_data / "utt2spk", utt2spk)
    write_table(spk_data / "spk2utt", {s: " ".join(us) for s, us in utt2spk_to_spk2utt(utt2spk).items()})
    res = run_finetune(pre, spk_data, tmp_path / "ft", _opts("full", steps=4, score_unit="speaker"), seeds=[0],
                       folds_dir=str(spk_data / "folds"), max_folds=1)
    run = tmp_path / "ft" / "fold1" / "seed0"
    test_spks = sorted({utt2spk[u] for u in (spk_data / "folds" / "1" / "test").read_text().split()})
    preds = read_table(run / "predictions")
    assert sorted(preds) == test_spks and res["runs"][0]["UA"] is not None
    truth = {s: s.rsplit("-", 1)[1] for s in test_spks}
    ua = classification_report([truth[s] for s in test_spks], [preds[s] for s in test_spks],
                               sorted(set(utt2emo.values())))["UA"]
    assert json.loads((run / "results.json").read_text())["UA"] == pytest.approx(ua)
    assert json.loads((run / "results.json").read_text())["num_test"] == len(test_spks)


def test_patience_stops_after_evaluations_without_a_better_score_and_a_resume_stays_stopped(synth, tmp_path):
    """Early stopping (issue 14, point 4): the reference is the scripted dev-score sequence itself:
    best 0.5 at step 2, then two evaluations no better (a tie is not better), so patience 2 stops
    the run after step 4 of 10 and keeps step 2's weights; a resumed run trains no further."""
    root, data, pre = synth
    factory = chunk_loader_factory(data, batch_size=4, chunk_frames=40, label_table="utt2emo", num_batches=10,
                                   min_frames=20)
    labels = factory.extra["label_map"]
    scores = iter([0.3, 0.5, 0.4, 0.5, 0.9, 0.9])
    calls = []

    def evaluator(obj):
        calls.append(obj.steps_done)
        return next(scores)

    def objective():
        return ClassificationObjective(load_embedder(pre).train(), labels, train_params=None, evaluator=evaluator,
                                       eval_interval=1, patience=2)
    cfg = TrainConfig(total_steps=10, steps_per_epoch=10, lr=0.01, keep_last=1)
    obj = objective()
    trainer = Trainer(obj, factory, cfg, tmp_path / "run")
    trainer.train()
    assert trainer.step == 4 and calls == [1, 2, 3, 4]
    state = obj.selected_state()
    assert state["step"] == 2 and state["dev_score"] == 0.5 and state["steps_run"] == 4
    again = Trainer(objective(), factory, cfg, tmp_path / "run")
    again.train(resume=True)
    assert again.step == 4 and calls == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="needs a dev evaluator"):
        ClassificationObjective(load_embedder(pre), labels, patience=2)


def test_early_stopped_stage1_leaves_its_steps_to_stage2_for_full_s_budget(synth, tmp_path, monkeypatch):
    """With stage-1 patience, stage 1 stops when dev UA stops improving and stage 2 trains its own
    length plus what stage 1 left: 4 + (8 + 4) = 16 steps, full's budget. Dev UA is held constant
    here, so the stop is at the second evaluation (step 4, patience 1); RESULTS.md states it."""
    import utter.transfer.finetune as finetune

    root, data, pre = synth
    monkeypatch.setattr(finetune, "classification_report", lambda *a, **k: {"UA": 0.5})
    opts = _opts("affine-then-full", stage1_patience=1, eval_interval=2)
    res = run_finetune(pre, data, tmp_path / "aft", opts, seeds=[1], folds_dir=str(data / "folds"), max_folds=1)
    fig = json.loads((tmp_path / "aft" / "fold1" / "seed1" / "results.json").read_text())
    s1, s2 = fig["stages"]
    assert (s1["steps"], s1["steps_run"], s1["stopped_early"], s1["selected_step"]) == (8, 4, True, 2)
    assert (s2["steps"], s2["steps_run"], s2["stopped_early"]) == (12, 12, False)
    assert s1["steps_run"] + s2["steps_run"] == opts.full_budget().total_steps == 16
    assert res["stage_steps"] == "4+12"
    for bad, match in ((dict(eval_interval=0), "eval_interval > 0"),
                       (dict(stage1_patience=-1), "must not be negative")):
        with pytest.raises(ValueError, match=match):
            dataclasses.replace(opts, **bad)
    # one conf for both strategies: full has no stage 1, so the patience leaves it as it was
    assert dataclasses.replace(opts, strategy="full", eval_interval=0).full_budget().total_steps == 16


def test_stage_steps_ranges_over_runs_when_stage1_stops_early():
    """The budget column: one figure when every run trained the same steps, else each stage's range
    over the runs and the runs' total (brute force: the per-run sums written out by hand)."""
    from utter.transfer.finetune import stage_steps

    run = lambda a, b: [{"stage": "stage1", "steps": 30, "steps_run": a}, {"stage": "stage2", "steps": 50 - a,  # noqa: E731
                                                                              "steps_run": b}]
    assert stage_steps([run(30, 20), run(30, 20)]) == "30+20"
    assert stage_steps([run(10, 40), run(25, 25), run(30, 20)]) == "10-30 + 20-40 (50 in each run)"
    assert stage_steps([run(10, 40), run(30, 10)]) == "10-30 + 10-40 (40-50 in all)"
    assert stage_steps([]) is None
