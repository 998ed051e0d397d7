#!/usr/bin/env bash
# Your own corpus: DINO self-supervised speaker embeddings trained on a folder (or several) of your
# audio, scored on your trial list with cosine and, given speaker-labelled audio, LDA+PLDA, AS-norm and
# calibration; EER/minDCF, a DET plot and RESULTS.md. The corpus is named in conf/corpus.conf only.
#
# usage: egs/custom/run.sh [options]
#  e.g.: egs/custom/run.sh                           # the corpus of conf/corpus.conf, on CPU
#        egs/custom/run.sh --mini true               # simulated corpora in three layouts (corpora/); README "Timings"
#        egs/custom/run.sh --device cuda --ngpu 2    # GPUs (with systems=dino:dino: the paper's settings)
#        egs/custom/run.sh --stage 5                 # resume at extraction, run to the end
# stages:
#   0  corpora: --mini true builds simulated ones in corpora/; otherwise checks conf/corpus.conf
#   1  data dirs (local/plain/make_data_dir.sh): data/train (train_audio, no labels), data/eval with
#      its trials data/eval_trials/main (local/plain/convert_trials.sh); with backend_audio, data/backend
#      and its speakers split into data/backend_train (PLDA, AS-norm cohort) and data/backend_heldout
#      (calibration speakers, data/calibration/trials); data/musan_{music,noise,speech} and
#      data/<aug_rirs> with musan_root and rirs_root
#   2  fbank + energy VAD of data/{train,eval,backend}
#   3  augmentation: data/train_aug (reverb, noise, music, babble with MUSAN/RIRs, and coloured
#      noise; coloured noise alone without them)
#   4  training (no labels): exp/<name>/final.pt for each KIND:NAME of systems (conf/recipe.conf)
#   5  embedding extraction: exp/<system>/emb/{eval,backend}
#   6  back-ends: cosine; with backend_audio LDA+PLDA and AS-norm (cohort: backend_train speakers),
#      and calibration on the held-out backend speakers' trials
#   7  EER, minDCF(0.01), minDCF(0.05) of each score file (JSON beside it) and a DET plot exp/det_main.png
#   8  RESULTS.md
# options:
#   --stage N --stop-stage N   run stages N..M (default 0..8); after a failure, --stage N resumes there
#   --nj N                     parallel jobs (default: default_nj of conf/recipe.conf)
#   --mini true|false          simulated corpora and the conf/mini/ overrides (default false)
#   --mini-scale K             simulated corpus size multiplier (default 1; small = 0.3)
#   --device cpu|cuda          device for training and extraction (default cpu; cuda with --ngpu)
#   --ngpu N                   GPUs per training (N > 1: torchrun DistributedDataParallel)
#   --overwrite true|false     train again over a model of other inputs (else stage 4 stops, naming them)
#   --restart true|false       no usable checkpoint: start over, said in the log (false: stop, listing them)
#   --seed S                   training, augmentation and calibration-split seed (default 0)
# Settings of every stage are in conf/ (conf/mini/ overrides with --mini true); what conf/ lacks
# (fbank.conf, vad.conf, extract.conf, dino.conf) comes from egs/voxceleb/conf.
set -euo pipefail
. "$(dirname "$0")/utils/recipe_lib.sh"   # --stage, --nj, --mini ...; source_conf, conf, say, run_stage ...
stop_stage=8
seed=0
recipe_enter "$@"   # cmd.sh, the options; cd into the recipe; path.sh
conf_base=../voxceleb/conf

