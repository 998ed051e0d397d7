#!/usr/bin/env bash
# Kaldi's combine_data.sh: each table present in every source is concatenated and sorted
# (utt2spk utt2lang utt2dur utt2num_frames reco2dur feats.scp text cmvn.scp vad.scp
# reco2file_and_channel wav.scp spk2gender, the --extra-files, and this toolkit's label tables);
# utt2uniq and segments are made where a source lacks them (utt utt; utt utt 0 <utt2dur>);
# spk2utt is rebuilt; then utils/fix_data_dir.sh (unless --skip-fix true). Files that do not
# exist in every source are not combined. The destination is replaced as a whole.
#
# usage: combine_data.sh [--extra-files 'f1 f2'] [--skip-fix true] <dest-data-dir> <src-data-dir1> <src-data-dir2> ...
set -euo pipefail
extra_files=
skip_fix=false
echo "$0 $*"
. "$(dirname "${BASH_SOURCE[0]}")/parse_options.sh"
if [ $# -lt 2 ]; then
  echo "Usage: combine_data.sh [--extra-files 'file1 file2'] <dest-data-dir> <src-data-dir1> <src-data-dir2> ..." 1>&2
  echo "Note, files that don't appear in all source dirs will not be combined," 1>&2
  echo "with the exception of utt2uniq and segments, which are created where necessary." 1>&2
  exit 1
fi
export LC_ALL=C
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/pylib${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m utter.bin.datadir_tools --prog "$0" combine --extra-files="$extra_files" --skip-fix="$skip_fix" "$@"
