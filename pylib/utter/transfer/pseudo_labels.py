"""Pseudo speaker labels: cluster a data dir's embeddings and write a data dir labelled by cluster.

The written dir's ``utt2spk`` *is* the cluster id, so every speaker-supervised stage
(``steps/train_xvector.sh``) runs on it unchanged. Kaldi tools need speaker ids to prefix
utterance ids, so each kept utterance ``U`` of cluster ``pseudo00007`` becomes
``pseudo00007-U`` in every per-utterance table (``utt2orig_utt`` maps it back); the true
speaker is kept in ``utt2spk_true``. Utterances of clusters smaller than the minimum size are
removed and counted. Purity and NMI are measured against the true labels when the input has them.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from utter.backend.cluster import cluster_labels, drop_small_clusters, nmi, purity
from utter.data.datadir import UTT_TABLES, DataDir, DataDirError, read_table, utt2spk_to_spk2utt, write_table
from utter.data.kaldi_io import read_embeddings

log = logging.getLogger(__name__)

#: Tables written by :func:`write_pseudo_data_dir` itself (not copied from the source).
OWN_TABLES = ("utt2spk", "utt2pseudo", "utt2spk_true", "utt2orig_utt")


def has_true_labels(utt2spk: Mapping[str, str]) -> bool:
    """False for an unlabelled dir (Kaldi convention: every utterance its own speaker)."""
    return any(u != s for u, s in utt2spk.items())


def cluster_name(index: int, width: int) -> str:
    """The pseudo speaker id of cluster ``index`` (zero-padded, so ids sort in cluster order)."""
    return f"pseudo{index:0{width}d}"


def rekey_data_dir(src: str | os.PathLike, dest: str | os.PathLike, new_ids: Mapping[str, str],
                   utt2spk: Mapping[str, str], skip: tuple[str, ...] = OWN_TABLES) -> list[str]:
    """Copy the per-utterance and recording tables of ``src`` into ``dest`` for the utterances of
    ``new_ids`` (old id -> new id), renaming the utterance keys; write ``utt2spk``/``spk2utt``.

    Speaker tables (``spk2gender``, ``cmvn.scp``) belong to the old speakers and are not copied;
    their names are returned so the caller can say so.
    """
    src_dir, dest = DataDir(src), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    has_segments = src_dir.has("segments")
    for name in UTT_TABLES + (() if has_segments else ("wav.scp",)):
        if name in skip or not src_dir.has(name):
            continue
        table = read_table(src_dir.file(name))
        missing = [u for u in new_ids if u not in table]
        if missing and name in ("feats.scp", "vad.scp", "wav.scp", "segments"):
            raise DataDirError(f"{src_dir.file(name)}: no entry for utterance {missing[0]} "
                               f"({len(missing)} missing)")
        write_table(dest / name, ((new, table[old]) for old, new in new_ids.items() if old in table))
    if has_segments:
        recos = {read_table(src_dir.file("segments"))[u].split()[0] for u in new_ids}
        for name in ("wav.scp", "reco2file_and_channel", "reco2dur"):
            if src_dir.has(name):
                write_table(dest / name, ((r, v) for r, v in read_table(src_dir.file(name)).items() if r in recos))
    write_table(dest / "utt2spk", utt2spk)
    write_table(dest / "spk2utt", utt2spk_to_spk2utt(OrderedDict(sorted(utt2spk.items()))))
    return [n for n in ("spk2gender", "cmvn.scp") if src_dir.has(n)]


def write_pseudo_data_dir(data_dir: str | os.PathLike, out_dir: str | os.PathLike, utts: list[str],
                          labels: np.ndarray) -> dict[str, str]:
    """Write ``out_dir``: utterances with label >= 0 renamed ``<cluster>-<utt>``, ``utt2spk`` the
    cluster. Returns the old -> new utterance id map of the kept utterances."""
    src = DataDir(data_dir)
    true = src.utt2spk
    width = max(5, len(str(max(int(labels.max()), 0))))
    new_ids, utt2spk, pseudo, true_out, back = {}, {}, {}, {}, {}
    for u, c in zip(utts, labels):
        if c < 0:
            continue
        spk = cluster_name(int(c), width)
        new = f"{spk}-{u}"
        new_ids[u] = new
        utt2spk[new] = pseudo[new] = spk
        true_out[new] = true[u]
        back[new] = u
    if not new_ids:
        raise ValueError(f"every utterance of {data_dir} was dropped: lower --min-cluster-size")
    dropped = rekey_data_dir(data_dir, out_dir, new_ids, utt2spk)
    if dropped:
        log.info("%s: speaker tables %s not copied (they describe the true speakers)", out_dir, ", ".join(dropped))
    write_table(Path(out_dir) / "utt2pseudo", pseudo)
    write_table(Path(out_dir) / "utt2spk_true", true_out)
    write_table(Path(out_dir) / "utt2orig_utt", back)
    return new_ids


def pseudo_label_aug_dir(aug_dir: str | os.PathLike, out_dir: str | os.PathLike,
                         new_ids: Mapping[str, str]) -> int:
    """The augmented copies (``utt2orig``: copy -> source) of the kept sources, renamed and labelled
    like their sources, with ``utt2orig`` naming the renamed sources. Returns the number of copies."""
    aug = DataDir(aug_dir)
    if not aug.has("utt2orig"):
        raise DataDirError(f"{aug.file('utt2orig')}: no such file (the augmented dir names each copy's source)")
    orig = read_table(aug.file("utt2orig"))
    copies = {c: new_ids[s] for c, s in orig.items() if s in new_ids}
    renamed = {c: f"{src.split('-', 1)[0]}-{c}" for c, src in copies.items()}
    if not renamed:
        raise ValueError(f"{aug_dir}: no augmented copy of a kept utterance (utt2orig names other sources)")
    utt2spk = {new: new.split("-", 1)[0] for new in renamed.values()}
    rekey_data_dir(aug_dir, out_dir, renamed, utt2spk, skip=OWN_TABLES + ("utt2orig",))
    write_table(Path(out_dir) / "utt2orig", {renamed[c]: copies[c] for c in renamed})
    return len(renamed)


def cluster_data_dir(emb_scp: str | os.PathLike, data_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                     method: str = "kmeans", num_clusters: int | None = None, min_cluster_size: int = 1,
                     sample_size: int | None = 200_000, seed: int = 0, threshold: float | None = None,
                     aug_data: str | os.PathLike | None = None, aug_out: str | os.PathLike | None = None
                     ) -> dict:
    """Cluster the embeddings of ``data_dir``'s utterances and write the pseudo-labelled dir.

    Returns the figures (clusters found/kept, utterances kept/dropped, and, when the input has
    true speaker labels, purity, inverse purity and NMI of the kept utterances against them).
    """
    src = DataDir(data_dir)
    utt2spk = src.utt2spk
    ids, x = read_embeddings(emb_scp)
    row = {u: i for i, u in enumerate(ids)}
    missing = [u for u in utt2spk if u not in row]
    if missing:
        raise ValueError(f"{emb_scp}: no embedding for {len(missing)} utterance(s) of {data_dir}, "
                         f"e.g. {missing[0]}")
    utts = list(utt2spk)
    x = x[[row[u] for u in utts]]
    raw = cluster_labels(x, method, num_clusters, seed=seed, sample_size=sample_size, threshold=threshold)
    labels = drop_small_clusters(raw, min_cluster_size)
    kept = labels >= 0
    new_ids = write_pseudo_data_dir(data_dir, out_dir, utts, labels)
    figures: dict = {
        "method": method, "num_clusters_requested": num_clusters, "min_cluster_size": min_cluster_size,
        "num_clusters_found": int(len(np.unique(raw))), "num_clusters_kept": int(labels.max()) + 1,
        "utterances": len(utts), "utterances_kept": int(kept.sum()), "utterances_dropped": int((~kept).sum()),
    }
    figures["clusters_dropped"] = figures["num_clusters_found"] - figures["num_clusters_kept"]
    if has_true_labels(utt2spk):
        truth = np.array([utt2spk[u] for u in utts])
        figures["true_speakers"] = int(len(np.unique(truth)))
        figures["true_speakers_kept"] = int(len(np.unique(truth[kept])))
        figures["purity"] = purity(labels[kept], truth[kept])
        figures["inverse_purity"] = purity(truth[kept], labels[kept])
        figures["nmi"] = nmi(labels[kept], truth[kept])
    if aug_data:
        if not aug_out:
            raise ValueError("--aug-data needs --aug-out (where to write the pseudo-labelled copies)")
        figures["aug_copies"] = pseudo_label_aug_dir(aug_data, aug_out, new_ids)
    log.info("%s: %d of %d utterances kept in %d clusters (%d clusters smaller than %d dropped)%s",
             out_dir, figures["utterances_kept"], len(utts), figures["num_clusters_kept"],
             figures["clusters_dropped"], min_cluster_size,
             f"; purity {figures['purity']:.3f}, NMI {figures['nmi']:.3f} against {figures['true_speakers']} "
             "true speakers" if "purity" in figures else "")
    return figures
