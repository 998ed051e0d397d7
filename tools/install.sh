#!/usr/bin/env bash
# Create or update tools/venv with the pinned dependencies and install utter (editable).
# Idempotent: does nothing when the venv matches requirements (stamp file) and imports utter from
# this checkout. A venv copied or moved here from another checkout is repaired in place, offline:
# its scripts (bin/activate, pip's launchers) named the old place, and its editable install
# imported the other checkout's pylib/; the paths in bin/ are rewritten and utter is reinstalled
# from this checkout's pylib/ (no dependency is fetched), saying so. A venv reached through a link
# (tools/venv or tools/ linked: a venv shared with another checkout) is left as it is: tools/env.sh
# puts this checkout's pylib/ first on PYTHONPATH, so its code is the one imported either way.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
venv=$here/venv
req=$here/requirements.txt
stamp=$venv/.utter-installed
python=${PYTHON:-python3}

# Where the venv's python imports utter from (empty when it cannot), from a neutral directory.
utter_from() {
  (cd / && env -u PYTHONPATH "$venv/bin/python" -c \
    'import os, utter; print(os.path.dirname(os.path.realpath(utter.__file__)))' 2>/dev/null) || true
}
want_utter=$(cd "$root/pylib/utter" 2>/dev/null && pwd -P)

install_utter() {
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-index --no-deps \
    --no-build-isolation -e "$root" >&2
}

# A venv made elsewhere: bin/activate names another directory. Rewrite bin/'s text files.
relocate() {
  local old
  old=$(sed -n "s/^VIRTUAL_ENV=[\"']\{0,1\}\([^\"']*\)[\"']\{0,1\}$/\1/p" "$venv/bin/activate" | head -n 1)
  if [ -z "$old" ] || [ "$old" = "$venv" ]; then return 0; fi
  if [ -d "$old" ] && [ "$(cd "$old" && pwd -P)" = "$(cd "$venv" && pwd -P)" ]; then return 0; fi  # same place
  echo "$0: $venv was made at $old (copied or moved): rewriting the paths in its bin/" >&2
  "$venv/bin/python" - "$old" "$venv" <<'EOF'
import pathlib
import sys

old, new = (s.encode() for s in sys.argv[1:3])
for path in pathlib.Path(new.decode(), "bin").iterdir():
    if path.is_symlink() or not path.is_file():
        continue
    data = path.read_bytes()
    if old in data and b"\0" not in data[:4096]:  # scripts only, not binaries
        path.write_bytes(data.replace(old, new))
EOF
}

want=$(cat "$req" "$root/setup.py" | cksum | cut -d' ' -f1)
# A venv that physically lives elsewhere (tools/venv or tools/ itself a link: a test's or a user's
# copy sharing another checkout's venv) belongs to that checkout: never rewritten from here.
if [ -x "$venv/bin/python" ] && [ "$(cd "$venv" && pwd -P)" != "$(cd "$root" && pwd -P)/tools/venv" ]; then
  exit 0
fi
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  relocate
  got=$(utter_from)
  if [ "$got" != "$want_utter" ]; then
    echo "$0: the venv's utter is ${got:-not importable}${got:+ (another checkout)}, not $want_utter:" \
         "reinstalling it from $root/pylib (editable)" >&2
    install_utter
    got=$(utter_from)
    if [ "$got" != "$want_utter" ]; then
      echo "$0: utter still imports from ${got:-nowhere} after reinstalling; remove $venv and run $0 again" >&2
      exit 1
    fi
  fi
  exit 0
fi
echo "$0: installing the environment into $venv (first use takes a few minutes)" >&2
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
else
  relocate
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet -r "$req" >&2
"$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$root" >&2
got=$(utter_from)
if [ "$got" != "$want_utter" ]; then
  echo "$0: the venv imports utter from ${got:-nowhere}, not $want_utter" >&2
  exit 1
fi
echo "$want" > "$stamp"
echo "$0: environment ready: $venv" >&2
