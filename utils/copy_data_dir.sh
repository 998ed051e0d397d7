#!/usr/bin/env bash
# Kaldi's copy_data_dir.sh: copy a data dir, adding a prefix and/or suffix to the utterance and/or
# speaker ids (recording ids stay); renamed tables come out with fields joined by one space (as
# apply_map.pl writes them). With new utterance ids, utt2uniq maps them to the originals. A table
# in <destdir> that <srcdir> lacks is moved to <destdir>/.backup/. Then validates the copy
# (utils/validate_data_dir.sh, with --no-feats / --no-text when the source has no feats.scp / text).
#
# usage: copy_data_dir.sh [options] <srcdir> <destdir>
#   --utt-prefix P  --utt-suffix S  --spk-prefix P  --spk-suffix S   (default empty; a value may
#                   start with '-': --utt-suffix -rev)
#   --validate-opts 'OPTS'   more options for validate_data_dir.sh
set -euo pipefail
spk_prefix=
utt_prefix=
spk_suffix=
utt_suffix=
validate_opts=
. "$(dirname "${BASH_SOURCE[0]}")/parse_options.sh"
if [ $# != 2 ]; then
  echo "Usage: " 1>&2
  echo "  $0 [options] <srcdir> <destdir>" 1>&2
  echo "e.g.:" 1>&2
  echo " $0 --spk-prefix 1- --utt-prefix 1- data/train data/train_1" 1>&2
  echo "Options" 1>&2
  echo "   --spk-prefix <prefix>     # Prefix for speaker ids, default empty" 1>&2
  echo "   --utt-prefix <prefix>     # Prefix for utterance ids, default empty" 1>&2
  echo "   --spk-suffix <suffix>     # Suffix for speaker ids, default empty" 1>&2
  echo "   --utt-suffix <suffix>     # Suffix for utterance ids, default empty" 1>&2
  echo "   --validate-opts <opts>    # Options for validate_data_dir.sh" 1>&2
  exit 1
fi
export LC_ALL=C
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/pylib${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m utter.bin.datadir_tools --prog "$0" copy --utt-prefix="$utt_prefix" --utt-suffix="$utt_suffix" \
  --spk-prefix="$spk_prefix" --spk-suffix="$spk_suffix" --validate-opts="$validate_opts" "$1" "$2"
