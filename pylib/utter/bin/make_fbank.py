"""Kaldi fbank for one (split) data dir: compressed ark + scp, raw log-energy, utt2num_frames, utt2dur.

The raw log-energy of every frame (Kaldi's C0 with raw energy, from the same dithered frames
as the fbank) is written beside the features as a small float-vector ark (``--log-energy-ark``,
about 5% of the compressed features), and steps/compute_vad.sh reads it. This keeps VAD a
separate stage on an existing feature dir, as in Kaldi, without decoding the audio twice;
when a data dir has no log_energy.scp, compute_vad recomputes it from the audio, and the
per-utterance dither seed makes those frames identical.

Called by steps/make_fbank.sh, one job per split:
  python -m utter.bin.make_fbank --config conf/fbank.conf --log-energy-ark E.ark \\
      --utt2num-frames N --utt2dur D data/train/split4/1 fbank/raw_fbank_train.1.ark
"""
from __future__ import annotations

from utter.bin.common import add_kaldi_options, kaldi_options_from_args, main_entry, make_parser, str2bool
from utter.data.options import FbankOptions


def build_parser():
    p = make_parser(__doc__.splitlines()[0])
    add_kaldi_options(p, FbankOptions)
    p.add_argument("--compress", type=str2bool, default=True, metavar="true|false",
                   help="write compressed matrices (Kaldi's copy-feats --compress)")
    p.add_argument("--compression-method", type=int, default=1,
                   help="Kaldi CompressionMethod: 1 automatic (= 2, speech-feature, for more than 8 frames)")
    p.add_argument("--allow-resample", type=str2bool, default=False, metavar="true|false",
                   help="resample audio whose rate differs from --sample-frequency instead of failing")
    p.add_argument("--channel", type=int, default=0, help="channel of multi-channel audio to use")
    p.add_argument("--log-energy-ark", default="", help="also write the raw log-energy here (and its .scp)")
    p.add_argument("--utt2num-frames", default="", help="also write utt2num_frames here")
    p.add_argument("--utt2dur", default="", help="also write utt2dur here")
    p.add_argument("data_dir", help="data dir with wav.scp (and segments)")
    p.add_argument("feats_ark", help="output ark; the scp goes beside it with suffix .scp")
    return p


def main(args) -> None:
    from utter.data.features import make_fbank_job

    make_fbank_job(args.data_dir, args.feats_ark, kaldi_options_from_args(FbankOptions, args),
                   compression_method=args.compression_method if args.compress else None,
                   log_energy_ark=args.log_energy_ark or None, utt2num_frames=args.utt2num_frames or None,
                   utt2dur=args.utt2dur or None, allow_resample=args.allow_resample, channel=args.channel)


if __name__ == "__main__":
    main_entry(main, build_parser)
