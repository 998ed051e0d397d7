#!/usr/bin/env bash
# egs/custom's back-ends of one system, on its embeddings EXP/emb/{eval,backend,train}: cosine scores of
# TRIALS; with speaker-labelled back-end data (--backend-data has utterances) LDA+PLDA (skipped, saying
# why, where the data cannot support it) and AS-norm (cohort: the back-end speakers); without it, AS-norm
# of the cosine scores with the unlabelled training recordings as cohort when --asnorm-unlabelled true;
# with calibration trials (--calib-trials exists), the calibration of each back-end's scores on them.
# Scores go to EXP/scores/{main,calibration}/scores_<backend>[_cal].
#   local/plain/score_backends.sh [options] EXP TRIALS
#  e.g.: local/plain/score_backends.sh --cmd run.py --lda-dim 32 exp/dino_small data/eval_trials/main
# The fact it leaves: EXP/scores/main/scored, the names of the score files of TRIALS it wrote this time
# (scores_<name>: "cosine cosine_cal plda ..."), which the evaluation and RESULTS.md stages read.
# Options (conf/backend.conf of egs/custom says what each does):
cmd=run.py
subtract_mean=false     # cosine: subtract the mean training embedding (EXP/emb/train)
whiten=false
lda_dim=32
plda_type=two-cov
plda_rank=16
plda_iters=10
asnorm_backend=cosine   # the scores AS-norm normalises: cosine or plda
asnorm_top_n=20
asnorm_unlabelled=false
calib_prior=0.05
backend_data=data/backend_train        # speaker-labelled back-end utterances (PLDA, AS-norm cohort)
calib_trials=data/calibration/trials   # trials of held-out back-end speakers (calibration)
train_data=data/train                  # the unlabelled training recordings (cohort with --asnorm-unlabelled)
prefix=$0               # the start of each line said (e.g. "run.sh: stage 6: dino")
. "$(dirname "${BASH_SOURCE[0]}")/../../utils/parse_options.sh"
if [ $# -ne 2 ]; then
  echo "usage: $0 [options] EXP TRIALS (options: see the head of $0)" >&2; exit 1
fi
exp=$1 trials=$2
steps=$(dirname "${BASH_SOURCE[0]}")/../../steps
say() { echo "$prefix: $*"; }
labelled=false; [ -s "$backend_data/utt2spk" ] && labelled=true
calibrate=false; [ -s "$calib_trials" ] && calibrate=true
scored=()   # the score files of TRIALS written
lists=main; $calibrate && lists="main calibration"
cos_opts=(--subtract-mean "$subtract_mean" --whiten "$whiten")
[ "$subtract_mean" = true ] && cos_opts+=(--train-emb-dir "$exp/emb/train")
for list in $lists; do
  if [ "$list" = main ]; then tl=$trials; emb=$exp/emb/eval; else tl=$calib_trials; emb=$exp/emb/backend; fi
  dir=$exp/scores/$list
  say "cosine scores of $tl"
  "$steps/score_cosine.sh" --cmd "$cmd" --evaluate false "${cos_opts[@]}" "$emb" "$tl" "$dir"
  [ "$list" = main ] && scored+=(cosine)
  if $labelled; then
    if [ "$exp/emb/backend/xvector.scp" -nt "$exp/plda/skipped" ]; then
      rm -f "$exp/plda/skipped"   # new embeddings: try again
    fi
    if [ ! -s "$exp/plda/plda.npz" ] && [ ! -s "$exp/plda/skipped" ]; then
      say "LDA($lda_dim)+PLDA($plda_type) on the $backend_data utterances of $exp/emb/backend"
      # a back-end the data cannot support (too few utterances per speaker ...): skipped, the program says why
      "$steps/train_plda.sh" --cmd "$cmd" --lda-dim "$lda_dim" --plda-type "$plda_type" --skip-unsupported true \
        --rank "$plda_rank" --num-iters "$plda_iters" "$exp/emb/backend" "$backend_data" "$exp/plda"
      [ -s "$exp/plda/skipped" ] && say "$(cat "$exp/plda/skipped")"
    fi
    if [ -s "$exp/plda/plda.npz" ]; then
      say "PLDA scores of $tl"
      "$steps/score_plda.sh" --cmd "$cmd" --evaluate false "$exp/plda" "$emb" "$tl" "$dir"
      [ "$list" = main ] && scored+=(plda)
    fi
    if [ "$asnorm_backend" = plda ]; then model=$exp/plda/plda.npz; else model=$dir/cosine.npz; fi
    if [ -s "$model" ]; then
      say "AS-norm ($asnorm_backend, top $asnorm_top_n, cohort $(basename "$backend_data")) scores of $tl"
      "$steps/score_norm.sh" --cmd "$cmd" --evaluate false --top-n "$asnorm_top_n" --backend-model "$model" \
        "$exp/emb/backend" "$backend_data" "$emb" "$tl" "$dir/scores_$asnorm_backend" "$dir/scores_asnorm"
      [ "$list" = main ] && scored+=(asnorm)
    fi
  elif [ "$asnorm_unlabelled" = true ] && [ "$list" = main ]; then
    say "AS-norm (cosine, top $asnorm_top_n, cohort: the unlabelled $train_data recordings) scores of $tl"
    "$steps/score_norm.sh" --cmd "$cmd" --evaluate false --top-n "$asnorm_top_n" --backend-model "$dir/cosine.npz" \
      "$exp/emb/train" "$train_data" "$emb" "$tl" "$dir/scores_cosine" "$dir/scores_asnorm"
    scored+=(asnorm)
  fi
done
if $calibrate; then
  for b in "${scored[@]}"; do
    say "calibration of $b scores on $calib_trials (held-out backend speakers)"
    "$steps/train_calibration.sh" --cmd "$cmd" --prior "$calib_prior" "$exp/scores/calibration/scores_$b" \
      "$calib_trials" "$exp/calibration/$b" "$exp/scores/main/scores_$b" "$exp/scores/main/scores_${b}_cal"
  done
  read -r -a scored <<< "$(for b in "${scored[@]}"; do echo -n "$b ${b}_cal "; done)"
fi
echo "${scored[*]}" > "$exp/scores/main/scored"