# ---------------------------------------------------------------- configuration
source_conf recipe.conf
source_conf augment.conf
source_conf backend.conf
source_conf corpus.conf   # --mini true: conf/mini/corpus.conf names the simulated corpora in corpora/
as_list train_audio backend_audio   # "a b" or (a "b c"): one folder or several
recipe_jobs
pretrain_seeds=$seed   # one training seed: exp/<name>
check_pretrain_seeds
recipe_systems   # systems="KIND:NAME ..." of conf/recipe.conf: system_list, and systems (the NAMEs)
trials=data/eval_trials/main
# The facts stage 1 leaves, read by the later stages: data/backend_train (speaker-labelled: PLDA, AS-norm),
# data/calibration/trials (held-out speakers: calibration), data/backend_skipped (what is not made, why).
has_backend() { [ -s data/backend_train/utt2spk ]; }
has_calibration() { [ -s data/calibration/trials ]; }
labelled_trials() { [ -s "$trials" ] && awk 'NF != 3 { exit 1 }' "$trials"; }
backend_sets() {  # the data dirs that get embeddings: eval, backend (labelled), train (a cohort or the mean)
  echo eval; has_backend && echo backend
  if [ "$cosine_subtract_mean" = true ] || { ! has_backend && [ "${asnorm_unlabelled:-false}" = true ]; }; then echo train; fi
}
scored() { cat "exp/$1/scores/main/scored" 2> /dev/null || true; }   # stage 6's fact: scores_<name> it wrote
num_lines() { if [ -f "$1" ]; then wc -l < "$1" | tr -d ' '; else echo 0; fi; }
say "mini=$mini nj=$nj device=$device ngpu=$ngpu seed=$seed systems=$systems stages $stage..$stop_stage"
check_corpus_conf() {  # the paths of conf/corpus.conf (local/plain/check_corpus_conf.sh names what is wrong)
  local v opts=("${train_audio[@]/#/--train-audio=}" "${backend_audio[@]/#/--backend-audio=}")
  for v in eval_audio eval_trials dev_trials musan_root rirs_root {train,eval,backend}_segments; do
    opts+=("--${v//_/-}=${!v:-}"); done
  local/plain/check_corpus_conf.sh "${opts[@]}"
}

# ---------------------------------------------------------------- 0: corpora
if run_stage 0; then
  if $mini; then
    say "stage 0: building the simulated corpora in corpora/ (scale $mini_scale): an unlabelled training folder" \
        "(rec<N>.flac), an evaluation folder <speaker>/<session>/<N>.flac with trials.txt, and a labelled back-end" \
        "folder <speaker>_<session>_<N>.wav at 22.05 kHz"
    local/plain/make_mini_corpora.sh --scale "$mini_scale" --seed "$mini_corpus_seed" --nj "$nj" corpora
  else
    say "stage 0: checking the corpus paths of conf/corpus.conf"
  fi
  check_corpus_conf
  say "stage 0: done: train_audio=${train_audio[*]} eval_audio=$eval_audio eval_trials=$eval_trials" \
      "backend_audio=${backend_audio[*]:-(none)} musan_root=${musan_root:-(none)} rirs_root=${rirs_root:-(none)}"
fi

# ---------------------------------------------------------------- 1: data dirs
prep_dir() {  # prep_dir DATA make_data_dir.sh-ARGS...: made again when its arguments (conf/corpus.conf) changed
  local data=$1; shift
  if made_from "$*" "$data/utt2spk"; then say "$data exists (same conf/corpus.conf entries); skipping"; return 0; fi
  rm -rf "$data"
  local/plain/make_data_dir.sh --sample-rate "$sample_rate" "$@" "$data"
  record_made_from "$*" "$data/utt2spk"
}
if run_stage 1; then
  $mini || check_corpus_conf
  say "stage 1: data dirs of the training audio (no labels), the evaluation audio and its trials"
  prep_dir data/train --speaker none ${train_segments:+--segments "$train_segments"} "${train_audio[@]}"
  prep_dir data/eval --speaker "${eval_speaker:-none}" ${eval_segments:+--segments "$eval_segments"} "$eval_audio"
  if [ -s "$trials" ] && ! [ "$eval_trials" -nt "$trials" ] && ! [ data/eval/utt2spk -nt "$trials" ]; then
    say "$trials exists; skipping"
  else
    local/plain/convert_trials.sh --format "$eval_trials_format" "$eval_trials" data/eval "$trials"
  fi
  labelled_trials || say "$trials has no target/nontarget labels: scores are written, EER and minDCF are not"
  rm -rf data/dev_trials   # scored while training (stage 4) when conf/corpus.conf names them
  [ -z "${dev_trials:-}" ] || local/plain/convert_trials.sh --format "$eval_trials_format" "$dev_trials" data/eval \
    data/dev_trials/main
  if [ -n "${backend_audio[*]:-}" ]; then   # (prep_dir is a function: not in an && or || list, where set -e is off)
    prep_dir data/backend --speaker "$backend_speaker" ${backend_segments:+--segments "$backend_segments"} "${backend_audio[@]}"
  else rm -rf data/backend; fi   # no speaker-labelled audio: split_backend.sh says what is skipped
  local/plain/split_backend.sh --eval-data data/eval --asnorm-unlabelled "${asnorm_unlabelled:-false}" \
    "$calib_num_speakers" "$calib_num_trials" "$seed" data/backend data/calibration data/backend_skipped
  [ -s data/backend_skipped ] && say "$(cat data/backend_skipped)"
  prepare_noise_dirs   # data/musan_* and data/<aug_rirs>, each with its root in conf/corpus.conf
  say "stage 1: done: data/train ($(num_lines data/train/utt2spk) utterances) data/eval ($(num_lines data/eval/utt2spk)" \
      "utterances) $trials ($(num_lines "$trials") trials)$(has_backend && echo " data/backend_train ($(num_lines \
      data/backend_train/spk2utt) speakers)")$(has_calibration && echo " data/backend_heldout data/calibration/trials")"
