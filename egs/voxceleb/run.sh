#!/usr/bin/env bash
# VoxCeleb recipe: DINO self-supervised and supervised (AAM-softmax) LResNet34 speaker embeddings,
# trained on VoxCeleb2 dev, evaluated on the VoxCeleb1 O/E/H trial lists with cosine, LDA+PLDA and
# AS-norm back-ends (Cho, Villalba, Moro-Velazquez, Dehak, IEEE JSTSP 2022; hyperion dinossl.v1).
#
# usage: egs/voxceleb/run.sh [options]
#  e.g.: egs/voxceleb/run.sh --mini true                 # simulated corpora (timings: README "Timings")
#        egs/voxceleb/run.sh --device cuda --ngpu 4      # real corpora (conf/corpus.conf) on 4 GPUs
#        egs/voxceleb/run.sh --stage 6                   # resume at extraction, run to the end
# stages:
#   0  corpora: --mini true builds the simulator's corpora in corpora/; otherwise checks
#      the paths of conf/corpus.conf
#   1  data prep: data/voxceleb1 (+ trial lists data/voxceleb1_trials/{O,E,H}), data/voxceleb2_dev_all,
#      split into data/voxceleb2_dev (training, back-end and cohort speakers) and
#      data/voxceleb2_dev_heldout (calibration speakers, trials data/calibration/trials),
#      data/musan_{music,noise,speech}, data/rirs_{small,medium}
#   2  fbank + energy VAD of data/voxceleb2_dev, data/voxceleb2_dev_heldout, data/voxceleb1
#   3  augmentation: data/voxceleb2_dev_aug (reverb, noise, music, babble copies, with utt2orig;
#      --mini true adds coloured noise, conf/mini/augment.conf)
#   4  training of each system of conf/recipe.conf's systems list (KIND:NAME: python -m
#      utter.bin.train_<KIND> from conf/<NAME>.conf): DINO (no labels) exp/dino/final.pt, supervised
#      LResNet34 AAM-softmax exp/xvector/final.pt
#   5  (stage 4's: --stage 5 and --stop-stage 5 train every system too)
#   6  embedding extraction: exp/<model>/emb/{voxceleb2_dev,voxceleb2_dev_heldout,voxceleb1}
#   7  back-ends, trained on VoxCeleb2 dev only: cosine, LDA+PLDA, AS-norm (cohort: VoxCeleb2-dev
#      speaker means), calibration on the held-out VoxCeleb2-dev speakers' trials
#   8  EER, minDCF(0.01), minDCF(0.05) on each trial list (JSON beside the scores) and a DET plot
#   9  pseudo-label rounds after DINO (conf/pseudo.conf): cluster the embeddings of VoxCeleb2 dev,
#      fine-tune as an AAM-softmax classifier on the clusters (affine layers, then all), re-extract,
#      again: exp/dino_pl<r> (purity/NMI in exp/dino_pl<r>/data/cluster.json, cosine EER per round)
#  10  large-margin fine-tuning of the last round (6 s chunks, margin 0.5, low lr): exp/dino_pl<R>_lm
#  11  quality-aware calibration (score, log durations, cohort statistics) of their cosine scores
#  12  RESULTS.md (with the published figures of conf/published.tsv for the real corpora)
# options:
#   --stage N --stop-stage N   run stages N..M (default 0..12); after a failure, --stage N resumes there
#   --nj N                     parallel jobs (default: default_nj of conf/recipe.conf, 2 with --mini)
#   --mini true|false          simulated corpora and the conf/mini/ overrides (default false)
#   --mini-scale K             simulator size multiplier (default 1)
#   --device cpu|cuda          device for training and extraction (default cpu; cuda with --ngpu)
#   --ngpu N                   GPUs per training (N > 1: torchrun DistributedDataParallel)
#   --overwrite true|false     train again over models trained from other inputs (a changed conf or
#                              corpus stops stage 4 otherwise, naming what changed); later stages redo
#                              what is older than the new models
#   --restart true|false       a training with no usable checkpoint left starts over from step 1 (the
#                              removed checkpoints said in its log); false: it stops, listing them
#   --seed S                   training, augmentation and calibration-split seed (default 0)
#   --pretrain-seeds "S0 S1 ..." train every model once per seed (default: --seed): the first seed's in
#                              exp/<sys>, each other's in exp/<sys>_p<S>, each evaluated in stages 6-8 (the
#                              Findings replicate the pretraining: README "The papers' findings")
# Settings of every stage are in conf/ (conf/mini/ overrides with --mini true).
set -euo pipefail
. "$(dirname "$0")/utils/recipe_lib.sh"   # --stage, --nj, --mini ...; source_conf, conf, say, run_stage ...
stop_stage=12
seed=0
pretrain_seeds=
recipe_enter "$@"   # cmd.sh, the options; cd into the recipe; path.sh

