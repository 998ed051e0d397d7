"""Faults of the verification report (issue 24, point 5): minDCFs shown with 3 decimals and a note
when one is no better than the trivial system, the intro's sentences each ended with a period, and
the DET plot's legend telling when a minDCF point lies off the axes."""
from __future__ import annotations

import json

import numpy as np
from recipes import recipe_copy, run_recipe

from utter.bin import make_results_table as mrt
from utter.bin.common import run
from utter.metrics import verification
from utter.report import verification as rv
from utter.report.document import join_sentences


def _json(path, **figures) -> str:
    path.write_text(json.dumps({"n_target": 10, "n_nontarget": 90, **figures}))
    return str(path)


def test_min_dcf_three_decimals_and_a_note_when_near_1(tmp_path):
    evals = [rv.Evaluation("dino", "cosine", "main", {"EER": 31.2, "minDCF@0.01": 0.9997, "minDCF@0.05": 0.7}),
             rv.Evaluation("dino", "plda", "main", {"EER": 20.0, "minDCF@0.01": 0.5, "minDCF@0.05": 0.25})]
    text = rv.results_tables(evals, labels={"dino": "DINO (TDNN)"})
    row = next(line for line in text.splitlines() if line.startswith("| DINO"))
    assert row == "| DINO (TDNN) | 31.2 | 1.000 | 0.700 | 20 | 0.500 | 0.250 |"   # not "1" and "0.7"
    note = text.split(row)[1].strip()
    assert note.startswith("minDCF >= 0.95 (DINO (TDNN) cosine minDCF(0.01) 1.000): a normalised minDCF of 1 "
                           "is the cost of the trivial system that ignores the scores and rejects every trial")
    assert "PLDA" not in note and note.endswith("no operating point there is of use.")
    # every minDCF below 0.95: no note; 0.9496 shows as 0.950 and is noted
    evals[0].figures["minDCF@0.01"] = 0.94
    assert "minDCF >=" not in rv.results_tables(evals)
    evals[0].figures["minDCF@0.01"] = 0.9496
    assert "(dino cosine minDCF(0.01) 0.950)" in rv.results_tables(evals)
    # the calibrated scores' table and the pseudo-label rounds show them alike
    cal = rv.calibration_table([rv.Evaluation("dino", "cosine", "main", {
        "minDCF@0.01": 0.9997, "actDCF@0.01": 1.0, "minDCF@0.05": 0.7, "actDCF@0.05": 0.8, "Cllr": 0.9,
        "minCllr": 0.85})])
    assert "| dino | cosine | main | 1.000 | 1.000 | 0.700 | 0.800 | 0.900 | 0.850 |" in cal
    assert "minDCF >= 0.95 (dino cosine main minDCF(0.01) 1.000)" in cal
    rounds = rv.pseudo_label_table([f"dino=-,{_json(tmp_path / 'r.json', EER=40.0, **{'minDCF@0.01': 0.99971})}"])
    assert "| dino | - | - | - | - | 40 | 1.000 |" in rounds and "(dino minDCF(0.01) 1.000)" in rounds


def test_intro_sentences_each_end_with_a_period(tmp_path):
    assert join_sentences(["DINO trained on 10 utterances.",
                               "PLDA, AS-norm and calibration skipped: no speaker-labelled audio;"
                               " cosine scoring needs none\n",
                               "", "dino_small: 2413 of 5000 utterances have fewer than 400 voiced frames and were "
                               "left out of training", "Done?"]) == (
        "DINO trained on 10 utterances. PLDA, AS-norm and calibration skipped: no speaker-labelled audio; cosine "
        "scoring needs none. dino_small: 2413 of 5000 utterances have fewer than 400 voiced frames and were left "
        "out of training. Done?")
    # egs/custom's stage 8: the intro of conf/results.conf, then run.sh's sentences
    scores = _json(tmp_path / "s.json", EER=10.0, **{"minDCF@0.01": 0.5, "minDCF@0.05": 0.3})
    out = tmp_path / "RESULTS.md"
    status = run(mrt.main, mrt.build_parser(),
                 ["--intro", "DINO trained without labels on 24 utterances; scored on the trials of 16 utterances.",
                  "--intro-sentence", "PLDA, AS-norm and calibration skipped: no speaker-labelled audio "
                                      "(backend_audio in conf/corpus.conf); cosine scoring needs none",
                  "--intro-sentence", "dino_small: 7 of 24 utterances have fewer than 120 voiced frames and were "
                                      "left out of training",
                  str(out), f"dino_small:cosine:main={scores}"])
    assert status == 0
    intro = out.read_text().split("\n\n")[1]
    assert intro == ("DINO trained without labels on 24 utterances; scored on the trials of 16 utterances. PLDA, "
                     "AS-norm and calibration skipped: no speaker-labelled audio (backend_audio in "
                     "conf/corpus.conf); cosine scoring needs none. dino_small: 7 of 24 utterances have fewer "
                     "than 120 voiced frames and were left out of training.")
    # without --intro-sentence the intro is kept as it is
    run(mrt.main, mrt.build_parser(), ["--intro", "As given", str(out), f"dino_small:cosine:main={scores}"])
    assert out.read_text().split("\n\n")[1] == "As given"


