#!/usr/bin/env bash
# A real-voice dev corpus for choosing the toolkit's defaults (issue 24, point 6): the Debian festival
# voices and flite's CMU ARCTIC voices (recorded from real speakers) read varied texts, every utterance
# then goes through six telephone/wideband codecs and is decoded back to 16-bit WAV. Not run in CI:
# it installs Debian packages (root). Deterministic: fixed seeds, fixed speaker split.
#
# usage: bench/realvoice/make_corpus.sh [options] OUT_DIR
#  e.g.: bench/realvoice/make_corpus.sh bench/out/realvoice
# options:
#   --nj N             parallel jobs (default 2)
#   --num-texts N      texts each voice reads (default 60)
#   --seed S           texts, speaking rates and trials (default 24)
# writes:
#   OUT_DIR/{dev,eval}/<speaker>/<codec>/<voice>-t<NNNN>.wav   (egs/custom: eval_speaker=dir:1)
#     codecs: wb16 (16 kHz PCM), pcm8 (8 kHz PCM), gsm, alaw, ulaw (8 kHz, G.711), g722 (16 kHz)
#   OUT_DIR/{dev,eval}/trials.txt   "enroll test target|nontarget", paths below the half; both kinds
#     always pair two different codecs and two different texts
#   OUT_DIR/plan/   texts, the voice table (voices.txt: voice engine speaker half), festival scripts
# The dev and eval halves hold different speakers (bench/realvoice/corpus.py, VOICES); choose defaults
# on dev only, report on eval.
set -euo pipefail
nj=2
num_texts=60
seed=24
while [ $# -gt 0 ]; do
  case $1 in
    --nj) nj=$2; shift 2 ;;
    --num-texts) num_texts=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d'; exit 0 ;;
    -*) echo "$0: unknown option $1" >&2; exit 1 ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: $0 [--nj N] [--num-texts N] [--seed S] OUT_DIR" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
start=$(date +%s)

# ---------------------------------------------------------------- packages
# The 8 kHz kal/ked packages conflict with the 16 kHz ones (same speakers) and are left out; the
# Asterisk prompt packages and fillets-ng are not used (a held-out evaluation uses them).
pkgs="festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts festvox-ca-ona-hts festvox-czech-dita
  festvox-czech-krb festvox-czech-machac festvox-czech-ph festvox-suopuhe-lj festvox-suopuhe-mv festvox-hi-nsk
  festvox-mr-nsk festvox-te-nsk festvox-italp16k festvox-itapc16k festvox-ru flite sox libsox-fmt-all ffmpeg"
missing=$(for p in $pkgs; do dpkg -s "$p" > /dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
  echo "$0: installing $(echo $missing)"
  apt-get update
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
fi

# ---------------------------------------------------------------- texts and synthesis
echo "$0: plan: $num_texts texts per voice (seed $seed) in $out/plan"
python3 "$here/corpus.py" plan --num-texts "$num_texts" --seed "$seed" "$out"
synth() {  # synth VOICE ENGINE: the voice's raw utterances, unless all are there
  local voice=$1 engine=$2 want have
  want=$(wc -l < "$out/plan/$voice.tsv")
  have=$(find "$out/raw/$voice" -name '*.wav' -size +0 | wc -l)
  [ "$have" -eq "$want" ] && return 0
  if [ "$engine" = festival ]; then
    festival --batch "$out/plan/$voice.scm" > "$out/raw/$voice.log" 2>&1 \
      || { echo "$0: festival failed on $voice (see $out/raw/$voice.log)" >&2; return 1; }
  else
    grep -- "-voice $voice " "$out/plan/flite_jobs.txt" | bash > "$out/raw/$voice.log" 2>&1 \
      || { echo "$0: flite failed on $voice (see $out/raw/$voice.log)" >&2; return 1; }
  fi
}
export -f synth
export out
echo "$0: synthesis ($(wc -l < "$out/plan/voices.txt") voices, $nj jobs)"
awk '{ print $1, $2 }' "$out/plan/voices.txt" | xargs -P "$nj" -n 2 bash -c 'synth "$0" "$1"'

# ---------------------------------------------------------------- codecs
encode() {  # encode RAW DIR: RAW (any rate) peak-normalised to -3 dBFS, in six codecs under DIR/<codec>/
  local raw=$1 dir=$2 name t
  name=$(basename "$raw")
  [ -s "$raw" ] || { echo "$raw" >> "$out/raw/failed.txt"; return 0; }   # a text the voice could not read
  [ -s "$dir/g722/$name" ] && return 0
  t=$(mktemp -d)
  mkdir -p "$dir"/{wb16,pcm8,gsm,alaw,ulaw,g722}
  sox -G "$raw" -b 16 -c 1 -r 16000 "$dir/wb16/$name" gain -n -3
  sox "$dir/wb16/$name" -r 8000 "$dir/pcm8/$name"
  sox "$dir/wb16/$name" -r 8000 "$t/x.gsm" && sox "$t/x.gsm" -b 16 -e signed-integer "$dir/gsm/$name"
  sox "$dir/wb16/$name" -r 8000 -e a-law "$t/a.wav" && sox "$t/a.wav" -b 16 -e signed-integer "$dir/alaw/$name"
  sox "$dir/wb16/$name" -r 8000 -e u-law "$t/u.wav" && sox "$t/u.wav" -b 16 -e signed-integer "$dir/ulaw/$name"
  ffmpeg -nostdin -loglevel error -y -i "$dir/wb16/$name" -c:a g722 -f g722 "$t/x.g722"
  ffmpeg -nostdin -loglevel error -y -f g722 -i "$t/x.g722" -c:a pcm_s16le -ar 16000 "$dir/g722/$name.tmp.wav"
  mv "$dir/g722/$name.tmp.wav" "$dir/g722/$name"   # last: its presence marks the utterance done
  rm -rf "$t"
}
export -f encode
n_raw=$(cat "$out"/plan/*.tsv | wc -l)
rm -f "$out/raw/failed.txt"
echo "$0: encoding $n_raw utterances in 6 codecs ($nj jobs)"
# shellcheck disable=SC2016
awk -v out="$out" -F'\t' 'FNR == 1 { voice = FILENAME; sub(/.*\//, "", voice); sub(/\.tsv$/, "", voice) }
  { print out "/raw/" voice "/" $1 ".wav", out "/" $3 "/" $2 }' "$out"/plan/*.tsv \
  | xargs -P "$nj" -n 2 bash -c 'encode "$0" "$1"'

if [ -s "$out/raw/failed.txt" ]; then
  echo "$0: $(wc -l < "$out/raw/failed.txt") of $n_raw texts could not be read by their voice (festival's" \
       "letter-to-sound rules; $out/raw/failed.txt): left out"
fi

# ---------------------------------------------------------------- trials and counts
python3 "$here/corpus.py" trials --seed "$seed" "$out"
python3 "$here/corpus.py" stats "$out"
echo "$0: done in $(( $(date +%s) - start )) s: $out/{dev,eval} and their trials.txt"
