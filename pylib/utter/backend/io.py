"""Kaldi files of the scoring back-ends: embeddings (scp/ark), trial lists, score files, model npz.

Embeddings come from ``xvector.scp`` (read with kaldiio, numpy only); trials are
``enroll test [target|nontarget]`` lines; scores are ``enroll test score`` lines; enrolment
files are ``spk2utt``-style (``model utt1 utt2 ...``). Every malformed line is reported by
file and line, and a trial naming an utterance with no embedding by name and count.
"""
from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utter.atomic import atomic_open, atomic_path
from utter.data.datadir import read_list_table

LABELS = {"target": True, "nontarget": False}


class MissingEmbeddingError(ValueError):
    """Trials or enrolment name utterances that have no embedding."""


def check_embeddings(x: np.ndarray, ids: Sequence[str] | None = None, dim: int | None = None,
                     what: str = "embeddings") -> np.ndarray:
    """Return ``x`` as a finite float64 matrix; name the first bad utterances, or the dimension clash."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{what}: expected a 2-D matrix of embeddings, got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{what}: embeddings have dimension {x.shape[1]} but the model expects {dim}")
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        names = [ids[i] for i in bad[:5]] if ids is not None else bad[:5].tolist()
        raise ValueError(f"{what}: {len(bad)} embeddings are not finite (first: {', '.join(map(str, names))})")
    return x


def read_embeddings(scp: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Read an ``xvector.scp`` (or ark) into (utterance ids in file order, float64 [N, D] matrix)."""
    import kaldiio

    scp = str(scp)
    if not Path(scp).is_file():
        raise FileNotFoundError(f"{scp}: no such embedding file")
    reader = kaldiio.load_scp_sequential(scp) if not scp.endswith(".ark") else kaldiio.load_ark(scp)
    ids: list[str] = []
    rows: list[np.ndarray] = []
    dim = None
    for utt, vec in reader:
        vec = np.asarray(vec, dtype=np.float64).reshape(-1)
        if dim is None:
            dim = vec.size
        elif vec.size != dim:
            raise ValueError(f"{scp}: embedding of '{utt}' has dimension {vec.size}, the first had {dim}")
        ids.append(utt)
        rows.append(vec)
    if not ids:
        raise ValueError(f"{scp}: no embeddings")
    if len(set(ids)) != len(ids):
        dup = next(u for u in ids if ids.count(u) > 1)
        raise ValueError(f"{scp}: utterance '{dup}' appears more than once")
    return ids, check_embeddings(np.stack(rows), ids, what=scp)


def write_embeddings(path: str | os.PathLike, ids: Sequence[str], x: np.ndarray) -> None:
    """Write float32 vectors to ``path.ark`` with ``path.scp`` beside it (``path`` without extension)."""
    import kaldiio

    path = Path(path)
    ark, scp = path.with_suffix(".ark"), path.with_suffix(".scp")
    with atomic_path(scp) as tmp_scp:
        with kaldiio.WriteHelper(f"ark,scp:{ark},{tmp_scp}") as w:
            for utt, vec in zip(ids, x):
                w(utt, np.asarray(vec, dtype=np.float32))


@dataclass
class Trials:
    """A trial list: enrolment ids, test ids and (when the file has them) boolean target labels."""

    enroll: list[str]
    test: list[str]
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.enroll)


def read_trials(path: str | os.PathLike, require_labels: bool = False) -> Trials:
    """Read ``enroll test [target|nontarget]`` lines; all lines must agree on having a label."""
    enroll: list[str] = []
    test: list[str] = []
    labels: list[bool] = []
    n_fields = None
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                raise ValueError(f"{path}:{lineno}: empty line")
            if len(parts) not in (2, 3):
                raise ValueError(f"{path}:{lineno}: expected 'enroll test [target|nontarget]', got '{line.strip()}'")
            if n_fields is None:
                n_fields = len(parts)
            elif len(parts) != n_fields:
                raise ValueError(f"{path}:{lineno}: {len(parts)} fields but the first line had {n_fields}")
            if len(parts) == 3:
                if parts[2] not in LABELS:
                    raise ValueError(f"{path}:{lineno}: label must be 'target' or 'nontarget', got '{parts[2]}'")
                labels.append(LABELS[parts[2]])
            enroll.append(parts[0])
            test.append(parts[1])
    if not enroll:
        raise ValueError(f"{path}: no trials")
    if require_labels and n_fields != 3:
        raise ValueError(f"{path}: trials have no target/nontarget labels")
    lab = np.array(labels, dtype=bool) if n_fields == 3 else None
    return Trials(enroll, test, lab)


