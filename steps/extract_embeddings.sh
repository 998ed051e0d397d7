#!/usr/bin/env bash
# Extract utterance embeddings (x-vectors) of a data dir with a trained model, Kaldi
# extract_xvectors.sh style, and the speaker means.
#
# usage: steps/extract_embeddings.sh [options] <model.pt> <data-dir> <out-dir>
#  e.g.: steps/extract_embeddings.sh --nj 8 exp/dino/final.pt data/voxceleb1_test exp/dino/emb/voxceleb1_test
# <data-dir> has feats.scp and vad.scp (steps/make_fbank.sh, steps/compute_vad.sh) and spk2utt.
# Writes <out-dir>/xvector.JOB.ark (one per job) and xvector.scp (merged, sorted), float32 vectors;
# <out-dir>/spk_xvector.ark/.scp (mean of each speaker's raw embeddings, as Kaldi's ivector-mean)
# and <out-dir>/num_utts.ark (text: spk N); logs in <out-dir>/log. Features as in training:
# sliding CMN, then VAD; an utterance with too few voiced frames is embedded whole without VAD
# (named in the logs). Skips when the outputs are complete and newer than the model and
# features, unless --overwrite true.
# options:
#   --nj N                      number of jobs (default 4)
#   --cmd CMD                   job runner (default run.py)
#   --device DEV                torch device of every job: cpu, cuda, cuda:1 ... (default cpu)
#   --num-threads N             threads per job (default 1)
#   --batch-size N              utterances (or chunks) per batch (default 64)
#   --chunk-len FRAMES          0: whole utterances (default); else the mean of the embeddings of
#                               consecutive non-overlapping chunks of FRAMES voiced frames (a last
#                               remainder shorter than --min-chunk-len is merged into the previous chunk)
#   --min-chunk-len FRAMES      0: half of --chunk-len (default)
#   --use-vad true|false        keep only voiced frames (default true)
#   --min-voiced-frames N       fewer voiced frames: embed the whole utterance without VAD (default 50)
#   --cmn-window FRAMES         sliding CMN window (default 300, as the training loaders)
#   --extract-opts "OPTS"       more options of python -m utter.bin.extract_embeddings
#   --overwrite true|false      recompute even when the outputs are complete (default false)
set -euo pipefail

nj=4
cmd=run.py
device=cpu
num_threads=1
batch_size=64
chunk_len=0
min_chunk_len=0
use_vad=true
min_voiced_frames=50
cmn_window=300
extract_opts=
overwrite=false

. "$(dirname "$0")/../utils/step_lib.sh"   # --help, the options, utils/ on PATH
if [ $# -ne 3 ]; then usage; fi
model=$1; data=$2; dir=$3

[ -f "$model" ] || { echo "$0: no such model $model" >&2; exit 1; }
need_files "$data/feats.scp" "$data/spk2utt" "$data/utt2spk"
inputs="$model $data/feats.scp $data/spk2utt"
if [ "$use_vad" = true ]; then
  [ -f "$data/vad.scp" ] || { echo "$0: no such file $data/vad.scp (run steps/compute_vad.sh, or --use-vad false)" >&2; exit 1; }
  inputs="$inputs $data/vad.scp"
fi

num_utts=$(wc -l < "$data/utt2spk")
need_utts "$num_utts" "$data/utt2spk"
if [ -s "$dir/xvector.scp" ] && [ "$(wc -l < "$dir/xvector.scp")" -eq "$num_utts" ] \
    && up_to_date "$dir" "$inputs" \
       "$dir/xvector.scp" "$dir/spk_xvector.scp" "$dir/num_utts.ark"; then
  exit 0
fi

mkdir -p "$dir/log"
rm -f "$dir/xvector.scp" "$dir/spk_xvector.scp" "$dir/num_utts.ark"
rm -f "$dir"/xvector.*.ark "$dir"/xvector.*.scp

nj=$(jobs_for "$data" "$nj")
split_data.sh "$data" "$nj"
sdata=$data/split$nj
adir=$(cd "$dir" && pwd)

# shellcheck disable=SC2086
if ! $cmd --num-threads "$num_threads" JOB=1:"$nj" "$dir/log/extract.JOB.log" \
    python -m utter.bin.extract_embeddings --num-threads "$num_threads" --device "$device" \
      --batch-size "$batch_size" --chunk-len "$chunk_len" --min-chunk-len "$min_chunk_len" \
      --use-vad "$use_vad" --min-voiced-frames "$min_voiced_frames" --cmn-window "$cmn_window" \
      $extract_opts "$model" "$sdata/JOB" "$adir/xvector.JOB.ark"; then
  echo "$0: extraction failed for $data; see the logs named above ($dir/log/extract.*.log)" >&2
  exit 1
fi

for j in $(seq "$nj"); do cat "$dir/xvector.$j.scp"; done | LC_ALL=C sort > "$dir/xvector.scp.tmp"
mv "$dir/xvector.scp.tmp" "$dir/xvector.scp"
for j in $(seq "$nj"); do rm -f "$dir/xvector.$j.scp"; done
num_emb=$(wc -l < "$dir/xvector.scp")
if [ "$num_emb" -ne "$num_utts" ]; then
  echo "$0: $num_emb embeddings for $num_utts utterances in $data" >&2
  exit 1
fi
no_vad=$(cat "$dir"/log/extract.*.log | grep -c 'embedding all .* frames without VAD' || true)
if [ "$no_vad" -gt 0 ]; then
  echo "$0: $no_vad utterance(s) had fewer than $min_voiced_frames voiced frames and were embedded without VAD (see $dir/log/extract.*.log)" >&2
fi

if ! python -m utter.bin.speaker_means "$data/spk2utt" "$dir/xvector.scp" "$dir" 2> "$dir/log/speaker_mean.log"; then
  cat "$dir/log/speaker_mean.log" >&2
  echo "$0: speaker means failed; see $dir/log/speaker_mean.log" >&2
  exit 1
fi
echo "$0: wrote $dir/xvector.scp ($num_emb utterances), $dir/spk_xvector.scp and $dir/num_utts.ark ($(wc -l < "$dir/num_utts.ark") speakers)"
