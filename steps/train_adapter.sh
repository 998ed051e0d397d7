#!/usr/bin/env bash
# Lux et al.'s step 2 per fold and seed: freeze the network, extract each fold's embeddings once, and train an
# adapter (MLP with dropout) as classifier with early stopping on the fold's dev list
# (python -m utter.bin.train_adapter), one job through $cmd.
#
# usage: steps/train_adapter.sh [options] <model> <data-dir> <exp-dir>
#  e.g.: steps/train_adapter.sh --train-config conf/triplet_barlow.conf --seeds 0,1,2 exp/dino/lux/triplet_barlow \
#            data/iemocap exp/dino/lux/adapter
# <model>: a step-1 experiment dir (fold<k>/final.pt is used for fold k) or one network for every fold (an
# utter checkpoint, torchaudio wav2vec2 .pt or HF directory: the adapter without step 1). Writes
# <exp-dir>/fold<k>/emb.scp, <exp-dir>/fold<k>/seed<s>/{adapter.pt,predictions,results.json} and
# <exp-dir>/results.json (UA, WA, macro-F1: mean ± std over folds x seeds); skips when <exp-dir>/results.json
# exists unless --overwrite true.
# options:
#   --train-config FILE    program options (copied into <exp-dir>; the adapter reads the --adapter-* lines)
#   --seeds S1,S2,...      adapter seeds (default: the config's, else 0)
#   --opts "OPTS"          more options of python -m utter.bin.train_adapter (e.g. "--max-folds 1")
#   --cmd CMD              job runner (default run.py)
#   --device DEV           torch device (default cpu)
#   --num-threads N        torch threads (default 1)
#   --overwrite true|false train again (default false)
set -euo pipefail

train_config=
seeds=
opts=
cmd=run.py
device=cpu
num_threads=1
overwrite=false

. "$(dirname "$0")/../utils/step_lib.sh"   # --help, the options, utils/ on PATH
fold_exp_dir "$@"   # model, data, dir; exits 0 when done
# the adapter stage reads only its own options from a shared config (--train-config)
step_config adapter.conf -E '^--(adapter-|seeds|ssl-|label-table|apply-vad|cmn-window|max-folds|folds-dir)'
seed_opt=()
[ -n "$seeds" ] && seed_opt=(--seeds "$seeds")
log=$dir/log/train_adapter.log
# shellcheck disable=SC2086  # opts is a list of options
$cmd --num-threads "$num_threads" "$log" python -m utter.bin.train_adapter "${conf_opt[@]}" "${seed_opt[@]}" $opts \
  --device "$device" --num-threads "$num_threads" "$model" "$data" "$dir" || job_failed "adapter training" "$log"
[ -f "$dir/results.json" ] || { echo "$0: no $dir/results.json; see $log" >&2; exit 1; }
echo "$0: $(tail -n 1 "$dir/log/train_adapter.log" | sed 's/; wrote.*//'); wrote $dir/results.json"
