"""Kaldi compute-vad (energy VAD) for one (split) data dir, to a 0/1 float-vector ark + scp.

The per-frame log-energy comes from ``--log-energy-scp`` (written by make_fbank); without
one, it is recomputed from the audio with ``--fbank-config`` (same seeded dither, same frames).

Called by steps/compute_vad.sh, one job per split:
  python -m utter.bin.compute_vad --config conf/vad.conf --log-energy-scp data/train/log_energy.scp \\
      data/train/split4/1 vad/vad_train.1.ark
"""
from __future__ import annotations

from utter.bin.common import add_kaldi_options, kaldi_options_from_args, main_entry, make_parser, str2bool
from utter.data.options import FbankOptions, VadOptions


def build_parser():
    p = make_parser(__doc__.splitlines()[0])
    add_kaldi_options(p, VadOptions)
    p.add_argument("--log-energy-scp", default="", help="per-frame raw log-energy (from make_fbank)")
    p.add_argument("--fbank-config", default="",
                   help="fbank conf to recompute the log-energy from audio when there is no --log-energy-scp")
    p.add_argument("--allow-resample", type=str2bool, default=False, metavar="true|false",
                   help="when recomputing from audio: resample instead of failing on another rate")
    p.add_argument("--channel", type=int, default=0, help="when recomputing from audio: the channel")
    p.add_argument("data_dir")
    p.add_argument("vad_ark", help="output ark; the scp goes beside it with suffix .scp")
    return p


def main(args) -> None:
    vad_opts = kaldi_options_from_args(VadOptions, args)
    if args.log_energy_scp:  # numpy only: the job starts without importing torch
        from utter.data.vad import compute_vad_job_from_scp

        compute_vad_job_from_scp(args.data_dir, args.vad_ark, vad_opts, args.log_energy_scp)
        return
    from utter.data.features import compute_vad_job

    fbank_opts = FbankOptions.from_conf(args.fbank_config) if args.fbank_config else FbankOptions()
    compute_vad_job(args.data_dir, args.vad_ark, vad_opts, fbank_opts=fbank_opts,
                    allow_resample=args.allow_resample, channel=args.channel)


if __name__ == "__main__":
    main_entry(main, build_parser)
