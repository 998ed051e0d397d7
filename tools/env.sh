# Sourced by each recipe's path.sh and by tools/run_tests.sh: activates tools/venv,
# puts utils/ and steps/ helpers on PATH, and fixes the collation Kaldi's sorting assumes.
utter_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ ! -x "$utter_root/tools/venv/bin/python" ] || ! bash "$utter_root/tools/install.sh"; then
  if [ ! -x "$utter_root/tools/venv/bin/python" ]; then
    echo "tools/env.sh: installing the Python environment first (tools/install.sh)..." >&2
    bash "$utter_root/tools/install.sh" || { echo "tools/env.sh: tools/install.sh failed" >&2; return 1 2>/dev/null || exit 1; }
  fi
fi
# shellcheck disable=SC1091
. "$utter_root/tools/venv/bin/activate"
export PATH="$utter_root/utils:$PATH"
export LC_ALL=C
export PYTHONUNBUFFERED=1
export UTTER_ROOT="$utter_root"
