#!/usr/bin/env bash
# IEMOCAP recipe: 4-class speech emotion recognition (neutral, happy+excited, angry, sad) with the
# VoxCeleb-pretrained DINO and supervised x-vector networks of egs/voxceleb, leave-one-session-out
# (Cho, Villalba, Moro-Velazquez, Dehak, IEEE JSTSP 2022, section on emotion; Lux, Chen, Vu, SLT 2022).
#
# usage: egs/iemocap/run.sh [options]
#  e.g.: egs/iemocap/run.sh --mini true                  # simulated corpora, 2 CPU cores, < 10 min
#        egs/iemocap/run.sh --device cuda --ngpu 1       # real corpora and models (conf/corpus.conf)
#        egs/iemocap/run.sh --stage 7 --stop-stage 7     # resume at fine-tuning
# stages:
#   0  corpora: --mini true builds the simulator's IEMOCAP, MUSAN and RIRS_NOISES in corpora/;
#      otherwise checks the paths of conf/corpus.conf
#   1  data prep: data/iemocap (4 classes, utt2emo, leave-one-session-out folds/<k>/{train,dev,test}),
#      data/musan_{music,noise,speech}, data/rirs_*
#   2  fbank + energy VAD of data/iemocap
#   3  augmentation: data/iemocap_aug (reverb, noise, music, babble copies with utt2orig)
#   4  pretrained models: exp/pretrained/{dino,xvector}/final.pt linking to the VoxCeleb models of
#      conf/corpus.conf (--mini true: conf/mini/pretrained.conf, built by egs/voxceleb if absent)
#   5  embeddings of data/iemocap from each pretrained model: exp/<sys>/emb/iemocap/xvector.scp
#   6  frozen-embedding classifiers per fold (conf/recipe.conf classifiers): exp/<sys>/classifier/<kind>
#   7  fine-tuning strategies (conf/recipe.conf finetune_strategies: full, affine-then-full) of each
#      pretrained model with a classification head, per fold and seed (conf/finetune.conf):
#      exp/<sys>/finetune/<strategy>
#   8  chunk-length ablation of fine-tuning (chunk_lengths, frames; 0 = whole utterances), with the
#      ablation strategy on the ablation systems: exp/<sys>/finetune_chunk/<frames>
#   9  augmentation ablation: the same fine-tuning with the stage-3 copies of each fold's training
#      utterances as extra data: exp/<sys>/finetune_aug/<strategy> (without: stage 7's run)
#  10  contrastive + non-contrastive fine-tuning, step 1 (conf/contrastive.conf), then an adapter on
#      the frozen step-1 network, step 2 (Lux et al.), and the adapter on the frozen pretrained
#      network: exp/<sys>/lux/{contrastive,adapter,adapter_pretrained}; compared in RESULTS.md with
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
#   --seeds "S1 S2 ..."        fine-tuning seeds (default: seeds of conf/recipe.conf)
#   --max-folds N              use the first N folds only (0: all 5; default: conf/recipe.conf; stages
#                              7-10 use finetune_max_folds of conf/recipe.conf when this is not given)
# Settings of every stage are in conf/ (conf/mini/ overrides with --mini true).
set -euo pipefail

stage=0
stop_stage=11
nj=
mini=false
mini_scale=1
device=
ngpu=0
seeds=
max_folds=

