#!/usr/bin/env bash
# Split a data dir into N parts for parallel jobs: DIR/splitN/1..N, speaker-disjoint (speakers
# distributed as Kaldi's split_scp.pl --utt2spk does), or with --per-utt DIR/splitNutt/1..N
# (consecutive utterance chunks). Every per-utterance and per-speaker table is filtered along;
# wav.scp/reco2file_and_channel follow segments. An existing split newer than its source is reused.
# usage: split_data.sh [--per-utt] <data-dir> <num-to-split>
set -euo pipefail
per_utt=
if [ "${1:-}" == "--per-utt" ]; then per_utt=--per-utt; shift; fi
if [ $# != 2 ]; then
  echo "Usage: split_data.sh [--per-utt] <data-dir> <num-to-split>" 1>&2
  echo "Splits per speaker (each speaker in one split) unless --per-utt; reuses an up-to-date split." 1>&2
  exit 1
fi
export LC_ALL=C
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/pylib${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m utter.data.dirtools --prog split_data.sh split $per_utt "$1" "$2"
