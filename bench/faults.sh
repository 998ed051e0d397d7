#!/usr/bin/env bash
# Fault injection, the slow cases (issue 19; tests/faults/test_faults.py runs the reduced forms): a real
# trainer run through its step (steps/train_xvector.sh -> utils/run.py -> python -m utter.bin.train_xvector
# on a tiny TDNN) is
#   1. cut off by kill -9 of utils/run.py          -> no process of the step survives; rerun resumes
#   2. cut off by SIGHUP to the step's process group (the terminal closed) -> the same
#   3. started a second time in the same exp dir while the first runs -> refused, naming the first's pid
#   4. checkpointing into a full disk (a small tmpfs, where mounting is allowed: unshare -rm; else
#      skipped with the reason)                  -> "no space left on <dir>", earlier checkpoints kept
#   5. egs/voxceleb/run.sh --mini true at another --mini-scale after an earlier run (stages 0-2) ->
#      stages 1-2 are redone (every wav.scp path exists), not "exist; skipping"
# and prints one line per case: PASS or FAIL, and what happened.
#
# usage: bench/faults.sh [WORKDIR]      (default: a new temporary directory; about 2-4 minutes on 2 cores)
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC1091
. "$root/tools/env.sh"
work=${1:-$(mktemp -d /tmp/utter_faults.XXXXXX)}
mkdir -p "$work"
cd "$work" || exit 1
export LC_ALL=C PYTHONUNBUFFERED=1
failures=0
result() {  # result PASS|FAIL CASE TEXT
  printf '%-4s  %-34s %s\n' "$1" "$2" "$3"
  if [ "$1" = FAIL ]; then failures=$((failures + 1)); fi
}

python - "$work/train" <<EOF
import sys
sys.path.insert(0, "$root/tests")
from pathlib import Path
from test_faults import write_feats
write_feats(Path(sys.argv[1]), speakers=4, utts=6)
EOF
cat > xvector.conf <<EOF
--arch=tdnn
--feat-dim=20
--channels=8,8,8,8,16
--embed-dim=8
--chunk-frames=100
--batch-size=6
--warmup-steps=1
--lr=0.01
--max-steps=100000
--checkpoint-interval=5
--keep-last=2
--log-interval=1
EOF

trainers() {  # the pids of trainers writing into exp dir $1
  pgrep -f "^[^ ]*python[0-9.]* -m utter.bin.train_xvector .*--exp-dir $1 " || true
}
wait_steps() {  # wait_steps EXP N: until train.log shows step N (60 s at most)
  local i
  for i in $(seq 600); do
    grep -q " step $2/" "$1/log/train.log" 2> /dev/null && return 0
    sleep 0.1
  done
  return 1
}
gone_within() {  # gone_within EXP SECONDS: no trainer of EXP left within SECONDS
  local i
  for i in $(seq $(($2 * 10))); do
    [ -z "$(trainers "$1")" ] && return 0
    sleep 0.1
  done
  return 1
}
start_step() {  # start_step EXP: the step in its own session (as from a terminal); its pid in $step_pid
  setsid "$root/steps/train_xvector.sh" --train-config xvector.conf train "$1" > "$1.out" 2>&1 &
  step_pid=$!
}

# ---------------------------------------------------------------- 1. kill -9 of run.py
exp=$work/exp_kill9
start_step "$exp"
if wait_steps "$exp" 7; then
  runner=$(pgrep -f "utils/run.py .*$exp/log/train.log" | head -n 1)
  kill -9 "$runner"
  wait "$step_pid" 2> /dev/null
  if gone_within "$exp" 20; then
    grep -q "job runner (pid $runner) died" "$exp/log/train.log" && how="the guard said so in train.log" || how=""
    "$root/steps/train_xvector.sh" --train-config xvector.conf --train-opts "--max-steps 12" train "$exp" \
      > "$exp.rerun" 2>&1
    if [ -f "$exp/final.pt" ] && grep -q "resumed from" "$exp/log/train.log"; then
      result PASS "kill -9 of utils/run.py" "no trainer left ($how); the rerun resumed and wrote final.pt"
    else
      result FAIL "kill -9 of utils/run.py" "no trainer left, but the rerun did not resume (see $exp.rerun)"
    fi
  else
    result FAIL "kill -9 of utils/run.py" "trainer(s) $(trainers "$exp" | tr '\n' ' ')still running"
    trainers "$exp" | xargs -r kill -9
  fi
else
  result FAIL "kill -9 of utils/run.py" "training did not start (see $exp/log/train.log)"
  kill -9 -- -"$step_pid" 2> /dev/null
fi

# ---------------------------------------------------------------- 2. SIGHUP to the step's process group
exp=$work/exp_hup
start_step "$exp"
if wait_steps "$exp" 7; then
  kill -HUP -- -"$step_pid"
  wait "$step_pid" 2> /dev/null
  if gone_within "$exp" 20; then
    for _ in $(seq 100); do   # the runner and the step script end just after the trainer
      left=$(ps -eo pgid=,pid= | awk -v g="$step_pid" '$1 == g' | wc -l)
      [ "$left" -eq 0 ] && break
      sleep 0.1
    done
    if [ "$left" -eq 0 ] && [ ! -f "$exp/final.pt" ]; then
      result PASS "SIGHUP to the step (terminal closed)" "no process of the step left, no final.pt"
    else
      result FAIL "SIGHUP to the step (terminal closed)" "$left process(es) of the step's group left"
    fi
  else
    result FAIL "SIGHUP to the step (terminal closed)" "trainer(s) $(trainers "$exp" | tr '\n' ' ')still running"
    trainers "$exp" | xargs -r kill -9
  fi