cd "$(dirname "$0")"
. ./cmd.sh
. ./path.sh
. utils/parse_options.sh
if [ $# -ne 0 ]; then
  echo "$0: unexpected arguments: $* (see the header of $0)" >&2; exit 1
fi

# ---------------------------------------------------------------- configuration
# Shell-assignment configs: conf/X, then conf/mini/X with --mini true.
source_conf() {
  if [ -f "conf/$1" ]; then . "conf/$1"; fi
  if $mini && [ -f "conf/mini/$1" ]; then . "conf/mini/$1"; fi
  return 0
}
# Program configs (--option=value lines): conf/mini/X replaces conf/X with --mini true.
conf() {
  if $mini && [ -f "conf/mini/$1" ]; then echo "conf/mini/$1"; else echo "conf/$1"; fi
}
cli_seeds=$seeds
cli_max_folds=$max_folds
source_conf recipe.conf
source_conf augment.conf
seeds=${cli_seeds:-$seeds}
max_folds=${cli_max_folds:-$max_folds}
# stages 7-10 (training per fold): --max-folds, else finetune_max_folds, else max_folds
ft_max_folds=${cli_max_folds:-${finetune_max_folds:-$max_folds}}
seed_list=$(echo $seeds | tr ' ' ',')
nj=${nj:-$default_nj}
[ -n "$device" ] || { if [ "$ngpu" -gt 0 ]; then device=cuda; else device=cpu; fi; }
case $device in cpu|cuda|cuda:*) ;; *) echo "$0: --device must be cpu or cuda, got '$device'" >&2; exit 1 ;; esac
train_cmd_now=$train_cmd
[ "$ngpu" -gt 0 ] && train_cmd_now=$gpu_cmd
extract_cmd=$cpu_cmd
[ "$device" = cpu ] || extract_cmd=$gpu_cmd

# Corpus roots and pretrained models: the simulator's corpora and the mini VoxCeleb models
# (--mini true), else conf/corpus.conf (checked).
if $mini; then
  iemocap_root=$PWD/corpora/IEMOCAP_full_release
  musan_root=$PWD/corpora/musan
  rirs_root=$PWD/corpora/RIRS_NOISES
  . conf/mini/pretrained.conf
else
  . conf/corpus.conf
fi
check_corpora() {
  local var
  for var in iemocap_root musan_root rirs_root; do
    if [ -z "${!var:-}" ]; then
      echo "$0: $var is not set in $PWD/conf/corpus.conf: set it to your copy of the corpus" \
           "(or run with --mini true for the simulated corpora)" >&2
      exit 1
    fi
    if [ ! -d "${!var}" ]; then
      echo "$0: $var=${!var} (conf/corpus.conf): no such directory" >&2; exit 1
    fi
  done
}

