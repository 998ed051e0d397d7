#!/usr/bin/env bash
# One VoxCeleb2 part (e.g. VOX2_ROOT/dev) -> a data dir; m4a as ffmpeg pipes (no utt2dur), or a wav copy.
# Options (Kaldi style, e.g. --durations false) and outputs: run with --help.
# Logic: utter.data.corpora.voxceleb.prepare_voxceleb2. Each written data dir is checked with utils/validate_data_dir.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
python=python3
if ! "$python" -c "import utter" 2>/dev/null && [ -x "$root/tools/venv/bin/python" ]; then
  python=$root/tools/venv/bin/python
fi
for arg in "$@"; do
  case $arg in -h|--help) exec "$python" "$here/make_voxceleb2.py" --help ;; esac
done
if [ $# -lt 2 ]; then
  echo "Usage: $0 [--format m4a|wav] VOX2_ROOT/dev DATA/voxceleb2_dev" >&2
  exit 1
fi
outputs=$("$python" "$here/make_voxceleb2.py" "$@")
while IFS=$'\t' read -r name path; do
  if [ -d "$path" ]; then
    "$root/utils/validate_data_dir.sh" --no-feats --no-text "$path" >&2
  fi
done <<< "$outputs"
echo "$0: wrote $(echo "$outputs" | cut -f2 | tr '\n' ' ')" >&2
