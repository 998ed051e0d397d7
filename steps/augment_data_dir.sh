#!/usr/bin/env bash
# Kaldi-v2-style augmented copies of a data dir: reverberation (RIRs), MUSAN noise, music, babble;
# and, beyond Kaldi, stationary coloured noise (type colour, no files needed).
#
# usage: steps/augment_data_dir.sh [options] <src-data> <musan-data-prefix> <rirs-data> <out-data>
#  e.g.: steps/augment_data_dir.sh --nj 8 data/train data/musan data/rirs_small,data/rirs_medium data/train_aug
# <musan-data-prefix>: the data dirs <prefix>_noise, <prefix>_music, <prefix>_speech
#   (local/musan/prepare_data.sh); <rirs-data>: RIR data dirs, comma-separated (e.g.
#   data/rirs_small,data/rirs_medium from local/rirs/prepare_data.sh), each set equally likely.
#   Both are only read for the types asked for (give "" when none of them is).
# <out-data> holds only the copies, ids <utt>-<type> (<utt>-reverb, <utt>-noise, ...),
# with utt2orig (copy -> source), and the source's utt2spk, labels, utt2dur and vad.scp
# (the clean VAD, as Kaldi does). Combine with the clean dir by utils/combine_data.sh.
# Copies are written as 16-bit wav files (<out-data>/wav/<type>/, wav.scp) or, with
# --write-feats true, directly as compressed fbank features (feats.scp, utt2num_frames).
# Copy <utt>-<name> is rendered from a seed derived from (--seed, utt, name): the same seed
# gives the same bytes whatever --nj. Skips when the outputs are complete unless --overwrite true.
# options:
#   --nj N                   number of jobs (default 4)
#   --cmd CMD                job runner (default run.py)
#   --types LIST             comma-separated subset of reverb,noise,music,babble,colour
#                            (default reverb,noise,music,babble: Kaldi v2's four)
#                            a type listed n times gives n copies: <utt>-colour, <utt>-colour2 ...
#   --seed S                 augmentation seed (default 0)
#   --colour-snr LO,HI       colour: SNR range in dB, uniform (default 0,20)
#   --colour-beta LO,HI      colour: spectral exponent range, power ~ f^beta (default -1.5,0.3)
#   --write-feats true|false write fbank features instead of wav files (default false)
#   --fbank-config FILE      fbank options for --write-feats (default conf/fbank.conf; built-in if absent)
#   --overwrite true|false   redo even when the outputs are complete (default false)
set -euo pipefail

nj=4
cmd=run.py
types=reverb,noise,music,babble
seed=0
colour_snr=
colour_beta=
write_feats=false
fbank_config=conf/fbank.conf
overwrite=false

. "$(dirname "$0")/../utils/step_lib.sh"   # --help, the options, utils/ on PATH
if [ $# -ne 4 ]; then usage; fi
src=$1
musan=$2
rirs=$3
out=$4
name=$(basename "$out")

for f in utt2spk wav.scp; do
  [ -f "$src/$f" ] || { echo "$0: no such file $src/$f" >&2; exit 1; }
done
out_table=wav.scp; $write_feats && out_table=feats.scp
num_types=$(echo "$types" | tr ',' '\n' | grep -c .)
expected=$(( $(wc -l < "$src/utt2spk") * num_types ))
# complete: every copy in utt2orig, newer than the source and the noise dirs, made with these options
made_of="types=$types seed=$seed colour_snr=$colour_snr colour_beta=$colour_beta write_feats=$write_feats"
noise_inputs="$src/utt2spk"
for d in "${musan}_noise" "${musan}_music" "${musan}_speech" ${rirs//,/ }; do
  [ -f "$d/wav.scp" ] && noise_inputs+=" $d/wav.scp"
done
if [ "$overwrite" != true ] && [ -s "$out/utt2orig" ] && [ "$(wc -l < "$out/utt2orig")" -eq "$expected" ] \
    && python -m utter.stage --quiet --what "$0" --inputs "$noise_inputs" --made-from "$made_of" \
         "$out/$out_table" "$out/utt2orig"; then
  echo "$0: $out is complete; skipping (--overwrite true to redo)"
  exit 0
fi
rm -f "$out/utt2orig"

opts=(--types "$types" --seed "$seed")
[ -n "$colour_snr" ] && opts+=(--colour-snr "$colour_snr")
[ -n "$colour_beta" ] && opts+=(--colour-beta "$colour_beta")
mkdir -p "$out/log"
outabs=$(cd "$out" && pwd)
if $write_feats; then
  opts+=(--feats-ark "$outabs/data/feats_$name.JOB.ark")
  mkdir -p "$out/data"
  if [ -f "$fbank_config" ]; then
    opts+=(--fbank-config "$fbank_config")
  elif [ "$fbank_config" != conf/fbank.conf ]; then
    echo "$0: no such fbank config $fbank_config" >&2; exit 1
  fi
else
  opts+=(--wav-dir "$outabs/wav")
fi

num_utts=$(wc -l < "$src/utt2spk")
need_utts "$num_utts" "$src/utt2spk"
nj=$(jobs_for "$src" "$nj")
split_data.sh "$src" "$nj"
rm -rf "$out/jobs"
if ! $cmd JOB=1:"$nj" "$out/log/augment.JOB.log" \
    python -m utter.bin.augment_data_dir "${opts[@]}" --num-threads 1 \
    "$src/split$nj/JOB" "$musan" "$rirs" "$out/jobs/JOB"; then
  echo "$0: augmentation failed for $src; see the logs named above ($out/log/augment.*.log)" >&2
  exit 1
fi

# utt2orig last: its presence with the full count marks the dir complete
for f in $(ls "$out/jobs/1" | grep -vx utt2orig) utt2orig; do
  for j in $(seq "$nj"); do cat "$out/jobs/$j/$f"; done | LC_ALL=C sort > "$out/$f.tmp"
  mv "$out/$f.tmp" "$out/$f"
  if [ "$f" = utt2spk ]; then
    utt2spk_to_spk2utt.py "$out/utt2spk" > "$out/spk2utt.tmp" && mv "$out/spk2utt.tmp" "$out/spk2utt"
  fi
done
rm -rf "$out/jobs"
num=$(wc -l < "$out/utt2orig")
if [ "$num" -ne "$expected" ]; then
  rm -f "$out/utt2orig"
  echo "$0: $num copies for $expected expected in $out" >&2; exit 1
fi
python -m utter.stage --record "$made_of" "$out/$out_table"
echo "$0: wrote $num augmented copies ($types) of $src to $out ($out_table, utt2orig)"
