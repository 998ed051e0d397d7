#!/usr/bin/env bash
# ADReSS recipe: Alzheimer's disease detection (cc/cd) and MMSE regression from the picture
# description recordings of the ADReSS challenge (Interspeech 2020), with the VoxCeleb-pretrained
# DINO and supervised x-vector networks of egs/voxceleb (Cho, Villalba, Moro-Velazquez, Dehak,
# IEEE JSTSP 2022), the triplet + Barlow Twins + adapter method (Lux, Chen, Vu, SLT 2022), and a
# sentencepiece text branch fused with the acoustic scores.
#
# usage: egs/adress/run.sh [options]
#  e.g.: egs/adress/run.sh --mini true                   # simulated corpora (timings: README "Timings")
#        egs/adress/run.sh --device cuda --ngpu 1        # real corpus and models (conf/corpus.conf)
#        egs/adress/run.sh --stage 7 --stop-stage 7      # resume at fine-tuning
# Speakers are the unit of decision: every recording is cut into participant segments from the
# CHAT timings, segment scores are averaged per speaker. Cross-validation on the training
# speakers (leave-one-speaker-out, or K speaker groups: cv_folds of conf/recipe.conf) and
# train -> test.
# stages:
#   0  corpora: --mini true builds the simulator's ADReSS (and MUSAN, RIRS_NOISES) in corpora/;
#      otherwise checks the paths of conf/corpus.conf
#   1  data prep: data/adress_train (participant segments, utt2label, utt2mmse, text, speaker
#      folds/<k>/{train,test}), data/adress_test; MUSAN and RIR dirs when augmenting
#   2  fbank + energy VAD (audio resampled to 16 kHz) of data/adress_{train,test}
#   3  augmentation (use_augmentation=true in conf/recipe.conf; needs sox): data/adress_train_aug
#   4  pretrained models: exp/pretrained/<sys>/final.pt for each of systems (conf/recipe.conf),
#      linking to the VoxCeleb models of conf/corpus.conf (--mini true: conf/mini/pretrained.conf,
#      built by egs/voxceleb if absent)
#   5  embeddings of data/adress_{train,test}: exp/<sys>/emb/adress_{train,test}/xvector.scp
#   6  frozen-embedding classifiers: exp/<sys>/classifier/<kind>/{cv,test}
#   7  fine-tuning strategies (finetune_strategies of conf/recipe.conf: full, affine-then-full) of each
#      pretrained model with a classification head on the participant segments (conf/finetune.conf),
#      CV over the training speakers' segments and train -> test: exp/<sys>/finetune/<strategy>/{cv,test}
#      (decided per speaker: the mean posterior of its segments)
#   8  triplet + Barlow Twins fine-tuning (step 1) then an adapter on the frozen network (step 2),
#      Lux et al. (conf/triplet_barlow.conf), and the adapter on the frozen pretrained network, on the
#      same CV folds: exp/<sys>/lux/{triplet_barlow,adapter,adapter_pretrained} (decided per speaker)
#   9  text branch (sentencepiece subwords, TF-IDF, logistic regression, per speaker), its late fusion
#      with the speaker scores of the fusion_classifier on frozen embeddings, and MMSE ridge regression
#      from the text features: exp/text/<sys>/{cv,test,fusion_cv,fusion_test,mmse_cv,mmse_test}
#  10  MMSE regression (ridge on embeddings and on text features): exp/<sys>/mmse, exp/text/mmse
#  11  RESULTS.md: accuracy and F1 (CV on train, and test), RMSE for MMSE, with the published
#      figures of conf/published.tsv beside them for the real corpus
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
#                              each with its own draw of the cv speaker groups (default: pretrain_seeds
#                              of conf/recipe.conf; egs/voxceleb/run.sh --pretrain-seeds trains them)
#   --max-folds N              use the first N cross-validation folds only (0: all; stages 7-8 use
#                              finetune_max_folds of conf/recipe.conf when this is not given)
# Settings of every stage are in conf/ (conf/mini/ overrides with --mini true).
set -euo pipefail
. "$(dirname "$0")/utils/recipe_lib.sh"   # --stage, --nj, --mini ...; source_conf, conf, say, run_stage ...
stop_stage=11
seeds=
max_folds=
pretrain_seeds=
recipe_enter "$@"   # cmd.sh, the options; cd into the recipe; path.sh
downstream_settings   # conf/recipe.conf, conf/augment.conf; ft_max_folds, seed_list, nj, device
pretrained_systems systems lux_systems   # NAMEs of egs/voxceleb's systems, each of each pretraining seed
fusion_systems=$(system_names $fusion_systems)   # the first pretraining seed's models only
# the cv folds of a system: each pretraining seed draws its own speaker groups (folds_p<S>)
folds_of() { echo "data/$1/folds$(pretrain_suffix "$2")"; }   # folds_of SET SYS
partition_seeds=$(echo $pretrain_seeds | cut -s -d' ' -f2-)   # every pretraining seed but the first
corpora_needed=adress
corpus_vars=adress_root
if $use_augmentation; then corpora_needed="adress,musan,rirs"; corpus_vars="adress_root musan_root rirs_root"; fi