def write_scores(path: str | os.PathLike, enroll: Sequence[str], test: Sequence[str], scores: np.ndarray) -> None:
    """Write ``enroll test score`` lines atomically, in trial order."""
    scores = np.asarray(scores, dtype=np.float64)
    if not (len(enroll) == len(test) == len(scores)):
        raise ValueError(f"{path}: {len(enroll)} enrolment ids, {len(test)} test ids, {len(scores)} scores")
    with atomic_open(path, "w") as f:
        f.writelines(f"{e} {t} {s:.6f}\n" for e, t, s in zip(enroll, test, scores.tolist()))


def read_scores(path: str | os.PathLike) -> tuple[list[str], list[str], np.ndarray]:
    """Read ``enroll test score`` lines into (enroll ids, test ids, float64 scores)."""
    enroll: list[str] = []
    test: list[str] = []
    scores: list[float] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if len(parts) != 3:
                raise ValueError(f"{path}:{lineno}: expected 'enroll test score', got '{line.strip()}'")
            try:
                s = float(parts[2])
            except ValueError:
                raise ValueError(f"{path}:{lineno}: score '{parts[2]}' is not a number") from None
            if not np.isfinite(s):
                raise ValueError(f"{path}:{lineno}: score '{parts[2]}' is not finite")
            enroll.append(parts[0])
            test.append(parts[1])
            scores.append(s)
    if not scores:
        raise ValueError(f"{path}: no scores")
    return enroll, test, np.array(scores)


def align_scores(trials: Trials, enroll: Sequence[str], test: Sequence[str], scores: np.ndarray,
                 what: str = "scores") -> np.ndarray:
    """Scores in trial-list order, looked up by (enroll, test); names the trials that have no score."""
    table = {(e, t): i for i, (e, t) in enumerate(zip(enroll, test))}
    idx = np.fromiter((table.get(k, -1) for k in zip(trials.enroll, trials.test)), dtype=np.int64,
                      count=len(trials))
    missing = np.flatnonzero(idx < 0)
    if len(missing):
        first = ", ".join(f"'{trials.enroll[i]} {trials.test[i]}'" for i in missing[:3])
        raise ValueError(f"{what}: {len(missing)} of {len(trials)} trials have no score (first: {first})")
    return np.asarray(scores)[idx]


def read_enrollment(path: str | os.PathLike) -> OrderedDict[str, list[str]]:
    """Read a ``spk2utt``-style enrolment file: model id -> its enrolment utterances."""
    return read_list_table(path)


def index_ids(ids: Sequence[str], wanted: Sequence[str], what: str) -> np.ndarray:
    """Row of each wanted id in ``ids``; a clear error naming the first missing ones and their count."""
    pos = {u: i for i, u in enumerate(ids)}
    idx = np.fromiter((pos.get(u, -1) for u in wanted), dtype=np.int64, count=len(wanted))
    if (idx < 0).any():
        missing = list(OrderedDict.fromkeys(u for u, i in zip(wanted, idx) if i < 0))
        shown = ", ".join(missing[:5])
        raise MissingEmbeddingError(f"{what}: {len(missing)} utterances have no embedding (first: {shown})")
    return idx


def save_npz(path: str | os.PathLike, kind: str, arrays: Mapping[str, np.ndarray], meta: Mapping | None = None) -> None:
    """Save a back-end model: named arrays plus JSON metadata with its ``kind``, atomically."""
    info = json.dumps({"kind": kind, **(meta or {})})
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, _meta=np.array(info), **{k: np.asarray(v) for k, v in arrays.items()})


def load_npz(path: str | os.PathLike, kind: str | Sequence[str] | None = None) -> tuple[dict, dict]:
    """Load (metadata, arrays) saved by :func:`save_npz`; checks the model ``kind`` when given."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    with np.load(path, allow_pickle=False) as z:
        if "_meta" not in z.files:
            raise ValueError(f"{path}: not a back-end model file (no metadata)")
        meta = json.loads(str(z["_meta"]))
        arrays = {k: z[k] for k in z.files if k != "_meta"}
    kinds = [kind] if isinstance(kind, str) else kind
    if kinds is not None and meta.get("kind") not in kinds:
        raise ValueError(f"{path}: a '{meta.get('kind')}' model, expected {' or '.join(kinds)}")
    return meta, arrays
