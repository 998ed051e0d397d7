"""Chunk and multi-crop sampling: bounds, lengths, view selection, seeding."""
from __future__ import annotations

import numpy as np
import pytest

from utter.data.chunks import Crop, build_orig2copies, derive_seed, multi_crop, sample_chunk


def test_sample_chunk_bounds_cap_and_uniform_start():
    rng = np.random.default_rng(0)
    starts = [sample_chunk(300, 200, rng) for _ in range(3000)]
    assert all(length == 200 and 0 <= s <= 100 for s, length in starts)
    counts = np.bincount([s for s, _ in starts], minlength=101)
    assert counts.min() > 0 and counts.max() < 3 * counts.mean()  # every start drawn, roughly uniform
    assert sample_chunk(150, 200, rng) == (0, 150)  # capped at the utterance length
    with pytest.raises(ValueError, match="fewer than the minimum 100"):
        sample_chunk(60, 200, rng, min_frames=100)


def test_build_orig2copies():
    utts = ["a", "a-noise", "a-reverb", "b-music", "c"]
    groups = build_orig2copies(utts, {"a-noise": "a", "a-reverb": "a", "b-music": "b"})
    assert groups == {"a": ["a", "a-noise", "a-reverb"], "b": ["b-music"], "c": ["c"]}


def test_multi_crop_counts_lengths_and_views():
    views = ["u", "u-noise", "u-reverb"]
    kept = {"u": 500, "u-noise": 500, "u-reverb": 300}
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(200):
        g, loc = multi_crop(views, kept, rng, global_frames=400, num_global=2, local_frames=200, num_local=4)
        assert len(g) == 2 and len(loc) == 4
        for c in g:
            assert c.length == min(400, kept[c.utt])
        for c in loc:   # a view shorter than the global crop: local crops in proportion (300 -> 150)
            assert c.length == (200 if kept[c.utt] >= 400 else round(200 * kept[c.utt] / 400))
        for c in g + loc:
            assert 0 <= c.start and c.start + c.length <= kept[c.utt]
            seen.add(c.utt)
    assert seen == set(views)  # every clean and augmented view gets drawn
    a = multi_crop(views, kept, np.random.default_rng(5))
    b = multi_crop(views, kept, np.random.default_rng(5))
    assert a == b
    g, _ = multi_crop(["u"], kept, np.random.default_rng(0), aug_types=("noise", "music"))
    assert all(isinstance(c, Crop) and c.aug in ("clean", "noise", "music") for c in g)


def test_derive_seed_stable():
    assert derive_seed(0, "utt1", "noise") == derive_seed(0, "utt1", "noise")
    assert len({derive_seed(0, "utt1", t) for t in ("reverb", "noise", "music", "babble")}) == 4
    assert all(0 <= derive_seed(i, "x") < 2**63 for i in range(50))
