#!/usr/bin/env bash
# Sort a data dir's tables and keep only utterances present in all of utt2spk, feats.scp, text,
# segments, utt2lang and wav.scp (when there are no segments), as Kaldi's fix_data_dir.sh;
# the other per-utterance tables (vad.scp, utt2dur, utt2num_frames, label files utt2emo,
# utt2label ...) are filtered to them. Originals go to DIR/.backup/.
# usage: fix_data_dir.sh [--utt-extra-files 'f1 f2'] [--spk-extra-files 'f1 f2'] <data-dir>
set -euo pipefail
utt_extra_files=
spk_extra_files=
. "$(dirname "${BASH_SOURCE[0]}")/parse_options.sh"
if [ $# != 1 ]; then
  echo "Usage: fix_data_dir.sh [--utt-extra-files 'f1 f2'] [--spk-extra-files 'f1 f2'] <data-dir>" 1>&2
  exit 1
fi
export LC_ALL=C
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/pylib${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m utter.data.dirtools --prog "$0" fix --utt-extra-files "$utt_extra_files" \
  --spk-extra-files "$spk_extra_files" "$1"
