#!/usr/bin/env bash
# Write synthetic miniature corpora in their real on-disk layouts under OUTDIR:
#   voxceleb1/ voxceleb2/ IEMOCAP_full_release/ ADReSS-IS2020-data/ musan/ RIRS_NOISES/
# Deterministic from --seed; a corpus already built with the same options is skipped.
set -euo pipefail

seed=777
scale=1          # count multiplier, or "small" (tests)
only=voxceleb,iemocap,adress,musan,rirs
format=wav       # VoxCeleb2 audio: wav, or m4a (needs ffmpeg)
nj=2
overwrite=false

. "$(dirname "$0")/../../utils/parse_options.sh"

if [ $# -ne 1 ]; then
  echo "Usage: $0 [--seed S] [--scale K|small] [--only voxceleb,iemocap,adress,musan,rirs] [--format wav|m4a] [--nj N] OUTDIR"
  exit 1
fi

python -m utter.bin.make_mini_corpora --seed "$seed" --scale "$scale" --only "$only" \
  --format "$format" --nj "$nj" --overwrite "$overwrite" "$1"
echo "$0: mini corpora ($only) under $1"
