"""Utterance embeddings of one (split) data dir from a trained model, to a float32 vector ark + scp.

Features as in training: sliding CMN over the whole utterance, then VAD. Whole utterances
are batched by length (padding goes to the network through lengths); with --chunk-len, an
utterance's voiced frames are cut into consecutive non-overlapping chunks of that many
frames (a last remainder of at least --min-chunk-len frames is a chunk of its own, a shorter
one is merged into the previous chunk) and its embedding is the mean of the chunk embeddings.
An utterance with fewer than --min-voiced-frames voiced frames is embedded whole without
VAD (counted and named in the log). The model is a checkpoint (final.pt); DINO models give
the teacher network before the head.

Called by steps/extract_embeddings.sh, one job per split:
  python -m utter.bin.extract_embeddings exp/dino/final.pt data/test/split4/1 exp/dino/emb/test/xvector.1.ark
"""
from __future__ import annotations

from utter.bin.common import main_entry, make_parser, str2bool
from utter.train.extract import ExtractOptions, extract_embeddings

_DEFAULTS = ExtractOptions()


def build_parser():
    p = make_parser(__doc__.splitlines()[0], device=True)
    p.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size, help="utterances (or chunks) per batch")
    p.add_argument("--max-frames", type=int, default=_DEFAULTS.max_frames,
                   help="padded frames per batch (0: no cap); a longer utterance or chunk gets a batch of its own")
    p.add_argument("--chunk-len", type=int, default=0,
                   help="frames per chunk; 0 embeds whole utterances")
    p.add_argument("--min-chunk-len", type=int, default=0,
                   help="shortest last chunk kept on its own, else merged into the previous one (0: chunk-len/2)")
    p.add_argument("--use-vad", type=str2bool, default=_DEFAULTS.use_vad, metavar="true|false",
                   help="keep only voiced frames (vad.scp)")
    p.add_argument("--min-voiced-frames", type=int, default=_DEFAULTS.min_voiced_frames,
                   help="an utterance with fewer voiced frames is embedded whole, without VAD")
    p.add_argument("--cmn", type=str2bool, default=_DEFAULTS.cmn, metavar="true|false",
                   help="sliding-window mean normalisation")
    p.add_argument("--cmn-window", type=int, default=_DEFAULTS.cmn_window, help="CMN window in frames (centred)")
    p.add_argument("--num-workers", type=int, default=_DEFAULTS.num_workers,
                   help="feature-reading worker processes (0: read in this process)")
    p.add_argument("model", help="checkpoint (final.pt)")
    p.add_argument("data_dir", help="data dir with feats.scp (and vad.scp with --use-vad true)")
    p.add_argument("xvector_ark", help="output ark; the scp goes beside it with suffix .scp")
    return p


def main(args) -> None:
    opts = ExtractOptions(batch_size=args.batch_size, max_frames=args.max_frames or None,
                          chunk_len=args.chunk_len or None, min_chunk_len=args.min_chunk_len or None,
                          use_vad=args.use_vad, cmn=args.cmn, cmn_window=args.cmn_window,
                          min_voiced_frames=args.min_voiced_frames, num_workers=args.num_workers)
    extract_embeddings(args.model, args.data_dir, args.xvector_ark, opts, device=args.device)


if __name__ == "__main__":
    main_entry(main, build_parser)
