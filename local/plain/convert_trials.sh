#!/usr/bin/env bash
# A trial list in VoxCeleb ("1 a.wav b.wav"), Kaldi ("a b target") or NIST-like (header line) format ->
# the Kaldi trials of a data dir ("<enroll> <test> target|nontarget").
#   local/plain/convert_trials.sh [--format auto|voxceleb|kaldi|nist] TRIAL_LIST DATA OUT
#  e.g.: local/plain/convert_trials.sh /corpora/lab/trials.txt data/eval data/eval_trials/main
# Each side names an utterance id of DATA or its audio file (a path, or any trailing part of one, with
# or without extension); a trial whose file is not in DATA is an error naming the line.
# Logic: utter.data.trials.convert_trials.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../prep_common.sh"
run_prep "$(dirname "${BASH_SOURCE[0]}")/convert_trials.py" "[--format auto|voxceleb|kaldi|nist] TRIAL_LIST DATA OUT" \
  "" "$@"
