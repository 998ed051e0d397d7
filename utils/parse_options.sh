# Parse Kaldi-style options; sourced by a script after it sets its option defaults:
#
#   nj=4; use_gpu=false; cmd=run.py
#   help_message="usage: $0 [options] <data-dir>"
#   . "$(dirname "$0")/../utils/parse_options.sh"
#
# "--foo-bar VALUE" sets the shell variable foo_bar, which the script must already define
# (otherwise: "invalid option --foo-bar"). A variable whose default is true or false accepts
# only true or false. "--config FILE" is read first, wherever it appears (a file of shell
# assignments "foo_bar=3", or of "--foo-bar=3" lines), so the command line wins over it.
# "--help" prints the script's $help_message (or its leading comment block) and exits 0.
# Parsing stops at the first argument not starting with "--"; the rest stay in "$@".
# Works under "set -euo pipefail". Internal names start with _po_ to leave the caller's alone.

[ -z "${config:-}" ] && config=

# A bad command line: the reason, and a --help that works from where the user is.
_po_fail() {
  local _po_help=$0
  [[ $_po_help == */* ]] || _po_help=./$_po_help
  echo "$0: $* (see $_po_help --help)" 1>&2
  exit 1
}

# Set one option from its name (without "--") and value; exits 1 naming a bad option.
_po_set() {
  local _po_name _po_old
  _po_name=${1//-/_}
  if ! [[ $_po_name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || [ -z "${!_po_name+xxx}" ]; then
    _po_fail "invalid option --$1"
  fi
  _po_old=${!_po_name}
  if [[ $_po_old == true || $_po_old == false ]] && [[ $2 != true && $2 != false ]]; then
    _po_fail "expected \"true\" or \"false\": --$1 $2 (e.g. --$1 true)"
  fi
  printf -v "$_po_name" '%s' "$2"
}

# Read a config file: "--name=value" lines become options, otherwise the file is sourced.
_po_read_config() {
  local _po_line _po_opt
  if [ ! -r "$1" ]; then
    echo "$0: missing config '$1'" 1>&2; exit 1
  fi
  if grep -qE '^[[:space:]]*--' "$1"; then
    while IFS= read -r _po_line || [ -n "$_po_line" ]; do
      _po_line=${_po_line%%#*}
      _po_line=$(echo "$_po_line" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
      [ -z "$_po_line" ] && continue
      if [[ $_po_line != --*=* ]]; then
        echo "$0: $1: expected --option=value, got '$_po_line'" 1>&2; exit 1
      fi
      _po_opt=${_po_line#--}
      _po_set "${_po_opt%%=*}" "${_po_opt#*=}"
    done < "$1"
  else
    # shellcheck disable=SC1090
    . "$1"
  fi
}

for ((_po_i = 1; _po_i < $#; _po_i++)); do
  if [ "${!_po_i}" == "--config" ]; then
    _po_j=$((_po_i + 1))
    config=${!_po_j}
    _po_read_config "$config"
  fi
done

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      if [ -n "${help_message:-}" ]; then
        printf '%b\n' "$help_message" 1>&2
      else
        # No help_message: the script's leading comment block, without the shebang.
        sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" 1>&2
      fi
      exit 0 ;;
    --*=*)
      _po_fail "options to scripts must be of the form --name value, got '$1' (${1%%=*} ${1#*=})" ;;
    --)
      shift; break ;;
    --*)
      if [ $# -lt 2 ]; then
        _po_fail "option $1 needs a value"
      fi
      if [ "$1" != "--config" ]; then
        _po_set "${1#--}" "$2"
      fi
      shift 2 ;;
    *) break ;;
  esac
done

# An empty --cmd is a scripting error that would otherwise run jobs without a runner.
if [ -n "${cmd+xxx}" ] && [ -z "$cmd" ]; then
  echo "$0: empty argument to --cmd option" 1>&2; exit 1
fi
unset -f _po_set _po_read_config _po_fail
unset _po_i _po_j
true
