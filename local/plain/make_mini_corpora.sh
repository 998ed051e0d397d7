#!/usr/bin/env bash
# egs/custom --mini true: three simulated corpora of an "own corpus", each in a layout of its own (what
# conf/mini/corpus.conf names), written by python -m utter.bin.make_plain_corpus under OUTDIR:
#   lab_train/    rec<N>.flac: unlabelled training recordings
#   lab_eval/     <speaker>/<session>/<N>.flac with trials.txt (VoxCeleb format)
#   lab_backend/  <speaker>_<session>_<N>.wav at 22.05 kHz: speaker-labelled back-end audio
#   local/plain/make_mini_corpora.sh [--scale K|small|mini] [--seed S] [--nj N] OUTDIR
# --scale multiplies the counts (small = 0.3, mini = 1), each kept above a floor that still runs every
# stage; a corpus already built with the same options is skipped (the program's marker).
set -euo pipefail
scale=1
seed=777
nj=2
. "$(dirname "${BASH_SOURCE[0]}")/../../utils/parse_options.sh"
if [ $# -ne 1 ]; then
  echo "usage: $0 [--scale K|small|mini] [--seed S] [--nj N] OUTDIR" >&2; exit 1
fi
out=$1
case $scale in small) k=0.3 ;; mini) k=1 ;; *) k=$scale ;; esac
if ! [[ $k =~ ^[0-9]+([.][0-9]+)?$ ]]; then echo "$0: --scale must be a number, small or mini, got '$scale'" >&2; exit 1; fi
n() { awk -v k="$k" -v lo="$1" -v n="$2" 'BEGIN { v = int(k * n + 0.5); print (v > lo ? v : lo) }'; }  # n FLOOR COUNT
common=(--seed "$seed" --nj "$nj")
python -m utter.bin.make_plain_corpus --layout unlabelled --num-speakers "$(n 4 24)" --num-utts "$(n 40 360)" \
  --durations 2,8 --prefix trn "${common[@]}" "$out/lab_train"
python -m utter.bin.make_plain_corpus --layout nested --num-speakers "$(n 4 10)" --num-utts "$(n 24 200)" \
  --durations 3,8 --trials "$(n 300 3000)" --prefix spk "${common[@]}" "$out/lab_eval"
python -m utter.bin.make_plain_corpus --layout flat --format wav --sample-rate 22050 \
  --num-speakers "$(n 8 12)" --num-utts "$(n 40 200)" --durations 2,6 --prefix bk "${common[@]}" "$out/lab_backend"
