#!/usr/bin/env bash
# Your own corpus: DINO self-supervised speaker embeddings trained on a folder (or several) of your
# audio, scored on your trial list with cosine and, given speaker-labelled audio, LDA+PLDA, AS-norm and
# calibration; EER/minDCF, a DET plot and RESULTS.md. The corpus is named in conf/corpus.conf only.
#
# usage: egs/custom/run.sh [options]
#  e.g.: egs/custom/run.sh                           # the corpus of conf/corpus.conf, on CPU
#        egs/custom/run.sh --mini true               # simulated corpora in three layouts (corpora/); README "Timings"
#        egs/custom/run.sh --device cuda --ngpu 2    # GPUs (with dino_systems=dino: the paper's settings)
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
#   4  DINO training (no labels): exp/<system>/final.pt for each of dino_systems (conf/recipe.conf)
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
#   --overwrite true|false     train DINO again over a model of other inputs (a changed conf or corpus
#                              stops stage 4 otherwise, naming what changed); later stages redo what is older
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
systems=$dino_systems
trials=data/eval_trials/main

check_custom() {  # the paths of conf/corpus.conf
  local var d
  if [ -z "${train_audio[*]:-}" ]; then
    echo "$0: train_audio is not set in $PWD/conf/corpus.conf: set it to your folder(s) of training audio" \
         "(or run with --mini true for a simulated corpus)" >&2
    exit 1
  fi
  for d in "${train_audio[@]}"; do
    [ -d "$d" ] || { echo "$0: train_audio: $d (conf/corpus.conf): no such directory" >&2; exit 1; }
  done
  check_corpora eval_audio
  if [ -z "${eval_trials:-}" ] || [ ! -f "$eval_trials" ]; then
    echo "$0: eval_trials=${eval_trials:-} (conf/corpus.conf): no such trial list" >&2; exit 1
  fi
  if [ -n "${dev_trials:-}" ] && [ ! -f "$dev_trials" ]; then
    echo "$0: dev_trials=$dev_trials (conf/corpus.conf): no such trial list" >&2; exit 1
  fi
  for d in ${backend_audio[@]+"${backend_audio[@]}"}; do
    [ -d "$d" ] || { echo "$0: backend_audio: $d (conf/corpus.conf): no such directory" >&2; exit 1; }
  done
  for var in musan_root rirs_root; do
    if [ -n "${!var:-}" ] && [ ! -d "${!var}" ]; then
      echo "$0: $var=${!var} (conf/corpus.conf): no such directory" >&2; exit 1
    fi
  done
  for var in train_segments eval_segments backend_segments; do
    if [ -n "${!var:-}" ] && [ ! -f "${!var}" ]; then
      echo "$0: $var=${!var} (conf/corpus.conf): no such file" >&2; exit 1
    fi
  done
}
has_backend_audio() { [ -n "${backend_audio[*]:-}" ]; }
has_backend() { [ -s data/backend_train/utt2spk ]; }         # stage 1 made it: PLDA and AS-norm run
has_calibration() { [ -s data/calibration/trials ]; }        # stage 1 made it: calibration runs
labelled_trials() { [ -s "$trials" ] && awk 'NF != 3 { exit 1 }' "$trials"; }
# AS-norm without labels: a cohort of the unlabelled training recordings (each its own cohort speaker)
unlabelled_asnorm() { ! has_backend && [ "${asnorm_unlabelled:-false}" = true ]; }
backend_sets() {  # the data dirs that get embeddings (backend holds backend_train and backend_heldout)
  echo eval
  has_backend && echo backend
  if [ "$cosine_subtract_mean" = true ] || unlabelled_asnorm; then echo train; fi
  return 0
}
say "mini=$mini nj=$nj device=$device ngpu=$ngpu seed=$seed systems=$systems stages $stage..$stop_stage"

