#!/usr/bin/env bash
# ADReSS-IS2020-data -> DATA/adress_train (folds/<k>/{train,test}) and DATA/adress_test.
# Options (Kaldi style, e.g. --durations false) and outputs: run with --help.
# Logic: utter.data.corpora.adress.prepare_adress. Each written data dir is checked with utils/validate_data_dir.sh.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../prep_common.sh"
run_prep "$(dirname "${BASH_SOURCE[0]}")/prepare_data.py" "[--segments true|false] [--cv-folds K] [--partition-seeds \"S ...\"] [--test-labels FILE] ADRESS_ROOT DATA" "--no-feats" "$@"
