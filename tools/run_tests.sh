#!/usr/bin/env bash
# The test command: creates or updates tools/venv when needed, then runs the whole pytest
# suite. Extra arguments go to pytest (e.g. tools/run_tests.sh -k fbank -x); naming test files or
# directories (tools/run_tests.sh tests/data/test_features.py, tests/data) runs those only.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/tools/install.sh"
# shellcheck disable=SC1091
. "$root/tools/env.sh"
cd "$root"
# the whole suite, unless the arguments name test files or directories themselves
for arg in "$@"; do
  case $arg in -*) ;; *) [ -e "${arg%%::*}" ] && exec python -m pytest -q -p no:cacheprovider "$@" ;; esac
done
exec python -m pytest -q -p no:cacheprovider "$@" tests
