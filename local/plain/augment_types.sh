#!/usr/bin/env bash
# The augmentation types egs/custom can make from the noise corpora it has (conf/augment.conf and
# conf/corpus.conf): printed on stdout, comma-separated (empty: none left); what was dropped and why
# is said on stderr.
#   local/plain/augment_types.sh TYPES TYPES_NO_CORPORA MUSAN_ROOT RIRS_ROOT
#  e.g.: local/plain/augment_types.sh reverb,noise,music,babble,colour colour "" /corpora/RIRS_NOISES
# Neither corpus: TYPES_NO_CORPORA (copies that need no signal files, e.g. coloured noise); no MUSAN:
# TYPES without noise, music and babble; no RIRS_NOISES: TYPES without reverb; both: TYPES.
set -euo pipefail
if [ $# -ne 4 ]; then
  echo "usage: $0 TYPES TYPES_NO_CORPORA MUSAN_ROOT RIRS_ROOT" >&2; exit 1
fi
types=$1 no_corpora=$2 musan=$3 rirs=$4
drop() { echo "$types" | tr ',' '\n' | grep -vxE "$1" | paste -sd, - || true; }
if [ -z "$musan" ] && [ -z "$rirs" ]; then
  types=$no_corpora
  echo "$0: no musan_root or rirs_root in conf/corpus.conf: coloured-noise copies only ($types)" >&2
elif [ -z "$musan" ]; then
  types=$(drop 'noise|music|babble')
  echo "$0: no musan_root in conf/corpus.conf: no noise, music or babble copies ($types)" >&2
elif [ -z "$rirs" ]; then
  types=$(drop reverb)
  echo "$0: no rirs_root in conf/corpus.conf: no reverberated copies ($types)" >&2
fi
echo "$types"
