#!/usr/bin/env bash
# A folder tree of audio (any layout; any format soundfile reads, or ffmpeg through pipes) -> a Kaldi
# data dir: wav.scp, utt2spk, spk2utt, utt2dur [, segments].
#   local/plain/make_data_dir.sh [--speaker none|dir:N|regex:EXPR|table:FILE] [--segments FILE] AUDIO_DIR... DATA
#  e.g.: local/plain/make_data_dir.sh --speaker dir:1 /corpora/lab/eval data/eval    # <spk>/<session>/<n>.flac
#        local/plain/make_data_dir.sh /corpora/podcasts /corpora/lab/train data/train  # no labels (SSL)
# Options (Kaldi style) and the speaker rules: run with --help.
# Logic: utter.data.corpora.plain.prepare_plain. The written data dir is checked with utils/validate_data_dir.sh.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../prep_common.sh"
run_prep "$(dirname "${BASH_SOURCE[0]}")/make_data_dir.py" \
  "[--speaker none|dir:N|regex:EXPR|table:FILE] [--segments FILE] AUDIO_DIR... DATA" "--no-feats --no-text" "$@"
