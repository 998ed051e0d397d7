#!/usr/bin/env bash
# Train the LDA + PLDA back-end on a training set's embeddings and speaker labels.
#
# usage: steps/train_plda.sh [options] <train-emb-dir> <train-data-dir> <plda-dir>
#  e.g.: steps/train_plda.sh --lda-dim 200 exp/xvector/emb/train data/train exp/xvector/plda
# Reads <train-emb-dir>/xvector.scp and <train-data-dir>/utt2spk (the utterances trained on);
# writes <plda-dir>/plda.npz (centring, LDA, whitening, length-norm and the PLDA in one file).
# options:
#   --cmd CMD              job runner (default run.py)
#   --lda-dim N            LDA dimension, 0 for none (default 200; clamped to speakers - 1)
#   --whiten BOOL          whiten after LDA (default true)
#   --length-norm BOOL     length-normalise (default true)
#   --plda-type TYPE       two-cov or simplified (default two-cov)
#   --rank N               speaker subspace rank of simplified PLDA (default 100)
#   --num-iters N          EM iterations (default 10)
#   --overwrite BOOL       retrain even when plda.npz is complete (default false)
#   --skip-unsupported BOOL  a training set that cannot support the model (too few speakers or
#                          utterances) writes <plda-dir>/skipped ("PLDA skipped: REASON") and succeeds
#                          without plda.npz, rather than fail (default false)
set -euo pipefail

cmd=run.py
lda_dim=200
whiten=true
length_norm=true
plda_type=two-cov
rank=100
num_iters=10
overwrite=false
skip_unsupported=false

. "$(dirname "$0")/../utils/step_lib.sh"   # --help, the options, utils/ on PATH
if [ $# -ne 3 ]; then usage; fi
emb_dir=$1; data=$2; dir=$3

need_files "$emb_dir/xvector.scp" "$data/utt2spk"
if up_to_date "$dir" "$emb_dir/xvector.scp $data/utt2spk" "$dir/plda.npz"; then exit 0; fi
mkdir -p "$dir/log"
rm -f "$dir/skipped"
skip_opt=()
[ "$skip_unsupported" = true ] && skip_opt=(--skipped "$dir/skipped")
if ! $cmd "$dir/log/train_plda.log" \
    python -m utter.bin.train_plda --lda-dim "$lda_dim" --whiten "$whiten" --length-norm "$length_norm" \
      --plda-type "$plda_type" --rank "$rank" --num-iters "$num_iters" "${skip_opt[@]}" \
      "$emb_dir/xvector.scp" "$data/utt2spk" "$dir/plda.npz"; then
  echo "$0: PLDA training failed; see $dir/log/train_plda.log" >&2; exit 1
fi
if [ -s "$dir/skipped" ]; then echo "$0: $(cat "$dir/skipped") ($dir/skipped)"; exit 0; fi
echo "$0: wrote $dir/plda.npz"