# Corpus roots and pretrained models: the simulator's corpora and the mini VoxCeleb models
# (--mini true), else conf/corpus.conf (checked).
adress_test_labels=
corpus_roots adress_root=ADReSS-IS2020-data musan_root=musan rirs_root=RIRS_NOISES
if $mini; then . conf/mini/pretrained.conf; fi

# ---------------------------------------------------------------- 0: corpora
if run_stage 0; then
  # shellcheck disable=SC2086
  corpora_stage "corpora ($corpora_needed)" "$corpora_needed" check_corpora $corpus_vars
  say "stage 0: done: corpora $adress_root"
fi

# ---------------------------------------------------------------- 1: data prep
if run_stage 1; then
  say "stage 1: data directories for ADReSS (participant segments; cv_folds=$cv_folds, 0 = leave one speaker out)"
  # shellcheck disable=SC2086
  $mini || check_corpora $corpus_vars
  adress_made_from="$adress_root cv_folds=$cv_folds test_labels=$adress_test_labels"
  [ -n "$partition_seeds" ] && adress_made_from="$adress_made_from partition_seeds=$partition_seeds"
  if [ -s data/adress_train/utt2label ] && [ -d data/adress_train/folds ] && [ -s data/adress_test/utt2label ] \
      && made_from "$adress_made_from" data/adress_train/utt2label data/adress_test/utt2label; then
    say "data/adress_train and data/adress_test exist; skipping"
  else
    rm -rf data/adress_train data/adress_test
    labels_opt=()
    [ -n "$adress_test_labels" ] && labels_opt=(--test-labels "$adress_test_labels")
    local/adress/prepare_data.sh --segments true --cv-folds "$cv_folds" --partition-seeds "$partition_seeds" \
      "${labels_opt[@]}" "$adress_root" data
    record_made_from "$adress_made_from" data/adress_train/utt2label
  fi
  if $use_augmentation; then prepare_noise_dirs; fi
  # Speakers are the unit of decision: data/<set>_spk has one entry per speaker (its embedding is the
  # mean of its segments' embeddings, exp/<sys>/emb/<set>/spk_xvector.scp), with the speaker's label,
  # MMSE, all its segments' text, and folds over speakers.
  for set in adress_train adress_test; do
    if [ -s data/${set}_spk/utt2label ] && ! [ data/$set/utt2label -nt data/${set}_spk/utt2label ]; then
      say "data/${set}_spk exists; skipping"
      continue
    fi
    rm -rf data/${set}_spk.tmp && mkdir -p data/${set}_spk.tmp
    awk '{print $1, $1}' data/$set/spk2utt > data/${set}_spk.tmp/utt2spk
    cp data/${set}_spk.tmp/utt2spk data/${set}_spk.tmp/spk2utt
    for table in utt2label utt2mmse utt2age utt2gender; do
      [ -f data/$set/$table ] || continue
      awk 'NR == FNR { spk[$1] = $2; next } !($1 in spk) { next }
           !(spk[$1] in seen) { seen[spk[$1]] = 1; $1 = spk[$1]; print }' \
        data/$set/utt2spk data/$set/$table | sort > data/${set}_spk.tmp/$table
    done
    awk 'NR == FNR { spk[$1] = $2; next } { u = $1; $1 = ""; text[spk[u]] = text[spk[u]] $0 }
         END { for (s in text) print s text[s] }' data/$set/utt2spk data/$set/text | sort > data/${set}_spk.tmp/text
    for folds in data/$set/folds data/$set/folds_p*; do
      [ -d "$folds" ] || continue
      for f in "$folds"/*/*; do
        k=$(basename "$(dirname "$f")"); part=$(basename "$f")
        mkdir -p "data/${set}_spk.tmp/${folds##*/}/$k"
        utils/filter_scp.py "$f" data/$set/utt2spk | awk '{print $2}' | sort -u > "data/${set}_spk.tmp/${folds##*/}/$k/$part"
      done
    done
    rm -rf data/${set}_spk && mv data/${set}_spk.tmp data/${set}_spk
  done
  say "stage 1: done: data/adress_train (segments, utt2label, utt2mmse, text, folds) data/adress_test" \
      "data/adress_{train,test}_spk (per speaker)"
