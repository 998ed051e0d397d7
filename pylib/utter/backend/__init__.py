"""Scoring and classification back-ends on embedding matrices: numpy and scipy only.

Cosine, LDA, PLDA, score normalisation, calibration, classifiers, clustering and the
quality model fit and score ``(ids, matrix)`` pairs and save themselves as npz files; what
reads embedding archives, data dirs and fold lists lives above, in :mod:`utter.transfer`.
"""
