"""Augmented copies (Kaldi v2: reverb, noise, music, babble; and coloured noise) of one (split) data dir.

Called by steps/augment_data_dir.sh, one job per split:
  python -m utter.bin.augment_data_dir --types reverb,noise,music,babble --seed 0 \\
      --wav-dir data/train_aug/wav data/train/split4/1 data/musan data/rirs data/train_aug/jobs/1
With --feats-ark the copies are written as fbank features instead of audio.
"""
from __future__ import annotations

from utter.bin.common import main_entry, make_parser
from utter.data.chunks import ALL_AUG_TYPES, AUG_TYPES
from utter.data.options import AugmentConfig, FbankOptions


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.replace(":", ",").split(",") if v)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.replace(":", ",").split(",") if v)


def build_parser():
    p = make_parser(__doc__.splitlines()[0])
    d = AugmentConfig()
    p.add_argument("--types", default=",".join(AUG_TYPES),
                   help=f"comma-separated augmentation types among {','.join(ALL_AUG_TYPES)}")
    p.add_argument("--seed", type=int, default=0, help="copy <utt>-<name> uses a seed derived from (seed, utt, name)")
    p.add_argument("--noise-snrs", type=_floats, default=d.noise_snrs, help="foreground noise SNR choices (dB)")
    p.add_argument("--noise-interval", type=float, default=d.noise_interval, help="gap between noises (s)")
    p.add_argument("--music-snrs", type=_floats, default=d.music_snrs, help="music SNR choices (dB)")
    p.add_argument("--babble-snrs", type=_floats, default=d.babble_snrs, help="babble SNR choices (dB)")
    p.add_argument("--babble-num", type=_ints, default=d.babble_num, help="babble speaker-count choices")
    p.add_argument("--colour-snr", type=_floats, default=d.colour_snr,
                   help="colour: SNR range low,high (dB), drawn uniformly")
    p.add_argument("--colour-beta", type=_floats, default=d.colour_beta,
                   help="colour: range low,high of the spectral exponent (power ~ f^beta), drawn uniformly")
    p.add_argument("--wav-dir", default="", help="write the copies as 16-bit wav files under this dir")
    p.add_argument("--feats-ark", default="", help="write the copies as fbank features to this ark instead")
    p.add_argument("--fbank-config", default="", help="fbank options for --feats-ark (default: built-in)")
    p.add_argument("--compress", type=int, default=1,
                   help="Kaldi compression method for --feats-ark (0: float, 1: automatic)")
    p.add_argument("src_data")
    p.add_argument("musan_prefix", help="MUSAN data dirs are <prefix>_noise, <prefix>_music, <prefix>_speech")
    p.add_argument("rirs_data", help="RIR data dir(s), comma-separated, each set equally likely")
    p.add_argument("out_data")
    return p


def main(args) -> None:
    from utter.data.augment import Augmenter, augment_data_dir_job

    types = [t for t in args.types.split(",") if t]
    config = AugmentConfig(noise_snrs=args.noise_snrs, noise_interval=args.noise_interval,
                           music_snrs=args.music_snrs, babble_snrs=args.babble_snrs, babble_num=args.babble_num,
                           colour_snr=args.colour_snr, colour_beta=args.colour_beta)
    augmenter = Augmenter.from_dirs(args.musan_prefix, args.rirs_data, types, config)
    fbank = FbankOptions.from_conf(args.fbank_config) if args.fbank_config else None
    augment_data_dir_job(args.src_data, args.out_data, augmenter, types=types, seed=args.seed,
                         wav_dir=args.wav_dir or None, feats_ark=args.feats_ark or None, fbank_opts=fbank,
                         compression_method=args.compress or None)


if __name__ == "__main__":
    main_entry(main, build_parser)
