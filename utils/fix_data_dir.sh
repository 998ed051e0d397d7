#!/usr/bin/env bash
# Kaldi's fix_data_dir.sh: sort every table (sort -k1,1 -u: the first line of a repeated key kept),
# then keep only the utterances present in every per-utterance table Kaldi knows -- feats.scp,
# vad.scp, text, segments, utt2lang, utt2uniq, utt2dur and utt2num_frames (with a value > 0),
# and wav.scp and reco2dur when there are no segments -- whose speaker is in cmvn.scp and
# spk2gender (when present) and whose recording is in wav.scp (with segments). Every table,
# this toolkit's label tables (utt2emo, utt2label ...) included, is filtered to them; spk2utt is
# rebuilt from utt2spk. Originals go to <data-dir>/.backup/.
#
# usage: fix_data_dir.sh [--utt-extra-files 'f1 f2'] [--spk-extra-files 'f1 f2'] <data-dir>
#   --utt-extra-files  more per-utterance tables to sort and filter along
#   --spk-extra-files  more per-speaker tables to filter along
set -euo pipefail
utt_extra_files=
spk_extra_files=
. "$(dirname "${BASH_SOURCE[0]}")/parse_options.sh"
if [ $# != 1 ]; then
  echo "Usage: utils/fix_data_dir.sh [--utt-extra-files 'f1 f2'] [--spk-extra-files 'f1 f2'] <data-dir>" 1>&2
  echo "e.g.: utils/fix_data_dir.sh data/train" 1>&2
  echo "Sorts and filters the tables of a data dir, e.g. removing utterances without features." 1>&2
  exit 1
fi
export LC_ALL=C
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/pylib${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m utter.bin.datadir_tools --prog "$0" fix --utt-extra-files="$utt_extra_files" \
  --spk-extra-files="$spk_extra_files" "$1"