# ---------------------------------------------------------------- configuration
source_conf recipe.conf
source_conf augment.conf
source_conf backend.conf
source_conf pseudo.conf
recipe_jobs
pretrain_seeds=${pretrain_seeds:-$seed}
check_pretrain_seeds
recipe_systems   # system_list: the KIND:NAME entries; systems: every system of every pretraining seed
backend_sets="voxceleb2_dev voxceleb2_dev_heldout voxceleb1"

# Corpus roots: the simulator's in corpora/ (--mini true), else conf/corpus.conf (checked).
corpus_roots voxceleb1_root=voxceleb1 voxceleb2_root=voxceleb2 musan_root=musan rirs_root=RIRS_NOISES
if $mini; then voxceleb2_format=wav; fi
check_voxceleb() {
  check_corpora voxceleb1_root voxceleb2_root musan_root rirs_root
  case $voxceleb2_format in m4a|wav) ;;
    *) echo "$0: voxceleb2_format=$voxceleb2_format in conf/corpus.conf: must be m4a or wav" >&2; exit 1 ;;
  esac
  if [ "$voxceleb2_format" = m4a ] && ! command -v ffmpeg > /dev/null; then
    echo "$0: voxceleb2_format=m4a (conf/corpus.conf) needs ffmpeg on PATH to decode VoxCeleb2" >&2; exit 1
  fi
}

say "mini=$mini nj=$nj device=$device ngpu=$ngpu seed=$seed pretrain_seeds='$pretrain_seeds' stages $stage..$stop_stage"

# ---------------------------------------------------------------- 0: corpora
if run_stage 0; then
  corpora_stage "VoxCeleb1/2, MUSAN and RIRS_NOISES corpora" voxceleb,musan,rirs check_voxceleb
  say "stage 0: done: corpora $voxceleb1_root $voxceleb2_root $musan_root $rirs_root"
fi

