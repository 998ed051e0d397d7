#!/usr/bin/env bash
# Peer comparison (issue 24 point 0): WeSpeaker's own DINO training on the real-voice dev corpus at
# egs/custom dino_small's budget (300 steps of 32), two seeds, scored as ours (cosine raw and with the
# dev half's mean embedding subtracted; EER, minDCF(0.01); offset statistics). Not run in CI.
#
#   bench/realvoice/peer_wespeaker.sh CORPUS WESPEAKER_DIR OUT [SEEDS]
#
# CORPUS: bench/realvoice/make_corpus.sh's output (CORPUS/dev/trials.txt). WESPEAKER_DIR: a checkout
# of wenet-e2e/wespeaker outside this project (nothing of it is copied here). OUT: the work folder.
# SEEDS: default "0 1". Per seed: OUT/seed<N>/ (WeSpeaker's exp dir: train.log, models/,
# embeddings/dev/xvector.scp) and OUT/peer_seed<N>.json with the figures (also copied to
# $PEER_JSON_DIR/peer_seed<N>.json when that is set).
#
# The peer venv ($PEER_VENV, default OUT/venv) is made on first use: python3 -m venv, a .pth file
# that appends tools/venv's site-packages (torch, torchaudio, numpy, scipy, kaldiio, soundfile come
# from there), and pip install of what WeSpeaker's DINO path needs beyond them: pyyaml fire lmdb
# tableprint torchnet (with six and visdom, which torchnet imports) and torchcodec (torchaudio.load).
# Heavy optional packages that `import wespeaker` pulls in (silero_vad, s3prl, whisper, ...) are
# stubbed by peer_wespeaker.py instead; see its docstring for that and the CPU patches.
set -euo pipefail

if [ $# -lt 3 ]; then
  sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
  exit 1
fi
corpus=$(realpath "$1"); ws=$(realpath "$2"); mkdir -p "$3"; out=$(realpath "$3"); seeds=${4:-"0 1"}
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/bench/realvoice
venv=${PEER_VENV:-$out/venv}
[ -f "$corpus/dev/trials.txt" ] || { echo "$0: $corpus/dev/trials.txt: no such file (make_corpus.sh not done?)" >&2; exit 1; }
[ -f "$ws/wespeaker/ssl/bin/train_dino.py" ] || { echo "$0: $ws: not a wespeaker checkout" >&2; exit 1; }

# one torch thread per process (the trainer and its one data worker): on this shared 2-core machine a
# DINO step of the trainer took 0.9 s of CPU with 1 thread against 3 s with 2 (OpenMP waits)
export OMP_NUM_THREADS=${PEER_THREADS:-1}
tpy=$root/tools/venv/bin/python
export PYTHONPATH=$root/pylib${PYTHONPATH:+:$PYTHONPATH}
say() { echo "$(date +%T) peer_wespeaker: $*"; }

if [ ! -x "$venv/bin/python" ]; then
  say "making the peer venv $venv"
  base=$(sed -n 's/^home = //p' "$root/tools/venv/pyvenv.cfg")/python3
  "$base" -m venv "$venv"
  site=$(realpath "$root"/tools/venv/lib/python3*/site-packages)
  echo "$site" > "$(echo "$venv"/lib/python3*/site-packages)/zz_utter_venv.pth"
  "$venv/bin/pip" install -q pyyaml fire lmdb tableprint six visdom
  "$venv/bin/pip" install -q --no-deps torchnet torchcodec
fi
wpy=$venv/bin/python

if [ ! -f "$out/data/rir.scp" ]; then
  say "prepare: lists, coloured-noise clips"
  "$tpy" "$here/peer_wespeaker.py" prepare "$corpus" "$out"
fi
for db in noise rir; do
  if [ ! -f "$out/data/${db}_lmdb/data.mdb" ]; then
    "$wpy" "$ws/tools/make_lmdb.py" "$out/data/$db.scp" "$out/data/${db}_lmdb" >/dev/null 2>&1
  fi
done

for seed in $seeds; do
  exp=$out/seed$seed
  if [ ! -f "$exp/models/model_30.pt" ]; then
    rm -rf "$exp"
    say "seed $seed: training (log: $exp/train.log)"
    "$wpy" "$here/peer_wespeaker.py" train "$ws" "$out" "$seed" > "$out/train_seed$seed.out" 2>&1 \
      || { tail -30 "$out/train_seed$seed.out"; exit 1; }
    tail -1 "$out/train_seed$seed.out"
  fi
  if [ ! -f "$exp/embeddings/dev/xvector.scp" ]; then
    # WeSpeaker's own averaging (the teacher's weights), here of the last checkpoint only (num_avg 1);
    # its torch.load predates torch's weights_only default, which refuses its checkpoints (optimizer
    # state): torch's own switch turns that default off for this one program
    rm -f "$exp/models/avg_model.pt"
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 "$wpy" "$ws/wespeaker/ssl/bin/average_dino_model.py" --dst_model "$exp/models/avg_model.pt" \
      --src_path "$exp/models" --num 1 > "$out/average_seed$seed.out" 2>&1
    say "seed $seed: extracting the dev files' embeddings (whole utterances)"
    "$wpy" "$here/peer_wespeaker.py" extract "$ws" "$out" "$seed" > "$out/extract_seed$seed.out" 2>&1 \
      || { tail -30 "$out/extract_seed$seed.out"; exit 1; }
    tail -1 "$out/extract_seed$seed.out"
  fi
  "$tpy" "$here/peer_wespeaker.py" score "$corpus" "$out" "$seed" --json "$out/peer_seed$seed.json" > /dev/null
  if [ -n "${PEER_JSON_DIR:-}" ]; then mkdir -p "$PEER_JSON_DIR"; cp "$out/peer_seed$seed.json" "$PEER_JSON_DIR/"; fi
  "$tpy" - "$out/peer_seed$seed.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"seed {r['seed']}: EER {r['raw']['eer_percent']:.2f}% minDCF {r['raw']['min_dcf_0.01']:.3f} (cosine); "
      f"{r['mean_subtracted']['eer_percent']:.2f}% {r['mean_subtracted']['min_dcf_0.01']:.3f} (mean subtracted); "
      f"offset {r['offset_ratio']:.3f}, mean pairwise cosine {r['mean_pairwise_cosine']:.3f}; "
      f"training {r.get('train_s', float('nan')):.0f} s ({r.get('steps_per_s', float('nan')):.3f} steps/s), "
      f"extraction {r.get('extract_s', float('nan')):.0f} s")
EOF
done
