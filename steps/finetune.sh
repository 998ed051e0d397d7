#!/usr/bin/env bash
# Fine-tune a pretrained network with a classification head per fold and seed (one job per fold), then summarise.
#
# usage: steps/finetune.sh [options] <pretrained.pt> <data-dir> <out-dir>
#  e.g.: steps/finetune.sh --train-config conf/finetune.conf --folds-dir data/iemocap/folds --seeds 1,2,3 \
#          exp/pretrained/dino/final.pt data/iemocap exp/dino/finetune/affine-then-full
#        steps/finetune.sh --train-config conf/finetune.conf --label-table utt2label --test-data data/adress_test \
#          exp/pretrained/dino/final.pt data/adress_train exp/dino/finetune/affine-then-full/test
# <data-dir> has feats.scp, vad.scp and the label table. Cross-validation runs one job per fold
# (--max-jobs-run at a time); each writes <out-dir>/fold<k>/seed<s>/ (stage checkpoints, predictions,
# scores, results.json) and resumes where a killed job stopped. Then <out-dir>/results.json (UA, WA,
# macro-F1 as mean ± std over folds x seeds), confusion.png, and the first seed's pooled
# predictions/scores. Skips when <out-dir>/results.json is newer than the inputs, unless --overwrite true.
# options:
#   --train-config FILE     options of python -m utter.bin.finetune (conf/finetune.conf), passed as its --config
#                           (not --config: utils/parse_options.sh would read the file itself)
#   --strategy NAME         full, affine-then-full, head-only (default: the config's)
#   --folds-dir DIR         cross-validation folds; or --test-data DIR for train -> test
#   --test-data DIR
#   --label-table NAME      utt2emo, utt2label (default utt2emo)
#   --max-folds N           first N folds only (default 0: all)
#   --seeds LIST            comma-separated seeds (default 0)
#   --chunk-len FRAMES      training crop (0: whole utterances; default: the config's)
#   --aug-data DIR          augmented copies with utt2orig as extra views (default: none)
#   --device DEV            torch device (default cpu)
#   --finetune-opts "OPTS"  more options of python -m utter.bin.finetune
#   --cmd CMD               job runner (default run.py); --max-jobs-run N folds at once (default 1)
#   --num-threads N         threads per job (default 1)
#   --overwrite true|false  redo even when the outputs are complete (default false)
set -euo pipefail

train_config=
strategy=
folds_dir=
test_data=
label_table=utt2emo
max_folds=0
seeds=0
chunk_len=
aug_data=
device=cpu
finetune_opts=
cmd=run.py
max_jobs_run=1
num_threads=1
overwrite=false

. "$(dirname "$0")/../utils/step_lib.sh"   # --help, the options, utils/ on PATH
if [ $# -ne 3 ]; then usage; fi
model=$1
data=$2
dir=$3

need_inputs "$model" "$data/feats.scp" "$data/$label_table" $train_config
if [ -n "$folds_dir" ] && [ -n "$test_data" ] || [ -z "$folds_dir$test_data" ]; then
  echo "$0: give exactly one of --folds-dir and --test-data" >&2; exit 1
fi
if up_to_date "$dir" "$inputs" "$dir/results.json"; then exit 0; fi
mkdir -p "$dir/log"
rm -f "$dir/results.json"
[ "$overwrite" = true ] && rm -rf "$dir"/fold* "$dir"/test

opts="${train_config:+--config $train_config} --label-table $label_table --max-folds $max_folds --seeds $seeds --device $device"
opts="$opts --num-threads $num_threads ${strategy:+--strategy $strategy} ${chunk_len:+--chunk-len $chunk_len}"
opts="$opts ${aug_data:+--aug-data $aug_data} $finetune_opts"
if [ -n "$folds_dir" ]; then
  nf=$(find "$folds_dir" -mindepth 1 -maxdepth 1 -type d | wc -l)
  if [ "$max_folds" -gt 0 ] && [ "$max_folds" -lt "$nf" ]; then nf=$max_folds; fi
  # shellcheck disable=SC2086
  if ! $cmd --num-threads "$num_threads" --max-jobs-run "$max_jobs_run" JOB=1:"$nf" "$dir/log/finetune.JOB.log" \
      python -m utter.bin.finetune $opts --folds-dir "$folds_dir" --fold-index JOB "$model" "$data" "$dir"; then
    echo "$0: fine-tuning failed; see the logs named above ($dir/log/finetune.*.log); rerun to resume" >&2
    exit 1
  fi
  # shellcheck disable=SC2086
  python -m utter.bin.finetune $opts --folds-dir "$folds_dir" --train false "$model" "$data" "$dir" \
    2> "$dir/log/summary.log" || { cat "$dir/log/summary.log" >&2; exit 1; }
else
  # shellcheck disable=SC2086
  if ! $cmd --num-threads "$num_threads" "$dir/log/finetune.log" \
      python -m utter.bin.finetune $opts --test-data "$test_data" "$model" "$data" "$dir"; then
    echo "$0: fine-tuning failed; see $dir/log/finetune.log; rerun to resume" >&2
    exit 1
  fi
fi
echo "$0: $(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"])' "$dir/results.json")"
echo "$0: wrote $dir/results.json, $dir/confusion.png, $dir/predictions and the runs in $dir"
