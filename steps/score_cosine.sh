#!/usr/bin/env bash
# Cosine scoring of a trial list (Kaldi-recipe style), then EER/minDCF when the trials are labelled.
#
# usage: steps/score_cosine.sh [options] <emb-dir> <trials> <score-dir>
#  e.g.: steps/score_cosine.sh --train-emb-dir exp/xvector/emb/train exp/xvector/emb/voxceleb1_test \
#          data/voxceleb1_test/trials exp/scores/voxceleb1_test
# Reads <emb-dir>/xvector.scp; writes <score-dir>/scores_<name> (enroll test score), the back-end
# <score-dir>/<name>.npz (for steps/score_norm.sh), and with labelled trials
# <score-dir>/scores_<name>.json (figures) and scores_<name>.det.png. Skips when complete.
# options:
#   --cmd CMD                 job runner (default run.py)
#   --train-emb-dir DIR       embeddings (xvector.scp) of the set the mean/whitening come from (default: none)
#   --subtract-mean BOOL      subtract the training mean (default true; needs --train-emb-dir)
#   --whiten BOOL             whiten with the training covariance (default false)
#   --enroll-emb-dir DIR      enrolment embeddings when they are not in <emb-dir>
#   --enrollment FILE         spk2utt-style multi-session enrolment (model utt1 utt2 ...)
#   --name NAME               output name (default cosine)
#   --evaluate BOOL           compute EER/minDCF when the trials have labels (default true)
#   --overwrite BOOL          redo even when outputs are complete (default false)
set -euo pipefail

cmd=run.py
train_emb_dir=
subtract_mean=true
whiten=false
enroll_emb_dir=
enrollment=
name=cosine
evaluate=true
overwrite=false

. "$(dirname "$0")/../utils/step_lib.sh"   # --help, the options, utils/ on PATH
if [ $# -ne 3 ]; then usage; fi
emb_dir=$1; trials=$2; dir=$3
scores=$dir/scores_$name

need_files "$emb_dir/xvector.scp" "$trials" ${train_emb_dir:+"$train_emb_dir/xvector.scp"} \
  ${enroll_emb_dir:+"$enroll_emb_dir/xvector.scp"} ${enrollment:+"$enrollment"}
inputs="$emb_dir/xvector.scp $trials ${train_emb_dir:+$train_emb_dir/xvector.scp} ${enrollment}"
# the figures are an output too: a rerun after a failed evaluation evaluates again
labelled=false
if [ "$evaluate" = true ] && [ "$(head -n 1 "$trials" | wc -w)" -eq 3 ]; then labelled=true; fi
if up_to_date "$scores" "$inputs" "$scores" $($labelled && echo "$scores.json"); then exit 0; fi
rm -f "$scores.json"

opts=(--subtract-mean "$subtract_mean" --whiten "$whiten" --model-out "$dir/$name.npz")
[ -n "$train_emb_dir" ] && opts+=(--train-scp "$train_emb_dir/xvector.scp")
[ -n "$enroll_emb_dir" ] && opts+=(--enroll-scp "$enroll_emb_dir/xvector.scp")
[ -n "$enrollment" ] && opts+=(--enrollment "$enrollment")
mkdir -p "$dir/log"
if ! $cmd "$dir/log/score_$name.log" \
    python -m utter.bin.score_cosine "${opts[@]}" "$emb_dir/xvector.scp" "$trials" "$scores"; then
  echo "$0: scoring failed; see $dir/log/score_$name.log" >&2; exit 1
fi
if $labelled; then
  python -m utter.bin.evaluate_verification --name "$name" "$scores" "$trials"
fi
echo "$0: wrote $scores"
