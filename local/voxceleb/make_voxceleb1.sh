#!/usr/bin/env bash
# VoxCeleb1 -> DATA/voxceleb1{,_dev,_test} and DATA/voxceleb1_trials/{O,E,H} (cleaned lists), {O,E,H}_orig (original lists).
# Options (Kaldi style, e.g. --durations false) and outputs: run with --help.
# Logic: utter.data.corpora.voxceleb.prepare_voxceleb1. Each written data dir is checked with utils/validate_data_dir.sh.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../prep_common.sh"
run_prep "$(dirname "${BASH_SOURCE[0]}")/make_voxceleb1.py" "[--durations true|false] VOX1_ROOT DATA" "--no-feats --no-text" "$@"