fi

# ---------------------------------------------------------------- 2: fbank + VAD
if run_stage 2; then
  sets="train $(backend_sets | grep -vx train | paste -sd ' ' -)"
  # shellcheck disable=SC2086
  say "stage 2: fbank features ($(conf fbank.conf)) and energy VAD ($(conf vad.conf)) of data/$(set_of $sets)"
  for set in $sets; do
    steps/make_fbank.sh --nj "$nj" --cmd "$cpu_cmd" --fbank-config "$(conf fbank.conf)" --allow-resample true \
      "data/$set"
    steps/compute_vad.sh --nj "$nj" --cmd "$cpu_cmd" --vad-config "$(conf vad.conf)" "data/$set"
  done
  # shellcheck disable=SC2086
  say "stage 2: done: data/$(set_of $sets)/{feats.scp,vad.scp}"
fi

# ---------------------------------------------------------------- 3: augmentation
if run_stage 3; then
  # the types the noise corpora of conf/corpus.conf allow (augment_types.sh says what it dropped)
  types=$(local/plain/augment_types.sh "$aug_types" "$aug_types_no_corpora" "${musan_root:-}" "${rirs_root:-}")
  if [ -z "$types" ]; then
    rm -rf data/train_aug
    say "stage 3: no augmentation types left (conf/augment.conf): DINO's views are crops of the clean audio"
  else
    say "stage 3: augmented copies ($types) of data/train"
    steps/augment_data_dir.sh --nj "$nj" --cmd "$cpu_cmd" --types "$types" --seed "$seed" \
      --write-feats "$aug_write_feats" --fbank-config "$(conf fbank.conf)" data/train \
      "${musan_root:+data/musan}" "${rirs_root:+$(rir_dirs)}" data/train_aug
    $aug_write_feats || steps/make_fbank.sh --nj "$nj" --cmd "$cpu_cmd" --fbank-config "$(conf fbank.conf)" \
      --allow-resample true data/train_aug   # wav copies: their features
    say "stage 3: done: data/train_aug (feats.scp, utt2orig)"
  fi
fi

# ---------------------------------------------------------------- 4: training
if run_stage 4; then
  aug=()
  [ -s data/train_aug/feats.scp ] && aug=(--aug-data data/train_aug)
  for sys in $systems; do
    # the program decides what to train on (utterances under --min-frames voiced frames left out, shorter
    # crops capped at the utterance, the batch lowered for a tiny corpus) and writes it to train_plan.json
    opts=$(local/plain/train_options.sh --min-frames "$dino_min_frames" --dev-interval "${dino_dev_interval:-0}" \
           --prefix "$0: stage 4: $sys" data/eval data/dev_trials/main)
    train_system "$sys" data/train "$opts" "${aug[@]}"
    [ -s "exp/$sys/train_plan.json" ] && say "stage 4: $(python -m utter.bin.describe_train_plan "$sys=exp/$sys/train_plan.json")"
  done
  say "stage 4: done: $(for s in $systems; do echo -n "exp/$s/final.pt "; done)"
fi

