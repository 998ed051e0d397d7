#!/usr/bin/env bash
# DINO ablations on the real-voice dev corpus (issue 24, point 0): each variant is egs/custom's shipped
# conf/dino_small.conf with a few options changed, trained with the same steps, data and seed as the
# shipped run, its embeddings of the half extracted and scored by score_ablation.py (cosine raw and after
# subtracting the training mean; EER, minDCF(0.01), the embeddings' common offset). Not run in CI.
#
# Needs a run dir prepared by run_custom.sh (stages 0-3: data/train, data/train_aug, data/eval,
# data/eval_trials/main), e.g. `bench/realvoice/run_custom.sh bench/out/realvoice -- --stop-stage 3`.
#
# usage: bench/realvoice/ablate_dino.sh [--seeds "0 1"] [--variants FILE] [--only "a b"] RUN_DIR
#  e.g.: bench/realvoice/ablate_dino.sh --seeds "0 1" --only "shipped embed_bn" bench/out/custom_dev
# Variants (default bench/realvoice/ablations.txt): "name|options added to --train-opts", one a line;
# an option set naming --from-audio trains from data/train's wav.scp without the offline copies.
# Writes RUN_DIR/exp/abl/<name>_s<seed>/ (final.pt, log/, emb/eval/, scores.json) and prints a table.
set -euo pipefail
seeds=0
variants=$(cd "$(dirname "$0")" && pwd)/ablations.txt
only=
while [ $# -gt 0 ]; do
  case $1 in
    --seeds) seeds=$2; shift 2 ;;
    --variants) variants=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d'; exit 0 ;;
    -*) echo "$0: unknown option $1" >&2; exit 1 ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: $0 [--seeds \"0 1\"] [--variants FILE] [--only \"a b\"] RUN_DIR" >&2; exit 1; }
bench_dir=$(cd "$(dirname "$0")" && pwd)   # (path.sh sets $here)
variants=$(cd "$(dirname "$variants")" && pwd)/$(basename "$variants")
cd "$1"
for f in data/train/feats.scp data/eval/feats.scp data/eval_trials/main conf/dino_small.conf; do
  [ -s "$f" ] || { echo "$0: no $1/$f: prepare the run dir with run_custom.sh (stages 0-3)" >&2; exit 1; }
done
. ./path.sh
extract_conf=conf/extract.conf   # egs/custom takes it from its conf_base (egs/voxceleb/conf)
[ -f "$extract_conf" ] || extract_conf=$(sed -n 's/^conf_base=//p' run.sh)/extract.conf
[ -f "$extract_conf" ] || { echo "$0: no conf/extract.conf nor one in run.sh's conf_base" >&2; exit 1; }

grep -v '^\s*#' "$variants" | grep -v '^\s*$' | while IFS='|' read -r name opts; do
  name=$(echo "$name" | xargs)
  if [ -n "$only" ] && ! echo " $only " | grep -q " $name "; then continue; fi
  for seed in $seeds; do
    dir=exp/abl/${name}_s$seed
    aug=()
    case "$opts" in
      *--from-audio*) opts+=" --fbank-config $(dirname "$extract_conf")/fbank.conf --vad-config $(dirname "$extract_conf")/vad.conf" ;;
      *) [ -s data/train_aug/feats.scp ] && aug=(--aug-data data/train_aug) ;;
    esac
    mkdir -p exp/abl
    start=$(date +%s)
    echo "$0: $dir: --seed $seed $opts"
    nice -n 10 steps/train_dino.sh --cmd utils/run.py --num-threads 2 --train-config conf/dino_small.conf \
      --train-opts "--seed $seed $opts" "${aug[@]}" data/train "$dir" > "$dir.train.out" 2>&1 \
      || { tail -n 20 "$dir.train.out" >&2; echo "$0: $dir: training failed" >&2; exit 1; }
    trained=$(( $(date +%s) - start ))
    nice -n 10 steps/extract_embeddings.sh --config "$extract_conf" --nj 2 --num-threads 1 \
      "$dir/final.pt" data/eval "$dir/emb/eval" > "$dir.extract.out" 2>&1 \
      || { tail -n 20 "$dir.extract.out" >&2; echo "$0: $dir: extraction failed" >&2; exit 1; }
    python "$bench_dir/score_ablation.py" --name "$name" --seed "$seed" --options "$opts" --train-seconds "$trained" \
      "$dir" data/eval_trials/main
  done
done
python "$bench_dir/score_ablation.py" --table exp/abl
