#!/usr/bin/env bash
# Train a supervised speaker embedding network (AAM-softmax speaker classification): the one
# training job of python -m utter.bin.train_xvector, run by steps/train_nnet.sh (same options).
#
# usage: steps/train_xvector.sh [options] <train-data-dir> <exp-dir>
#  e.g.: steps/train_xvector.sh --ngpu 4 --aug-data data/train_aug data/train exp/xvector
#        steps/train_xvector.sh --train-config conf/mini/xvector.conf data/train exp/xvector_mini
# <train-data-dir> has feats.scp, vad.scp and utt2spk (or wav.scp with --train-opts
# "--from-audio true"). Writes <exp-dir>/final.pt (the speaker label map is kept in its
# checkpoint state); skips when it exists unless --overwrite true.
# options (see steps/train_nnet.sh for the full list and multi-node SLURM use):
#   --train-config FILE          program options (default conf/xvector.conf), copied into <exp-dir>
#   --train-opts "OPTS"          more options of python -m utter.bin.train_xvector (see its --help)
#   --cmd CMD                    job runner (default run.py)
#   --ngpu N                     GPUs per node (torchrun --standalone --nproc_per_node N when N > 1)
#   --nnodes N --rdzv-endpoint HOST:PORT   multi-node torchrun rendezvous
#   --num-threads N --num-workers N --device DEV --aug-data DIRS --resume true|false --overwrite true|false
for a in "$@"; do
  if [ "$a" = --help ] || [ "$a" = -h ]; then sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 0; fi
done
exec "$(dirname "$0")/train_nnet.sh" --program train_xvector --train-config conf/xvector.conf "$@"
