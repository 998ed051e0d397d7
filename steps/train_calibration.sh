#!/usr/bin/env bash
# Train linear score calibration on a separate labelled trial list; optionally apply it.
#
# usage: steps/train_calibration.sh [options] <calib-scores> <calib-trials> <calib-dir> [<scores-in> <scores-out> [<trials>]]
#  e.g.: steps/train_calibration.sh exp/scores/calibration/scores_plda data/calibration/trials \
#          exp/xvector/calibration exp/scores/t/scores_plda exp/scores/t/scores_plda_cal data/voxceleb1_test/trials
# Fits prior-weighted logistic regression (scores [+ min/max log durations]) -> LLR on the
# calibration scores, writes <calib-dir>/calibration.npz; with <scores-in> <scores-out> maps
# those scores to LLRs, and with <trials> also writes <scores-out>.json (EER, minDCF, actDCF, Cllr).
# options:
#   --cmd CMD              job runner (default run.py)
#   --prior P              effective target prior of the objective (default 0.5)
#   --utt2dur FILE         utt2dur of the calibration utterances: add duration quality measures
#   --apply-utt2dur FILE   utt2dur of the utterances in <scores-in> (needed with --utt2dur)
#   --model FILE           the embedding model whose scores these are, recorded in calibration.npz with its
#                          SHA-256 so that utter verify refuses it with another model (default:
#                          <calib-dir>/../../final.pt when there is one: the recipes' exp/<sys>/calibration/<b>)
#   --scorer NAME          what made the scores, recorded (default: NAME of a <calib-scores> named scores_NAME)
#   --overwrite BOOL       redo even when outputs are complete (default false)
set -euo pipefail

cmd=run.py
prior=0.5
utt2dur=
apply_utt2dur=
model=
scorer=
overwrite=false

. "$(dirname "$0")/../utils/step_lib.sh"   # --help, the options, utils/ on PATH
if [ $# -ne 3 ] && [ $# -ne 5 ] && [ $# -ne 6 ]; then usage; fi
calib_scores=$1; calib_trials=$2; dir=$3
need_files "$calib_scores" "$calib_trials" ${utt2dur:+"$utt2dur"} ${model:+"$model"}
if [ -n "$utt2dur" ] && [ $# -ge 5 ] && [ -z "$apply_utt2dur" ]; then
  echo "$0: --utt2dur needs --apply-utt2dur to apply the calibration" >&2; exit 1
fi
mkdir -p "$dir/log"
if [ -z "$model" ] && [ -f "$dir/../../final.pt" ]; then model=$(cd "$dir/../.." && pwd)/final.pt; fi
if [ -z "$scorer" ]; then
  case $(basename "$calib_scores") in scores_*) scorer=$(basename "$calib_scores"); scorer=${scorer#scores_};; esac
fi
if ! up_to_date "$dir" "$calib_scores $calib_trials $utt2dur $model" "$dir/calibration.npz"; then
  if ! $cmd "$dir/log/train_calibration.log" python -m utter.bin.train_calibration --prior "$prior" \
      ${utt2dur:+--utt2dur "$utt2dur"} ${model:+--model "$model"} ${scorer:+--scorer "$scorer"} \
      "$calib_scores" "$calib_trials" "$dir/calibration.npz"; then
    echo "$0: calibration failed; see $dir/log/train_calibration.log" >&2; exit 1
  fi
  echo "$0: wrote $dir/calibration.npz"
fi
[ $# -ge 5 ] || exit 0

scores_in=$4; scores_out=$5; trials=${6:-}
if ! up_to_date "$scores_out" "$dir/calibration.npz $scores_in" "$scores_out"; then
  if ! $cmd "$dir/log/apply_calibration.log" python -m utter.bin.apply_calibration \
      ${apply_utt2dur:+--utt2dur "$apply_utt2dur"} "$dir/calibration.npz" "$scores_in" "$scores_out"; then
    echo "$0: applying the calibration failed; see $dir/log/apply_calibration.log" >&2; exit 1
  fi
  if [ -n "$trials" ]; then
    python -m utter.bin.evaluate_verification --name "$(basename "$scores_out")" "$scores_out" "$trials"
  fi
  echo "$0: wrote $scores_out"
fi