fi

# ---------------------------------------------------------------- 2: fbank + VAD
if run_stage 2; then
  say "stage 2: fbank features ($(conf fbank.conf), audio resampled to 16 kHz) and energy VAD ($(conf vad.conf))"
  for set in adress_train adress_test; do
    steps/make_fbank.sh --nj "$nj" --cmd "$cpu_cmd" --fbank-config "$(conf fbank.conf)" --allow-resample true data/$set
    steps/compute_vad.sh --nj "$nj" --cmd "$cpu_cmd" --vad-config "$(conf vad.conf)" data/$set
  done
  say "stage 2: done: data/adress_{train,test}/{feats.scp,vad.scp}"
fi

# ---------------------------------------------------------------- 3: augmentation (optional)
if run_stage 3; then
  if ! $use_augmentation; then
    say "stage 3: augmentation is off (use_augmentation=false in conf/recipe.conf); nothing to do"
  else
    # The MUSAN/RIR signals are 16 kHz and the ADReSS recordings 44.1 kHz: the copies are made
    # from a 16 kHz view of the training segments (sox pipes in wav.scp).
    command -v sox > /dev/null || { echo "$0: use_augmentation=true needs sox on PATH (ADReSS audio is resampled to 16 kHz before mixing)" >&2; exit 1; }
    say "stage 3: augmented copies ($aug_types) of data/adress_train (resampled to 16 kHz), written as features"
    if [ ! -s data/adress_train_16k/wav.scp ]; then
      utils/copy_data_dir.sh data/adress_train data/adress_train_16k
      awk '{printf "%s sox %s -r 16000 -t wav - |\n", $1, $2}' data/adress_train/wav.scp > data/adress_train_16k/wav.scp
    fi
    steps/augment_data_dir.sh --nj "$nj" --cmd "$cpu_cmd" --types "$aug_types" --seed "$aug_seed" \
      --write-feats true --fbank-config "$(conf fbank.conf)" data/adress_train_16k data/musan "$(rir_dirs)" \
      data/adress_train_aug
    say "stage 3: done: data/adress_train_aug (feats.scp, vad.scp, utt2orig)"
  fi
fi

# ---------------------------------------------------------------- 4: pretrained models
if run_stage 4; then link_pretrained_models; fi

# ---------------------------------------------------------------- 5: embeddings
if run_stage 5; then
  for sys in $systems; do
    for set in adress_train adress_test; do
      say "stage 5: embeddings of data/$set from exp/pretrained/$sys/final.pt"
      steps/extract_embeddings.sh --config "$(conf extract.conf)" --nj "$nj" --cmd "$extract_cmd" \
        --device "$device" --num-threads "$extract_threads" \
        exp/pretrained/$sys/final.pt data/$set exp/$sys/emb/$set
    done
  done
  say "stage 5: done: $(for s in $systems; do echo -n "exp/$s/emb/adress_{train,test}/xvector.scp "; done)"
