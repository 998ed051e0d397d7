#!/usr/bin/env bash
# Kaldi's split_data.sh: split a data dir into N parts for parallel jobs, DIR/splitN/1..N, each
# speaker in one part (speakers balanced as split_scp.pl --utt2spk balances them), or with
# --per-utt DIR/splitNutt/1..N (consecutive chunks of utterances, a speaker maybe in several).
# Every per-utterance and per-speaker table is split along; wav.scp, reco2file_and_channel and
# reco2dur follow segments. Nothing is rewritten when every split is newer than its sources.
#
# usage: split_data.sh [--per-utt] <data-dir> <num-to-split>
set -euo pipefail
per_utt=
if [ "${1:-}" == "--per-utt" ]; then per_utt=--per-utt; shift; fi
if [ $# != 2 ]; then
  echo "Usage: $0 [--per-utt] <data-dir> <num-to-split>" 1>&2
  echo "E.g.: $0 data/train 50" 1>&2
  echo "It creates its output in e.g. data/train/split50/{1,2,3,...50}, or if the --per-utt option was" 1>&2
  echo "given, in e.g. data/train/split50utt/{1,2,3,...50}. It will not split the data-dir if the output" 1>&2
  echo "is newer than the input. By default it splits per speaker (each speaker in one split dir)." 1>&2
  exit 1
fi
export LC_ALL=C
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/pylib${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m utter.bin.datadir_tools --prog split_data.sh split $per_utt "$1" "$2"
