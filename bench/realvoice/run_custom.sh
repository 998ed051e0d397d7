#!/usr/bin/env bash
# egs/custom with its SHIPPED settings on one half of the real-voice corpus (make_corpus.sh), timed, and
# DINO's EER/minDCF(0.01) printed beside the two baselines (baselines.py, when their JSON files exist).
# DINO trains without labels on the half's audio (every codec) and scores the half's trials, as a user
# of egs/custom would on a folder of their own recordings; no backend_audio (cosine only, like the
# baselines), no MUSAN/RIRs (coloured-noise copies only: the shipped fallback).
#
# The recipe runs in a copy, WORK (default bench/out/custom_<half>): run.sh, cmd.sh, path.sh and conf/
# copied from egs/custom afresh on every call (so the settings are the repository's), links to local,
# steps and utils, a conf/corpus.conf naming the corpus, and run.sh's conf_base pointed at
# egs/voxceleb/conf by absolute path; egs/custom itself is not touched. A second call resumes
# (run.sh skips finished stages); remove WORK for a fresh run.
#
# --dev-files N adds a dev_trials line to conf/corpus.conf: the half's trials among a seeded draw of N of
# its recordings (dev_subset.py), scored by the DINO teacher every dino_dev_interval steps (the dev-EER
# curve in exp/<sys>/loss.png). They are trials of the half itself: on the dev half that is what a dev
# corpus is for; never use it on the eval half.
#
# usage: bench/realvoice/run_custom.sh [--half dev|eval] [--work DIR] [--baselines DIR] [--dev-files N] CORPUS [-- run.sh options]
#  e.g.: bench/realvoice/run_custom.sh bench/out/realvoice
set -euo pipefail
half=dev
work=
baselines=
dev_files=0
while [ $# -gt 0 ]; do
  case $1 in
    --half) half=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --baselines) baselines=$2; shift 2 ;;
    --dev-files) dev_files=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d'; exit 0 ;;
    -*) echo "$0: unknown option $1" >&2; exit 1 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "usage: $0 [--half dev|eval] [--work DIR] [--baselines DIR] CORPUS [-- run.sh options]" >&2; exit 1; }
root=$(cd "$(dirname "$0")/../.." && pwd)
corpus=$(cd "$1" && pwd)
shift
[ "${1:-}" = -- ] && shift
[ -s "$corpus/$half/trials.txt" ] || { echo "$0: no $corpus/$half/trials.txt (run make_corpus.sh)" >&2; exit 1; }
work=${work:-$root/bench/out/custom_$half}
baselines=${baselines:-$root/bench/out/realvoice_baselines}

mkdir -p "$work"
work=$(cd "$work" && pwd)
cp "$root"/egs/custom/{run.sh,cmd.sh} "$work/"
rm -rf "$work/conf"
cp -r "$root/egs/custom/conf" "$work/conf"
sed -i "s|^conf_base=../voxceleb/conf|conf_base=$root/egs/voxceleb/conf|" "$work/run.sh"
grep -q "^conf_base=$root/" "$work/run.sh" || { echo "$0: egs/custom/run.sh has no conf_base line to point" >&2; exit 1; }
for d in local steps utils; do ln -sfn "$root/$d" "$work/$d"; done
# path.sh sources ../../tools/env.sh relative to itself: point it at this checkout
sed "s|\$here/../../tools/env.sh|$root/tools/env.sh|" "$root/egs/custom/path.sh" > "$work/path.sh"
cat > "$work/conf/corpus.conf" <<EOF
# written by bench/realvoice/run_custom.sh: the $half half of the real-voice corpus
train_audio=$corpus/$half
eval_audio=$corpus/$half
eval_trials=$corpus/$half/trials.txt
eval_trials_format=auto
eval_speaker=dir:1
backend_audio=
musan_root=
rirs_root=
EOF
if [ "$dev_files" -gt 0 ]; then
  [ "$half" = dev ] || { echo "$0: --dev-files is for the dev half only (its trials are the half's own)" >&2; exit 1; }
  python3 "$root/bench/realvoice/dev_subset.py" "$corpus/$half/trials.txt" "$dev_files" "$work/conf/dev_trials.txt"
  echo "dev_trials=$work/conf/dev_trials.txt" >> "$work/conf/corpus.conf"
fi

echo "$0: egs/custom (shipped settings) on $corpus/$half in $work; log $work/run.log"
start=$(date +%s)
if ! nice -n 10 "$work/run.sh" "$@" > "$work/run.log" 2>&1; then
  tail -n 20 "$work/run.log" >&2
  echo "$0: egs/custom/run.sh failed after $(( $(date +%s) - start )) s (log $work/run.log)" >&2
  exit 1
fi
wall=$(( $(date +%s) - start ))
grep -h "left out of training\|none left out" "$work/run.log" || true
echo "$0: egs/custom/run.sh took $wall s"

# the table: DINO beside the baselines
python3 - "$work" "$baselines" "$half" "$wall" <<'EOF'
import json, sys
from pathlib import Path
work, base, half, wall = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
rows = []
for name in ("trivial", "resemblyzer"):
    f = base / f"{half}_{name}.json"
    if f.exists():
        r = json.loads(f.read_text())
        rows.append((name, r["EER"], r["minDCF@0.01"], f"{r['wall_s']:.0f}"))
    else:
        rows.append((name, None, None, f"(no {f})"))
for f in sorted(work.glob("exp/*/scores/main/scores_cosine.json")):
    r = json.loads(f.read_text())
    fig = r.get("figures", r)
    eer = fig.get("EER", fig.get("eer"))
    dcf = fig.get("minDCF@0.01", fig.get("min_dcf_0.01"))
    rows.append((f"egs/custom {f.parts[-4]} (cosine)", eer, dcf, f"{wall} (whole run.sh)"))
print(f"{half} half: system | EER % | minDCF(0.01) | wall s")
for name, eer, dcf, w in rows:
    e = "-" if eer is None else f"{eer:.2f}"
    d = "-" if dcf is None else f"{dcf:.3f}"
    print(f"{name} | {e} | {d} | {w}")
EOF
