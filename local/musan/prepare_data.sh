#!/usr/bin/env bash
# MUSAN -> DATA/musan_{music,noise,speech}.
# Options (Kaldi style, e.g. --durations false) and outputs: run with --help.
# Logic: utter.data.corpora.musan.prepare_musan. Each written data dir is checked with utils/validate_data_dir.sh.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../prep_common.sh"
run_prep "$(dirname "${BASH_SOURCE[0]}")/prepare_data.py" "[--use-vocals true|false] MUSAN_ROOT DATA" "--no-feats --no-text" "$@"
