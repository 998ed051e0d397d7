#!/usr/bin/env bash
# IEMOCAP recipe: 4-class speech emotion recognition (neutral, happy+excited, angry, sad) with the
# VoxCeleb-pretrained DINO and supervised x-vector networks of egs/voxceleb, leave-one-session-out
# (Cho, Villalba, Moro-Velazquez, Dehak, IEEE JSTSP 2022, section on emotion; Lux, Chen, Vu, SLT 2022).
#
# usage: egs/iemocap/run.sh [options]
#  e.g.: egs/iemocap/run.sh --mini true                  # simulated corpora (timings: README "Timings")
#        egs/iemocap/run.sh --device cuda --ngpu 1       # real corpora and models (conf/corpus.conf)
#        egs/iemocap/run.sh --stage 7 --stop-stage 7     # resume at fine-tuning
# stages:
#   0  corpora: --mini true builds the simulator's IEMOCAP, MUSAN and RIRS_NOISES in corpora/;
#      otherwise checks the paths of conf/corpus.conf
#   1  data prep: data/iemocap (4 classes, utt2emo, leave-one-session-out folds/<k>/{train,dev,test}),
#      data/musan_{music,noise,speech}, data/rirs_*
#   2  fbank + energy VAD of data/iemocap
#   3  augmentation: data/iemocap_aug (reverb, noise, music, babble copies with utt2orig)
#   4  pretrained models: exp/pretrained/<sys>/final.pt for each of systems (conf/recipe.conf),
#      linking to the VoxCeleb models of conf/corpus.conf (--mini true: conf/mini/pretrained.conf,
#      built by egs/voxceleb if absent)
#   5  embeddings of data/iemocap from each pretrained model: exp/<sys>/emb/iemocap/xvector.scp
#   6  frozen-embedding classifiers per fold (conf/recipe.conf classifiers): exp/<sys>/classifier/<kind>
#   7  fine-tuning strategies (conf/recipe.conf finetune_strategies: full, affine-then-full) of each
#      pretrained model with a classification head, per fold and seed (conf/finetune.conf):
#      exp/<sys>/finetune/<strategy>
#   8  chunk-length ablation of fine-tuning (chunk_lengths, frames; 0 = whole utterances), with the
#      ablation strategy on the ablation systems: exp/<sys>/finetune_chunk/<frames>
#   9  augmentation ablation: the same fine-tuning with the stage-3 copies of each fold's training
#      utterances as extra data: exp/<sys>/finetune_aug/<strategy> (without: stage 7's run)
#  10  triplet + Barlow Twins fine-tuning, step 1 (conf/triplet_barlow.conf), then an adapter on
#      the frozen step-1 network, step 2 (Lux et al.), and the adapter on the frozen pretrained
#      network: exp/<sys>/lux/{triplet_barlow,adapter,adapter_pretrained}; compared in RESULTS.md with
#      stage 7's end-to-end fine-tuning on the same folds
#  11  RESULTS.md: UA, WA, macro-F1, mean ± std over folds and seeds (published figures from
#      conf/published.tsv beside them for the real corpus)
# options:
#   --stage N --stop-stage N   run stages N..M (default 0..11); after a failure, --stage N resumes there
#   --nj N                     parallel jobs (default: default_nj of conf/recipe.conf, 2 with --mini)
#   --mini true|false          simulated corpora and the conf/mini/ overrides (default false)
#   --mini-scale K             simulator size multiplier (default 1; "small" for tests)
#   --device cpu|cuda          device for fine-tuning and extraction (default cpu; cuda with --ngpu)
#   --ngpu N                   GPUs per training (N > 1: torchrun DistributedDataParallel)
#   --overwrite true|false     redo the classifiers and fine-tuning runs even when complete (they are
#                              redone anyway when older than the pretrained models)
#   --seeds "S1 S2 ..."        fine-tuning seeds (default: seeds of conf/recipe.conf)
#   --pretrain-seeds "S0 ..."  the VoxCeleb pretraining seeds whose models are used, every stage run on
#                              each (default: pretrain_seeds of conf/recipe.conf; egs/voxceleb/run.sh
#                              --pretrain-seeds trains them): exp/<sys> for the first, exp/<sys>_p<S>
#   --max-folds N              use the first N folds only (0: all 5; default: conf/recipe.conf; stages
#                              7-10 use finetune_max_folds of conf/recipe.conf when this is not given)
# Settings of every stage are in conf/ (conf/mini/ overrides with --mini true).
set -euo pipefail
. "$(dirname "$0")/utils/recipe_lib.sh"   # --stage, --nj, --mini ...; source_conf, conf, say, run_stage ...
stop_stage=11
seeds=
max_folds=
pretrain_seeds=
recipe_enter "$@"   # cmd.sh, the options; cd into the recipe; path.sh
downstream_settings   # conf/recipe.conf, conf/augment.conf; ft_max_folds, seed_list, nj, device
pretrained_systems systems ablation_systems   # NAMEs of egs/voxceleb's systems, each of each pretraining seed

