#!/usr/bin/env bash
# Quality-aware score calibration: logistic regression on [score, log durations of both sides,
# mean/std of each side's top-N cohort scores], trained on held-out labelled trials (VoxCeleb2-dev
# speakers kept out of training, never VoxCeleb1); optionally applied to an evaluation list.
#
# usage: steps/train_quality_calibration.sh [options] <calib-scores> <calib-trials> <calib-emb-scp> \
#          <calib-data-dir> <cohort-emb-scp> <dir> [<scores-in> <trials> <emb-scp> <data-dir> <scores-out>]
#  e.g.: steps/train_quality_calibration.sh exp/x/scores/calibration/scores_cosine data/calibration/trials \
#          exp/x/emb/voxceleb2_dev_heldout/xvector.scp data/voxceleb2_dev_heldout \
#          exp/x/emb/voxceleb2_dev/spk_xvector.scp exp/x/quality_cal \
#          exp/x/scores/O/scores_cosine data/voxceleb1_trials/O exp/x/emb/voxceleb1/xvector.scp \
#          data/voxceleb1 exp/x/scores/O/scores_cosine_qcal
# Writes <dir>/quality_calibration.npz, <dir>/linear_calibration.npz (score-only, the baseline)
# and <dir>/train.json; when applying, <scores-out> (LLRs) and <scores-out>.json with Cllr,
# minCllr, EER and actual/minimum DCF of the raw scores, the score-only and the quality-aware
# calibration. Durations come from utt2dur (else utt2num_frames). Skips finished outputs
# unless --overwrite true.
# options:
#   --top-n N              cohort scores of each side for the statistics (default 300)
#   --prior P              effective target prior of the objective (default 0.5)
#   --scorer NPZ           cosine/PLDA scorer model for the cohort scores (default: plain cosine)
#   --overwrite true|false redo even when the outputs are complete (default false)
set -euo pipefail

top_n=300
prior=0.5
scorer=
overwrite=false

. "$(dirname "$0")/../utils/step_lib.sh"   # --help, the options, utils/ on PATH
if [ $# -ne 6 ] && [ $# -ne 11 ]; then usage; fi
scores=$1; trials=$2; emb=$3; data=$4; cohort=$5; dir=$6
need_files "$scores" "$trials" "$emb" "$cohort" ${scorer:+"$scorer"}
mkdir -p "$dir/log"
sopt=()
[ -n "$scorer" ] && sopt=(--scorer "$scorer")
if ! up_to_date "$dir" "$scores $trials $emb $cohort" "$dir/quality_calibration.npz" "$dir/train.json"; then
  if ! python -m utter.bin.train_quality_calibration --top-n "$top_n" --prior "$prior" "${sopt[@]}" \
      --linear-out "$dir/linear_calibration.npz" --results "$dir/train.json" \
      "$scores" "$trials" "$emb" "$data" "$cohort" "$dir/quality_calibration.npz" > "$dir/log/train.log" 2>&1; then
    cat "$dir/log/train.log" >&2
    echo "$0: training failed; see $dir/log/train.log" >&2
    exit 1
  fi
  tail -n 1 "$dir/log/train.log"
fi
if [ $# -eq 11 ]; then
  in=$7; eval_trials=$8; eval_emb=$9; eval_data=${10}; out=${11}
  if ! up_to_date "$out" "$dir/quality_calibration.npz $in $eval_trials $eval_emb" "$out" "$out.json"; then
    if ! python -m utter.bin.apply_quality_calibration "${sopt[@]}" --linear-model "$dir/linear_calibration.npz" \
        --trials "$eval_trials" "$dir/quality_calibration.npz" "$in" "$eval_emb" "$eval_data" "$cohort" "$out" \
        > "$dir/log/apply.$(basename "$out").log" 2>&1; then
      cat "$dir/log/apply.$(basename "$out").log" >&2
      echo "$0: applying failed; see $dir/log/apply.$(basename "$out").log" >&2
      exit 1
    fi
    tail -n 1 "$dir/log/apply.$(basename "$out").log"
  fi
  echo "$0: wrote $dir/quality_calibration.npz, $out and $out.json"
else
  echo "$0: wrote $dir/quality_calibration.npz, $dir/linear_calibration.npz and $dir/train.json"
fi