# ---------------------------------------------------------------- 0: corpora
if run_stage 0; then
  if $mini; then
    say "stage 0: building the simulated corpora in corpora/ (scale $mini_scale): an unlabelled training" \
        "folder (rec<N>.flac), an evaluation folder <speaker>/<session>/<N>.flac with trials.txt, and a" \
        "labelled back-end folder <speaker>_<session>_<N>.wav at 22.05 kHz"
    case $mini_scale in small) k=0.3 ;; mini) k=1 ;; *) k=$mini_scale ;; esac
    n() { awk -v k="$k" -v lo="$1" -v n="$2" 'BEGIN { v = int(k * n + 0.5); print (v > lo ? v : lo) }'; }
    python -m utter.bin.make_plain_corpus --layout unlabelled --num-speakers "$(n 4 24)" --num-utts "$(n 40 360)" \
      --durations 2,8 --prefix trn --seed "$mini_corpus_seed" --nj "$nj" corpora/lab_train
    python -m utter.bin.make_plain_corpus --layout nested --num-speakers "$(n 4 10)" --num-utts "$(n 24 200)" \
      --durations 3,8 --trials "$(n 300 3000)" --prefix spk --seed "$mini_corpus_seed" --nj "$nj" corpora/lab_eval
    python -m utter.bin.make_plain_corpus --layout flat --format wav --sample-rate 22050 \
      --num-speakers "$(n 8 12)" --num-utts "$(n 40 200)" --durations 2,6 --prefix bk \
      --seed "$mini_corpus_seed" --nj "$nj" corpora/lab_backend
  else
    say "stage 0: checking the corpus paths of conf/corpus.conf"
  fi
  check_custom
  say "stage 0: done: train_audio=${train_audio[*]} eval_audio=$eval_audio eval_trials=$eval_trials" \
      "backend_audio=${backend_audio[*]:-(none)} musan_root=${musan_root:-(none)} rirs_root=${rirs_root:-(none)}"
fi

