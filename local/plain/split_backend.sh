#!/usr/bin/env bash
# The speaker-labelled back-end audio of egs/custom, split for its back-ends: DATA's speakers into
# DATA_train (PLDA, AS-norm cohort) and DATA_heldout (calibration speakers, with CALIB/trials), or, where
# that cannot be made, a sentence in SKIPPED saying what is skipped and why (the recipe reads the
# directories and that file: the decision is made here, once).
#   local/plain/split_backend.sh [--eval-data DIR] [--asnorm-unlabelled true|false] \
#     NUM_SPEAKERS NUM_TRIALS SEED DATA CALIB SKIPPED
#  e.g.: local/plain/split_backend.sh --eval-data data/eval 4 2000 0 data/backend data/calibration data/backend_skipped
# No DATA directory (no backend_audio in conf/corpus.conf): PLDA, AS-norm and calibration skipped (AS-norm
# not, with --asnorm-unlabelled true: its cohort is then the unlabelled training audio). NUM_SPEAKERS
# speakers with two or more utterances are held out for calibration when 2 more stay for PLDA (else
# every speaker trains PLDA, calibration skipped); fewer than 2 speakers with two or more utterances:
# PLDA, AS-norm and calibration skipped. Calibration trials: NUM_TRIALS, half targets, drawn with SEED
# (local/voxceleb/make_calibration_trials.py). With --eval-data, audio files that are both evaluated
# and in DATA are counted in a warning (the back-ends then know the test speakers).
set -euo pipefail
eval_data=
asnorm_unlabelled=false
. "$(dirname "${BASH_SOURCE[0]}")/../../utils/parse_options.sh"
if [ $# -ne 6 ]; then
  echo "usage: $0 [--eval-data DIR] [--asnorm-unlabelled true|false] NUM_SPEAKERS NUM_TRIALS SEED DATA CALIB SKIPPED" >&2
  exit 1
fi
num_speakers=$1 num_trials=$2 seed=$3 data=$4 calib=$5 skipped=$6
here=$(dirname "${BASH_SOURCE[0]}")
utils=$here/../../utils
rm -rf "${data}_train" "${data}_heldout" "$calib.tmp" "$skipped"
if [ ! -d "$data" ]; then
  if [ "$asnorm_unlabelled" = true ]; then
    echo "PLDA and calibration skipped: no speaker-labelled audio (backend_audio in conf/corpus.conf);" \
         "cosine scoring needs none, and AS-norm takes its cohort from the unlabelled training audio" \
         "(asnorm_unlabelled in conf/backend.conf)" > "$skipped"
  else
    echo "PLDA, AS-norm and calibration skipped: no speaker-labelled audio (backend_audio in conf/corpus.conf);" \
         "cosine scoring needs none" > "$skipped"
  fi
  rm -rf "$calib"
  exit 0
fi
[ -s "$data/spk2utt" ] || { echo "$0: no $data/spk2utt" >&2; exit 1; }
if [ -n "$eval_data" ]; then  # a file both evaluated and trained on gives optimistic figures: say so
  shared=$(awk '{ sub(/^[^ ]+ +/, "") } NR == FNR { seen[$0]; next } ($0 in seen)' "$eval_data/wav.scp" \
           "$data/wav.scp" | wc -l)
  if [ "$shared" -gt 0 ]; then
    echo "$0: warning: $shared audio files of backend_audio are also evaluation files: PLDA, AS-norm and" \
         "calibration then know the test speakers (optimistic figures)" >&2
  fi
fi
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
