# Sourced by each recipe's path.sh and by tools/run_tests.sh: activates tools/venv,
# puts utils/ and steps/ helpers on PATH, and fixes the collation Kaldi's sorting assumes.
utter_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# tools/install.sh is quick when the venv is up to date, and repairs a venv copied from another
# checkout (which would otherwise run that checkout's code).
if [ ! -x "$utter_root/tools/venv/bin/python" ]; then
  echo "tools/env.sh: installing the Python environment first (tools/install.sh)..." >&2
  bash "$utter_root/tools/install.sh" || { echo "tools/env.sh: tools/install.sh failed" >&2; return 1 2>/dev/null || exit 1; }
elif ! bash "$utter_root/tools/install.sh"; then
  echo "tools/env.sh: tools/install.sh failed (see above); using tools/venv as it is" >&2
fi
# shellcheck disable=SC1091
. "$utter_root/tools/venv/bin/activate"
export PATH="$utter_root/utils:$PATH"
# this checkout's code first, whatever the venv's editable install points to (a shared venv)
export PYTHONPATH="$utter_root/pylib${PYTHONPATH:+:$PYTHONPATH}"
export LC_ALL=C
export PYTHONUNBUFFERED=1
export UTTER_ROOT="$utter_root"
# OpenMP threads that wait sleep instead of spinning (a value set before wins). With libgomp's
# default, torch's 2 threads on 2 cores shared with other jobs spin and wait for each other: DINO
# (egs/custom/conf/dino_small.conf, 232-utterance corpus) measured back to back at load 3-3.6 here
# took 3.1-3.6 s per step by default, 0.83 s with PASSIVE (1 thread: 0.80 s); at load 1, 0.52 s with
# PASSIVE; the mini VoxCeleb DINO of egs/voxceleb (2 threads) ran at 0.15 steps/s at load 5 by
# default against 1.5 on an idle machine. The numbers computed are the same either way.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
