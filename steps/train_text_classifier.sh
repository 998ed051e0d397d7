#!/usr/bin/env bash
# ADReSS text branch: subword TF-IDF + logistic regression per fold (and train -> test), MMSE ridge, late fusion.
#
# usage: steps/train_text_classifier.sh [options] <train-data-dir> <out-dir>
#  e.g.: steps/train_text_classifier.sh --test-data data/adress_test --mmse-table utt2mmse \
#          --audio-scores exp/dino/classifier/logreg/cv/scores --audio-test-scores exp/dino/classifier/logreg/test/scores \
#          data/adress_train exp/text
# <train-data-dir> has text, the label table and folds/ (or give --folds-dir). Writes <out-dir>/cv/,
# test/, fusion_cv/, fusion_test/, mmse_cv/, mmse_test/ (as asked for) and <out-dir>/results.json.
# Skips when <out-dir>/results.json is newer than the inputs, unless --overwrite true.
# options:
#   --folds-dir DIR            cross-validation folds (default <train-data-dir>/folds)
#   --test-data DIR            test data dir (text and labels)
#   --mmse-table NAME          MMSE table for ridge regression (default: none)
#   --audio-scores FILE        out-of-fold acoustic scores of the training set (classes file beside it)
#   --audio-test-scores FILE   acoustic scores of the test set
#   --text-config FILE         options of python -m utter.bin.train_text_classifier (--vocab-size, --c ...)
#                              (not --config, which utils/parse_options.sh reads itself)
#   --cmd CMD                  job runner (default run.py)
#   --overwrite true|false     redo even when the outputs are complete (default false)
set -euo pipefail

folds_dir=
test_data=
mmse_table=
audio_scores=
audio_test_scores=
text_config=
cmd=run.py
overwrite=false

for a in "$@"; do
  if [ "$a" = --help ] || [ "$a" = -h ]; then sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 0; fi
done
. "$(dirname "$0")/../utils/parse_options.sh"
export PATH="$(cd "$(dirname "$0")/../utils" && pwd):$PATH"

if [ $# -ne 2 ]; then
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2
  exit 1
fi
data=$1
dir=$2
folds_dir=${folds_dir:-$data/folds}

for f in "$data/text" $audio_scores $audio_test_scores $text_config ${test_data:+$test_data/text}; do
  [ -f "$f" ] || { echo "$0: no such file $f" >&2; exit 1; }
done
[ -d "$folds_dir" ] || { echo "$0: no such folds dir $folds_dir" >&2; exit 1; }
inputs="$data/text $audio_scores $audio_test_scores $text_config ${test_data:+$test_data/text}"
if python -m utter.stage --overwrite "$overwrite" --what "$0 $dir" --inputs "$inputs" "$dir/results.json"; then
  exit 0
fi
mkdir -p "$dir/log"
rm -f "$dir/results.json"
if ! $cmd "$dir/log/train_text_classifier.log" \
    python -m utter.bin.train_text_classifier ${text_config:+--config "$text_config"} --folds-dir "$folds_dir" \
      ${test_data:+--test-data "$test_data"} ${mmse_table:+--mmse-table "$mmse_table"} \
      ${audio_scores:+--audio-scores "$audio_scores"} ${audio_test_scores:+--audio-test-scores "$audio_test_scores"} \
      "$data" "$dir"; then
  echo "$0: text branch failed; see $dir/log/train_text_classifier.log" >&2
  exit 1
fi
echo "$0: wrote $dir/results.json and $(cd "$dir" && ls -d cv test fusion_cv fusion_test mmse_cv mmse_test 2>/dev/null | tr '\n' ' ')in $dir"
