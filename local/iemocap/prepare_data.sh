#!/usr/bin/env bash
# IEMOCAP_full_release -> DATA/iemocap (4 classes, folds/<k>/{train,dev,test}) and DATA/iemocap_all (all labels).
# Options (Kaldi style, e.g. --durations false) and outputs: run with --help.
# Logic: utter.data.corpora.iemocap.prepare_iemocap. Each written data dir is checked with utils/validate_data_dir.sh.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../prep_common.sh"
run_prep "$(dirname "${BASH_SOURCE[0]}")/prepare_data.py" "[--dev-fraction 0.2] IEMOCAP_ROOT DATA" "--no-feats --no-text" "$@"
