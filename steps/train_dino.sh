#!/usr/bin/env bash
# Train a speaker embedding network with DINO self-distillation (no labels): the one training job
# of python -m utter.bin.train_dino, run by steps/train_nnet.sh (which has the same options).
#
# usage: steps/train_dino.sh [options] <train-data-dir> <exp-dir>
#  e.g.: steps/train_dino.sh --ngpu 4 --aug-data data/train_aug data/train exp/dino
#        steps/train_dino.sh --train-config conf/mini/dino.conf data/train exp/dino_mini
# <train-data-dir> has feats.scp and vad.scp (steps/make_fbank.sh, steps/compute_vad.sh), or
# wav.scp with --train-opts "--from-audio true". Writes <exp-dir>/final.pt (the teacher network
# is what steps/extract_embeddings.sh uses); skips when it exists unless --overwrite true.
# options (see steps/train_nnet.sh for the full list and multi-node SLURM use):
#   --train-config FILE          program options (default conf/dino.conf), copied into <exp-dir>
#   --train-opts "OPTS"          more options of python -m utter.bin.train_dino (see its --help)
#   --cmd CMD                    job runner (default run.py)
#   --ngpu N                     GPUs per node (torchrun --standalone --nproc_per_node N when N > 1)
#   --nnodes N --rdzv-endpoint HOST:PORT   multi-node torchrun rendezvous
#   --num-threads N --num-workers N --device DEV --aug-data DIRS --resume true|false --overwrite true|false
for a in "$@"; do
  if [ "$a" = --help ] || [ "$a" = -h ]; then sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 0; fi
done
exec "$(dirname "$0")/train_nnet.sh" --program train_dino --train-config conf/dino.conf "$@"
