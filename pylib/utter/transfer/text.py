"""ADReSS text branch over folds: subword TF-IDF + logistic regression, MMSE ridge, late fusion.

A sentencepiece unigram model is trained on the training transcripts only; each transcript
becomes a bag of subwords weighted by TF-IDF (smoothed idf, L2-normalised rows, as sklearn's
TfidfVectorizer does), which the classifiers in :mod:`utter.backend.classifiers` take. Per
fold the subword model and TF-IDF weights are fitted on the fold's training transcripts only
(the data dir's ``text``), then logistic regression (classes) and ridge regression (MMSE) on
the same features. Late fusion averages text and acoustic log-probabilities
(:func:`fuse_log_probs`; acoustic scores are turned into log-probabilities by a log-softmax,
which leaves logistic-regression scores unchanged) with the text weight chosen by
:func:`choose_fusion_weight` on out-of-fold scores of the training set: for a CV fold, on the
utterances outside its test list; for train -> test, on all training utterances.

Outputs under OUT: ``cv/`` (and ``test/`` with test data) in the layout of
:mod:`utter.transfer.runs`, ``fusion_cv/``, ``fusion_test/``, ``mmse_cv/``, ``mmse_test/``
when asked for, and ``results.json`` holding each one's summary.
"""
from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import sentencepiece as spm
from scipy.special import log_softmax

from utter.atomic import atomic_path
from utter.backend.classifiers import LogisticRegression, RidgeRegression
from utter.data.datadir import DataDir, read_table, sort_key
from utter.metrics.results import write_results_json
from utter.transfer.folds import Split, read_targets, splits_from_args
from utter.transfer.runs import (
    fold_dir_name,
    pool_run_dirs,
    read_class_scores,
    run_figures,
    summarise_runs,
    write_predictions,
    write_run,
)

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- subword features and fusion

class SubwordTfidf:
    """Sentencepiece unigram tokenizer + TF-IDF weighting, fitted on training transcripts.

    Training runs on one thread, which makes the subword model a function of the texts alone.
    """

    def __init__(self, vocab_size: int = 500):
        self.vocab_size = vocab_size
        self.model_proto: bytes = b""
        self.idf: np.ndarray | None = None
        self._sp = None

    def fit(self, texts: Sequence[str]) -> SubwordTfidf:
        """Train the subword model and the idf weights on (training) transcripts."""
        texts = [t for t in texts if t.strip()]
        if len(texts) < 2:
            raise ValueError(f"need at least two non-empty transcripts to train subwords, got {len(texts)}")
        chars = len(set("".join(texts).replace(" ", "")))
        if self.vocab_size < chars + 4:  # every character is a piece, plus <unk>, <s>, </s> and the word marker
            raise ValueError(f"subword vocabulary size {self.vocab_size} is smaller than the {chars} distinct "
                             f"characters of the transcripts plus 4 special pieces: use at least {chars + 4}")
        proto = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=proto, vocab_size=self.vocab_size,
            model_type="unigram", hard_vocab_limit=False, num_threads=1,
            character_coverage=1.0, minloglevel=2,
        )
        self.model_proto = proto.getvalue()
        self._sp = None
        counts = self._counts(texts)
        df = (counts > 0).sum(0)
        self.idf = np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0
        return self

    @property
    def processor(self):
        if self._sp is None:
            if not self.model_proto:
                raise ValueError("the subword model is not trained")
            self._sp = spm.SentencePieceProcessor(model_proto=self.model_proto)
        return self._sp

    @property
    def size(self) -> int:
        return self.processor.get_piece_size()

    def _counts(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.size))
        for row, ids in enumerate(self.processor.encode(list(texts))):
            np.add.at(out[row], ids, 1.0)
        return out

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """TF-IDF rows (raw counts times idf, then L2-normalised; empty texts stay zero)."""
        if self.idf is None:
            raise ValueError("the TF-IDF model is not fitted")
        x = self._counts(texts) * self.idf
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.where(norm > 0, norm, 1.0)

    def save(self, path: str | os.PathLike) -> None:
        meta = json.dumps({"vocab_size": self.vocab_size})
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, _meta=np.array(meta), proto=np.frombuffer(self.model_proto, dtype=np.uint8), idf=self.idf)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SubwordTfidf:
        with np.load(path, allow_pickle=False) as z:
            if not {"_meta", "proto", "idf"} <= set(z.files):
                raise ValueError(f"{path}: not a subword TF-IDF model file")
            meta = json.loads(str(z["_meta"]))
            model = cls(**meta)
            model.model_proto = z["proto"].tobytes()
            model.idf = z["idf"]
        return model


