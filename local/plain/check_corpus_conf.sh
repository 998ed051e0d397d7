#!/usr/bin/env bash
# The paths of egs/custom's conf/corpus.conf, checked before any data dir is made: each error names
# the conf variable, its value and what is wrong (run from the recipe directory).
#   local/plain/check_corpus_conf.sh --train-audio=DIR [--train-audio=DIR ...] --eval-audio=DIR \
#     --eval-trials=FILE [--dev-trials=FILE] [--backend-audio=DIR ...] [--musan-root=DIR] [--rirs-root=DIR] \
#     [--train-segments=FILE] [--eval-segments=FILE] [--backend-segments=FILE]
# An option given empty is as if not given (a conf variable left empty). Required: train_audio (one
# folder or more), eval_audio and eval_trials; the others are checked when set.
set -euo pipefail
conf="$PWD/conf/corpus.conf"
train_audio=(); backend_audio=(); declare -A one=()
for arg in "$@"; do
  case $arg in
    --train-audio=*) [ -n "${arg#*=}" ] && train_audio+=("${arg#*=}") ;;
    --backend-audio=*) [ -n "${arg#*=}" ] && backend_audio+=("${arg#*=}") ;;
    --eval-audio=*|--eval-trials=*|--dev-trials=*|--musan-root=*|--rirs-root=*|--*-segments=*)
      name=${arg%%=*}; name=${name#--}; one[${name//-/_}]=${arg#*=} ;;
    *) echo "$0: unknown argument '$arg' (usage: see the head of $0)" >&2; exit 1 ;;
  esac
done
fail() { echo "$0: $*" >&2; exit 1; }
if [ ${#train_audio[@]} -eq 0 ]; then
  fail "train_audio is not set in $conf: set it to your folder(s) of training audio" \
       "(or run with --mini true for a simulated corpus)"
fi
for d in "${train_audio[@]}"; do [ -d "$d" ] || fail "train_audio: $d (conf/corpus.conf): no such directory"; done
if [ -z "${one[eval_audio]:-}" ]; then
  fail "eval_audio is not set in $conf: set it to your folder of evaluation audio" \
       "(or run with --mini true for a simulated corpus)"
fi
[ -d "${one[eval_audio]}" ] || fail "eval_audio=${one[eval_audio]} (conf/corpus.conf): no such directory"
[ -f "${one[eval_trials]:-}" ] || fail "eval_trials=${one[eval_trials]:-} (conf/corpus.conf): no such trial list"
for d in ${backend_audio[@]+"${backend_audio[@]}"}; do
  [ -d "$d" ] || fail "backend_audio: $d (conf/corpus.conf): no such directory"
done
for var in musan_root rirs_root; do
  if [ -n "${one[$var]:-}" ] && [ ! -d "${one[$var]}" ]; then fail "$var=${one[$var]} (conf/corpus.conf): no such directory"; fi
done
for var in dev_trials train_segments eval_segments backend_segments; do
  what="no such file"; [ "$var" = dev_trials ] && what="no such trial list"
  if [ -n "${one[$var]:-}" ] && [ ! -f "${one[$var]}" ]; then fail "$var=${one[$var]} (conf/corpus.conf): $what"; fi
done
exit 0