# ---------------------------------------------------------------- 1: data dirs
prep_dir() {  # prep_dir DATA SPEAKER SEGMENTS DIR...: made again when its arguments changed
  local data=$1 spk=$2 segs=$3 args
  shift 3
  local opts=(--speaker "$spk" --sample-rate "$sample_rate")
  [ -n "$segs" ] && opts+=(--segments "$segs")
  args="${opts[*]} $*"
  if [ -s "$data/utt2spk" ] && [ "$(cat "$data/.prep_args" 2> /dev/null)" = "$args" ]; then
    say "$data exists (same conf/corpus.conf entries); skipping"
    return 0
  fi
  rm -rf "$data"
  local/plain/make_data_dir.sh "${opts[@]}" "$@" "$data"
  echo "$args" > "$data/.prep_args"
}
num_lines() { if [ -f "$1" ]; then wc -l < "$1" | tr -d ' '; else echo 0; fi; }
if run_stage 1; then
  $mini || check_custom
  say "stage 1: data dirs of the training audio (no labels), the evaluation audio and its trials"
  prep_dir data/train none "${train_segments:-}" "${train_audio[@]}"
  prep_dir data/eval "${eval_speaker:-none}" "${eval_segments:-}" "$eval_audio"
  if [ -s "$trials" ] && ! [ "$eval_trials" -nt "$trials" ] && ! [ data/eval/utt2spk -nt "$trials" ]; then
    say "$trials exists; skipping"
  else
    local/plain/convert_trials.sh --format "$eval_trials_format" "$eval_trials" data/eval "$trials"
  fi
  labelled_trials || say "$trials has no target/nontarget labels: scores are written, EER and minDCF are not"
  if [ -n "${dev_trials:-}" ]; then   # scored while DINO trains (stage 4)
    local/plain/convert_trials.sh --format "$eval_trials_format" "$dev_trials" data/eval data/dev_trials/main
  else
    rm -rf data/dev_trials
  fi

  rm -f data/backend_skipped
  if has_backend_audio; then
    prep_dir data/backend "$backend_speaker" "${backend_segments:-}" "${backend_audio[@]}"
    # a file both evaluated and trained on gives optimistic figures: say so
    shared=$(awk '{ sub(/^[^ ]+ +/, "") } NR == FNR { seen[$0]; next } ($0 in seen)' data/eval/wav.scp \
             data/backend/wav.scp | wc -l)
    if [ "$shared" -gt 0 ]; then
      say "warning: $shared audio files of backend_audio are also evaluation files: PLDA, AS-norm and" \
          "calibration then know the test speakers (optimistic figures)"
    fi
    nspk=$(num_lines data/backend/spk2utt)
    nspk2=$(awk 'NF >= 3' data/backend/spk2utt | wc -l | tr -d ' ')   # speakers with 2+ utterances
    if [ "$nspk2" -lt 2 ]; then
      echo "PLDA, AS-norm and calibration skipped: data/backend has $nspk2 speakers with two or more" \
           "utterances (backend_speaker=$backend_speaker), and they need at least 2" > data/backend_skipped
      rm -rf data/backend_train data/backend_heldout data/calibration
    else
      rm -rf data/backend_train data/backend_heldout data/calibration.tmp
      if [ "$calib_num_speakers" -ge 2 ] && [ "$nspk2" -ge "$calib_num_speakers" ] \
          && [ $((nspk - calib_num_speakers)) -ge 2 ]; then
        python local/voxceleb/make_calibration_trials.py --num-speakers "$calib_num_speakers" \
          --num-trials "$calib_num_trials" --seed "$seed" data/backend data/calibration.tmp
        utils/subset_data_dir.sh --spk-list data/calibration.tmp/train_spk data/backend data/backend_train
        utils/subset_data_dir.sh --spk-list data/calibration.tmp/heldout_spk data/backend data/backend_heldout
        rm -rf data/calibration && mv data/calibration.tmp data/calibration
      else
        echo "calibration skipped: data/backend has $nspk speakers ($nspk2 with two or more utterances); holding" \
             "out calib_num_speakers=$calib_num_speakers for calibration needs that many with two or more" \
             "utterances and 2 more for PLDA (conf/backend.conf)" > data/backend_skipped
        rm -rf data/calibration
        utils/copy_data_dir.sh data/backend data/backend_train
      fi
    fi
  else
    if [ "${asnorm_unlabelled:-false}" = true ]; then
      echo "PLDA and calibration skipped: no speaker-labelled audio (backend_audio in conf/corpus.conf);" \
           "cosine scoring needs none, and AS-norm takes its cohort from the unlabelled training audio" \
           "(asnorm_unlabelled in conf/backend.conf)" > data/backend_skipped
    else
      echo "PLDA, AS-norm and calibration skipped: no speaker-labelled audio (backend_audio in conf/corpus.conf);" \
           "cosine scoring needs none" > data/backend_skipped
    fi
    rm -rf data/backend data/backend_train data/backend_heldout data/calibration
  fi
  [ -s data/backend_skipped ] && say "$(cat data/backend_skipped)"

  if [ -n "${musan_root:-}" ]; then
    if [ -s data/musan_speech/wav.scp ]; then say "data/musan_{music,noise,speech} exist; skipping"
    else local/musan/prepare_data.sh "$musan_root" data; fi
  fi
  if [ -n "${rirs_root:-}" ]; then
    # shellcheck disable=SC2086
    if [ -s "data/${aug_rirs##* }/wav.scp" ]; then say "data/$(set_of $aug_rirs) exist; skipping"
    else local/rirs/prepare_data.sh --rooms "$(for r in $aug_rirs; do echo -n "${r#rirs_} "; done)" "$rirs_root" data; fi
  fi
  say "stage 1: done: data/train ($(num_lines data/train/utt2spk) utterances) data/eval ($(num_lines data/eval/utt2spk)" \
      "utterances) $trials ($(num_lines "$trials") trials)$(has_backend && echo " data/backend_train" \
      "($(num_lines data/backend_train/spk2utt) speakers)")$(has_calibration && echo " data/backend_heldout" \
      "data/calibration/trials")"
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
  types=$aug_types
  if [ -z "${musan_root:-}" ] && [ -z "${rirs_root:-}" ]; then
    types=$aug_types_no_corpora
    say "stage 3: no musan_root or rirs_root in conf/corpus.conf: coloured-noise copies only ($types)"
  elif [ -z "${musan_root:-}" ]; then
    types=$(echo "$types" | tr ',' '\n' | grep -vxE 'noise|music|babble' | paste -sd, -)
    say "stage 3: no musan_root in conf/corpus.conf: no noise, music or babble copies ($types)"
  elif [ -z "${rirs_root:-}" ]; then
    types=$(echo "$types" | tr ',' '\n' | grep -vx reverb | paste -sd, -)
    say "stage 3: no rirs_root in conf/corpus.conf: no reverberated copies ($types)"
  fi
  rirs=; musan=
  [ -n "${rirs_root:-}" ] && rirs=$(rir_dirs)
  [ -n "${musan_root:-}" ] && musan=data/musan
  if [ -z "$types" ]; then
    rm -rf data/train_aug
    say "stage 3: no augmentation types left (conf/augment.conf): DINO's views are crops of the clean audio"
  else
    say "stage 3: augmented copies ($types) of data/train"
    steps/augment_data_dir.sh --nj "$nj" --cmd "$cpu_cmd" --types "$types" --seed "$seed" \
      --write-feats "$aug_write_feats" --fbank-config "$(conf fbank.conf)" data/train "$musan" "$rirs" data/train_aug
    if ! $aug_write_feats; then
      steps/make_fbank.sh --nj "$nj" --cmd "$cpu_cmd" --fbank-config "$(conf fbank.conf)" --allow-resample true \
        data/train_aug
    fi
    say "stage 3: done: data/train_aug (feats.scp, utt2orig)"
  fi
fi

# ---------------------------------------------------------------- 4: DINO
if run_stage 4; then
  for sys in $systems; do
    cfg=$(conf "$sys.conf")
    # the program decides what to train on (utterances under --min-frames voiced frames left out, shorter
    # crops capped at the utterance, the batch lowered for a tiny corpus) and writes it to train_plan.json
    opts="--seed $seed"
    [ -n "$dino_min_frames" ] && opts+=" --min-frames $dino_min_frames"
    if [ -s data/dev_trials/main ] && [ "${dino_dev_interval:-0}" -gt 0 ]; then
      opts+=" --dev-data data/eval --dev-trials data/dev_trials/main --dev-interval $dino_dev_interval"
      say "stage 4: $sys: the dev trials (dev_trials, $(num_lines data/dev_trials/main)) scored every" \
          "$dino_dev_interval steps with the teacher (log/train.log, loss.png)"
    fi
    aug=()
    [ -s data/train_aug/feats.scp ] && aug=(--aug-data data/train_aug)
    say "stage 4: DINO training of exp/$sys ($cfg) on data/train${aug:+ and data/train_aug}, no labels"
    steps/train_dino.sh --cmd "$train_cmd_now" --ngpu "$ngpu" --device "$device" --overwrite "$overwrite" \
      --num-threads "$train_threads" --num-workers "$train_workers" --train-config "$cfg" \
      --train-opts "$opts" "${aug[@]}" data/train "exp/$sys"
    [ -s "exp/$sys/train_plan.json" ] && say "stage 4: $(python -c 'import sys
from utter.report.document import plan_sentence
print(plan_sentence(sys.argv[1]))' "$sys=exp/$sys/train_plan.json")"
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
backends=$(python -m utter.bin.scorers)   # cosine plda asnorm: the registry utter.backend.scorers
sys_backends() {  # sys_backends SYS: the back-ends whose scores of the main trials stage 6 wrote
  local b
  for b in $backends; do
    if [ "$b" = cosine ] || has_backend || { [ "$b" = asnorm ] && unlabelled_asnorm; }; then
      [ -s "exp/$1/scores/main/scores_$b" ] && echo "$b"
    fi
  done
  return 0
}
if run_stage 6; then
  [ -s data/backend_skipped ] && say "stage 6: $(cat data/backend_skipped)"
  for sys in $systems; do
    cos_opts=(--subtract-mean "$cosine_subtract_mean" --whiten "$cosine_whiten")
    [ "$cosine_subtract_mean" = true ] && cos_opts+=(--train-emb-dir "exp/$sys/emb/train")
    lists=main
    has_calibration && lists="main calibration"
    for list in $lists; do
      if [ "$list" = main ]; then tl=$trials; emb=exp/$sys/emb/eval
      else tl=data/calibration/trials; emb=exp/$sys/emb/backend; fi
      dir=exp/$sys/scores/$list
      say "stage 6: $sys: cosine scores of $tl"
      steps/score_cosine.sh --cmd "$cpu_cmd" --evaluate false "${cos_opts[@]}" "$emb" "$tl" "$dir"
      if has_backend; then
        if [ "exp/$sys/emb/backend/xvector.scp" -nt "exp/$sys/plda/skipped" ]; then
          rm -f "exp/$sys/plda/skipped"   # new embeddings: try again
        fi
        if [ ! -s "exp/$sys/plda/plda.npz" ] && [ ! -s "exp/$sys/plda/skipped" ]; then
          say "stage 6: $sys: LDA($lda_dim)+PLDA($plda_type) on the data/backend_train utterances of exp/$sys/emb/backend"
          if ! steps/train_plda.sh --cmd "$cpu_cmd" --lda-dim "$lda_dim" --plda-type "$plda_type" \
              --rank "$plda_rank" --num-iters "$plda_iters" "exp/$sys/emb/backend" data/backend_train \
              "exp/$sys/plda"; then
            # a back-end the data cannot support (too few utterances per speaker ...): skipped, saying why
            why=$(sed -n 's/.*error: //p' "exp/$sys/plda/log/train_plda.log" | tail -n 1)
            echo "$sys: PLDA skipped: ${why:-see exp/$sys/plda/log/train_plda.log}" > "exp/$sys/plda/skipped"
            say "stage 6: $(cat "exp/$sys/plda/skipped")"
          fi
        fi
        if [ -s "exp/$sys/plda/plda.npz" ]; then
          say "stage 6: $sys: PLDA scores of $tl"
          steps/score_plda.sh --cmd "$cpu_cmd" --evaluate false "exp/$sys/plda" "$emb" "$tl" "$dir"
        fi
        if [ "$asnorm_backend" = plda ]; then model=exp/$sys/plda/plda.npz; else model=$dir/cosine.npz; fi
        if [ -s "$model" ]; then
          say "stage 6: $sys: AS-norm ($asnorm_backend, top $asnorm_top_n, cohort backend_train) scores of $tl"
          steps/score_norm.sh --cmd "$cpu_cmd" --evaluate false --method asnorm --top-n "$asnorm_top_n" \
            --backend-model "$model" "exp/$sys/emb/backend" data/backend_train "$emb" "$tl" \
            "$dir/scores_$asnorm_backend" "$dir/scores_asnorm"
        fi
      elif unlabelled_asnorm && [ "$list" = main ]; then
        say "stage 6: $sys: AS-norm (cosine, top $asnorm_top_n, cohort: the unlabelled data/train recordings) scores of $tl"
        steps/score_norm.sh --cmd "$cpu_cmd" --evaluate false --method asnorm --top-n "$asnorm_top_n" \
          --backend-model "$dir/cosine.npz" "exp/$sys/emb/train" data/train "$emb" "$tl" \
          "$dir/scores_cosine" "$dir/scores_asnorm"
      fi
    done
    if has_calibration; then
      for b in $(sys_backends "$sys"); do
        say "stage 6: $sys: calibration of $b scores on data/calibration/trials (held-out backend speakers)"
        steps/train_calibration.sh --cmd "$cpu_cmd" --prior "$calib_prior" \
          "exp/$sys/scores/calibration/scores_$b" data/calibration/trials "exp/$sys/calibration/$b" \
          "exp/$sys/scores/main/scores_$b" "exp/$sys/scores/main/scores_${b}_cal"
      done
    fi
  done
  # shellcheck disable=SC2046
  say "stage 6: done: exp/$(set_of $systems)/scores/main/scores_$(set_of $(sys_backends "${systems%% *}"))$(
      has_calibration && echo '[_cal]')"