# ---------------------------------------------------------------- 1: data prep
if run_stage 1; then
  say "stage 1: data directories for VoxCeleb1 (trials O/E/H), VoxCeleb2 dev, MUSAN and RIRs"
  $mini || check_voxceleb
  # "exists" means made from these corpora: a corpus rebuilt at another --mini-scale is another input
  if [ -s data/voxceleb1/wav.scp ] && [ -s data/voxceleb1_trials/O ] \
      && made_from "$voxceleb1_root" data/voxceleb1/wav.scp data/voxceleb1_trials/O; then
    say "data/voxceleb1 and its trial lists exist; skipping"
  else
    rm -rf data/voxceleb1 data/voxceleb1_dev data/voxceleb1_test data/voxceleb1_trials
    local/voxceleb/make_voxceleb1.sh "$voxceleb1_root" data
    record_made_from "$voxceleb1_root" data/voxceleb1/wav.scp
  fi
  if [ -s data/voxceleb2_dev_all/wav.scp ] \
      && made_from "$voxceleb2_root/dev format=$voxceleb2_format" data/voxceleb2_dev_all/wav.scp; then
    say "data/voxceleb2_dev_all exists; skipping"
  else
    rm -rf data/voxceleb2_dev_all
    local/voxceleb/make_voxceleb2.sh --format "$voxceleb2_format" "$voxceleb2_root/dev" data/voxceleb2_dev_all
    record_made_from "$voxceleb2_root/dev format=$voxceleb2_format" data/voxceleb2_dev_all/wav.scp
  fi
  prepare_noise_dirs
  # Calibration speakers held out of VoxCeleb2 dev (never VoxCeleb1: the E and H lists use
  # every VoxCeleb1 speaker); the rest train the networks, the back-ends and the AS-norm cohort.
  calib_made_from="seed=$seed calib_num_speakers=$calib_num_speakers calib_num_trials=$calib_num_trials"
  if [ -s data/calibration/trials ] && [ -s data/voxceleb2_dev/utt2spk ] && [ -s data/voxceleb2_dev_heldout/utt2spk ] \
      && ! [ data/voxceleb2_dev_all/utt2spk -nt data/calibration/trials ] \
      && made_from "$calib_made_from" data/calibration/trials; then
    say "data/voxceleb2_dev, data/voxceleb2_dev_heldout and data/calibration/trials exist; skipping"
  else
    rm -rf data/voxceleb2_dev data/voxceleb2_dev_heldout
    python local/voxceleb/make_calibration_trials.py --num-speakers "$calib_num_speakers" \
      --num-trials "$calib_num_trials" --seed "$seed" data/voxceleb2_dev_all data/calibration.tmp
    utils/subset_data_dir.sh --spk-list data/calibration.tmp/train_spk data/voxceleb2_dev_all data/voxceleb2_dev
    utils/subset_data_dir.sh --spk-list data/calibration.tmp/heldout_spk data/voxceleb2_dev_all data/voxceleb2_dev_heldout
    rm -rf data/calibration && mv data/calibration.tmp data/calibration
    record_made_from "$calib_made_from" data/calibration/trials
  fi
  say "stage 1: done: data/voxceleb1 data/voxceleb1_trials/{O,E,H} data/voxceleb2_dev data/voxceleb2_dev_heldout" \
      "data/calibration/trials data/musan_{music,noise,speech} data/{${aug_rirs// /,}}"
fi

# ---------------------------------------------------------------- 2: fbank + VAD
if run_stage 2; then
  say "stage 2: fbank features ($(conf fbank.conf)) and energy VAD ($(conf vad.conf))"
  for set in $backend_sets; do
    steps/make_fbank.sh --nj "$nj" --cmd "$cpu_cmd" --fbank-config "$(conf fbank.conf)" data/$set
    steps/compute_vad.sh --nj "$nj" --cmd "$cpu_cmd" --vad-config "$(conf vad.conf)" data/$set
  done
  say "stage 2: done: data/{${backend_sets// /,}}/{feats.scp,vad.scp}"
fi

# ---------------------------------------------------------------- 3: augmentation
if run_stage 3; then
  say "stage 3: augmented copies ($aug_types) of data/voxceleb2_dev"
  steps/augment_data_dir.sh --nj "$nj" --cmd "$cpu_cmd" --types "$aug_types" --seed "$seed" \
    --write-feats "$aug_write_feats" --fbank-config "$(conf fbank.conf)" \
    data/voxceleb2_dev data/musan "$(rir_dirs)" data/voxceleb2_dev_aug
  if ! $aug_write_feats; then
    steps/make_fbank.sh --nj "$nj" --cmd "$cpu_cmd" --fbank-config "$(conf fbank.conf)" data/voxceleb2_dev_aug
  fi
  say "stage 3: done: data/voxceleb2_dev_aug (feats.scp, utt2orig)"
fi

# ---------------------------------------------------------------- 4-5: training
# Each system of each pretraining seed: exp/<sys>[_p<S>] by train_<kind> from conf/<sys>.conf, seed S.
# DINO is watched on the held-out speakers' calibration trials every dino_dev_interval steps (0: never).
dev_opts="--dev-data data/voxceleb2_dev_heldout --dev-trials data/calibration/trials --dev-interval ${dino_dev_interval:-0}"
if run_stage 4 || run_stage 5; then
  for sys in $systems; do
    opts=
    [ "$(kind_of "$sys")" = dino ] && [ "${dino_dev_interval:-0}" -gt 0 ] && opts=$dev_opts
    train_system "$sys" data/voxceleb2_dev "$opts" --aug-data data/voxceleb2_dev_aug
  done
  say "stage 4: done: $(for s in $systems; do echo -n "exp/$s/final.pt "; done)"
fi