fi

# ---------------------------------------------------------------- 6: frozen-embedding classifiers
# Per speaker: the mean of its segments' embeddings; CV over the training speakers, and train -> test.
if run_stage 6; then
  for sys in $systems; do
    for kind in $classifiers; do
      say "stage 6: $kind classifier on frozen $sys speaker embeddings: CV on train, and train -> test"
      emb=exp/$sys/emb
      steps/train_classifier.sh --cmd "$cpu_cmd" --overwrite "$overwrite" --classifier-config "$(conf classifier.conf)" --classifier "$kind" \
        --label-table utt2label --folds-dir "$(folds_of adress_train_spk "$sys")" --max-folds "$max_folds" \
        $emb/adress_train/spk_xvector.scp data/adress_train_spk exp/$sys/classifier/$kind/cv
      steps/train_classifier.sh --cmd "$cpu_cmd" --overwrite "$overwrite" --classifier-config "$(conf classifier.conf)" --classifier "$kind" \
        --label-table utt2label --test-emb $emb/adress_test/spk_xvector.scp --test-data data/adress_test_spk \
        $emb/adress_train/spk_xvector.scp data/adress_train_spk exp/$sys/classifier/$kind/test
    done
  done
  say "stage 6: done: exp/$(set_of $systems)/classifier/$(set_of $classifiers)/{cv,test}/results.json"
fi

# ---------------------------------------------------------------- 7: fine-tuning strategies
# Trained on participant segments (the network sees one segment at a time), decided per speaker
# (--score-unit=speaker of conf/finetune.conf: the mean posterior of its segments): CV over the
# training speakers' segment folds (data/adress_train/folds, speakers never split), and train -> test.
if run_stage 7; then
  for sys in $systems; do
    for strategy in $finetune_strategies; do
      say "stage 7: fine-tuning $sys ($strategy; $(conf finetune.conf)): CV on train, and train -> test"
      for proto in cv test; do
        split=(--folds-dir "$(folds_of adress_train "$sys")" --max-folds "$ft_max_folds")
        [ $proto = test ] && split=(--test-data data/adress_test)
        steps/finetune.sh --cmd "$train_cmd_now" --overwrite "$overwrite" --train-config "$(conf finetune.conf)" --label-table utt2label \
          "${split[@]}" --seeds "$seed_list" --device "$device" --num-threads "$train_threads" \
          --max-jobs-run "$finetune_jobs" --strategy "$strategy" \
          exp/pretrained/$sys/final.pt data/adress_train exp/$sys/finetune/$strategy/$proto
      done
    done
  done
  say "stage 7: done: exp/$(set_of $systems)/finetune/$(set_of $finetune_strategies)/{cv,test}/results.json"
fi

# ---------------------------------------------------------------- 8: triplet + Barlow Twins + adapter (Lux et al.)
if run_stage 8; then lux_stage 8 data/adress_train "$lux_systems" data/adress_train/folds; fi

# ---------------------------------------------------------------- 9: text branch and fusion
# Per speaker (data/adress_{train,test}_spk: all the speaker's participant text), the same speaker folds
# as stage 6; fused with the out-of-fold (cv) and test scores of stage 6's classifier.
if run_stage 9; then
  for sys in $fusion_systems; do
    clf=exp/$sys/classifier/$fusion_classifier
    for f in $clf/cv/scores $clf/test/scores; do
      [ -f "$f" ] || { echo "$0: stage 9 fuses with $f: run stage 6 (classifiers=\"... $fusion_classifier\")" >&2; exit 1; }
    done
    say "stage 9: text branch (subword TF-IDF + logistic regression), MMSE from text, fusion with $sys $fusion_classifier scores"
    steps/train_text_classifier.sh --cmd "$cpu_cmd" --folds-dir data/adress_train_spk/folds \
      --test-data data/adress_test_spk --mmse-table utt2mmse \
      --audio-scores $clf/cv/scores --audio-test-scores $clf/test/scores data/adress_train_spk exp/text/$sys
  done
  say "stage 9: done: exp/text/$(set_of $fusion_systems)/{cv,test,fusion_cv,fusion_test,mmse_cv,mmse_test}/results.json"