fi

# ---------------------------------------------------------------- 7: evaluation
if run_stage 7; then
  if ! labelled_trials; then
    say "stage 7: $trials has no target/nontarget labels: no EER or minDCF (scores in exp/*/scores/main)"
  else
    say "stage 7: EER, minDCF(0.01), minDCF(0.05) on $trials"
    for sys in $systems; do
      for scores in $(for b in $(sys_backends "$sys"); do
                        echo "exp/$sys/scores/main/scores_$b"
                        has_calibration && echo "exp/$sys/scores/main/scores_${b}_cal"
                      done); do
        [ -f "$scores" ] || continue
        if ! python -m utter.stage --what "stage 7 $scores" --inputs "$scores $trials" "$scores.json" 2> /dev/null; then
          python -m utter.bin.evaluate_verification --name "$sys ${scores##*/scores_}" --det-png none \
            --p-targets 0.01,0.05,0.001 "$scores" "$trials"
        fi
      done
    done
    specs=()
    for sys in $systems; do for b in $(sys_backends "$sys"); do specs+=("$sys $b=exp/$sys/scores/main/scores_$b"); done; done
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
    specs=(); cal=(); nets=()
    for sys in $systems; do
      for b in $(sys_backends "$sys"); do
        specs+=("$sys:$b:main=exp/$sys/scores/main/scores_$b.json")
        f=exp/$sys/scores/main/scores_${b}_cal.json
        if has_calibration && [ -f "$f" ]; then cal+=(--calibrated "$sys:$b:main=$f"); fi
      done
      nets+=(--system-model "$sys=exp/$sys/final.pt")
    done
    train_desc="$(num_lines data/train/utt2spk) utterances of ${train_audio[*]}"
    eval_desc="$(num_lines data/eval/utt2spk) utterances of $eval_audio ($(num_lines "$trials") trials)"
    # sentences after the intro of conf/results.conf, what was skipped among them; make_results_table
    # joins them, each ended with a period
    intro=()
    if has_backend; then
      nspk=$(num_lines data/backend_train/spk2utt)
      intro+=(--intro-sentence "PLDA and the AS-norm cohort from $nspk speakers of ${backend_audio[*]}")
    fi
    [ -s data/backend_skipped ] && intro+=(--intro-sentence "$(cat data/backend_skipped)")
    for sys in $systems; do
      [ -s "exp/$sys/plda/skipped" ] && intro+=(--intro-sentence "$(cat "exp/$sys/plda/skipped")")
      [ -s "exp/$sys/train_plan.json" ] && intro+=(--train-plan "$sys=exp/$sys/train_plan.json")
    done
    results_table RESULTS.md "${nets[@]}" "${intro[@]}" --det-plot exp/det_main.png "${cal[@]}"
    cat RESULTS.md
    say "stage 8: done: RESULTS.md"
  fi
fi
