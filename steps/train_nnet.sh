#!/usr/bin/env bash
# Train an embedding network with one of the training stage programs (python -m utter.bin.<program>),
# as one job through $cmd; steps/train_dino.sh and steps/train_xvector.sh call this with --program.
#
# usage: steps/train_nnet.sh --program train_<name> [options] <train-data-dir> <exp-dir>
#  e.g.: steps/train_nnet.sh --program train_dino --train-config conf/dino.conf --ngpu 4 data/train exp/dino
# Writes <exp-dir>/final.pt (plus ckpt-*.pt, train_log.tsv, loss.png, config.json, log/train.log) and
# copies the training config there. Skips when <exp-dir>/final.pt exists unless --overwrite true
# (which removes the earlier checkpoints and trains afresh); otherwise resumes from the latest
# checkpoint in <exp-dir> (--resume true, the default).
# options:
#   --program NAME               a training program utter.bin.train_<name>: train_dino, train_xvector ... (required)
#   --train-config FILE          the program's --config file of --option=value lines (copied into <exp-dir>)
#   --train-opts "OPTS"          more program options, winning over the config (e.g. "--max-steps 200")
#   --cmd CMD                    job runner for the one training job (default run.py; slurm.py, queue.py)
#   --ngpu N                     GPUs (processes) per node; N > 1 runs torchrun (default 0: CPU)
#   --nproc N                    processes per node when not --ngpu (CPU data parallel over gloo; default 1)
#   --nnodes N                   nodes for multi-node training through torchrun rendezvous (default 1)
#   --rdzv-endpoint HOST:PORT    rendezvous endpoint on the first node (needed when --nnodes > 1)
#   --rdzv-id ID                 rendezvous id shared by the nodes of one run (default: the exp dir's name)
#   --device DEV                 torch device (default cuda with --ngpu, else cpu)
#   --num-threads N              torch threads per process (default 1)
#   --num-workers N              data-loader workers per process (default 0)
#   --aug-data DIRS              data dir(s) of augmented copies with utt2orig, comma-separated
#   --resume true|false          resume from the latest checkpoint in <exp-dir> (default true)
#   --restart true|false         start over from step 1: remove <exp-dir>'s checkpoints (ckpt-*.pt, final.pt,
#                                best_dev.pt, train_log.tsv) first, said in the log; for when no checkpoint
#                                is usable (the training stops, listing them) (default false)
#   --overwrite true|false       train again even when final.pt exists (default false)
#
# Multi-node on SLURM: run this script once per node (exp dir on a shared file system), naming
# the first node as rendezvous endpoint; torchrun then joins the nodes, e.g.
#   head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
#   srun --nodes 2 --ntasks-per-node 1 --gpus-per-node 4 steps/train_dino.sh --ngpu 4 --nnodes 2 \
#       --rdzv-endpoint "$head:29400" --train-config conf/dino.conf data/train exp/dino
# (each node runs: torchrun --nnodes 2 --nproc_per_node 4 --rdzv-backend c10d
#  --rdzv-endpoint HEAD:29400 --rdzv-id dino -m utter.bin.train_dino ...).
set -euo pipefail

program=
train_config=
train_opts=
cmd=run.py
ngpu=0
nproc=1
nnodes=1
rdzv_endpoint=
rdzv_id=
device=
num_threads=1
num_workers=0
aug_data=
resume=true
restart=false
overwrite=false

. "$(dirname "$0")/../utils/step_lib.sh"   # --help, the options, utils/ on PATH
if [ $# -ne 2 ] || [ -z "$program" ]; then usage; fi
data=$1
dir=$2

# any training program of the package (utter.bin.train_<name>): a new objective needs no edit here
if ! [[ $program =~ ^train_[a-z0-9_]+$ ]] || ! python -c 'import importlib.util, sys
sys.exit(importlib.util.find_spec("utter.bin." + sys.argv[1]) is None)' "$program" 2> /dev/null; then
  echo "$0: unknown --program '$program' (a training program utter.bin.train_<name>: train_dino," \
       "train_xvector ...)" >&2
  exit 1
fi
[ -d "$data" ] || { echo "$0: no such data dir $data" >&2; exit 1; }
if [ -n "$train_config" ] && [ ! -f "$train_config" ]; then
  echo "$0: no such training config $train_config" >&2; exit 1
fi
if [ "$nnodes" -gt 1 ] && [ -z "$rdzv_endpoint" ]; then
  echo "$0: --nnodes $nnodes needs --rdzv-endpoint HOST:PORT (the first node)" >&2; exit 1
fi

# a training still running there (a rerun from another terminal): refuse before touching its files
if python -m utter.stage --what "$0" --in-use "$dir"; then
  echo "$0: a training is still running in $dir (above); wait for it to end, or stop it, then rerun" >&2
  exit 1
fi
# what the model is trained from: the program, its config and options, the training (and augmented) set
# (the --dev-* options only watch the training, so they are not part of it; --keep-best-dev is)
stamp_opts=$(echo "$train_opts" | sed -E 's/--dev-(data|trials|interval)[ =][^ ]+ ?//g; s/ +$//')
trained_from="program=$program opts=${stamp_opts// /_}"
[ -n "$train_config" ] && trained_from+=" config=$(cksum < "$train_config" | cut -d' ' -f1)"
for d in "$data" ${aug_data//,/ }; do
  [ -f "$d/utt2spk" ] && trained_from+=" $d=$(cksum < "$d/utt2spk" | cut -d' ' -f1)"
done
case $restart in true|false) ;; *) echo "$0: --restart must be true or false, got '$restart'" >&2; exit 1;; esac
if [ "$restart" = true ]; then   # never silent: what is removed is said
  nckpt=$( (compgen -G "$dir/ckpt-*.pt" || true) | wc -l)
  echo "$0: --restart true: starting over from step 1; removing $nckpt checkpoint(s) (ckpt-*.pt), final.pt," \
       "best_dev.pt and train_log.tsv in $dir" >&2
  rm -f "$dir"/ckpt-*.pt "$dir/final.pt" "$dir/best_dev.pt" "$dir/train_log.tsv"