# Corpus roots and pretrained models: the simulator's corpora and the mini VoxCeleb models
# (--mini true), else conf/corpus.conf (checked).
corpus_roots iemocap_root=IEMOCAP_full_release musan_root=musan rirs_root=RIRS_NOISES
if $mini; then . conf/mini/pretrained.conf; fi

# ---------------------------------------------------------------- 0: corpora
if run_stage 0; then
  corpora_stage "IEMOCAP, MUSAN and RIRS_NOISES corpora" iemocap,musan,rirs \
    check_corpora iemocap_root musan_root rirs_root
  say "stage 0: done: corpora $iemocap_root $musan_root $rirs_root"
fi

# ---------------------------------------------------------------- 1: data prep
if run_stage 1; then
  say "stage 1: data directories for IEMOCAP (4 classes, leave-one-session-out folds), MUSAN and RIRs"
  $mini || check_corpora iemocap_root musan_root rirs_root
  if [ -s data/iemocap/utt2emo ] && [ -d data/iemocap/folds ] \
      && made_from "$iemocap_root dev_fraction=$dev_fraction" data/iemocap/utt2emo; then
    say "data/iemocap exists; skipping"
  else
    rm -rf data/iemocap
    local/iemocap/prepare_data.sh --dev-fraction "$dev_fraction" "$iemocap_root" data
    record_made_from "$iemocap_root dev_fraction=$dev_fraction" data/iemocap/utt2emo
  fi
  prepare_noise_dirs
  say "stage 1: done: data/iemocap (utt2emo, folds/1..5) data/musan_{music,noise,speech} data/$(set_of $aug_rirs)"
fi

# ---------------------------------------------------------------- 2: fbank + VAD
if run_stage 2; then
  say "stage 2: fbank features ($(conf fbank.conf)) and energy VAD ($(conf vad.conf)) of data/iemocap"
  steps/make_fbank.sh --nj "$nj" --cmd "$cpu_cmd" --fbank-config "$(conf fbank.conf)" data/iemocap
  steps/compute_vad.sh --nj "$nj" --cmd "$cpu_cmd" --vad-config "$(conf vad.conf)" data/iemocap
  say "stage 2: done: data/iemocap/{feats.scp,vad.scp}"
fi

# ---------------------------------------------------------------- 3: augmentation
if run_stage 3; then
  say "stage 3: augmented copies ($aug_types) of data/iemocap, written as features"
  steps/augment_data_dir.sh --nj "$nj" --cmd "$cpu_cmd" --types "$aug_types" --seed "$aug_seed" \
    --write-feats true --fbank-config "$(conf fbank.conf)" data/iemocap data/musan "$(rir_dirs)" data/iemocap_aug
  say "stage 3: done: data/iemocap_aug (feats.scp, vad.scp, utt2orig)"
fi

# ---------------------------------------------------------------- 4: pretrained models
if run_stage 4; then link_pretrained_models; fi

# ---------------------------------------------------------------- 5: embeddings
if run_stage 5; then
  for sys in $systems; do
    say "stage 5: embeddings of data/iemocap from exp/pretrained/$sys/final.pt"
    steps/extract_embeddings.sh --config "$(conf extract.conf)" --nj "$nj" --cmd "$extract_cmd" \
        --device "$device" --num-threads "$extract_threads" \
      exp/pretrained/$sys/final.pt data/iemocap exp/$sys/emb/iemocap
  done
  say "stage 5: done: $(for s in $systems; do echo -n "exp/$s/emb/iemocap/xvector.scp "; done)"
fi

# ---------------------------------------------------------------- 6: frozen-embedding classifiers
if run_stage 6; then
  for sys in $systems; do
    for kind in $classifiers; do
      say "stage 6: $kind classifier on frozen $sys embeddings, leave-one-session-out ($(conf classifier.conf))"
      steps/train_classifier.sh --cmd "$cpu_cmd" --overwrite "$overwrite" --classifier-config "$(conf classifier.conf)" --classifier "$kind" \
        --label-table utt2emo --folds-dir data/iemocap/folds --max-folds "$max_folds" \
        exp/$sys/emb/iemocap/xvector.scp data/iemocap exp/$sys/classifier/$kind
    done
  done
  say "stage 6: done: exp/$(set_of $systems)/classifier/$(set_of $classifiers)/results.json (and fold*/results.json)"
