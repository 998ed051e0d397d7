# Sourced by run.sh: the toolkit's environment (tools/venv, utils/ on PATH, LC_ALL=C).
# The first use installs tools/venv (a few minutes) and says so.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC1091
. "$here/../../tools/env.sh" || return 1
export PATH="$here/utils:$PATH"
# OpenMP threads that wait sleep instead of spinning (a value set before run.sh wins). With libgomp's
# default, torch's 2 threads on 2 cores shared with other jobs spin and wait for each other: DINO
# (conf/dino_small.conf settings, 232-utterance corpus) measured back to back at load 3-3.6 here took
# 3.1-3.6 s per step by default, 0.83 s with PASSIVE (1 thread: 0.80 s); at load 1, 0.52 s with PASSIVE.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
