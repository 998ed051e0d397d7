#!/usr/bin/env bash
# Check a data dir: sorted unique tables, utt2spk/spk2utt agreement, segments inside their
# recordings, feats/vad/utt2num_frames/utt2dur/text covering the utterances, speaker tables
# covering the speakers. Reports the first offending file:line and exits 1.
# usage: validate_data_dir.sh [--no-feats] [--no-wav] [--no-text] <data-dir>
set -euo pipefail
opts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-feats|--no-wav|--no-text) opts+=("$1"); shift ;;
    --non-print|--no-spk-sort) shift ;;   # accepted for Kaldi compatibility; checks unchanged
    --*) echo "$0: unknown option $1" 1>&2; exit 1 ;;
    *) break ;;
  esac
done
if [ $# != 1 ]; then
  echo "Usage: $0 [--no-feats] [--no-wav] [--no-text] <data-dir>" 1>&2
  exit 1
fi
export LC_ALL=C
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/pylib${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m utter.data.validate --prog "$0" "${opts[@]}" "$1"