fi
if [ -e "$dir/final.pt" ]; then
  if [ "$overwrite" != true ]; then
    # a damaged model, or one trained from other inputs, is never used: stop, naming the two ways out
    if ! problem=$(python -c 'import sys
from utter.train.checkpoint import load_checkpoint
try:
    load_checkpoint(sys.argv[1])
except Exception as e:
    sys.exit(f"{type(e).__name__}: {e}")' "$dir/final.pt" 2>&1); then
      echo "$0: $dir/final.pt is damaged (${problem##*$'\n'}): delete it to finish the training from its last" \
           "checkpoint, or rerun with --overwrite true (run.sh --overwrite true) to train again from scratch" >&2
      exit 1
    fi
    if ! python -m utter.stage --what "$0" --made-from "$trained_from" "$dir/final.pt" 2> "$dir/.made_from_check"; then
      cat "$dir/.made_from_check" >&2; rm -f "$dir/.made_from_check"
      echo "$0: $dir/final.pt was trained from other inputs than these (above), so it is not used: rerun with" \
           "--overwrite true (run.sh --overwrite true) to train again on these inputs, or restore the inputs it" \
           "was trained from" >&2
      exit 1
    fi
    rm -f "$dir/.made_from_check"
    echo "$0: $dir/final.pt exists; skipping (--overwrite true to train again)" >&2
    exit 0
  fi
  echo "$0: --overwrite true: removing the earlier run's checkpoints in $dir" >&2
  rm -f "$dir"/ckpt-*.pt "$dir/final.pt" "$dir/best_dev.pt" "$dir/train_log.tsv"
fi
mkdir -p "$dir/log"

conf_opt=()
if [ -n "$train_config" ]; then
  cp "$train_config" "$dir/$program.conf"   # the exact config used, beside the model
  conf_opt=(--config "$train_config")       # read from the user's file: an error in it names that file
fi
aug_opt=()
for a in ${aug_data//,/ }; do aug_opt+=(--aug-data "$a"); done

procs=$nproc
[ "$ngpu" -gt 0 ] && procs=$ngpu
[ -z "$device" ] && { if [ "$ngpu" -gt 0 ]; then device=cuda; else device=cpu; fi; }
if [ "$nnodes" -gt 1 ]; then
  launcher=(torchrun --nnodes "$nnodes" --nproc_per_node "$procs" --rdzv-backend c10d
            --rdzv-endpoint "$rdzv_endpoint" --rdzv-id "${rdzv_id:-$(basename "$dir")}" -m "utter.bin.$program")
elif [ "$procs" -gt 1 ]; then
  launcher=(torchrun --standalone --nproc_per_node "$procs" -m "utter.bin.$program")
else
  launcher=(python -m "utter.bin.$program")
fi

gpu_opt=()
[ "$ngpu" -gt 0 ] && gpu_opt=(--gpu "$ngpu")
echo "$0: training $dir ($program, $procs process(es) per node on $device); log: $dir/log/train.log"
# shellcheck disable=SC2086  # train_opts is a list of options
if ! $cmd "${gpu_opt[@]}" --num-threads "$num_threads" "$dir/log/train.log" \
    "${launcher[@]}" "${conf_opt[@]}" $train_opts "${aug_opt[@]}" --device "$device" \
      --num-threads "$num_threads" --num-workers "$num_workers" --resume "$resume" \
      --exp-dir "$dir" "$data"; then
  echo "$0: training failed; see $dir/log/train.log" >&2
  exit 1
fi
[ -f "$dir/final.pt" ] || { echo "$0: no $dir/final.pt after training; see $dir/log/train.log" >&2; exit 1; }
python -m utter.stage --record "$trained_from" "$dir/final.pt"
echo "$0: wrote $dir/final.pt (log $dir/log/train.log, loss curve $dir/loss.png, config $dir/config.json)"
