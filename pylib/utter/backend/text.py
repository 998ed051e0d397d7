"""Text branch for transcripts: sentencepiece unigram subwords, TF-IDF, and late fusion.

A unigram model is trained on the training transcripts only; each transcript becomes a
bag of subwords weighted by TF-IDF (smoothed idf, L2-normalised rows, as sklearn's
TfidfVectorizer does), which the classifiers in :mod:`utter.backend.classifiers` take.
Late fusion averages per-class log-probabilities with a weight chosen on held-out data.
"""
from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence

import numpy as np


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
        import sentencepiece as spm

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
            import sentencepiece as spm

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
        from utter.atomic import atomic_path

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
