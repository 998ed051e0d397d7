"""The one trial parser (``utter.trials``): the data room's reader and the back-end's read a Kaldi
trial list alike; each keeps its own strictness."""
from __future__ import annotations

import pytest

from utter.backend.io import read_trials
from utter.data.trials import read_trial_list
from utter.trials import TrialError


def test_both_rooms_read_a_kaldi_list_alike(tmp_path):
    path = tmp_path / "trials"
    path.write_text("a b target\na c nontarget\nd\tb  target\nc a nontarget\n")
    lenient, fmt = read_trial_list(path, "kaldi")
    strict = read_trials(path, require_labels=True)
    assert fmt == "kaldi"
    assert [t.enroll for t in lenient] == strict.enroll == ["a", "a", "d", "c"]
    assert [t.test for t in lenient] == strict.test == ["b", "c", "b", "a"]
    assert [t.label == "target" for t in lenient] == strict.labels.tolist() == [True, False, True, False]
    assert read_trial_list(path)[0] == lenient   # auto detects the Kaldi format
    (tmp_path / "unl").write_text("a b\nc d\n")
    assert [(t.enroll, t.test, t.label) for t in read_trial_list(tmp_path / "unl")[0]] == [("a", "b", None),
                                                                                          ("c", "d", None)]
    unl = read_trials(tmp_path / "unl")
    assert (unl.enroll, unl.test, unl.labels) == (["a", "c"], ["b", "d"], None)


def test_the_backend_reader_stays_strict(tmp_path):
    """What the data room accepts and the back-end does not: blank lines, other label words."""
    path = tmp_path / "t"
    path.write_text("a b target\n\na c nontarget\n")
    assert len(read_trial_list(path)[0]) == 2
    with pytest.raises(TrialError, match=r"t:2: empty line"):
        read_trials(path)
    path.write_text("a b tgt\na c imp\n")
    assert [t.label for t in read_trial_list(path)[0]] == ["target", "nontarget"]
    with pytest.raises(TrialError, match=r"t:1: label must be 'target' or 'nontarget', got 'tgt'"):
        read_trials(path)
