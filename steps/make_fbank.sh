#!/usr/bin/env bash
# Compute Kaldi fbank features for a data dir, Kaldi make_fbank.sh style.
#
# usage: steps/make_fbank.sh [options] <data-dir> [<log-dir> [<fbank-dir>]]
#  e.g.: steps/make_fbank.sh --nj 8 --cmd "$train_cmd" data/train exp/make_fbank/train fbank
# <log-dir> defaults to <data-dir>/log, <fbank-dir> to <data-dir>/data.
# Writes <data-dir>/feats.scp (compressed ark), utt2num_frames, utt2dur and log_energy.scp
# (raw per-frame log-energy, which steps/compute_vad.sh reads). Skips when these are complete
# and newer than wav.scp/segments, unless --overwrite true.
# options:
#   --nj N                   number of jobs (default 4)
#   --cmd CMD                job runner (default run.py)
#   --fbank-config FILE      Kaldi-style fbank options (default conf/fbank.conf; built-in defaults if absent)
#   --compress true|false    compressed features (default true)
#   --allow-resample true|false  resample audio at another rate instead of failing (default false)
#   --channel N              channel of multi-channel audio (default 0)
#   --overwrite true|false   recompute even when outputs are complete (default false)
set -euo pipefail

nj=4
cmd=run.py
fbank_config=conf/fbank.conf
compress=true
allow_resample=false
channel=0
overwrite=false

. "$(dirname "$0")/../utils/step_lib.sh"   # --help, the options, utils/ on PATH
if [ $# -lt 1 ] || [ $# -gt 3 ]; then usage; fi
data=$1
logdir=${2:-$data/log}
featdir=${3:-$data/data}
name=$(basename "$data")

need_files "$data/wav.scp" "$data/utt2spk"
validate_data_dir.sh --no-text --no-feats "$data"
inputs=("$data/wav.scp")
[ -f "$data/segments" ] && inputs+=("$data/segments")
num_utts=$(wc -l < "$data/utt2spk")

outputs=("$data/feats.scp" "$data/utt2num_frames" "$data/utt2dur" "$data/log_energy.scp")
counts_ok=true
for out in "${outputs[@]}"; do
  if [ ! -s "$out" ] || [ "$(wc -l < "$out")" -ne "$num_utts" ]; then counts_ok=false; fi
done
if $counts_ok && up_to_date "$data" "${inputs[*]}" "${outputs[@]}"; then exit 0; fi

conf_opt=()
if [ -f "$fbank_config" ]; then
  conf_opt=(--config "$fbank_config")
elif [ "$fbank_config" != conf/fbank.conf ]; then
  echo "$0: no such fbank config $fbank_config" >&2; exit 1
else
  echo "$0: no $fbank_config here; using the built-in defaults" >&2
fi

mkdir -p "$logdir" "$featdir"
if [ -f "$fbank_config" ]; then cp "$fbank_config" "$logdir/fbank.conf"; fi  # the exact config used, beside the logs
featdir=$(cd "$featdir" && pwd)
rm -f "${outputs[@]}"

nj=$(jobs_for "$data" "$nj")
split_data.sh "$data" "$nj"
sdata=$data/split$nj

if ! $cmd JOB=1:"$nj" "$logdir/make_fbank_$name.JOB.log" \
    python -m utter.bin.make_fbank "${conf_opt[@]}" --num-threads 1 \
      --compress "$compress" --allow-resample "$allow_resample" --channel "$channel" \
      --log-energy-ark "$featdir/log_energy_$name.JOB.ark" \
      --utt2num-frames "$logdir/utt2num_frames.JOB" --utt2dur "$logdir/utt2dur.JOB" \
      "$sdata/JOB" "$featdir/raw_fbank_$name.JOB.ark"; then
  echo "$0: fbank failed for $data; see the logs named above ($logdir/make_fbank_$name.*.log)" >&2
  exit 1
fi

merge() {  # merge per-job tables into one C-sorted table, atomically
  local out=$1; shift
  cat "$@" | LC_ALL=C sort > "$out.tmp" && mv "$out.tmp" "$out"
}
merge "$data/log_energy.scp" $(for j in $(seq "$nj"); do echo "$featdir/log_energy_$name.$j.scp"; done)
merge "$data/utt2num_frames" $(for j in $(seq "$nj"); do echo "$logdir/utt2num_frames.$j"; done)
merge "$data/utt2dur" $(for j in $(seq "$nj"); do echo "$logdir/utt2dur.$j"; done)
merge "$data/feats.scp" $(for j in $(seq "$nj"); do echo "$featdir/raw_fbank_$name.$j.scp"; done)

# Nothing that fails its checks stays under its final name (a rerun would skip it, or trip on it).
num_feats=$(wc -l < "$data/feats.scp")
if [ "$num_feats" -ne "$num_utts" ]; then
  rm -f "${outputs[@]}"
  echo "$0: $num_feats feature matrices for $num_utts utterances in $data (outputs removed)" >&2
  exit 1
fi
if ! validate_data_dir.sh --no-text "$data"; then
  rm -f "${outputs[@]}"
  echo "$0: the features of $data failed validation (above); removed ${outputs[*]}" >&2
  exit 1
fi
echo "$0: wrote $data/feats.scp, utt2num_frames, utt2dur, log_energy.scp ($num_feats utterances, features in $featdir)"