def fuse_log_probs(log_probs: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Weighted average of per-class log-probabilities (same class order in every input)."""
    if len(log_probs) != len(weights) or not log_probs:
        raise ValueError(f"{len(log_probs)} score matrices but {len(weights)} weights")
    shapes = {lp.shape for lp in log_probs}
    if len(shapes) != 1:
        raise ValueError(f"score matrices differ in shape: {sorted(shapes)}")
    w = np.asarray(weights, dtype=float)
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"fusion weights must be non-negative with a positive sum, got {list(weights)}")
    w = w / w.sum()
    return sum(wi * lp for wi, lp in zip(w, log_probs))


def choose_fusion_weight(text_lp: np.ndarray, audio_lp: np.ndarray, y: np.ndarray,
                         grid: Sequence[float] = tuple(np.linspace(0, 1, 11))) -> tuple[float, float]:
    """The text weight in ``grid`` with the best accuracy on held-out (out-of-fold) scores.

    Ties go to the weight closest to 0.5 (equal trust), then the smaller weight.
    Returns (weight, accuracy).
    """
    best = None
    for w in grid:
        acc = float(np.mean(fuse_log_probs([text_lp, audio_lp], [w, 1 - w]).argmax(1) == y))
        key = (acc, -abs(w - 0.5), -w)
        if best is None or key > best[0]:
            best = (key, float(w), acc)
    return best[1], best[2]


# ---------------------------------------------------------------- the text stage

def read_texts(data_dir: str | os.PathLike) -> dict[str, str]:
    """utt -> transcript of a data dir's ``text`` (empty transcripts kept)."""
    path = DataDir(data_dir).file("text")
    if not Path(path).is_file():
        raise ValueError(f"{path}: no transcripts (the text branch needs the data dir's 'text')")
    return dict(read_table(path, allow_empty_value=True))


def _texts(texts: Mapping[str, str], utts: Sequence[str], what: str) -> list[str]:
    missing = [u for u in utts if u not in texts]
    if missing:
        raise ValueError(f"{what}: {len(missing)} utterances have no transcript, e.g. {missing[:3]}")
    return [texts[u] for u in utts]


def audio_log_probs(path: str | os.PathLike, labels: Sequence[str]) -> dict[str, np.ndarray]:
    """utt -> acoustic log-probabilities (log-softmax of the scores) in ``labels`` order."""
    utts, s, classes = read_class_scores(path)
    if sorted(classes) != sorted(labels):
        raise ValueError(f"{path}: score classes {classes} differ from the text labels {list(labels)}")
    s = log_softmax(s[:, [classes.index(c) for c in labels]], axis=1)
    return dict(zip(utts, s))


def _rows(table: Mapping[str, np.ndarray], utts: Sequence[str], what: str) -> np.ndarray:
    missing = [u for u in utts if u not in table]
    if missing:
        raise ValueError(f"{what}: no scores for {len(missing)} utterances, e.g. {missing[:3]}")
    return np.stack([table[u] for u in utts])


class _Branch:
    """Fits and applies the text models of one split."""

    def __init__(self, vocab_size: int, c: float, balanced: bool, alpha: float):
        self.vocab_size, self.c, self.balanced, self.alpha = vocab_size, c, balanced, alpha

    def fit(self, texts: Sequence[str], y: Sequence[str]) -> _Branch:
        self.tfidf = SubwordTfidf(self.vocab_size).fit(texts)
        self.x = self.tfidf.transform(texts)
        self.clf = LogisticRegression(c=self.c, balanced=self.balanced).fit(self.x, y)
        return self

    def mmse(self, targets: Mapping[str, float], train: Sequence[str], test: Sequence[str],
             test_texts: Sequence[str]) -> tuple[list[int], np.ndarray] | None:
        keep = [i for i, u in enumerate(train) if u in targets]
        if len(keep) < 2:
            return None
        ridge = RidgeRegression(alpha=self.alpha).fit(self.x[keep], [targets[train[i]] for i in keep])
        return ridge.predict(self.tfidf.transform(test_texts))


def run_text_classifier(data_dir: str, out_dir: str, *, folds_dir: str, max_folds: int = 0,
                        label_table: str = "utt2label", test_data: str | None = None, vocab_size: int = 500,
                        c: float = 1.0, balanced: bool = True, mmse_table: str | None = None, alpha: float = 1.0,
                        audio_scores: str | None = None, audio_test_scores: str | None = None) -> dict:
    """Cross-validation on the training set (and train -> test with ``test_data``); see the module."""
    out = Path(out_dir)
    texts = read_texts(data_dir)
    targets = read_targets(data_dir, label_table)
    labels = sorted(set(targets.values()), key=sort_key)
    mmse = read_targets(data_dir, mmse_table, regression=True) if mmse_table else None
    branch = _Branch(vocab_size, c, balanced, alpha)
    results: dict = {"label_table": label_table, "vocab_size": vocab_size}
    audio = audio_log_probs(audio_scores, labels) if audio_scores else None

    # cross-validation on the training set
    splits = splits_from_args(folds_dir, max_folds, targets, None)
    oof: dict[str, np.ndarray] = {}
    runs, pooled, dirs, mpooled = [], {}, [], {}
    for sp in splits:
        tr = sp.train + sp.dev
        branch.fit(_texts(texts, tr, f"fold {sp.name}"), [targets[u] for u in tr])
        te_texts = _texts(texts, sp.test, f"fold {sp.name}")
        lp = branch.clf.scores(branch.tfidf.transform(te_texts))
        pred = [labels[i] for i in lp.argmax(1)]
        d = out / "cv" / fold_dir_name(sp.name)
        runs.append(write_run(d, sp.test, [targets[u] for u in sp.test], pred, lp, labels,
                              {"fold": sp.name, "seed": 0, "num_train": len(tr)}))
        dirs.append(d)
        pooled.update({u: (targets[u], p) for u, p in zip(sp.test, pred)})
        oof.update(zip(sp.test, lp))
        if mmse is not None:
            _mmse_run(branch, mmse, tr, sp.test, te_texts, out / "mmse_cv" / fold_dir_name(sp.name), mpooled)
    info = {"system": "text", "protocol": "cross-validation"}
    pool_run_dirs(dirs, out / "cv", labels)
    results["cv"] = _brief(summarise_runs(out / "cv", runs, pooled, labels, info))
    if mpooled:
        results["mmse_cv"] = _mmse_summary(out / "mmse_cv", mpooled)
    if audio is not None:
        results["fusion_cv"] = _fusion_cv(splits, oof, audio, targets, labels, out / "fusion_cv")

    # train -> test
    if test_data:
        test_targets = read_targets(test_data, label_table)
        test_texts = read_texts(test_data)
        tr = sorted(targets, key=sort_key)
        te = sorted(test_targets, key=sort_key)
        branch.fit(_texts(texts, tr, "training set"), [targets[u] for u in tr])
        te_texts = _texts(test_texts, te, "test set")
        lp = branch.clf.scores(branch.tfidf.transform(te_texts))
        pred = [labels[i] for i in lp.argmax(1)]
        figs = write_run(out / "test", te, [test_targets[u] for u in te], pred, lp, labels,
                         {"fold": "test", "seed": 0, "num_train": len(tr)})
        results["test"] = _brief(figs)
        if mmse is not None and (DataDir(test_data).has(mmse_table)):
            tm = read_targets(test_data, mmse_table, regression=True)
            mp: dict = {}
            _mmse_run(branch, {**mmse, **tm}, tr, te, te_texts, out / "mmse_test", mp)
            if mp:
                results["mmse_test"] = _mmse_summary(out / "mmse_test", mp)
        if audio is not None and audio_test_scores:
            atest = audio_log_probs(audio_test_scores, labels)
            ids = [u for u in tr if u in oof]
            y = np.array([labels.index(targets[u]) for u in ids])
            w, acc = choose_fusion_weight(_rows(oof, ids, "text"), _rows(audio, ids, audio_scores), y)
            fused = fuse_log_probs([lp, _rows(atest, te, audio_test_scores)], [w, 1 - w])
            figs = write_run(out / "fusion_test", te, [test_targets[u] for u in te],
                             [labels[i] for i in fused.argmax(1)], fused, labels,
                             {"fold": "test", "seed": 0, "text_weight": w, "train_oof_accuracy": acc})
            results["fusion_test"] = {**_brief(figs), "text_weight": w}
    write_results_json(out / "results.json", results)
    return results


def _mmse_run(branch: _Branch, mmse: Mapping[str, float], train: Sequence[str], test: Sequence[str],
              test_texts: Sequence[str], d: Path, pooled: dict) -> None:
    """Ridge MMSE predictions of one split's test utterances (those with a target) into ``d/predictions``."""
    pred = branch.mmse(mmse, train, test, test_texts)
    keep = [i for i, u in enumerate(test) if u in mmse]
    if pred is None or not keep:
        return
    d.mkdir(parents=True, exist_ok=True)
    write_predictions(d / "predictions", [test[i] for i in keep], [float(pred[i]) for i in keep])
    pooled.update({test[i]: (mmse[test[i]], float(pred[i])) for i in keep})


def _mmse_summary(out: Path, pooled: Mapping[str, tuple[float, float]]) -> dict:
    """RMSE and Pearson r of the pooled predictions (leave-one-speaker-out folds hold one utterance)."""
    utts = sorted(pooled, key=sort_key)
    write_predictions(out / "predictions", utts, [pooled[u][1] for u in utts])
    figs = run_figures([pooled[u][0] for u in utts], [pooled[u][1] for u in utts], None)
    write_results_json(out / "results.json", figs)
    return figs


def _fusion_cv(splits: Sequence[Split], oof: Mapping, audio: Mapping, targets: Mapping, labels: Sequence[str],
               out: Path) -> dict:
    runs, pooled, dirs = [], {}, []
    for sp in splits:
        test = set(sp.test)
        ids = [u for u in oof if u not in test]
        y = np.array([labels.index(targets[u]) for u in ids])
        w, acc = choose_fusion_weight(_rows(oof, ids, "text"), _rows(audio, ids, "acoustic scores"), y)
        fused = fuse_log_probs([_rows(oof, sp.test, "text"), _rows(audio, sp.test, "acoustic scores")], [w, 1 - w])
        pred = [labels[i] for i in fused.argmax(1)]
        d = out / fold_dir_name(sp.name)
        runs.append(write_run(d, sp.test, [targets[u] for u in sp.test], pred, fused, labels,
                              {"fold": sp.name, "seed": 0, "text_weight": w, "other_folds_accuracy": acc}))
        dirs.append(d)
        pooled.update({u: (targets[u], p) for u, p in zip(sp.test, pred)})
    pool_run_dirs(dirs, out, labels)
    res = summarise_runs(out, runs, pooled, labels, {"system": "text+audio", "protocol": "cross-validation"})
    return {**_brief(res), "text_weights": [r["text_weight"] for r in runs]}


def _brief(res: Mapping) -> dict:
    keep = ("UA", "WA", "macro_f1", "RMSE", "pearson_r", "pooled", "summary", "n")
    return {k: res[k] for k in keep if k in res}