say() { echo "$0: $*"; }
set_of() { if [ $# -gt 1 ]; then local IFS=,; echo "{$*}"; else echo "$*"; fi; }  # a b -> {a,b}; a -> a
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
say "mini=$mini nj=$nj device=$device ngpu=$ngpu seeds='$seeds' max_folds=$max_folds" \
    "(training stages: $ft_max_folds) stages $stage..$stop_stage"

# ---------------------------------------------------------------- 0: corpora
if run_stage 0; then
  if $mini; then
    say "stage 0: building the simulated IEMOCAP, MUSAN and RIRS_NOISES corpora in corpora/ (scale $mini_scale)"
    local/mini/make_mini_corpora.sh --seed "$mini_corpus_seed" --scale "$mini_scale" \
      --only iemocap,musan,rirs --nj "$nj" corpora
  else
    say "stage 0: checking the corpus paths of conf/corpus.conf"
    check_corpora
  fi
  say "stage 0: done: corpora $iemocap_root $musan_root $rirs_root"
fi

# ---------------------------------------------------------------- 1: data prep
if run_stage 1; then
  say "stage 1: data directories for IEMOCAP (4 classes, leave-one-session-out folds), MUSAN and RIRs"
  $mini || check_corpora
  if [ -s data/iemocap/utt2emo ] && [ -d data/iemocap/folds ]; then
    say "data/iemocap exists; skipping"
  else
    local/iemocap/prepare_data.sh --dev-fraction "$dev_fraction" "$iemocap_root" data
  fi
  if [ -s data/musan_speech/wav.scp ]; then
    say "data/musan_{music,noise,speech} exist; skipping"
  else
    local/musan/prepare_data.sh "$musan_root" data
  fi
  rooms=$(for r in $aug_rirs; do echo "${r#rirs_}"; done | tr '\n' ' ')
  if [ -s "data/${aug_rirs##* }/wav.scp" ]; then
    say "data/$(set_of $aug_rirs) exist; skipping"
  else
    local/rirs/prepare_data.sh --rooms "$rooms" "$rirs_root" data
  fi
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
  rirs=$(for r in $aug_rirs; do echo "data/$r"; done | paste -sd, -)
  steps/augment_data_dir.sh --nj "$nj" --cmd "$cpu_cmd" --types "$aug_types" --seed "$aug_seed" \
    --write-feats true --fbank-config "$(conf fbank.conf)" data/iemocap data/musan "$rirs" data/iemocap_aug
  say "stage 3: done: data/iemocap_aug (feats.scp, vad.scp, utt2orig)"
fi

# ---------------------------------------------------------------- 4: pretrained models
if run_stage 4; then
  say "stage 4: pretrained VoxCeleb models for $systems"
  for sys in $systems; do
    var=${sys}_model
    model=${!var:-}
    if [ -z "$model" ]; then
      echo "$0: $var is not set in $PWD/conf/corpus.conf: set it to the VoxCeleb $sys model" \
           "(egs/voxceleb/exp/$sys/final.pt after egs/voxceleb/run.sh), or run with --mini true" >&2
      exit 1
    fi
    if [ ! -f "$model" ] && $mini; then
      say "$model is absent: building the mini VoxCeleb models with" \
          "'$voxceleb_recipe/run.sh $voxceleb_args --stop-stage 5' (about 10-15 minutes on 2 cores)"
      (cd "$voxceleb_recipe" && ./run.sh $voxceleb_args --nj "$nj" --stop-stage 5)
    fi
    if [ ! -f "$model" ]; then
      echo "$0: $var=$model: no such file (conf/corpus.conf)" >&2; exit 1
    fi
    mkdir -p "exp/pretrained/$sys"
    ln -sfn "$(cd "$(dirname "$model")" && pwd)/$(basename "$model")" "exp/pretrained/$sys/final.pt"
    say "exp/pretrained/$sys/final.pt -> $model"
  done
  say "stage 4: done: $(for s in $systems; do echo -n "exp/pretrained/$s/final.pt "; done)"
fi

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
      steps/train_classifier.sh --cmd "$cpu_cmd" --classifier-config "$(conf classifier.conf)" --classifier "$kind" \
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
  steps/finetune.sh --cmd "$train_cmd_now" --train-config "$(conf finetune.conf)" --folds-dir data/iemocap/folds \
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

# ---------------------------------------------------------------- 10: contrastive + adapter (Lux et al.)
if run_stage 10; then
  for sys in $ablation_systems; do
    say "stage 10: $sys step 1, triplet + Barlow Twins fine-tuning per fold ($(conf contrastive.conf))"
    steps/train_contrastive.sh --cmd "$train_cmd_now" --train-config "$(conf contrastive.conf)" \
      --opts "--max-folds $ft_max_folds" --device "$device" --num-threads "$train_threads" \
      exp/pretrained/$sys/final.pt data/iemocap exp/$sys/lux/contrastive
    say "stage 10: $sys step 2, adapter on the frozen step-1 network of each fold"
    steps/train_adapter.sh --cmd "$train_cmd_now" --train-config "$(conf contrastive.conf)" --seeds "$seed_list" \
      --opts "--max-folds $ft_max_folds" --device "$device" --num-threads "$train_threads" \
      exp/$sys/lux/contrastive data/iemocap exp/$sys/lux/adapter
    say "stage 10: $sys adapter on the frozen pretrained network (no step 1)"
    steps/train_adapter.sh --cmd "$train_cmd_now" --train-config "$(conf contrastive.conf)" --seeds "$seed_list" \
      --opts "--max-folds $ft_max_folds" --device "$device" --num-threads "$train_threads" \
      exp/pretrained/$sys/final.pt data/iemocap exp/$sys/lux/adapter_pretrained
  done
  say "stage 10: done: exp/$(set_of $ablation_systems)/lux/{contrastive,adapter,adapter_pretrained}/results.json"
fi

# ---------------------------------------------------------------- 11: RESULTS.md
if run_stage 11; then
  say "stage 11: RESULTS.md from the result JSON files"
  specs=()
  add() {  # add GROUP ROW PROTOCOL JSON: a table cell, when that evaluation was run
    if [ -f "$4" ]; then specs+=("$1:$2:$3=$4"); else say "no $4 (stage not run): left out of RESULTS.md"; fi
  }
  for sys in $systems; do
    for kind in $classifiers; do add frozen "$sys/$kind" loso exp/$sys/classifier/$kind/results.json; done
    for strategy in $finetune_strategies; do add finetune "$sys/$strategy" loso exp/$sys/finetune/$strategy/results.json; done
  done
  for sys in $ablation_systems; do
    for len in $chunk_lengths; do
      name="$len-frames"; [ "$len" = 0 ] && name="whole-utterances"
      add chunk "$sys/$name" loso exp/$sys/finetune_chunk/$len/results.json
    done
    add aug "$sys/without-augmentation" loso exp/$sys/finetune/$ablation_strategy/results.json
    add aug "$sys/with-augmentation" loso exp/$sys/finetune_aug/$ablation_strategy/results.json
    add lux "$sys/contrastive+adapter" loso exp/$sys/lux/adapter/results.json
    add lux "$sys/adapter-only" loso exp/$sys/lux/adapter_pretrained/results.json
    for strategy in $finetune_strategies; do
      add lux "$sys/fine-tuning-$strategy" loso exp/$sys/finetune/$strategy/results.json
    done
  done
  [ ${#specs[@]} -gt 0 ] || { echo "$0: stage 11: no results to tabulate (run stage 6 first)" >&2; exit 1; }
  published=()
  $mini || published=(--published conf/published.tsv)
  nets=()   # the network each pretrained model was trained with names its rows
  for sys in $systems; do nets+=(--system-model "$sys=exp/pretrained/$sys/final.pt"); done
  python -m utter.bin.make_results_table --task classification --metrics "UA,WA,macro_f1" "${nets[@]}" \
    --title "IEMOCAP: 4-class emotion recognition$($mini && echo ' (simulated mini corpus)')" \
    --intro "UA (mean per-class recall), WA (accuracy) and macro-F1 in %, mean ± std over the \
leave-one-session-out folds (and seeds for trained models); runs = folds x seeds." \
    --heading "frozen=Frozen VoxCeleb embeddings + classifier" \
    --heading "finetune=Fine-tuning strategies" \
    --heading "chunk=Chunk-length ablation ($ablation_strategy fine-tuning; training crop, evaluation on whole utterances)" \
    --heading "aug=Augmentation ablation ($ablation_strategy fine-tuning)" \
    --heading "lux=Contrastive + non-contrastive fine-tuning then adapter (Lux et al.) vs adapter on the frozen pretrained network and end-to-end fine-tuning" \
    --notes "Protocol: neutral, happy+excited, angry, sad; leave-one-session-out, 20% of the training \
dialogs held out as dev (model selection); models pretrained on VoxCeleb (egs/voxceleb); settings in \
conf/$($mini && echo ' and conf/mini/'). The published DINO figure is micro-F1 (= WA). Training stages (fine-tuning, \
ablations, contrastive + adapter) ran on $([ "$ft_max_folds" -gt 0 ] && echo "the first $ft_max_folds folds" || echo "all folds") \
with seeds $seed_list." \
    "${published[@]}" RESULTS.md "${specs[@]}"
  say "stage 11: done: RESULTS.md"
fi
