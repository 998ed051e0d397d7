#!/usr/bin/env bash
# Score normalisation (S-norm or adaptive S-norm) with a cohort of speaker-mean embeddings.
#
# usage: steps/score_norm.sh [options] <cohort-emb-dir> <cohort-data-dir> <emb-dir> <trials> <scores-in> <scores-out>
#  e.g.: steps/score_norm.sh --backend-model exp/xvector/plda/plda.npz exp/xvector/emb/train data/train \
#          exp/xvector/emb/voxceleb1_test data/voxceleb1_test/trials exp/scores/t/scores_plda exp/scores/t/scores_plda_asnorm
# The cohort is the speaker means of <cohort-emb-dir>/xvector.scp grouped by <cohort-data-dir>/utt2spk,
# scored with the same back-end as the raw scores (--backend-model: a cosine .npz written by
# steps/score_cosine.sh or plda.npz; default plain cosine). With labelled trials also writes
# <scores-out>.json and <scores-out>.det.png.
# options:
#   --cmd CMD                 job runner (default run.py)
#   --method M                snorm or asnorm (default asnorm)
#   --top-n N                 AS-norm top-N cohort scores per side (default 300; clamped to the cohort)
#   --backend-model FILE      the back-end that made <scores-in> (default: plain cosine)
#   --enroll-emb-dir DIR      enrolment embeddings when they are not in <emb-dir>
#   --enrollment FILE         spk2utt-style multi-session enrolment
#   --evaluate BOOL           compute EER/minDCF when the trials have labels (default true)
#   --overwrite BOOL          redo even when outputs are complete (default false)
set -euo pipefail

cmd=run.py
method=asnorm
top_n=300
backend_model=
enroll_emb_dir=
enrollment=
evaluate=true
overwrite=false

. "$(dirname "$0")/../utils/step_lib.sh"   # --help, the options, utils/ on PATH
if [ $# -ne 6 ]; then usage; fi
cohort_emb=$1; cohort_data=$2; emb_dir=$3; trials=$4; scores_in=$5; scores_out=$6

need_files "$cohort_emb/xvector.scp" "$cohort_data/utt2spk" "$emb_dir/xvector.scp" "$trials" "$scores_in" \
  ${backend_model:+"$backend_model"} ${enroll_emb_dir:+"$enroll_emb_dir/xvector.scp"} ${enrollment:+"$enrollment"}
# the figures are an output too: a rerun after a failed evaluation evaluates again
labelled=false
if [ "$evaluate" = true ] && [ "$(head -n 1 "$trials" | wc -w)" -eq 3 ]; then labelled=true; fi
if up_to_date "$scores_out" \
    "$scores_in $cohort_emb/xvector.scp $cohort_data/utt2spk $trials $backend_model" "$scores_out" \
    $($labelled && echo "$scores_out.json"); then
  exit 0
fi
rm -f "$scores_out.json"
opts=(--method "$method" --top-n "$top_n")
[ -n "$backend_model" ] && opts+=(--backend-model "$backend_model")
[ -n "$enroll_emb_dir" ] && opts+=(--enroll-scp "$enroll_emb_dir/xvector.scp")
[ -n "$enrollment" ] && opts+=(--enrollment "$enrollment")
logdir=$(dirname "$scores_out")/log
mkdir -p "$logdir"
log=$logdir/$(basename "$scores_out").log
if ! $cmd "$log" python -m utter.bin.score_norm "${opts[@]}" "$cohort_emb/xvector.scp" "$cohort_data/utt2spk" \
    "$emb_dir/xvector.scp" "$trials" "$scores_in" "$scores_out"; then
  echo "$0: score normalisation failed; see $log" >&2; exit 1
fi
if $labelled; then
  python -m utter.bin.evaluate_verification --name "$(basename "$scores_out")" "$scores_out" "$trials"
fi
echo "$0: wrote $scores_out"
