#!/usr/bin/env bash
# Lux et al.'s step 1 per fold: triplet (cosine distance, margin 1.0) + lambda * Barlow Twins training of a
# pretrained network on each fold's training list (python -m utter.bin.train_triplet_barlow), one job through $cmd.
#
# usage: steps/train_triplet_barlow.sh [options] <pretrained-model> <data-dir> <exp-dir>
#  e.g.: steps/train_triplet_barlow.sh --train-config conf/triplet_barlow.conf exp/pretrained/dino/final.pt \
#            data/iemocap exp/dino/lux/triplet_barlow
# <pretrained-model>: an utter checkpoint (final.pt), a torchaudio-format wav2vec2/HuBERT .pt, or a Hugging
# Face checkpoint directory (then <data-dir> needs wav.scp at 16 kHz; fbank networks read feats.scp + vad.scp).
# <data-dir>/folds/<k>/{train,dev,test} are the folds. Writes <exp-dir>/fold<k>/final.pt, fold<k>/space.json and
# <exp-dir>/results.json (embedding-space figures before and after, per fold and mean ± std); skips when
# <exp-dir>/results.json exists unless --overwrite true. A fold already trained is kept (resume).
# options:
#   --train-config FILE    program options (copied into <exp-dir> without the adapter's --adapter-*/--seeds)
#   --opts "OPTS"          more options of python -m utter.bin.train_triplet_barlow (e.g. "--max-folds 1")
#   --cmd CMD              job runner (default run.py)
#   --device DEV           torch device (default cpu)
#   --num-threads N        torch threads (default 1)
#   --overwrite true|false train again (default false)
set -euo pipefail

train_config=
opts=
cmd=run.py
device=cpu
num_threads=1
overwrite=false

. "$(dirname "$0")/../utils/step_lib.sh"   # --help, the options, utils/ on PATH
fold_exp_dir "$@"   # model, data, dir; exits 0 when done
# a shared config (--train-config) may hold the adapter stage's options too: keep step 1's
step_config triplet_barlow.conf -v -E '^--(adapter-|seeds)'
log=$dir/log/train_triplet_barlow.log
# shellcheck disable=SC2086  # opts is a list of options
$cmd --num-threads "$num_threads" "$log" python -m utter.bin.train_triplet_barlow "${conf_opt[@]}" $opts \
  --device "$device" --num-threads "$num_threads" --init-model "$model" --exp-dir "$dir" "$data" \
  || job_failed "step 1" "$log"
[ -f "$dir/results.json" ] || { echo "$0: no $dir/results.json; see $log" >&2; exit 1; }
echo "$0: wrote $dir/fold*/final.pt and $dir/results.json (log $dir/log/train_triplet_barlow.log)"