def test_custom_recipe_results_intro_sentences_end_with_periods(tmp_path):
    """egs/custom's stage 8 alone, on hand-written results: the skipped back-ends, PLDA's failure and
    the short utterances each a sentence of RESULTS.md's first paragraph (they ran together)."""
    recipe_copy("voxceleb", tmp_path)
    rdir = recipe_copy("custom", tmp_path)
    (rdir / "conf/corpus.conf").write_text(f"train_audio=(/x)\neval_audio=/x\neval_trials={tmp_path}/veri.txt\n"
                                           "backend_audio=/lab\n")
    files = {"data/eval_trials/main": "a b target\na c nontarget\n", "data/train/utt2spk": "a a\nb b\n",
             "data/eval/utt2spk": "a a\nb b\nc c\n",
             "data/backend_skipped": "calibration skipped: data/backend has 2 speakers (conf/backend.conf)\n",
             "data/backend_train/utt2spk": "s1-u s1\ns2-u s2\n", "data/backend_train/spk2utt": "s1 s1-u\ns2 s2-u\n",
             "exp/dino_small/plda/skipped": "PLDA skipped: within-class covariance is singular\n",
             "exp/dino_small/scores/main/scores_cosine": "a b 1\na c 0\n",
             "exp/dino_small/scores/main/scored": "cosine\n",   # stage 6's fact: the score files it wrote
             "exp/dino_small/scores/main/scores_cosine.json": json.dumps(
                 {"EER": 30.0, "minDCF@0.01": 0.9997, "minDCF@0.05": 0.8, "n_target": 1, "n_nontarget": 1}),
             "exp/dino_small/config.json": json.dumps({"arch": {"arch": "tdnn"}}), "exp/dino_small/final.pt": "",
             "exp/dino_small/train_plan.json": json.dumps(
                 {"total_steps": 300, "epochs": 1.92, "steps_per_epoch": 156,
                  "data": {"utterances": 5000, "used": 4990, "left_out": 10, "min_frames": 50,
                           "shorter_than_global_crop": 2413, "global_frames": 400, "local_frames": 200}})}
    for name, text in files.items():
        (rdir / name).parent.mkdir(parents=True, exist_ok=True)
        (rdir / name).write_text(text)
    run_recipe(rdir, ["--stage", "8"])
    intro = (rdir / "RESULTS.md").read_text().split("\n\n")[1]
    assert intro == ("DINO trained without labels on 2 utterances of /x; scored on the trials of 3 utterances of "
                     "/x (2 trials). PLDA and the AS-norm cohort from 2 speakers of /lab. calibration skipped: "
                     "data/backend has 2 speakers (conf/backend.conf). dino_small: PLDA skipped: within-class "
                     "covariance is singular. dino_small: 300 training steps (1.9 epochs) on 4990 of 5000 "
                     "utterances (10 with fewer than 50 voiced frames left out; 2413 shorter than the 400-frame "
                     "global crop, cropped whole).")
    assert "| DINO (TDNN, conf/dino_small.conf) | 30 | 1.000 | 0.800 |" in (rdir / "RESULTS.md").read_text()


def _useless(n: int = 300, seed: int = 0):
    """Scores that do not tell targets from non-targets: minDCF(0.01) at 'reject every trial'."""
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, 2 * n), np.r_[np.ones(n, bool), np.zeros(n, bool)]


def _good(n: int = 2000, seed: int = 1):
    rng = np.random.default_rng(seed)
    return np.r_[rng.normal(3, 1, n), rng.normal(0, 1, n)], np.r_[np.ones(n, bool), np.zeros(n, bool)]


def test_det_legend_says_when_the_min_dcf_point_is_off_the_axes(tmp_path):
    useless, good = _useless(), _good()
    fig = verification.det_plot({"useless": useless, "good": good}, tmp_path / "det.png", p_target=0.01)
    assert (tmp_path / "det.png").stat().st_size > 0
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    pts = verification.operating_points(*useless)
    dcf, thr = verification.min_dcf_at(pts, 0.01)
    k = int(np.searchsorted(pts.thresholds, thr))
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    fa, miss = verification.probit(pts.p_fa[k]), verification.probit(pts.p_miss[k])
    assert not (x0 <= fa <= x1 and y0 <= miss <= y1)          # the case: the point lies off the axes
    assert texts[0].startswith("useless (EER ") and texts[0].endswith(
        f"minDCF@0.01 {dcf:.3f}; its point off the axes, hollow square at the edge)")
    assert texts[1].startswith("good (EER ") and "off the axes" not in texts[1]
    # each curve's squares: the useless one's hollow, at the edge of the axes; the good one's filled, inside
    squares = [line for line in ax.get_lines() if line.get_marker() == "s"]
    assert len(squares) == 2
    edge, inside = squares
    ex, ey = edge.get_xdata()[0], edge.get_ydata()[0]
    assert x0 <= ex <= x1 and y0 <= ey <= y1 and (np.isclose(ex, [x0, x1]).any() or np.isclose(ey, [y0, y1]).any())
    assert edge.get_markerfacecolor() == "none" and not edge.get_clip_on()
    assert inside.get_markerfacecolor() != "none"


def test_min_dcf_note_names_three_cells_and_counts_the_rest():
    from utter.report.verification import high_min_dcf_note

    note = high_min_dcf_note([f"sys{k} cosine minDCF(0.01) 0.99{k}" for k in range(7)])
    assert note.startswith("minDCF >= 0.95 (sys0 cosine minDCF(0.01) 0.990; sys1 cosine minDCF(0.01) 0.991; "
                           "sys2 cosine minDCF(0.01) 0.992; and 4 more cells):")
