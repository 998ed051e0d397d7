#!/usr/bin/env bash
# VoxCeleb1 -> DATA/voxceleb1{,_dev,_test} and DATA/voxceleb1_trials/{O,E,H} (cleaned lists), {O,E,H}_orig (original lists).
# Options (Kaldi style, e.g. --durations false) and outputs: run with --help.
# Logic: utter.data.corpora.voxceleb.prepare_voxceleb1. Each written data dir is checked with utils/validate_data_dir.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
python=python3
if ! "$python" -c "import utter" 2>/dev/null && [ -x "$root/tools/venv/bin/python" ]; then
  python=$root/tools/venv/bin/python
fi
for arg in "$@"; do
  case $arg in -h|--help) exec "$python" "$here/make_voxceleb1.py" --help ;; esac
done
if [ $# -lt 2 ]; then
  echo "Usage: $0 [--durations true|false] VOX1_ROOT DATA" >&2
  exit 1
fi
outputs=$("$python" "$here/make_voxceleb1.py" "$@")
while IFS=$'\t' read -r name path; do
  if [ -d "$path" ]; then
    "$root/utils/validate_data_dir.sh" --no-feats --no-text "$path" >&2
  fi
done <<< "$outputs"
echo "$0: wrote $(echo "$outputs" | cut -f2 | tr '\n' ' ')" >&2