# ---------------------------------------------------------------- 6: embeddings
if run_stage 6; then
  for sys in $systems; do
    for set in $backend_sets; do
      say "stage 6: $sys embeddings of data/$set ($(conf extract.conf))"
      steps/extract_embeddings.sh --config "$(conf extract.conf)" --nj "$nj" --cmd "$extract_cmd" \
        --device "$device" --num-threads "$extract_threads" \
        "exp/$sys/final.pt" "data/$set" "exp/$sys/emb/$set"
    done
  done
  say "stage 6: done: exp/{${systems// /,}}/emb/{${backend_sets// /,}}/{xvector.scp,spk_xvector.scp}"
fi

# ---------------------------------------------------------------- 7: back-ends
# Score directories: exp/<sys>/scores/<list>/scores_{cosine,plda,asnorm} (raw) and
# scores_<backend>_cal (calibrated); the calibration trials' scores in exp/<sys>/scores/calibration.
backends=$(python -m utter.bin.scorers)   # cosine plda asnorm: the registry utter.backend.scorers
score_lists="$trial_lists calibration"
trials_of() { if [ "$1" = calibration ]; then echo data/calibration/trials; else echo "data/voxceleb1_trials/$1"; fi; }
emb_of() { if [ "$1" = calibration ]; then echo "exp/$2/emb/voxceleb2_dev_heldout"; else echo "exp/$2/emb/voxceleb1"; fi; }
if run_stage 7; then
  for sys in $systems; do
    train_emb=exp/$sys/emb/voxceleb2_dev
    say "stage 7: $sys back-ends: LDA($lda_dim)+PLDA($plda_type) on $train_emb (VoxCeleb2-dev speakers)"
    steps/train_plda.sh --cmd "$cpu_cmd" --lda-dim "$lda_dim" --plda-type "$plda_type" --rank "$plda_rank" \
      --num-iters "$plda_iters" "$train_emb" data/voxceleb2_dev "exp/$sys/plda"
    for list in $score_lists; do
      trials=$(trials_of "$list"); emb=$(emb_of "$list" "$sys"); dir=exp/$sys/scores/$list
      say "stage 7: $sys: cosine, PLDA and AS-norm ($asnorm_backend, top $asnorm_top_n, cohort $train_emb) scores of $trials"
      steps/score_cosine.sh --cmd "$cpu_cmd" --evaluate false --train-emb-dir "$train_emb" \
        --subtract-mean "$cosine_subtract_mean" --whiten "$cosine_whiten" "$emb" "$trials" "$dir"
      steps/score_plda.sh --cmd "$cpu_cmd" --evaluate false "exp/$sys/plda" "$emb" "$trials" "$dir"
      if [ "$asnorm_backend" = plda ]; then model=exp/$sys/plda/plda.npz; else model=$dir/cosine.npz; fi
      steps/score_norm.sh --cmd "$cpu_cmd" --evaluate false --method asnorm --top-n "$asnorm_top_n" \
        --backend-model "$model" "$train_emb" data/voxceleb2_dev "$emb" "$trials" \
        "$dir/scores_$asnorm_backend" "$dir/scores_asnorm"
    done
    for b in $backends; do
      say "stage 7: $sys: calibration of $b scores on data/calibration/trials (held-out VoxCeleb2-dev speakers)"
      for list in $trial_lists; do
        steps/train_calibration.sh --cmd "$cpu_cmd" --prior "$calib_prior" \
          "exp/$sys/scores/calibration/scores_$b" data/calibration/trials "exp/$sys/calibration/$b" \
          "exp/$sys/scores/$list/scores_$b" "exp/$sys/scores/$list/scores_${b}_cal"
      done
    done
  done
  say "stage 7: done: exp/{${systems// /,}}/scores/{${score_lists// /,}}/scores_{${backends// /,}}[_cal]," \
      "exp/{${systems// /,}}/{plda/plda.npz,calibration/*/calibration.npz}"
fi

