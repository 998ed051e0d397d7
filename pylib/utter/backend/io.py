"""Files of the scoring back-ends: trial lists, score files, model npz; and embedding checks.

Trials are ``enroll test [target|nontarget]`` lines; scores are ``enroll test score`` lines;
models are npz files with their ``kind`` in JSON metadata. Every malformed line is reported by
file and line, and a trial naming an utterance with no embedding by name and count. Embeddings
(``xvector.scp``) and enrolment files (``spk2utt`` style) are read above this room, in
:mod:`utter.data.kaldi_io` and :mod:`utter.transfer.verification`.
"""
from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utter.atomic import atomic_open, atomic_path
from utter.trials import TrialError, parse_trials


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


@dataclass
class Trials:
    """A trial list: enrolment ids, test ids and (when the file has them) boolean target labels."""

    enroll: list[str]
    test: list[str]
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.enroll)


def read_trials(path: str | os.PathLike, require_labels: bool = False) -> Trials:
    """Read ``enroll test [target|nontarget]`` lines (:func:`utter.trials.parse_trials`, strict: no
    empty line, Kaldi's two labels only); all lines must agree on having a label."""
    with open(path, encoding="utf-8") as f:
        trials = parse_trials(f, path, "kaldi", strict=True)
    labelled = trials.label[0] is not None
    if require_labels and not labelled:
        raise TrialError(f"{path}: trials have no target/nontarget labels")
    lab = np.array([lab == "target" for lab in trials.label], dtype=bool) if labelled else None
    return Trials(trials.enroll, trials.test, lab)


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


def read_npz(path: str | os.PathLike, what: str = "model") -> tuple[dict, dict]:
    """(JSON metadata ``_meta``, arrays) of a model ``.npz``; a ValueError naming the file when it is
    empty, truncated or corrupt (numpy's zipfile errors otherwise end in a traceback)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if "_meta" not in z.files:
                raise ValueError(f"{path}: not a {what} file (no metadata)")
            meta = json.loads(str(z["_meta"]))
            arrays = {k: z[k] for k in z.files if k != "_meta"}
    except (zipfile.BadZipFile, EOFError, zlib.error, KeyError, OSError, json.JSONDecodeError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        size = Path(path).stat().st_size
        raise ValueError(f"{path}: not a readable {what} file ({size} bytes; {type(e).__name__}: {e}): "
                         "truncated or corrupt, write it again (the step that made it, --overwrite true)") from None
    except ValueError as e:
        if str(e).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable {what} file ({e}): truncated or corrupt, write it again "
                         "(the step that made it, --overwrite true)") from None
    return meta, arrays


def load_npz(path: str | os.PathLike, kind: str | Sequence[str] | None = None) -> tuple[dict, dict]:
    """Load (metadata, arrays) saved by :func:`save_npz`; checks the model ``kind`` when given."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    meta, arrays = read_npz(path, "back-end model")
    kinds = [kind] if isinstance(kind, str) else kind
    if kinds is not None and meta.get("kind") not in kinds:
        raise ValueError(f"{path}: a '{meta.get('kind')}' model, expected {' or '.join(kinds)}")
    return meta, arrays
