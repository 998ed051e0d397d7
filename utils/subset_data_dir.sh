#!/usr/bin/env bash
# Make a subset of a data dir, as Kaldi's subset_data_dir.sh (one mode at a time):
#   (default)  <num-utt> utterances evenly spread through utt2spk (subset_scp.pl's choice)
#   --first / --last   the first / last <num-utt> utterances
#   --shortest         the <num-utt> shortest (utt2num_frames, else feats.scp, else utt2dur)
#   --per-spk          <num-utt> utterances per speaker, evenly spread
#   --speakers         whole speakers in random order (seed 0) until <num-utt> utterances
#   --utt-list FILE / --spk-list FILE   the listed utterances / speakers (no <num-utt>)
# usage: subset_data_dir.sh [--first|--last|--shortest|--per-spk|--speakers] <srcdir> <num-utt> <destdir>
#        subset_data_dir.sh --utt-list|--spk-list <list> <srcdir> <destdir>
set -euo pipefail
mode=even
case "${1:-}" in
  --first|--last|--shortest|--per-spk|--speakers|--utt-list|--spk-list) mode=${1#--}; shift ;;
esac
if [ $# != 3 ]; then
  echo "Usage: " 1>&2
  echo "  subset_data_dir.sh [--speakers|--shortest|--first|--last|--per-spk] <srcdir> <num-utt> <destdir>" 1>&2
  echo "  subset_data_dir.sh [--spk-list <speaker-list-file>] <srcdir> <destdir>" 1>&2
  echo "  subset_data_dir.sh [--utt-list <utterance-list-file>] <srcdir> <destdir>" 1>&2
  exit 1
fi
export LC_ALL=C
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/pylib${PYTHONPATH:+:$PYTHONPATH}"
if [ $mode == utt-list ] || [ $mode == spk-list ]; then
  exec python3 -m utter.data.dirtools --prog "$0" subset --mode $mode --id-list "$1" "$2" "$3"
fi
if ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -le 0 ]; then
  echo "$0: <num-utt> must be a positive integer, got '$2'" 1>&2; exit 1
fi
exec python3 -m utter.data.dirtools --prog "$0" subset --mode $mode --num "$2" "$1" "$3"
