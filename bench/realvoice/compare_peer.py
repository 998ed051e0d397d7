#!/usr/bin/env python3
"""Ours beside the peer on the dev half, paired: the difference EER(ours) - EER(WeSpeaker) over the
pretraining seeds (seed s of ours paired with seed s of the peer), with a 95% interval that counts the
seeds' spread and a bootstrap over the speakers on both sides of the trials
(utter.metrics.paired.pretrained_eer_interval); cosine raw and after subtracting the training mean.

    compare_peer.py bench/out/realvoice bench/out/custom_dev/exp/abl/shipped_s0,bench/out/custom_dev/exp/abl/shipped_s1 \
        /work/peer_out/seed0,/work/peer_out/seed1

Ours: RUN/emb/eval/xvector.scp (ablate_dino.sh), keyed by egs/custom's utterance ids (the path below
the half, '/' as '-', no extension); the peer: SEED/embeddings/dev/xvector.scp keyed by the path below
the half (peer_wespeaker.sh). Both score the corpus's own trials.txt, in its order.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import kaldiio
import numpy as np

from utter.data.kaldi_io import read_embeddings
from utter.metrics.paired import pretrained_eer_interval


def trial_scores(ids: list[str], x: np.ndarray, enroll: list[str], test: list[str], centred: bool) -> np.ndarray:
    y = x - x.mean(0) if centred else x
    z = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    pos = {u: i for i, u in enumerate(ids)}
    return np.einsum("ij,ij->i", z[[pos[u] for u in enroll]], z[[pos[u] for u in test]])


def utt_id(path: str) -> str:
    """egs/custom's utterance id of a file below the half (local/plain/make_data_dir.sh's rule)."""
    return path.rsplit(".", 1)[0].replace("/", "-")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", type=Path)
    p.add_argument("ours", help="comma-separated run dirs, one per seed")
    p.add_argument("peer", help="comma-separated peer seed dirs, in the same seed order")
    p.add_argument("--half", default="dev")
    args = p.parse_args()
    lines = [ln.split() for ln in (args.corpus / args.half / "trials.txt").read_text().splitlines() if ln.strip()]
    paths_e, paths_t = [ln[0] for ln in lines], [ln[1] for ln in lines]
    labels = np.array([ln[2] == "target" for ln in lines])
    spk_e, spk_t = [q.split("/")[0] for q in paths_e], [q.split("/")[0] for q in paths_t]
    ours_runs, peer_runs = [Path(r) for r in args.ours.split(",")], [Path(r) for r in args.peer.split(",")]
    for centred in (False, True):
        a, b = [], []
        for run in ours_runs:
            ids, x = read_embeddings(run / "emb" / "eval" / "xvector.scp")
            a.append(trial_scores(ids, x, [utt_id(q) for q in paths_e], [utt_id(q) for q in paths_t], centred))
        for run in peer_runs:
            embs = dict(kaldiio.load_scp(str(run / "embeddings" / args.half / "xvector.scp")))
            ids = sorted(embs)
            b.append(trial_scores(ids, np.stack([embs[k] for k in ids]), paths_e, paths_t, centred))
        iv = pretrained_eer_interval(labels, a, b, spk_e, spk_t, num_resamples=1000, seed=0)
        print(f"{'mean subtracted' if centred else 'cosine'}: EER(ours) - EER(peer) = {iv.mean:+.2f} "
              f"[{iv.low:+.2f}, {iv.high:+.2f}] points (95%, {iv.method}); p {iv.p_value:.3f}")


if __name__ == "__main__":
    main()
