#!/usr/bin/env bash
# Energy VAD for a data dir with features, Kaldi compute_vad_decision.sh style.
#
# usage: steps/compute_vad.sh [options] <data-dir> [<log-dir> [<vad-dir>]]
#  e.g.: steps/compute_vad.sh --nj 8 --cmd "$train_cmd" data/train exp/make_vad/train vad
# <log-dir> defaults to <data-dir>/log, <vad-dir> to <data-dir>/data.
# Reads <data-dir>/log_energy.scp (written by steps/make_fbank.sh); a data dir without one
# (features made elsewhere) has its log-energy recomputed from the audio with --fbank-config.
# Writes <data-dir>/vad.scp (ark of 0/1 float vectors, one per frame). Skips when vad.scp is
# complete and newer than feats.scp, unless --overwrite true.
# options:
#   --nj N                  number of jobs (default 4)
#   --cmd CMD               job runner (default run.py)
#   --vad-config FILE       Kaldi-style compute-vad options (default conf/vad.conf; built-in defaults if absent)
#   --fbank-config FILE     fbank options, used only to recompute the log-energy from audio (default conf/fbank.conf)
#   --overwrite true|false  recompute even when vad.scp is complete (default false)
set -euo pipefail

nj=4
cmd=run.py
vad_config=conf/vad.conf
fbank_config=conf/fbank.conf
overwrite=false

. "$(dirname "$0")/../utils/step_lib.sh"   # --help, the options, utils/ on PATH
if [ $# -lt 1 ] || [ $# -gt 3 ]; then usage; fi
data=$1
logdir=${2:-$data/log}
vaddir=${3:-$data/data}
name=$(basename "$data")

[ -f "$data/feats.scp" ] || { echo "$0: no such file $data/feats.scp (run steps/make_fbank.sh first)" >&2; exit 1; }
num_utts=$(wc -l < "$data/feats.scp")
need_utts "$num_utts" "$data/feats.scp"
if [ -s "$data/vad.scp" ] && [ "$(wc -l < "$data/vad.scp")" -eq "$num_utts" ] \
    && up_to_date "$data" "$data/feats.scp" "$data/vad.scp"; then
  exit 0
fi

opts=()
if [ -f "$vad_config" ]; then
  opts+=(--config "$vad_config")
elif [ "$vad_config" != conf/vad.conf ]; then
  echo "$0: no such VAD config $vad_config" >&2; exit 1
fi
if [ -f "$data/log_energy.scp" ]; then
  opts+=(--log-energy-scp "$(cd "$data" && pwd)/log_energy.scp")
else
  echo "$0: no $data/log_energy.scp; recomputing the log-energy from the audio" >&2
  if [ -f "$fbank_config" ]; then
    opts+=(--fbank-config "$fbank_config")
  elif [ "$fbank_config" != conf/fbank.conf ]; then
    echo "$0: no such fbank config $fbank_config" >&2; exit 1
  fi
fi

mkdir -p "$logdir" "$vaddir"
if [ -f "$vad_config" ]; then cp "$vad_config" "$logdir/vad.conf"; fi  # the exact config used, beside the logs
vaddir=$(cd "$vaddir" && pwd)
rm -f "$data/vad.scp"

nj=$(jobs_for "$data" "$nj")
split_data.sh "$data" "$nj"
sdata=$data/split$nj

if ! $cmd JOB=1:"$nj" "$logdir/vad_$name.JOB.log" \
    python -m utter.bin.compute_vad "${opts[@]}" --num-threads 1 "$sdata/JOB" "$vaddir/vad_$name.JOB.ark"; then
  echo "$0: VAD failed for $data; see the logs named above ($logdir/vad_$name.*.log)" >&2
  exit 1
fi

for j in $(seq "$nj"); do cat "$vaddir/vad_$name.$j.scp"; done | LC_ALL=C sort > "$data/vad.scp.tmp"
mv "$data/vad.scp.tmp" "$data/vad.scp"
num_vad=$(wc -l < "$data/vad.scp")
if [ "$num_vad" -ne "$num_utts" ]; then
  echo "$0: $num_vad VAD vectors for $num_utts utterances in $data" >&2
  exit 1
fi
echo "$0: wrote $data/vad.scp ($num_vad utterances, VAD in $vaddir)"
