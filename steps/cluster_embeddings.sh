#!/usr/bin/env bash
# Pseudo speaker labels: cluster the embeddings of a data dir and write a copy of the dir whose
# utt2spk is the cluster (so steps/train_xvector.sh trains on it unchanged).
#
# usage: steps/cluster_embeddings.sh [options] <emb-scp> <data-dir> <out-data-dir>
#  e.g.: steps/cluster_embeddings.sh --num-clusters 6000 --min-cluster-size 8 \
#          exp/dino/emb/voxceleb2_dev/xvector.scp data/voxceleb2_dev data/voxceleb2_dev_pseudo1
# Utterances are renamed <cluster>-<utt> (Kaldi wants speaker ids to prefix utterance ids) in
# every per-utterance table; <out-data-dir>/utt2pseudo is the cluster, utt2spk_true the true
# speaker, utt2orig_utt the original id. Clusters smaller than --min-cluster-size are dropped
# (their utterances counted in the log and the JSON). Writes <out-data-dir>/cluster.json:
# clusters found/kept, utterances kept/dropped, and purity, inverse purity and NMI against the
# true speakers when <data-dir>'s utt2spk has them (not utt -> utt). Skips when the outputs are
# newer than the inputs, unless --overwrite true.
# options:
#   --method kmeans|agglomerative   clustering (default kmeans: spherical, sampled fit, chunked assignment)
#   --num-clusters K                number of clusters (required with kmeans)
#   --min-cluster-size N            drop clusters with fewer utterances (default 2)
#   --sample-size S                 k-means centroids fitted on at most S embeddings (default 200000; 0: all)
#   --seed S                        clustering seed (default 0)
#   --aug-data DIR --aug-out DIR    relabel the augmented copies (utt2orig) of the kept utterances too
#   --overwrite true|false          recompute even when the outputs are complete (default false)
set -euo pipefail

method=kmeans
num_clusters=0
min_cluster_size=2
sample_size=200000
seed=0
aug_data=
aug_out=
overwrite=false

. "$(dirname "$0")/../utils/step_lib.sh"   # --help, the options, utils/ on PATH
if [ $# -ne 3 ]; then usage; fi
emb=$1; data=$2; dir=$3

[ -f "$emb" ] || { echo "$0: no such embedding file $emb" >&2; exit 1; }
[ -f "$data/utt2spk" ] || { echo "$0: no such file $data/utt2spk" >&2; exit 1; }
if [ "$method" = kmeans ] && [ "$num_clusters" -le 0 ]; then
  echo "$0: --method kmeans needs --num-clusters K" >&2; exit 1
fi
if [ -n "$aug_data" ] && [ -z "$aug_out" ]; then
  echo "$0: --aug-data needs --aug-out" >&2; exit 1
fi
outputs="$dir/utt2spk $dir/spk2utt $dir/utt2pseudo $dir/cluster.json"
[ -n "$aug_out" ] && outputs="$outputs $aug_out/utt2spk $aug_out/utt2orig"
# shellcheck disable=SC2086
if up_to_date "$dir" "$emb $data/utt2spk" $outputs; then exit 0; fi

rm -rf "$dir"
[ -n "$aug_out" ] && rm -rf "$aug_out"
mkdir -p "$dir/log"
aug_opts=()
[ -n "$aug_data" ] && aug_opts=(--aug-data "$aug_data" --aug-out "$aug_out")
if ! python -m utter.bin.cluster_embeddings --method "$method" --num-clusters "$num_clusters" \
    --min-cluster-size "$min_cluster_size" --sample-size "$sample_size" --seed "$seed" "${aug_opts[@]}" \
    --results "$dir/cluster.json.tmp" "$emb" "$data" "$dir" 2> "$dir/log/cluster.log"; then
  cat "$dir/log/cluster.log" >&2
  echo "$0: clustering failed; see $dir/log/cluster.log" >&2
  exit 1
fi
vopts=(--no-text)
[ -f "$dir/wav.scp" ] || vopts+=(--no-wav)
[ -f "$dir/feats.scp" ] || vopts+=(--no-feats)
validate_data_dir.sh "${vopts[@]}" "$dir" > /dev/null || {
  echo "$0: the written data dir $dir does not validate" >&2; exit 1; }
mv "$dir/cluster.json.tmp" "$dir/cluster.json"
grep -E 'kept|purity' "$dir/log/cluster.log" | tail -n 1 >&2 || true
echo "$0: wrote $dir (utt2spk = pseudo speakers) and $dir/cluster.json${aug_out:+; $aug_out (augmented copies)}"
