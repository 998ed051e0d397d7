#!/usr/bin/env bash
# PLDA scoring of a trial list, then EER/minDCF when the trials are labelled.
#
# usage: steps/score_plda.sh [options] <plda-dir> <emb-dir> <trials> <score-dir>
#  e.g.: steps/score_plda.sh exp/xvector/plda exp/xvector/emb/voxceleb1_test \
#          data/voxceleb1_test/trials exp/scores/voxceleb1_test
# Reads <plda-dir>/plda.npz (steps/train_plda.sh) and <emb-dir>/xvector.scp; writes
# <score-dir>/scores_<name>, and with labelled trials scores_<name>.json and .det.png.
# options:
#   --cmd CMD                 job runner (default run.py)
#   --enroll-emb-dir DIR      enrolment embeddings when they are not in <emb-dir>
#   --enrollment FILE         spk2utt-style multi-session enrolment (model utt1 utt2 ...)
#   --name NAME               output name (default plda)
#   --evaluate BOOL           compute EER/minDCF when the trials have labels (default true)
#   --overwrite BOOL          redo even when outputs are complete (default false)
set -euo pipefail

cmd=run.py
enroll_emb_dir=
enrollment=
name=plda
evaluate=true
overwrite=false

. "$(dirname "$0")/../utils/step_lib.sh"   # --help, the options, utils/ on PATH
if [ $# -ne 4 ]; then usage; fi
plda_dir=$1; emb_dir=$2; trials=$3; dir=$4
scores=$dir/scores_$name

need_files "$plda_dir/plda.npz" "$emb_dir/xvector.scp" "$trials" ${enroll_emb_dir:+"$enroll_emb_dir/xvector.scp"} \
  ${enrollment:+"$enrollment"}
# the figures are an output too: a rerun after a failed evaluation evaluates again
labelled=false
if [ "$evaluate" = true ] && [ "$(head -n 1 "$trials" | wc -w)" -eq 3 ]; then labelled=true; fi
if up_to_date "$scores" "$plda_dir/plda.npz $emb_dir/xvector.scp $trials $enrollment" "$scores" \
    $($labelled && echo "$scores.json"); then exit 0; fi
rm -f "$scores.json"
opts=()
[ -n "$enroll_emb_dir" ] && opts+=(--enroll-scp "$enroll_emb_dir/xvector.scp")
[ -n "$enrollment" ] && opts+=(--enrollment "$enrollment")
mkdir -p "$dir/log"
if ! $cmd "$dir/log/score_$name.log" \
    python -m utter.bin.score_plda ${opts[@]+"${opts[@]}"} "$plda_dir/plda.npz" "$emb_dir/xvector.scp" \
      "$trials" "$scores"; then
  echo "$0: scoring failed; see $dir/log/score_$name.log" >&2; exit 1
fi
if $labelled; then
  python -m utter.bin.evaluate_verification --name "$name" "$scores" "$trials"
fi
echo "$0: wrote $scores"