else
  result FAIL "SIGHUP to the step (terminal closed)" "training did not start (see $exp/log/train.log)"
  kill -9 -- -"$step_pid" 2> /dev/null
fi

# ---------------------------------------------------------------- 3. a second trainer in the same exp dir
exp=$work/exp_twice
start_step "$exp"
if wait_steps "$exp" 3; then
  first=$(trainers "$exp" | head -n 1)
  # the second through the program itself (the step would log into the first's train.log)
  python -m utter.bin.train_xvector --config xvector.conf --exp-dir "$exp" --resume true train > "$exp.second" 2>&1
  rc=$?
  if [ "$rc" -ne 0 ] && grep -q "$exp is in use: pid $first on" "$exp.second" && [ -n "$(trainers "$exp")" ]; then
    result PASS "second trainer in the exp dir" "refused: $(grep -o 'is in use: pid [0-9]* on [^ ]*' "$exp.second")"
  else
    result FAIL "second trainer in the exp dir" "rc $rc: $(tail -n 1 "$exp.second")"
  fi
  kill -TERM -- -"$step_pid"
  wait "$step_pid" 2> /dev/null
  gone_within "$exp" 20 || trainers "$exp" | xargs -r kill -9
else
  result FAIL "second trainer in the exp dir" "training did not start (see $exp/log/train.log)"
  kill -9 -- -"$step_pid" 2> /dev/null
fi

# ---------------------------------------------------------------- 4. disk full during a checkpoint save
mnt=$work/small_disk
mkdir -p "$mnt"
if unshare -rm true 2> /dev/null; then
  unshare -rm bash -c "
    mount -t tmpfs -o size=4m tmpfs '$mnt' || exit 3
    mkdir -p '$mnt/exp/log'
    # leave about 40 KB: the logs and config fit, a checkpoint (about 60 KB) does not
    fill=\$(( \$(df -k --output=avail '$mnt' | tail -n 1) - 40 ))
    dd if=/dev/zero of='$mnt/filler' bs=1k count=\$fill status=none 2> /dev/null
    python -m utter.bin.train_xvector --config xvector.conf --max-steps 10 --exp-dir '$mnt/exp' train \
      > '$work/diskfull.out' 2>&1
    echo \$? > '$work/diskfull.rc'
    ls -a '$mnt/exp' > '$work/diskfull.ls'
  "
  if [ $? -eq 3 ]; then
    result PASS "disk full (skipped)" "mount -t tmpfs is not allowed here"
  else
    line=$(grep ": error: " "$work/diskfull.out" | tail -n 1)
    if [ "$(cat "$work/diskfull.rc")" = 1 ] && [[ $line == *"no space left on $mnt/exp"* ]] \
        && ! grep -q Traceback "$work/diskfull.out" && ! grep -q '\.tmp$' "$work/diskfull.ls"; then
      result PASS "disk full during a checkpoint save" "${line#*error: }"
    else
      result FAIL "disk full during a checkpoint save" "rc $(cat "$work/diskfull.rc"): ${line:-$(tail -n 1 "$work/diskfull.out")}"
    fi
  fi
else
  result PASS "disk full (skipped)" "no user namespaces here (unshare -rm), so no tmpfs can be mounted"
fi

# ---------------------------------------------------------------- 5. the mini corpora at another scale
python - "$work/recipe" <<EOF
import sys
sys.path.insert(0, "$root/tests")
from pathlib import Path
from recipes import recipe_copy
recipe_copy("voxceleb", Path(sys.argv[1]))
EOF
rdir=$work/recipe/egs/voxceleb
if (cd "$rdir" && ./run.sh --mini true --mini-scale small --stop-stage 2 > "$work/scale1.log" 2>&1 \
    && ./run.sh --mini true --mini-scale 0.2 --stop-stage 2 > "$work/scale2.log" 2>&1); then
  missing=$(cut -d' ' -f2 "$rdir/data/voxceleb2_dev/wav.scp" | while read -r f; do [ -f "$f" ] || echo "$f"; done | wc -l)
  total=$(wc -l < "$rdir/data/voxceleb2_dev/wav.scp")
  if [ "$missing" -eq 0 ] && ! grep -q "voxceleb2_dev_all exists; skipping" "$work/scale2.log"; then
    result PASS "mini corpora at another scale" "stages 1-2 redone: all $total wav.scp paths exist"
  else
    result FAIL "mini corpora at another scale" "$missing of $total wav.scp paths missing (see $work/scale2.log)"
  fi
else
  result FAIL "mini corpora at another scale" "a run failed: see $work/scale1.log, $work/scale2.log"
fi

echo "bench/faults.sh: $failures failure(s); files in $work"
exit $((failures > 0))
