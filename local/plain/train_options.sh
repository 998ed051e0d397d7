#!/usr/bin/env bash
# The options egs/custom gives its training program beyond the system's conf, printed on stdout as one
# line: --min-frames N when N is set (empty: the program's own floor), and the dev trials of stage 1
# (DEV_TRIALS over the utterances of DEV_DATA) scored every --dev-interval steps when that file exists
# and the interval is above 0, which it says on stderr (after --prefix, e.g. "run.sh: stage 4: dino").
#   local/plain/train_options.sh [--min-frames N] [--dev-interval N] [--prefix TEXT] DEV_DATA DEV_TRIALS
#  e.g.: local/plain/train_options.sh --min-frames 100 --dev-interval 200 data/eval data/dev_trials/main
set -euo pipefail
min_frames=
dev_interval=0
prefix=$0
. "$(dirname "${BASH_SOURCE[0]}")/../../utils/parse_options.sh"
if [ $# -ne 2 ]; then
  echo "usage: $0 [--min-frames N] [--dev-interval N] [--prefix TEXT] DEV_DATA DEV_TRIALS" >&2; exit 1
fi
dev_data=$1 dev_trials=$2
for v in min_frames dev_interval; do
  if [ -n "${!v}" ] && ! [[ ${!v} =~ ^[0-9]+$ ]]; then
    echo "$0: --${v//_/-} must be a non-negative integer, got '${!v}'" >&2; exit 1
  fi
done
opts=()
[ -n "$min_frames" ] && opts+=(--min-frames "$min_frames")
if [ -s "$dev_trials" ] && [ "${dev_interval:-0}" -gt 0 ]; then
  opts+=(--dev-data "$dev_data" --dev-trials "$dev_trials" --dev-interval "$dev_interval")
  echo "$prefix: the dev trials (dev_trials, $(wc -l < "$dev_trials" | tr -d ' ')) scored every $dev_interval" \
       "steps with the teacher (log/train.log, loss.png)" >&2
fi
echo "${opts[*]}"
