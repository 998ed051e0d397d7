#!/usr/bin/env bash
# Copy a data dir, adding prefixes/suffixes to utterance and speaker ids (recording ids stay);
# with a new utterance id, utt2uniq maps it to the original. Validates the copy.
# usage: copy_data_dir.sh [--utt-prefix P] [--utt-suffix S] [--spk-prefix P] [--spk-suffix S] <srcdir> <destdir>
set -euo pipefail
spk_prefix=
utt_prefix=
spk_suffix=
utt_suffix=
validate_opts=
. "$(dirname "${BASH_SOURCE[0]}")/parse_options.sh"
if [ $# != 2 ]; then
  echo "Usage: $0 [--utt-prefix P] [--utt-suffix S] [--spk-prefix P] [--spk-suffix S] <srcdir> <destdir>" 1>&2
  exit 1
fi
export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PYTHONPATH="$here/../pylib${PYTHONPATH:+:$PYTHONPATH}"
python3 -m utter.data.dirtools --prog "$0" copy --utt-prefix "$utt_prefix" --utt-suffix "$utt_suffix" \
  --spk-prefix "$spk_prefix" --spk-suffix "$spk_suffix" "$1" "$2"
[ ! -f "$1/feats.scp" ] && validate_opts="$validate_opts --no-feats"
[ ! -f "$1/text" ] && validate_opts="$validate_opts --no-text"
# shellcheck disable=SC2086
"$here/validate_data_dir.sh" $validate_opts "$2"
