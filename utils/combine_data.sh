#!/usr/bin/env bash
# Combine data dirs: each table present in every source is concatenated and sorted (utt2uniq
# and segments are created where missing), spk2utt rebuilt, then fix_data_dir.sh is run.
# usage: combine_data.sh [--extra-files 'f1 f2'] [--skip-fix true] <dest-dir> <src-dir1> <src-dir2> ...
set -euo pipefail
extra_files=
skip_fix=false
echo "$0 $*"
. "$(dirname "${BASH_SOURCE[0]}")/parse_options.sh"
if [ $# -lt 2 ]; then
  echo "Usage: combine_data.sh [--extra-files 'file1 file2'] <dest-data-dir> <src-data-dir1> <src-data-dir2> ..." 1>&2
  exit 1
fi
export LC_ALL=C
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/pylib${PYTHONPATH:+:$PYTHONPATH}"
skip=; $skip_fix && skip=--skip-fix
exec python3 -m utter.data.dirtools --prog "$0" combine --extra-files "$extra_files" $skip "$@"
