#!/usr/bin/env bash
# The test command: creates or updates tools/venv when needed, then runs the whole pytest
# suite. Extra arguments go to pytest (e.g. tools/run_tests.sh -k fbank -x).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/tools/install.sh"
# shellcheck disable=SC1091
. "$root/tools/env.sh"
cd "$root"
exec python -m pytest -q -p no:cacheprovider "$@" tests
