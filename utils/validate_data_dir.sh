#!/usr/bin/env bash
# Kaldi's validate_data_dir.sh: check a data dir (see utter.data.validate for every check);
# reports the first offending file:line and exits 1, else prints "Successfully validated".
#
# usage: validate_data_dir.sh [--no-feats] [--no-text] [--non-print] [--no-wav] [--no-spk-sort] <data-dir>
#   The --no-xxx options mean that xxx need not be present; it is checked if it is present.
#   --no-spk-sort   utt2spk need not also be sorted by speaker id
#   --non-print     allow non-printable characters in text
set -euo pipefail
opts=()
data=
while [ $# -gt 0 ]; do
  case "$1" in
    --no-feats|--no-wav|--no-text|--no-spk-sort|--non-print) opts+=("$1"); shift ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" 1>&2; exit 0 ;;
    -*) echo "$0: invalid option '$1'" 1>&2; exit 1 ;;
    *) if [ -n "$data" ]; then
         echo "Usage: $0 [--no-feats] [--no-text] [--non-print] [--no-wav] [--no-spk-sort] <data-dir>" 1>&2
         exit 1
       fi
       data=$1; shift ;;
  esac
done
if [ -z "$data" ]; then
  echo "Usage: $0 [--no-feats] [--no-text] [--non-print] [--no-wav] [--no-spk-sort] <data-dir>" 1>&2
  exit 1
fi
export LC_ALL=C
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/pylib${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m utter.bin.validate_data_dir --prog "$0" "${opts[@]}" "$data"
