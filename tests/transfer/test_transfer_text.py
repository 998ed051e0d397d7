"""Text branch: TF-IDF against a hand count with sklearn's smoothed-idf formula, and fusion
against its definition."""
import numpy as np
import pytest

from utter.backend.classifiers import LogisticRegression
from utter.transfer.text import SubwordTfidf, choose_fusion_weight, fuse_log_probs

TEXTS = [
    "the boy is taking a cookie from the jar", "the stool is falling over",
    "mother is drying the dishes", "the water is overflowing from the sink",
    "uh the the boy uh", "um there is a uh a girl", "and uh the uh mother",
    "the sink uh is um", "cookie jar cookie jar", "the girl wants a cookie",
] * 2


def test_tfidf_matches_hand_computation():
    model = SubwordTfidf(vocab_size=60).fit(TEXTS)
    ids = model.processor.encode(TEXTS)
    v = model.size
    counts = np.zeros((len(TEXTS), v))
    for r, row in enumerate(ids):
        for i in row:
            counts[r, i] += 1
    df = (counts > 0).sum(0)
    idf = np.log((1 + len(TEXTS)) / (1 + df)) + 1
    x = counts * idf
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    assert np.allclose(model.transform(TEXTS), x)


def test_save_load_and_deterministic(tmp_path):
    a = SubwordTfidf(vocab_size=60).fit(TEXTS)
    b = SubwordTfidf(vocab_size=60).fit(TEXTS)
    assert a.model_proto == b.model_proto
    a.save(tmp_path / "t.npz")
    c = SubwordTfidf.load(tmp_path / "t.npz")
    assert np.array_equal(c.transform(TEXTS[:3]), a.transform(TEXTS[:3]))


def test_text_classifier_learns_filler_rate():
    y = np.array(["cc"] * 4 + ["cd"] * 4 + ["cc"] * 2)
    y = np.concatenate([y, y])
    model = SubwordTfidf(vocab_size=60).fit(TEXTS)
    clf = LogisticRegression(c=10.0).fit(model.transform(TEXTS), y)
    assert np.mean(np.array(clf.predict(model.transform(TEXTS))) == y) >= 0.9


def test_fusion_definition_and_weight_choice():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
    assert np.allclose(fuse_log_probs([a, b], [3, 1]), 0.75 * a + 0.25 * b)
    y = a.argmax(1)  # the text scores are perfect here: the chosen weight must favour them
    w, acc = choose_fusion_weight(a, b, y)
    assert acc == 1.0 and w > 0.5
    with pytest.raises(ValueError, match="differ in shape"):
        fuse_log_probs([a, b[:3]], [1, 1])
    with pytest.raises(ValueError, match="at least two non-empty transcripts"):
        SubwordTfidf().fit(["", "only one"])


def test_vocabulary_smaller_than_the_alphabet_is_a_clear_error():
    with pytest.raises(ValueError, match="smaller than the 16 distinct characters"):
        SubwordTfidf(vocab_size=10).fit(["the boy is taking a cookie", "mother dries dishes"])
