#!/usr/bin/env bash
# RIRS_NOISES -> DATA/rirs_{small,medium} (--rooms to choose).
# Options (Kaldi style, e.g. --durations false) and outputs: run with --help.
# Logic: utter.data.corpora.rirs.prepare_rirs. Each written data dir is checked with utils/validate_data_dir.sh.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../prep_common.sh"
run_prep "$(dirname "${BASH_SOURCE[0]}")/prepare_data.py" "[--rooms 'small medium'] RIRS_ROOT DATA" "--no-feats --no-text" "$@"
