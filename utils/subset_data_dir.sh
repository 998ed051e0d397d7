#!/usr/bin/env bash
# Kaldi's subset_data_dir.sh: a subset of a data dir (one mode at a time):
#   (default)          <num-utt> utterances spread evenly through utt2spk (subset_scp.pl)
#   --first / --last   the first / last <num-utt> utterances
#   --shortest         the <num-utt> shortest (utt2num_frames, else feats.scp's frame counts;
#                      this toolkit also takes utt2dur)
#   --per-spk          <num-utt> utterances of each speaker (all when it has fewer), evenly spread
#   --speakers         whole speakers in shuffle_list.pl's order until <num-utt> utterances
#   --utt-list FILE    the listed utterances (no <num-utt>)
#   --spk-list FILE    the listed speakers (no <num-utt>)
# Every table (and this toolkit's label tables) follows the kept utterances and speakers;
# wav.scp, reco2file_and_channel, reco2dur and stm follow segments.
#
# usage: subset_data_dir.sh [--speakers|--shortest|--first|--last|--per-spk] <srcdir> <num-utt> <destdir>
#        subset_data_dir.sh [--spk-list <speaker-list-file>] <srcdir> <destdir>
#        subset_data_dir.sh [--utt-list <utterance-list-file>] <srcdir> <destdir>
set -euo pipefail
mode=even
list=
expect=3
case "${1:-}" in
  --first|--last|--shortest|--per-spk|--speakers) mode=${1#--}; shift ;;
  --utt-list|--spk-list) mode=${1#--}; list=${2:-}; shift; [ $# -gt 0 ] && shift; expect=2 ;;
  --*) echo "$0: invalid option '$1'" 1>&2; exit 1 ;;
esac
if [ $# != $expect ]; then
  echo "Usage: " 1>&2
  echo "  subset_data_dir.sh [--speakers|--shortest|--first|--last|--per-spk] <srcdir> <num-utt> <destdir>" 1>&2
  echo "  subset_data_dir.sh [--spk-list <speaker-list-file>] <srcdir> <destdir>" 1>&2
  echo "  subset_data_dir.sh [--utt-list <utterance-list-file>] <srcdir> <destdir>" 1>&2
  echo "By default, selects <num-utt> utterances spread evenly through the data directory." 1>&2
  echo "With --speakers, selects enough speakers (in a seeded random order) to have <num-utt> utterances" 1>&2
  echo "With --per-spk, selects <num-utt> utterances per speaker, if available." 1>&2
  echo "With --first, selects the first <num-utt> utterances" 1>&2
  echo "With --last, selects the last <num-utt> utterances" 1>&2
  echo "With --shortest, selects the shortest <num-utt> utterances." 1>&2
  echo "With --spk-list, reads the speakers to keep from <speaker-list-file>" 1>&2
  echo "With --utt-list, reads the utterances to keep from <utterance-list-file>" 1>&2
  exit 1
fi
export LC_ALL=C
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/pylib${PYTHONPATH:+:$PYTHONPATH}"
if [ $expect == 2 ]; then
  exec python3 -m utter.bin.datadir_tools --prog "$0" subset --mode=$mode --id-list="$list" "$1" "$2"
fi
exec python3 -m utter.bin.datadir_tools --prog "$0" subset --mode=$mode --num="$2" "$1" "$3"
