"""Seeded chunk and multi-crop sampling over the voiced (VAD-kept) frames of utterances.

Positions are counted in *kept-frame* space: a chunk ``(start, length)`` covers kept frames
``start .. start+length-1`` of an utterance after its unvoiced frames are dropped, as Kaldi's
``select-voiced-frames`` followed by chunking does. Every draw takes an explicit numpy
``Generator``; nothing here touches a global random state.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Augmentation types of Kaldi's v2 recipes (suffix of the copy's utterance id): the default set.
AUG_TYPES = ("reverb", "noise", "music", "babble")
#: Types drawn from the MUSAN data dirs (the rest of AUG_TYPES, reverb, from the RIR dirs).
MUSAN_AUG_TYPES = ("noise", "music", "babble")
#: Types that need no signal files (:mod:`utter.data.augment`): ``colour`` is stationary
#: coloured noise over the whole utterance at a random SNR and spectral slope.
SYNTHETIC_AUG_TYPES = ("colour",)
#: Every type an :class:`utter.data.augment.Augmenter` can render.
ALL_AUG_TYPES = AUG_TYPES + SYNTHETIC_AUG_TYPES


@dataclass(frozen=True)
class Crop:
    """One chunk to read: utterance (or augmented copy) ``utt``, kept-frame ``start``, ``length``.

    ``aug``/``aug_seed`` ask the audio path to augment the crop's utterance on the fly
    (``aug`` is None or ``"clean"`` for none); the features path reads ``utt`` as is.
    """

    utt: str
    start: int
    length: int
    aug: str | None = None
    aug_seed: int = 0


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any parts (seed, utterance id, type ...), stable across runs and hosts."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def sample_chunk(num_kept: int, chunk_frames: int, rng: np.random.Generator,
                 min_frames: int = 1) -> tuple[int, int]:
    """Draw ``(start, length)``: ``length = min(chunk_frames, num_kept)``, start uniform.

    Raises ValueError when the utterance has fewer than ``min_frames`` kept frames.
    """
    if chunk_frames < 1:
        raise ValueError(f"chunk length must be at least 1 frame, got {chunk_frames}")
    if num_kept < max(1, min_frames):
        raise ValueError(f"utterance has {num_kept} voiced frames, fewer than the minimum {max(1, min_frames)}")
    length = min(int(chunk_frames), int(num_kept))
    start = int(rng.integers(0, num_kept - length + 1))
    return start, length


def build_orig2copies(utts: Iterable[str], utt2orig: Mapping[str, str]) -> dict[str, list[str]]:
    """Source utterance -> its present views (the clean one first when present, then copies).

    Utterances absent from ``utt2orig`` (or mapped to themselves) are their own source.
    The order of sources follows their first appearance in ``utts``.
    """
    groups: dict[str, list[str]] = {}
    for utt in utts:
        orig = utt2orig.get(utt, utt)
        groups.setdefault(orig, [])
        if utt == orig:
            groups[orig].insert(0, utt)
        else:
            groups[orig].append(utt)
    return groups


def multi_crop(views: Sequence[str], num_kept: Mapping[str, int], rng: np.random.Generator, *,
               global_frames: int = 400, num_global: int = 2, local_frames: int = 200,
               num_local: int = 4, aug_types: Sequence[str] = ()) -> tuple[list[Crop], list[Crop]]:
    """Multi-crop of one source (DINO's views, or any other objective's): ``num_global`` long crops
    and ``num_local`` short ones.

    Each crop first draws its view uniformly from ``views`` (the clean utterance and its
    augmented copies), then its position within that view's kept frames, its length capped
    at the view's length. A view shorter than the global crop keeps the multi-crop structure:
    its global crops are the whole view and its local crops shrink in proportion
    (``local_frames * length / global_frames``), so they stay parts of it rather than copies of
    the whole. With ``aug_types`` (audio path) each crop also draws an on-the-fly augmentation
    type from ``("clean",) + aug_types`` and a seed for it.
    """
    if not views:
        raise ValueError("multi_crop needs at least one view")

    def one(frames: int, local: bool = False) -> Crop:
        utt = views[int(rng.integers(len(views)))]
        n = num_kept[utt]
        if local and n < global_frames:
            frames = max(1, min(frames, round(frames * n / global_frames)))
        start, length = sample_chunk(n, frames, rng)
        if aug_types:
            kinds = ("clean",) + tuple(aug_types)
            aug = kinds[int(rng.integers(len(kinds)))]
            return Crop(utt, start, length, aug, int(rng.integers(0, 2**63 - 1)))
        return Crop(utt, start, length)

    return [one(global_frames) for _ in range(num_global)], [one(local_frames, True) for _ in range(num_local)]