fi

# ---------------------------------------------------------------- 7-9: fine-tuning
# One fine-tuning run per fold and seed (steps/finetune.sh): a classification head on the pretrained
# network, cross-entropy, evaluation on the whole test utterances of the fold, model selection on dev UA.
finetune() {  # finetune SYS OUTDIR [steps/finetune.sh options]
  local sys=$1 out=$2
  shift 2
  steps/finetune.sh --cmd "$train_cmd_now" --overwrite "$overwrite" --train-config "$(conf finetune.conf)" --folds-dir data/iemocap/folds \
    --label-table utt2emo --max-folds "$ft_max_folds" --seeds "$seed_list" --device "$device" \
    --num-threads "$train_threads" --max-jobs-run "$finetune_jobs" "$@" exp/pretrained/$sys/final.pt data/iemocap "$out"
}
if run_stage 7; then
  for sys in $systems; do
    for strategy in $finetune_strategies; do
      say "stage 7: fine-tuning $sys ($strategy; $(conf finetune.conf)), folds x seeds"
      finetune $sys exp/$sys/finetune/$strategy --strategy "$strategy"
    done
  done
  say "stage 7: done: exp/$(set_of $systems)/finetune/$(set_of $finetune_strategies)/results.json"
fi

if run_stage 8; then
  for sys in $ablation_systems; do
    for len in $chunk_lengths; do
      say "stage 8: fine-tuning $sys ($ablation_strategy) on training chunks of $len frames (0: whole utterances)"
      finetune $sys exp/$sys/finetune_chunk/$len --strategy "$ablation_strategy" --chunk-len "$len"
    done
  done
  say "stage 8: done: exp/$(set_of $ablation_systems)/finetune_chunk/$(set_of $chunk_lengths)/results.json"
fi

if run_stage 9; then
  [ -s data/iemocap_aug/utt2orig ] || { echo "$0: stage 9 needs data/iemocap_aug (stage 3)" >&2; exit 1; }
  for sys in $ablation_systems; do
    say "stage 9: fine-tuning $sys ($ablation_strategy) with the augmented copies of data/iemocap_aug"
    finetune $sys exp/$sys/finetune_aug/$ablation_strategy --strategy "$ablation_strategy" --aug-data data/iemocap_aug
  done
  say "stage 9: done: exp/$(set_of $ablation_systems)/finetune_aug/$ablation_strategy/results.json" \
      "(without augmentation: stage 7's exp/<sys>/finetune/$ablation_strategy)"
fi

# ---------------------------------------------------------------- 10: triplet + Barlow Twins + adapter (Lux et al.)
if run_stage 10; then lux_stage 10 data/iemocap "$ablation_systems"; fi

# ---------------------------------------------------------------- 11: RESULTS.md
if run_stage 11; then
  say "stage 11: RESULTS.md from the result JSON files"
  specs=()
  for sys in $systems; do
    for kind in $classifiers; do add_result frozen "$sys/$kind" loso exp/$sys/classifier/$kind/results.json; done
    for strategy in $finetune_strategies; do
      add_result finetune "$sys/$strategy" loso exp/$sys/finetune/$strategy/results.json
    done
  done
  for sys in $ablation_systems; do
    for len in $chunk_lengths; do
      name="$len-frames"; [ "$len" = 0 ] && name="whole-utterances"
      add_result chunk "$sys/$name" loso exp/$sys/finetune_chunk/$len/results.json
    done
    add_result aug "$sys/without-augmentation" loso exp/$sys/finetune/$ablation_strategy/results.json
    add_result aug "$sys/with-augmentation" loso exp/$sys/finetune_aug/$ablation_strategy/results.json
    add_result lux "$sys/triplet-barlow+adapter" loso exp/$sys/lux/adapter/results.json
    add_result lux "$sys/adapter-only" loso exp/$sys/lux/adapter_pretrained/results.json
    for strategy in $finetune_strategies; do
      add_result lux "$sys/fine-tuning-$strategy" loso exp/$sys/finetune/$strategy/results.json
    done
  done
  [ ${#specs[@]} -gt 0 ] || { echo "$0: stage 11: no results to tabulate (run stage 6 first)" >&2; exit 1; }
  ft_folds="all folds"   # named by the notes of conf/results.conf
  if [ "$ft_max_folds" -gt 0 ]; then ft_folds="the first $ft_max_folds folds"; fi
  nets=()   # the network each pretrained model was trained with names its rows
  for sys in $systems; do nets+=(--system-model "$sys=exp/pretrained/$sys/final.pt"); done
  results_table RESULTS.md --task classification "${nets[@]}"
  say "stage 11: done: RESULTS.md"
fi
