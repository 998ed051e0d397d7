#!/usr/bin/env bash
# One VoxCeleb2 part (e.g. VOX2_ROOT/dev) -> a data dir; m4a as ffmpeg pipes (no utt2dur), or a wav copy.
# Options (Kaldi style, e.g. --durations false) and outputs: run with --help.
# Logic: utter.data.corpora.voxceleb.prepare_voxceleb2. Each written data dir is checked with utils/validate_data_dir.sh.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../prep_common.sh"
run_prep "$(dirname "${BASH_SOURCE[0]}")/make_voxceleb2.py" "[--format m4a|wav] VOX2_ROOT/dev DATA/voxceleb2_dev" "--no-feats --no-text" "$@"
