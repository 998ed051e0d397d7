"""Cluster a data dir's embeddings into pseudo speakers and write a data dir labelled by cluster.

  python -m utter.bin.cluster_embeddings --num-clusters 1000 --min-cluster-size 4 \\
      exp/dino/emb/train/xvector.scp data/train data/train_pseudo1

The output dir's utt2spk is the cluster (utterances renamed <cluster>-<utt>; utt2pseudo,
utt2spk_true and utt2orig_utt beside it); clusters smaller than --min-cluster-size are
dropped and counted. The figures (clusters, dropped utterances, purity and NMI against the
true speakers when the input has them) go to --results (JSON).
"""
from __future__ import annotations

import logging

from utter.bin.common import main_entry, make_parser

log = logging.getLogger("utter")


def build_parser():
    p = make_parser(__doc__.splitlines()[0])
    p.add_argument("--method", default="kmeans", choices=["kmeans", "agglomerative"],
                   help="spherical k-means (sampled fit, chunked assignment) or average-linkage agglomerative")
    p.add_argument("--num-clusters", type=int, default=0,
                   help="number of clusters k (required for kmeans; agglomerative: 0 means cut at --threshold)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="agglomerative with --num-clusters 0: cosine-distance cut")
    p.add_argument("--min-cluster-size", type=int, default=2, help="drop clusters with fewer utterances")
    p.add_argument("--sample-size", type=int, default=200000,
                   help="k-means centroids are fitted on at most this many embeddings (0: all)")
    p.add_argument("--seed", type=int, default=0, help="k-means seeding and sampling seed")
    p.add_argument("--aug-data", default="", help="augmented copies of <data-dir> (utt2orig) to relabel too")
    p.add_argument("--aug-out", default="", help="where the relabelled augmented copies go (with --aug-data)")
    p.add_argument("--results", default="", help="write the figures to this JSON file")
    p.add_argument("emb_scp", help="embeddings of <data-dir>'s utterances (xvector.scp)")
    p.add_argument("data_dir", help="input data dir (its utt2spk, when not utt->utt, gives the true speakers)")
    p.add_argument("out_dir", help="output data dir labelled by cluster")
    return p


def main(args) -> None:
    from utter.metrics.results import write_results_json
    from utter.transfer.pseudo_labels import cluster_data_dir

    if args.min_cluster_size < 1:
        raise ValueError(f"--min-cluster-size must be at least 1, got {args.min_cluster_size}")
    figures = cluster_data_dir(
        args.emb_scp, args.data_dir, args.out_dir, method=args.method, num_clusters=args.num_clusters or None,
        min_cluster_size=args.min_cluster_size, sample_size=args.sample_size or None, seed=args.seed,
        threshold=args.threshold, aug_data=args.aug_data or None, aug_out=args.aug_out or None)
    figures.update(embeddings=args.emb_scp, data=args.data_dir, out=args.out_dir)
    if args.results:
        write_results_json(args.results, figures)
    print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main_entry(main, build_parser)
