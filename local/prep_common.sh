# Shared body of the corpus-preparation wrappers in local/<corpus>/: runs the Python
# program beside the wrapper, then checks every data dir it wrote with validate_data_dir.sh.
# usage (from a wrapper): run_prep PROGRAM.py "USAGE" "VALIDATE_OPTS" "$@"
# The program prints one "name<TAB>path" line per data dir it wrote.
run_prep() {
  local program=$1 usage=$2 validate_opts=$3
  shift 3
  local here root python outputs name path
  here=$(cd "$(dirname "$program")" && pwd)
  root=$(cd "$here/../.." && pwd)
  python=python3
  if ! "$python" -c "import utter" 2>/dev/null && [ -x "$root/tools/venv/bin/python" ]; then
    python=$root/tools/venv/bin/python
  fi
  for arg in "$@"; do
    case $arg in -h|--help) exec "$python" "$program" --help ;; esac
  done
  if [ $# -lt 2 ]; then
    echo "Usage: $0 $usage" >&2
    exit 1
  fi
  outputs=$("$python" "$program" "$@")
  while IFS=$'\t' read -r name path; do
    if [ -d "$path" ]; then
      # shellcheck disable=SC2086
      "$root/utils/validate_data_dir.sh" $validate_opts "$path" >&2
    fi
  done <<< "$outputs"
  echo "$0: wrote $(echo "$outputs" | cut -f2 | tr '\n' ' ')" >&2
}
