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

. "$(dirname "$0")/../utils/step_lib.sh"   # --help, the options, utils/ on PATH
if [ $# -ne 2 ]; then usage; fi
data=$1; dir=$2
folds_dir=${folds_dir:-$data/folds}

need_inputs "$data/text" $audio_scores $audio_test_scores $text_config ${test_data:+$test_data/text}
[ -d "$folds_dir" ] || { echo "$0: no such folds dir $folds_dir" >&2; exit 1; }
if up_to_date "$dir" "$inputs" "$dir/results.json"; then exit 0; fi
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
