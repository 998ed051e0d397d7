#!/usr/bin/env bash
# Frozen-embedding classifiers (or MMSE ridge regression) per cross-validation fold, or train -> test.
#
# usage: steps/train_classifier.sh [options] <xvector.scp> <data-dir> <out-dir>
#  e.g.: steps/train_classifier.sh --classifier logreg --folds-dir data/iemocap/folds \
#          exp/dino/emb/iemocap/xvector.scp data/iemocap exp/dino/classifier/logreg
#        steps/train_classifier.sh --label-table utt2label --test-emb exp/dino/emb/adress_test/xvector.scp \
#          --test-data data/adress_test exp/dino/emb/adress_train/xvector.scp data/adress_train exp/dino/clf/test
#        steps/train_classifier.sh --task regression --classifier ridge --label-table utt2mmse \
#          --folds-dir data/adress_train/folds exp/dino/emb/adress_train/xvector.scp data/adress_train exp/dino/mmse
# <data-dir> holds the label table; embeddings come from steps/extract_embeddings.sh.
# Writes <out-dir>/fold<k>/ (or <out-dir>/test/): model.npz, classes, predictions (utt label),
# scores (utt  [ s1 s2 ... ], columns in the order of classes), results.json; and in <out-dir>:
# results.json (mean ± std over folds of UA, WA, macro-F1, or RMSE and Pearson r; pooled figures),
# confusion.png (summed over folds), the pooled predictions and scores, log/train_classifier.log.
# Skips when <out-dir>/results.json is newer than the inputs, unless --overwrite true. A classifier
# that cannot be fitted on a fold (PLDA with a singular covariance on a tiny set) is skipped with one
# line naming it and why: <out-dir>/skipped.json instead of results.json, exit status 0.
# options:
#   --classifier NAME       logreg, svm, cosine, plda, ridge (default logreg)
#   --task TASK             classification or regression (default classification)
#   --label-table NAME      utt2emo, utt2label, utt2mmse ... (default utt2emo)
#   --folds-dir DIR         cross-validation folds (folds/<k>/{train,dev,test})
#   --max-folds N           first N folds only (default 0: all)
#   --test-emb SCP          train -> test: test embeddings (with --test-data)
#   --test-data DIR         train -> test: test data dir
#   --classifier-config FILE options of python -m utter.bin.train_classifier (--c, --grid, --balanced ...), passed
#                           as its --config (not --config: utils/parse_options.sh would read the file itself)
#   --classifier-opts "OPTS" more options of python -m utter.bin.train_classifier
#   --cmd CMD               job runner (default run.py)
#   --overwrite true|false  redo even when the outputs are complete (default false)
set -euo pipefail

classifier=logreg
task=classification
label_table=utt2emo
folds_dir=
max_folds=0
test_emb=
test_data=
classifier_config=
classifier_opts=
cmd=run.py
overwrite=false

. "$(dirname "$0")/../utils/step_lib.sh"   # --help, the options, utils/ on PATH
if [ $# -ne 3 ]; then usage; fi
emb=$1; data=$2; dir=$3

need_inputs "$emb" "$data/$label_table" $test_emb ${test_data:+$test_data/$label_table} $classifier_config
if [ -n "$folds_dir" ]; then
  [ -d "$folds_dir" ] || { echo "$0: no such folds dir $folds_dir" >&2; exit 1; }
  inputs="$inputs $(find "$folds_dir" -type f | LC_ALL=C sort | tr '\n' ' ')"
fi
if up_to_date "$dir" "$inputs" "$dir/results.json"; then exit 0; fi

mkdir -p "$dir/log"
rm -f "$dir/results.json" "$dir/skipped.json"
# shellcheck disable=SC2086
if ! $cmd "$dir/log/train_classifier.log" \
    python -m utter.bin.train_classifier ${classifier_config:+--config "$classifier_config"} --classifier "$classifier" --task "$task" \
      --label-table "$label_table" ${folds_dir:+--folds-dir "$folds_dir"} --max-folds "$max_folds" \
      ${test_emb:+--test-emb "$test_emb"} ${test_data:+--test-data "$test_data"} $classifier_opts \
      "$emb" "$data" "$dir"; then
  echo "$0: classifier training failed; see $dir/log/train_classifier.log" >&2
  exit 1
fi
if [ -f "$dir/skipped.json" ]; then
  echo "$0: skipped: $(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["reason"])' "$dir/skipped.json")" \
       "(the others run; $dir/skipped.json)"
  exit 0
fi
echo "$0: $(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"])' "$dir/results.json")"
echo "$0: wrote $dir/results.json, $dir/predictions and the per-fold outputs in $dir"