fi

# ---------------------------------------------------------------- 10: MMSE regression
if run_stage 10; then
  for sys in $systems; do
    say "stage 10: MMSE ridge regression on frozen $sys speaker embeddings: CV on train, and train -> test"
    emb=exp/$sys/emb
    steps/train_classifier.sh --cmd "$cpu_cmd" --overwrite "$overwrite" --classifier-config "$(conf mmse.conf)" \
      --task regression --classifier ridge --label-table utt2mmse \
      --folds-dir "$(folds_of adress_train_spk "$sys")" --max-folds "$max_folds" \
      $emb/adress_train/spk_xvector.scp data/adress_train_spk exp/$sys/mmse/cv
    steps/train_classifier.sh --cmd "$cpu_cmd" --overwrite "$overwrite" --classifier-config "$(conf mmse.conf)" \
      --task regression --classifier ridge --label-table utt2mmse \
      --test-emb $emb/adress_test/spk_xvector.scp --test-data data/adress_test_spk \
      $emb/adress_train/spk_xvector.scp data/adress_train_spk exp/$sys/mmse/test
  done
  say "stage 10: done: exp/$(set_of $systems)/mmse/{cv,test}/results.json"
fi

# ---------------------------------------------------------------- 11: RESULTS.md
if run_stage 11; then
  say "stage 11: RESULTS.md from the result JSON files of stages 6-10"
  specs=()
  for sys in $systems; do
    for kind in $classifiers; do
      for proto in cv test; do add_result frozen "$sys/$kind" $proto exp/$sys/classifier/$kind/$proto/results.json; done
    done
    for strategy in $finetune_strategies; do
      for proto in cv test; do add_result finetune "$sys/$strategy" $proto exp/$sys/finetune/$strategy/$proto/results.json; done
    done
  done
  for sys in $lux_systems; do
    add_result lux "$sys/triplet-barlow+adapter" cv exp/$sys/lux/adapter/results.json
    add_result lux "$sys/adapter-only" cv exp/$sys/lux/adapter_pretrained/results.json
    for strategy in $finetune_strategies; do
      add_result lux "$sys/fine-tuning-$strategy" cv exp/$sys/finetune/$strategy/cv/results.json
    done
  done
  first=true
  for sys in $fusion_systems; do
    if $first; then  # the text branch alone does not depend on the fused system
      for proto in cv test; do add_result text "text/subword-logreg" $proto exp/text/$sys/$proto/results.json; done
      first=false
    fi
    for proto in cv test; do
      add_result text "text+$sys/fusion-$fusion_classifier" $proto exp/text/$sys/fusion_$proto/results.json
    done
  done
  for sys in $systems; do
    for proto in cv test; do add_result mmse "$sys/ridge" $proto exp/$sys/mmse/$proto/results.json; done
  done
  for sys in ${fusion_systems%% *}; do  # MMSE from the text features (the same for every fused system)
    for proto in cv test; do add_result mmse "text/subword-ridge" $proto exp/text/$sys/mmse_$proto/results.json; done
  done
  [ ${#specs[@]} -gt 0 ] || { echo "$0: stage 11: no results to tabulate (run stages 6-10 first)" >&2; exit 1; }
  cv_name="leave-one-speaker-out"; [ "$cv_folds" -gt 0 ] && cv_name="$cv_folds-fold speaker-group"
  ft_folds="all CV folds"   # cv_name and ft_folds are named by conf/results.conf
  if [ "$ft_max_folds" -gt 0 ]; then ft_folds="the first $ft_max_folds CV folds"; fi
  nets=()   # the network each pretrained model was trained with names its rows
  for sys in $systems; do nets+=(--system-model "$sys=exp/pretrained/$sys/final.pt"); done
  results_table RESULTS.md --task classification "${nets[@]}"
  say "stage 11: done: RESULTS.md"
fi