# ---------------------------------------------------------------- 8: evaluation
if run_stage 8; then
  for list in $score_lists; do
    trials=$(trials_of "$list")
    say "stage 8: EER, minDCF(0.01), minDCF(0.05) on $trials"
    for sys in $systems; do
      for scores in $(for b in $backends; do echo "exp/$sys/scores/$list/scores_$b"{,_cal}; done); do
        [ -f "$scores" ] || continue
        if ! python -m utter.stage --what "stage 8 $scores" --inputs "$scores $trials" "$scores.json" 2> /dev/null; then
          python -m utter.bin.evaluate_verification --name "$sys ${scores##*/scores_}" --det-png none \
            --p-targets 0.01,0.05,0.001 "$scores" "$trials"
        fi
      done
    done
    det=exp/det_$list.png
    specs=()
    for sys in $systems; do for b in $backends; do specs+=("$sys $b=exp/$sys/scores/$list/scores_$b"); done; done
    python -m utter.bin.plot_det --p-target "$det_p_target" --title "DET, VoxCeleb1-$list trials" "$trials" "$det" "${specs[@]}"
  done
  say "stage 8: done: exp/{${systems// /,}}/scores/{${score_lists// /,}}/scores_*.json, exp/det_{${score_lists// /,}}.png"
fi

# ---------------------------------------------------------------- 9-11: beyond the paper
# Pseudo-label rounds after DINO (9), large-margin fine-tuning (10), quality-aware calibration (11).
# Each new system gets the recipe's extraction and cosine scoring; exp/<sys>/scores/<list>/scores_cosine.json.
# pseudo_rounds=0 (conf/pseudo.conf) skips stages 9-11.
pl_systems=$(for r in $(seq "$pseudo_rounds"); do echo -n "${pseudo_base}_pl$r "; done)
lm_system=${pseudo_base}_pl${pseudo_rounds}_lm
beyond_systems="$pseudo_base $pl_systems $lm_system"
evaluate_system() {  # evaluate_system <sys>: embeddings of the back-end sets, cosine scores of every list
  local sys=$1 set list
  for set in $backend_sets; do
    steps/extract_embeddings.sh --config "$(conf extract.conf)" --nj "$nj" --cmd "$extract_cmd" \
      --device "$device" --num-threads "$extract_threads" "exp/$sys/final.pt" "data/$set" "exp/$sys/emb/$set"
  done
  for list in $score_lists; do
    steps/score_cosine.sh --cmd "$cpu_cmd" --train-emb-dir "exp/$sys/emb/voxceleb2_dev" \
      --subtract-mean "$cosine_subtract_mean" --whiten "$cosine_whiten" \
      "$(emb_of "$list" "$sys")" "$(trials_of "$list")" "exp/$sys/scores/$list"
  done
}
if run_stage 9 && [ "$pseudo_rounds" -gt 0 ]; then
  prev=$pseudo_base
  evaluate_system "$prev"   # skips what stages 6-7 made already
  for r in $(seq "$pseudo_rounds"); do
    sys=${pseudo_base}_pl$r
    say "stage 9: pseudo-label round $r: $pseudo_method k=$pseudo_num_clusters clusters of exp/$prev embeddings," \
        "then AAM-softmax fine-tuning (affine, then full) into exp/$sys"
    aug=()
    $pseudo_use_aug && aug=(--aug-data data/voxceleb2_dev_aug)
    steps/train_pseudo_label_round.sh --method "$pseudo_method" --num-clusters "$pseudo_num_clusters" \
      --min-cluster-size "$pseudo_min_cluster_size" --sample-size "$pseudo_sample_size" --seed "$seed" \
      --affine-config "$(conf pseudo_affine.conf)" --full-config "$(conf pseudo_full.conf)" \
      --cmd "$train_cmd_now" --ngpu "$ngpu" --device "$device" --num-threads "$train_threads" \
      --num-workers "$train_workers" "${aug[@]}" \
      "exp/$prev/final.pt" "exp/$prev/emb/voxceleb2_dev/xvector.scp" data/voxceleb2_dev "exp/$sys"
    evaluate_system "$sys"
    python -c "import json,sys; c=json.load(open(sys.argv[1])); e=json.load(open(sys.argv[2])); \
print(f'round $r: {c[\"num_clusters_kept\"]} clusters, purity {c.get(\"purity\", float(\"nan\")):.3f}, ' \
      f'NMI {c.get(\"nmi\", float(\"nan\")):.3f}, EER(O) {e[\"EER\"]:.2f}%')" \
      "exp/$sys/data/cluster.json" "exp/$sys/scores/${trial_lists%% *}/scores_cosine.json"
    prev=$sys
  done
  say "stage 9: done: exp/{${pl_systems// /,}}/final.pt, exp/*/data/cluster.json"
