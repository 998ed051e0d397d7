# Sourced by run.sh: the toolkit's environment (tools/venv, utils/ on PATH, LC_ALL=C).
# The first use installs tools/venv (a few minutes) and says so.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC1091
. "$here/../../tools/env.sh" || return 1
export PATH="$here/utils:$PATH"
