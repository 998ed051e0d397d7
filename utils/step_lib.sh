# What the steps/*.sh share: sourced after a step's option defaults, in place of
# utils/parse_options.sh:
#
#   nj=4
#   cmd=run.py
#   . "$(dirname "$0")/../utils/step_lib.sh"   # --help, the options, utils/ on PATH
#   if [ $# -ne 3 ]; then usage; fi
#
# "--help" (or -h) anywhere on the command line prints the step's leading comment (its usage) and
# exits 0, from any directory; then utils/parse_options.sh sets the options, utils/ goes
# first on PATH, and $cmd (when the step has one) is run through python -m utter.progress, which
# shows the step's progress while its jobs run.
#   usage                the leading comment on stderr, and exit 1 (wrong arguments)
#   need_files FILE ...  each FILE exists, else "no such file FILE" and exit 1
#   need_inputs FILE ... the same, and inputs="FILE ..." (the inputs of up_to_date)
#   need_utts N FILE     N (the utterances counted in FILE) is not 0, else "no utterances in FILE" and exit 1
#   (--nj, when the step has it, must be a positive integer: checked here, after the options)
#   up_to_date WHAT INPUTS OUTPUT...  true when every OUTPUT is newer than the INPUTS (a space-separated
#                        list) and --overwrite is not true (python -m utter.stage; WHAT names it in its message)
#   job_failed WHAT LOG  "WHAT failed; see LOG" on stderr, and exit 1
#   fold_exp_dir "$@"    the start of a per-fold training step (steps/train_triplet_barlow.sh,
#                        steps/train_adapter.sh): the arguments <model> <data-dir> <exp-dir> (else
#                        usage) as model, data, dir; the model, <data-dir>/folds and --train-config
#                        (when given) exist; done (exit 0) when <exp-dir>/results.json exists whole, unless
#                        --overwrite true clears the folds (a damaged one is removed, said, and redone with
#                        the trained folds kept); <exp-dir>/log made
#   step_config NAME GREP-ARGS...  the lines of --train-config that grep GREP-ARGS keeps, written as
#                        <exp-dir>/NAME; conf_opt=(--config <exp-dir>/NAME), or () without a config

_step_help() { sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0" >&2; }
usage() { _step_help; exit 1; }
for _sl_arg in "$@"; do
  if [ "$_sl_arg" = --help ] || [ "$_sl_arg" = -h ]; then _step_help; exit 0; fi
done
unset _sl_arg
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/parse_options.sh"
if [ -n "${nj+x}" ] && ! [[ $nj =~ ^[1-9][0-9]*$ ]]; then
  echo "$0: --nj must be a positive integer, got '$nj'" >&2; exit 1
fi
PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd):$PATH"
export PATH
# Ctrl-C or a stop signal is said as such (not as the step's failure) and exits 130; the trap runs once
# the job runner has stopped its tasks. A signal ignored on entry (nohup's SIGHUP) stays ignored.
trap 'echo "$0: interrupted (Ctrl-C or a stop signal): its jobs were stopped; finished outputs are kept, rerun to go on" >&2; exit 130' INT TERM
# The step's live progress line (python -m utter.progress, in front of the job runner): jobs
# done/total, utterances or training steps, rate, ETA and loss, read from the job logs; redrawn in
# place on a terminal, a line a minute otherwise (UTTER_PROGRESS_INTERVAL=S; UTTER_PROGRESS=off).
if [ -n "${cmd:-}" ]; then cmd="python -m utter.progress --step ${0// /_} -- $cmd"; fi

need_files() {
  local f
  for f in "$@"; do
    [ -f "$f" ] || { echo "$0: no such file $f" >&2; exit 1; }
  done
}

up_to_date() {
  python -m utter.stage --overwrite "$overwrite" --what "$0 $1" --inputs "$2" "${@:3}"
}

need_utts() {
  [ "$1" -gt 0 ] || { echo "$0: no utterances in $2 (an empty data dir?)" >&2; exit 1; }
}

jobs_for() {  # jobs_for DATA NJ: NJ lowered to the speakers of DATA (split_data.sh splits by speaker), said
  local nspk
  nspk=$(cut -d' ' -f2 "$1/utt2spk" | sort -u | wc -l | tr -d ' ')
  if [ "$2" -gt "$nspk" ] && [ "$nspk" -gt 0 ]; then
    echo "$0: $1 has $nspk speaker(s): $nspk job(s) instead of --nj $2 (the split keeps a speaker in one job)" >&2
    echo "$nspk"
  else
    echo "$2"
  fi
}

need_inputs() {
  need_files "$@"
  inputs="$*"
}

job_failed() { echo "$0: $1 failed; see $2" >&2; exit 1; }

fold_exp_dir() {
  if [ $# -ne 3 ]; then usage; fi
  model=$1
  data=$2
  dir=$3
  [ -e "$model" ] || { echo "$0: no such model $model" >&2; exit 1; }
  [ -d "$data/folds" ] || { echo "$0: no folds in $data (expected $data/folds/<k>/{train,dev,test})" >&2; exit 1; }
  if [ -n "$train_config" ] && [ ! -f "$train_config" ]; then
    echo "$0: no such config $train_config" >&2; exit 1
  fi
  if [ -f "$dir/results.json" ]; then
    if [ "$overwrite" = true ]; then
      rm -rf "${dir:?}"/fold* "$dir/results.json"
    elif up_to_date "$dir" "" "$dir/results.json"; then   # says 'skipping' (whole) or 'redoing: ... damaged'
      exit 0
    else   # half written: never counts as done; the folds already trained are kept
      rm -f "$dir/results.json"
    fi
  fi
  mkdir -p "$dir/log"
}

step_config() {
  conf_opt=()
  if [ -n "$train_config" ]; then
    grep "${@:2}" "$train_config" > "$dir/$1" || true
    conf_opt=(--config "$dir/$1")
  fi
}
