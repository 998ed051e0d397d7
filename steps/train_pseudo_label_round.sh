#!/usr/bin/env bash
# One pseudo-label round after DINO (Cho et al., Interspeech 2022; hyperion ssl.v1): cluster the
# current model's embeddings of the training set into pseudo speakers, then fine-tune the model
# as an AAM-softmax speaker classifier on them, affine layers first, then the whole network.
#
# usage: steps/train_pseudo_label_round.sh [options] <init-model.pt> <emb-scp> <train-data-dir> <round-dir>
#  e.g.: steps/train_pseudo_label_round.sh --num-clusters 7500 exp/dino/final.pt \
#          exp/dino/emb/voxceleb2_dev/xvector.scp data/voxceleb2_dev exp/dino_pl1
# <emb-scp> holds <init-model>'s embeddings of <train-data-dir> (steps/extract_embeddings.sh).
# Writes <round-dir>/data (pseudo-labelled copy of <train-data-dir>, cluster.json with purity/NMI),
# <round-dir>/affine/final.pt (network from <init-model>, only its last affine layers and a new
# AAM-softmax head trained), <round-dir>/full/final.pt (every parameter, from affine/final.pt and
# its head) and <round-dir>/final.pt (a link to full/final.pt). Each step skips when done.
# options:
#   --method kmeans|agglomerative --num-clusters K --min-cluster-size N --sample-size S --seed S
#                                clustering (see steps/cluster_embeddings.sh)
#   --affine-config FILE         python -m utter.bin.train_xvector config of the affine step
#   --full-config FILE           its config for the full step
#   --train-opts "OPTS"          more train_xvector options for both steps
#   --aug-data DIR               augmented copies of <train-data-dir> (utt2orig): relabelled and used
#   --cmd CMD --ngpu N --device DEV --num-threads N --num-workers N   as steps/train_xvector.sh
#   --overwrite true|false       redo every step (default false)
set -euo pipefail

method=kmeans
num_clusters=0
min_cluster_size=2
sample_size=200000
seed=0
affine_config=
full_config=
train_opts=
aug_data=
cmd=run.py
ngpu=0
device=
num_threads=1
num_workers=0
overwrite=false

. "$(dirname "$0")/../utils/step_lib.sh"   # --help, the options, utils/ on PATH
steps=$(cd "$(dirname "$0")" && pwd)

if [ $# -ne 4 ]; then usage; fi
init=$1
emb=$2
data=$3
dir=$4

[ -f "$init" ] || { echo "$0: no such model $init" >&2; exit 1; }
for f in $affine_config $full_config; do
  [ -f "$f" ] || { echo "$0: no such training config $f" >&2; exit 1; }
done
mkdir -p "$dir"

aug_opts=()
train_aug=()
if [ -n "$aug_data" ]; then
  aug_opts=(--aug-data "$aug_data" --aug-out "$dir/data_aug")
  train_aug=(--aug-data "$dir/data_aug")
fi
"$steps/cluster_embeddings.sh" --method "$method" --num-clusters "$num_clusters" \
  --min-cluster-size "$min_cluster_size" --sample-size "$sample_size" --seed "$seed" \
  --overwrite "$overwrite" "${aug_opts[@]}" "$emb" "$data" "$dir/data"

common=(--cmd "$cmd" --ngpu "$ngpu" --num-threads "$num_threads" --num-workers "$num_workers"
        --overwrite "$overwrite" "${train_aug[@]}")
[ -n "$device" ] && common+=(--device "$device")
"$steps/train_xvector.sh" "${common[@]}" ${affine_config:+--train-config "$affine_config"} \
  --train-opts "$train_opts --seed $seed --init-model $init --trainable affine" "$dir/data" "$dir/affine"
"$steps/train_xvector.sh" "${common[@]}" ${full_config:+--train-config "$full_config"} \
  --train-opts "$train_opts --seed $seed --init-model $dir/affine/final.pt --trainable all" "$dir/data" "$dir/full"
ln -sfn full/final.pt "$dir/final.pt"
echo "$0: wrote $dir/final.pt (pseudo labels $dir/data, clustering figures $dir/data/cluster.json)"
