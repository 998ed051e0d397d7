#!/usr/bin/env bash
# Create or update tools/venv with the pinned dependencies and install utter (editable).
# Idempotent: does nothing when the venv already matches requirements (stamp file).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
venv=$here/venv
req=$here/requirements.txt
stamp=$venv/.utter-installed
python=${PYTHON:-python3}

want=$(cat "$req" "$root/setup.py" | cksum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi
echo "$0: installing the environment into $venv (first use takes a few minutes)" >&2
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet -r "$req" >&2
"$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$root" >&2
echo "$want" > "$stamp"
echo "$0: environment ready: $venv" >&2
