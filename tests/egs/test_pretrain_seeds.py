"""Pretraining seeds in the recipes (--pretrain-seeds, issue 23): the system names of each seed
(utils/recipe_lib.sh) and ADReSS's fresh draw of the cv speaker groups per seed.

References: the names and paths written out here by hand; the speaker groups against their
definition (every speaker in exactly one group, both labels in each, seed 0 the groups of before).
"""
from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest

from utter.data.corpora.adress import speaker_folds

LIB = Path(__file__).resolve().parents[2] / "utils" / "recipe_lib.sh"


def _lib(script: str, seeds: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f'. "{LIB}"; pretrain_seeds="{seeds}"; {script}'],
                          capture_output=True, text=True)


def test_systems_and_paths_of_each_pretraining_seed():
    out = _lib('check_pretrain_seeds; pretrain_systems dino xvector; pretrained_paths dino scores/O/cosine; '
               'for s in dino dino_p3 xvector_p12 dino_pl1; do '
               'echo "$s $(pretrain_seed_of $s) $(pretrain_base $s) [$(pretrain_suffix $s)]"; done', "0 3 12")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "dino xvector dino_p3 xvector_p3 dino_p12 xvector_p12",
        "exp/dino/scores/O/cosine,exp/dino_p3/scores/O/cosine,exp/dino_p12/scores/O/cosine",
        "dino 0 dino []", "dino_p3 3 dino [_p3]", "xvector_p12 12 xvector [_p12]",
        "dino_pl1 0 dino_pl1 []"]   # a pseudo-label round (pl) is not a pretraining seed
    assert _lib("pretrain_systems dino", "5").stdout.strip() == "dino"   # one seed: the names of before


@pytest.mark.parametrize("seeds, message", [("0 x", "non-negative integers"), ("1 1", "repeats 1"),
                                            (" ", "is empty")])
def test_bad_pretraining_seeds_are_refused(seeds, message):
    out = _lib("check_pretrain_seeds; echo ran on", seeds)
    assert out.returncode != 0 and message in out.stderr and "ran on" not in out.stdout


def test_each_pretraining_seed_draws_its_own_speaker_groups():
    spk2label = {f"S{k:03d}": ("cd" if k % 2 else "cc") for k in range(40)}
    draws = {seed: speaker_folds(spk2label, 5, seed) for seed in (0, 1, 2)}
    assert draws[0] == speaker_folds(spk2label, 5)   # seed 0: the groups of before
    for folds in draws.values():
        assert sorted(s for f in folds.values() for s in f) == sorted(spk2label)
        for f in folds.values():
            assert Counter(spk2label[s] for s in f) == {"cc": 4, "cd": 4}   # stratified
    as_sets = {seed: {frozenset(f) for f in folds.values()} for seed, folds in draws.items()}
    assert as_sets[0] != as_sets[1] and as_sets[1] != as_sets[2]
    assert speaker_folds(spk2label, 5, 1) == draws[1]   # deterministic
