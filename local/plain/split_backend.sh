#!/usr/bin/env bash
# The speaker-labelled back-end audio of egs/custom, split for its back-ends: DATA's speakers into
# DATA_train (PLDA, AS-norm cohort) and DATA_heldout (calibration speakers, with CALIB/trials), or, where
# the corpus is too small for that, a sentence in SKIPPED saying what is skipped and why (the recipe
# reads the directories and that file: the decision is made here, once).
#   local/plain/split_backend.sh NUM_SPEAKERS NUM_TRIALS SEED DATA CALIB SKIPPED
#  e.g.: local/plain/split_backend.sh 4 2000 0 data/backend data/calibration data/backend_skipped
# NUM_SPEAKERS speakers with two or more utterances are held out for calibration when 2 more stay for
# PLDA (else every speaker trains PLDA, calibration skipped); fewer than 2 speakers with two or more
# utterances: PLDA, AS-norm and calibration skipped. Calibration trials: NUM_TRIALS, half targets,
# drawn with SEED (local/voxceleb/make_calibration_trials.py).
set -euo pipefail
if [ $# -ne 6 ]; then
  echo "usage: $0 NUM_SPEAKERS NUM_TRIALS SEED DATA CALIB SKIPPED" >&2; exit 1
fi
num_speakers=$1 num_trials=$2 seed=$3 data=$4 calib=$5 skipped=$6
here=$(dirname "${BASH_SOURCE[0]}")
utils=$here/../../utils
[ -s "$data/spk2utt" ] || { echo "$0: no $data/spk2utt" >&2; exit 1; }
rm -rf "${data}_train" "${data}_heldout" "$calib.tmp" "$skipped"
nspk=$(wc -l < "$data/spk2utt" | tr -d ' ')
nspk2=$(awk 'NF >= 3' "$data/spk2utt" | wc -l | tr -d ' ')   # speakers with 2+ utterances
if [ "$nspk2" -lt 2 ]; then
  echo "PLDA, AS-norm and calibration skipped: $data has $nspk2 speakers with two or more" \
       "utterances (backend_speaker in conf/corpus.conf), and they need at least 2" > "$skipped"
  rm -rf "$calib"
elif [ "$num_speakers" -ge 2 ] && [ "$nspk2" -ge "$num_speakers" ] && [ $((nspk - num_speakers)) -ge 2 ]; then
  python "$here/../voxceleb/make_calibration_trials.py" --num-speakers "$num_speakers" \
    --num-trials "$num_trials" --seed "$seed" "$data" "$calib.tmp"
  "$utils/subset_data_dir.sh" --spk-list "$calib.tmp/train_spk" "$data" "${data}_train"
  "$utils/subset_data_dir.sh" --spk-list "$calib.tmp/heldout_spk" "$data" "${data}_heldout"
  rm -rf "$calib" && mv "$calib.tmp" "$calib"
else
  echo "calibration skipped: $data has $nspk speakers ($nspk2 with two or more utterances); holding" \
       "out calib_num_speakers=$num_speakers for calibration needs that many with two or more" \
       "utterances and 2 more for PLDA (conf/backend.conf)" > "$skipped"
  rm -rf "$calib"
  "$utils/copy_data_dir.sh" "$data" "${data}_train"
fi
