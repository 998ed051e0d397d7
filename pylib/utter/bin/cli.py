"""The ``utter`` command: use a trained model on audio files, without a data dir.

  utter embed --model exp/dino/final.pt a.wav b.flac            # Kaldi text vectors on stdout
  utter embed --model M --out-ark emb.ark --out-npy emb.npy *.wav
  utter verify --model M [--calibration cal.npz] [--threshold T] enroll.wav test.wav
  utter classify --model exp/iemocap/.../stage2/final.pt x.wav

Audio in any format soundfile reads, at any sample rate (resampled, with a note on stderr);
features as in the recipes (fbank, energy VAD, sliding CMN). Checkpoints do not record the
feature options: the fbank/VAD defaults are the recipe's conf/fbank.conf and conf/vad.conf
(--fbank-config / --vad-config to change them).
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from utter.bin.common import make_parser, run, str2bool

log = logging.getLogger("utter")


def note(msg: str) -> None:
    print(f"utter: note: {msg}", file=sys.stderr)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", action="append", default=[], metavar="FILE", help=argparse.SUPPRESS)
    p.add_argument("--verbose", type=int, default=0, help="0 info, 1 debug (and tracebacks on failure)")
    p.add_argument("--num-threads", type=int, default=1, help="CPU threads")
    p.add_argument("--model", required=True, help="trained model checkpoint (.pt)")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1 ...")
    p.add_argument("--batch-size", type=int, default=16, help="files per forward pass")
    p.add_argument("--fbank-config", default="", help="fbank options file (default: the recipe's conf/fbank.conf)")
    p.add_argument("--vad-config", default="", help="VAD options file (default: the recipe's conf/vad.conf)")
    p.add_argument("--use-vad", type=str2bool, default=True, help="keep voiced frames only")
    p.add_argument("--cmn-window", type=int, default=300, help="sliding CMN window, frames (0: none)")
    p.add_argument("--min-voiced-frames", type=int, default=50, help="fewer voiced frames: use every frame")
    p.add_argument("--min-duration", type=float, default=0.5, help="refuse audio shorter than this (seconds)")


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(__doc__.splitlines()[0], threads=False)
    p.prog = "utter"
    sub = p.add_subparsers(dest="command", required=True, metavar="{embed,verify,classify}")
    fmt = argparse.ArgumentDefaultsHelpFormatter
    e = sub.add_parser("embed", help="embeddings of audio files", formatter_class=fmt)
    _common(e)
    e.add_argument("--out-ark", default="", help="write a Kaldi ark (and .scp beside it), keyed by file name")
    e.add_argument("--out-npy", default="", help="write a [files, dim] float32 matrix in argument order")
    e.add_argument("audio", nargs="+", help="audio files")
    v = sub.add_parser("verify", help="score an enrolment file against a test file", formatter_class=fmt)
    _common(v)
    v.add_argument("--calibration", default="",
                   help="calibration model (train_calibration or train_quality_calibration npz): print the LLR")
    v.add_argument("--cohort", default="", help="cohort embeddings (scp) for a quality-aware calibration")
    v.add_argument("--p-target", type=float, default=0.5,
                   help="target prior of the Bayes decision threshold on the LLR (when --threshold is not given)")
    v.add_argument("--threshold", type=float, default=None,
                   help="decision threshold (on the LLR with --calibration, else on the cosine score)")
    v.add_argument("enroll")
    v.add_argument("test")
    c = sub.add_parser("classify", help="class posteriors of audio files with a fine-tuned classifier",
                       formatter_class=fmt)
    _common(c)
    c.add_argument("--top", type=int, default=1, help="print the N most likely classes")
    c.add_argument("audio", nargs="+", help="audio files")
    return p


def _front_end(args):
    from utter.data.features import FbankOptions, VadOptions
    from utter.train.inference import FrontEnd

    if not args.fbank_config:
        note("feature options: the recipe defaults (16 kHz, 80 log-mel, 25/10 ms; checkpoints do not record "
             "them: --fbank-config to use others)")
    fbank = FbankOptions.from_conf(args.fbank_config) if args.fbank_config else FbankOptions()
    vad = VadOptions.from_conf(args.vad_config) if args.vad_config else VadOptions()
    return FrontEnd(fbank, vad, use_vad=args.use_vad, cmn_window=args.cmn_window,
                    min_voiced_frames=args.min_voiced_frames, min_duration=args.min_duration, note=note)


def _inputs(args, paths: Sequence[str]):
    fe = _front_end(args)
    feats, durs = zip(*(fe.features(p) for p in paths))
    return list(feats), np.array(durs)


def _embedder(args):
    from utter.train.checkpoint import load_embedder

    if not Path(args.model).is_file():
        raise OSError(f"{args.model}: no such model file")
    return load_embedder(args.model, device=args.device)


def _keys(paths: Sequence[str]) -> list[str]:
    keys = [Path(p).stem.replace(" ", "_") for p in paths]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(f"several input files are named {dup[0]}: embedding keys must be unique")
    return keys


def embed(args) -> None:
    from utter.train.inference import batched_forward

    net = _embedder(args)
    feats, _ = _inputs(args, args.audio)
    emb = batched_forward(net, feats, args.device, args.batch_size)
    keys = _keys(args.audio)
    if args.out_ark:
        from utter.train.extract import write_vectors

        write_vectors(dict(zip(keys, emb)), args.out_ark, Path(args.out_ark).with_suffix(".scp"))
        note(f"wrote {len(keys)} embeddings to {args.out_ark} and {Path(args.out_ark).with_suffix('.scp')}")
    if args.out_npy:
        np.save(args.out_npy, emb.astype(np.float32))
        note(f"wrote a {emb.shape[0]} x {emb.shape[1]} matrix to {args.out_npy} (rows in argument order)")
    if not args.out_ark and not args.out_npy:
        for k, v in zip(keys, emb):
            print(f"{k}  [ {' '.join(f'{x:.6g}' for x in v)} ]")


def _calibrated(args, score: float, emb: np.ndarray, durs: np.ndarray) -> float:
    from utter.backend.calibration import LinearCalibration, duration_quality
    from utter.backend.io import load_npz

    kind = load_npz(args.calibration, ("calibration", "quality_calibration"))[0]["kind"]
    s = np.array([score])
    if kind == "quality_calibration":
        from utter.backend.cosine import CosineScorer
        from utter.backend.io import read_embeddings
        from utter.backend.quality import QualityCalibration, trial_quality_vectors

        if not args.cohort:
            raise ValueError(f"{args.calibration} is a quality-aware calibration: give its cohort with --cohort")
        model = QualityCalibration.load(args.calibration)
        q = trial_quality_vectors(["enroll"], ["test"], {"enroll": emb[0], "test": emb[1]},
                                  {"enroll": durs[0], "test": durs[1]}, read_embeddings(args.cohort)[1],
                                  CosineScorer(), model.top_n)
        return float(model(s, q)[0])
    cal = LinearCalibration.load(args.calibration)
    q = duration_quality(durs[:1], durs[1:]) if cal.num_quality == 2 else None
    if cal.num_quality not in (0, 2):
        raise ValueError(f"{args.calibration}: calibration with {cal.num_quality} quality measures is not "
                         "one the command knows (score only, or durations)")
    return float(cal(s, q)[0])


def verify(args) -> None:
    from utter.train.inference import batched_forward

    net = _embedder(args)
    feats, durs = _inputs(args, [args.enroll, args.test])
    emb = batched_forward(net, feats, args.device, args.batch_size).astype(np.float64)
    u = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    score = float(u[0] @ u[1])
    print(f"score {score:.6f}")
    value = score
    threshold = args.threshold
    if args.calibration:
        value = _calibrated(args, score, emb, durs)
        print(f"llr {value:.6f}")
        if threshold is None:
            if not 0 < args.p_target < 1:
                raise ValueError(f"--p-target must be in (0, 1), got {args.p_target}")
            threshold = float(np.log((1 - args.p_target) / args.p_target))
    if threshold is not None:
        print(f"decision {'target' if value >= threshold else 'nontarget'} (threshold {threshold:g})")


def classify(args) -> None:
    from utter.train.inference import batched_forward, load_classifier

    if not Path(args.model).is_file():
        raise OSError(f"{args.model}: no such model file")
    model = load_classifier(args.model, device=args.device)
    feats, _ = _inputs(args, args.audio)
    logp = batched_forward(model, feats, args.device, args.batch_size)
    top = max(1, min(args.top, len(model.labels)))
    for path, row in zip(args.audio, logp):
        best = np.argsort(-row)[:top]
        print(path + " " + " ".join(f"{model.labels[i]} {np.exp(row[i]):.4f}" for i in best))


def _main(args) -> None:
    from utter.bin.common import set_num_threads

    set_num_threads(args.num_threads)
    {"embed": embed, "verify": verify, "classify": classify}[args.command](args)


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point (``utter``)."""
    status = run(_main, build_parser(), argv)
    if argv is None:
        sys.exit(status)
    return status


if __name__ == "__main__":
    main()