fi
if run_stage 10 && [ "$pseudo_rounds" -gt 0 ]; then
  last=${pseudo_base}_pl$pseudo_rounds
  say "stage 10: large-margin fine-tuning of exp/$last ($(conf large_margin.conf)) into exp/$lm_system"
  aug=()
  $pseudo_use_aug && aug=(--aug-data "exp/$last/data_aug")
  steps/train_xvector.sh --cmd "$train_cmd_now" --ngpu "$ngpu" --device "$device" --num-threads "$train_threads" \
    --num-workers "$train_workers" "${aug[@]}" --train-config "$(conf large_margin.conf)" \
    --train-opts "--seed $seed --init-model exp/$last/final.pt" "exp/$last/data" "exp/$lm_system"
  evaluate_system "$lm_system"
  say "stage 10: done: exp/$lm_system/final.pt"
fi
if run_stage 11 && [ "$pseudo_rounds" -gt 0 ]; then
  for sys in $beyond_systems; do
    say "stage 11: $sys: quality-aware calibration of cosine scores (durations, top-$asnorm_top_n cohort" \
        "statistics) on data/calibration/trials"
    for list in $trial_lists; do
      steps/train_quality_calibration.sh --top-n "$asnorm_top_n" --prior "$calib_prior" \
        "exp/$sys/scores/calibration/scores_cosine" data/calibration/trials \
        "exp/$sys/emb/voxceleb2_dev_heldout/xvector.scp" data/voxceleb2_dev_heldout \
        "exp/$sys/emb/voxceleb2_dev/spk_xvector.scp" "exp/$sys/quality_calibration/cosine" \
        "exp/$sys/scores/$list/scores_cosine" "data/voxceleb1_trials/$list" \
        "exp/$sys/emb/voxceleb1/xvector.scp" data/voxceleb1 "exp/$sys/scores/$list/scores_cosine_qcal"
    done
  done
  say "stage 11: done: exp/*/scores/*/scores_cosine_qcal.json"
fi

# ---------------------------------------------------------------- 12: RESULTS.md
if run_stage 12; then
  say "stage 12: RESULTS.md from the results JSON files"
  specs=(); cal=()
  for sys in $systems; do
    for list in $trial_lists; do
      for b in $backends; do
        specs+=("$sys:$b:$list=exp/$sys/scores/$list/scores_$b.json")
        cal+=(--calibrated "$sys:$b:$list=exp/$sys/scores/$list/scores_${b}_cal.json")
      done
    done
  done
  beyond=()   # stages 9-11, when they ran: rounds (purity, NMI, EER) and quality-aware calibration
  first=${trial_lists%% *}
  if [ "$pseudo_rounds" -gt 0 ] && [ -f "exp/$lm_system/scores/$first/scores_cosine.json" ]; then
    beyond+=(--pseudo-round "$pseudo_base=-,exp/$pseudo_base/scores/$first/scores_cosine.json")
    for sys in $pl_systems; do
      beyond+=(--pseudo-round "$sys=exp/$sys/data/cluster.json,exp/$sys/scores/$first/scores_cosine.json")
    done
    beyond+=(--pseudo-round "$lm_system=-,exp/$lm_system/scores/$first/scores_cosine.json")
    for sys in $beyond_systems; do
      for list in $trial_lists; do
        f=exp/$sys/scores/$list/scores_cosine_qcal.json
        if [ -f "$f" ]; then beyond+=(--quality-calibration "$sys:cosine:$list=$f"); fi
      done
    done
  fi
  nets=()   # the network each system was trained with names its rows
  for sys in $systems; do nets+=(--system-model "$sys=exp/$sys/final.pt"); done
  results_table RESULTS.md "${nets[@]}" --det-plot "exp/det_${trial_lists%% *}.png" "${cal[@]}" "${beyond[@]}"
  cat RESULTS.md
  say "stage 12: done: RESULTS.md"
fi