# ---------------------------------------------------------------- 5: embeddings
if run_stage 5; then
  sets=$(backend_sets | paste -sd ' ' -)
  for sys in $systems; do
    for set in $sets; do
      say "stage 5: $sys embeddings of data/$set ($(conf extract.conf))"
      steps/extract_embeddings.sh --config "$(conf extract.conf)" --nj "$nj" --cmd "$extract_cmd" \
        --device "$device" --num-threads "$extract_threads" "exp/$sys/final.pt" "data/$set" "exp/$sys/emb/$set"
    done
  done
  # shellcheck disable=SC2086
  say "stage 5: done: exp/$(set_of $systems)/emb/$(set_of $sets)/xvector.scp"
fi

# ---------------------------------------------------------------- 6: back-ends
if run_stage 6; then
  [ -s data/backend_skipped ] && say "stage 6: $(cat data/backend_skipped)"
  for sys in $systems; do
    local/plain/score_backends.sh --cmd "$cpu_cmd" --prefix "$0: stage 6: $sys" \
      --subtract-mean "$cosine_subtract_mean" --whiten "$cosine_whiten" --lda-dim "$lda_dim" \
      --plda-type "$plda_type" --plda-rank "$plda_rank" --plda-iters "$plda_iters" \
      --asnorm-backend "$asnorm_backend" --asnorm-top-n "$asnorm_top_n" \
      --asnorm-unlabelled "${asnorm_unlabelled:-false}" --calib-prior "$calib_prior" "exp/$sys" "$trials"
  done
  say "stage 6: done: exp/$(set_of $systems)/scores/main/scores_$(set_of $(scored "${systems%% *}"))"
fi

# ---------------------------------------------------------------- 7: evaluation
if run_stage 7; then
  if ! labelled_trials; then
    say "stage 7: $trials has no target/nontarget labels: no EER or minDCF (scores in exp/*/scores/main)"
  else
    say "stage 7: EER, minDCF(0.01), minDCF(0.05) on $trials"
    specs=()
    for sys in $systems; do
      for name in $(scored "$sys"); do
        scores=exp/$sys/scores/main/scores_$name
        if ! python -m utter.stage --what "stage 7 $scores" --inputs "$scores $trials" "$scores.json" 2> /dev/null; then
          python -m utter.bin.evaluate_verification --name "$sys $name" --det-png none \
            --p-targets 0.01,0.05,0.001 "$scores" "$trials"
        fi
        [[ $name == *_cal ]] || specs+=("$sys $name=$scores")
      done
    done
    python -m utter.bin.plot_det --p-target "$det_p_target" --title "DET, $(basename "$eval_trials")" \
      "$trials" exp/det_main.png "${specs[@]}"
    say "stage 7: done: exp/*/scores/*/scores_*.json, exp/det_main.png"
  fi
fi

# ---------------------------------------------------------------- 8: RESULTS.md
if run_stage 8; then
  if ! labelled_trials; then
    say "stage 8: $trials has no labels: no RESULTS.md (scores in exp/*/scores/main)"
  else
    say "stage 8: RESULTS.md from the results JSON files"
    specs=(); more=()   # more: make_results_table's calibrated scores, networks and sentences after the intro
    for sys in $systems; do
      for name in $(scored "$sys"); do
        f=exp/$sys/scores/main/scores_$name.json
        if [[ $name == *_cal ]]; then more+=(--calibrated "$sys:${name%_cal}:main=$f"); else specs+=("$sys:$name:main=$f"); fi
      done
      more+=(--system-model "$sys=exp/$sys/final.pt")
    done
    train_desc="$(num_lines data/train/utt2spk) utterances of ${train_audio[*]}"   # named by conf/results.conf
    eval_desc="$(num_lines data/eval/utt2spk) utterances of $eval_audio ($(num_lines "$trials") trials)"
    has_backend && more+=(--intro-sentence "PLDA and the AS-norm cohort from $(num_lines data/backend_train/spk2utt)\
 speakers of ${backend_audio[*]}")
    [ -s data/backend_skipped ] && more+=(--intro-sentence "$(cat data/backend_skipped)")
    for sys in $systems; do
      [ -s "exp/$sys/plda/skipped" ] && more+=(--intro-sentence "$sys: $(cat "exp/$sys/plda/skipped")")
      [ -s "exp/$sys/train_plan.json" ] && more+=(--train-plan "$sys=exp/$sys/train_plan.json")
    done
    results_table RESULTS.md "${more[@]}" --det-plot exp/det_main.png
    cat RESULTS.md
    say "stage 8: done: RESULTS.md"
  fi
fi
