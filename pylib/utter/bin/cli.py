"""utter: use a trained model on audio files, without a data dir.

Audio in any format soundfile reads, at any sample rate (resampled, with a note on stderr), of
several channels (channel 0, as the recipes; --channel); a directory stands for every audio file
under it. Features as in the recipes (80-d fbank, energy VAD, sliding CMN). Checkpoints do not
record the feature options: the defaults are the recipes' conf/fbank.conf and conf/vad.conf
(--fbank-config and --vad-config to use others). A file that cannot be read is named and the others
are still done; the exit status is 1 when any failed.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from utter.bin.common import HelpFormatter, make_parser, run, str2bool

log = logging.getLogger("utter")

EXAMPLES = """\
examples (the mini recipes' models; any checkpoint of the recipes works):
  utter embed --model egs/voxceleb/exp/dino/final.pt a.wav b.flac
  utter embed --model M --out-ark emb.ark --out-npy emb.npy wav/*/*/*.wav
  utter verify --model egs/voxceleb/exp/xvector/final.pt \\
      --calibration egs/voxceleb/exp/xvector/calibration/cosine/calibration.npz \\
      enroll.wav test.wav
  utter classify --top 2 \\
      --model egs/iemocap/exp/dino/finetune/full/fold1/seed0/train/final.pt x.wav

"utter COMMAND --help" lists the options of a command.
"""

KEY_HELP = ("how embeddings are keyed: path: the file's path relative to the directory the inputs "
            "share, without its extension (the file name when they share one; id10270/x6uYqmx31kE/00001 "
            "for wav/id10270/x6uYqmx31kE/00001.wav among other speakers); basename: the file name "
            "without its extension (must be unique); list: each argument is a list file of 'KEY PATH' "
            "lines (a wav.scp of plain file paths) and the keys are its KEYs")


def note(msg: str) -> None:
    print(f"utter: note: {msg}", file=sys.stderr)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", action="append", default=[], metavar="FILE", help=argparse.SUPPRESS)
    p.add_argument("--model", required=True, metavar="MODEL.pt",
                   help="trained model checkpoint, e.g. egs/voxceleb/exp/dino/final.pt (required)")
    p.add_argument("--device", default="cpu", metavar="DEV", help="torch device: cpu, cuda, cuda:1 ...")
    p.add_argument("--batch-size", type=int, default=16, metavar="N", help="files per forward pass")
    p.add_argument("--num-threads", type=int, default=1, metavar="N", help="CPU threads")
    p.add_argument("--fbank-config", default="", metavar="FILE",
                   help="fbank options, --name=value lines as in egs/voxceleb/conf/fbank.conf "
                        "(default: that file's settings, built in)")
    p.add_argument("--vad-config", default="", metavar="FILE",
                   help="energy VAD options as in egs/voxceleb/conf/vad.conf (default: that file's settings, "
                        "built in)")
    p.add_argument("--channel", type=int, default=0, metavar="N",
                   help="channel of multi-channel audio (as the recipes' make_fbank --channel)")
    p.add_argument("--use-vad", type=str2bool, default=True, metavar="true|false", help="keep voiced frames only")
    p.add_argument("--cmn-window", type=int, default=300, metavar="FRAMES",
                   help="sliding CMN window (0: none)")
    p.add_argument("--min-voiced-frames", type=int, default=50, metavar="N",
                   help="with fewer voiced frames, embed every frame")
    p.add_argument("--min-duration", type=float, default=0.5, metavar="SECONDS",
                   help="refuse audio shorter than this")
    p.add_argument("--verbose", type=int, default=0, metavar="0|1",
                   help="0 info, 1 debug (and tracebacks on failure)")


def build_parser() -> argparse.ArgumentParser:
    p = make_parser("Use a trained model on audio files, without a data dir.\n\n"
                    + __doc__.split("\n\n", 1)[1].strip(), threads=False)
    p.prog = "utter"
    p.formatter_class = HelpFormatter
    p.epilog = EXAMPLES
    for a in p._actions:
        if a.dest == "config":
            a.help = argparse.SUPPRESS
        elif a.dest == "verbose":
            a.metavar = "0|1"
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           title="commands")
    e = sub.add_parser("embed", help="embeddings of audio files (Kaldi text, ark/scp or npy)",
                       formatter_class=HelpFormatter, description=(
                           "Embeddings of audio files: Kaldi text vectors on stdout, or an ark/scp and a "
                           "numpy matrix."), epilog=(
                           "examples:\n"
                           "  utter embed --model egs/voxceleb/exp/dino/final.pt a.wav b.wav\n"
                           "  utter embed --model M --out-ark emb.ark VoxCeleb1/wav/*/*/*.wav\n"
                           "      (keys id10270/x6uYqmx31kE/00001 ...)\n"
                           "  utter embed --model M --key-from list --out-ark emb.ark wav.scp\n"
                           "      (keys: the list's first column)"))
    _common(e)
    e.add_argument("--out-ark", default="", metavar="FILE.ark",
                   help="write a Kaldi ark, and FILE.scp beside it (default: text vectors on stdout)")
    e.add_argument("--out-npy", default="", metavar="FILE.npy",
                   help="write a [files, dim] float32 matrix, rows in argument order")
    e.add_argument("--key-from", choices=("path", "basename", "list"), default="path", help=KEY_HELP)
    e.add_argument("audio", nargs="+",
                   help="audio files or directories (every audio file under one); with --key-from list: list files")
    v = sub.add_parser("verify", help="score an enrolment file against a test file",
                       formatter_class=HelpFormatter, description=(
                           "Cosine score of an enrolment and a test file; with --calibration the "
                           "log-likelihood ratio, and a decision when a threshold or a prior is given."),
                       epilog=(
                           "examples:\n"
                           "  utter verify --model egs/voxceleb/exp/xvector/final.pt enroll.wav test.wav\n"
                           "  utter verify --model M --calibration CAL.npz --p-target 0.01 e.wav t.wav"))
    _common(v)
    v.add_argument("--calibration", default="", metavar="CAL.npz",
                   help="calibration model (steps/train_calibration.sh, train_quality_calibration): print "
                        "the LLR and a decision")
    v.add_argument("--cohort", default="", metavar="SCP",
                   help="cohort embeddings (xvector.scp) for a quality-aware calibration")
    v.add_argument("--p-target", type=float, default=0.5, metavar="P",
                   help="target prior of the Bayes threshold on the LLR, used with --calibration when "
                        "--threshold is not given")
    v.add_argument("--threshold", type=float, default=None, metavar="T",
                   help="decision threshold: on the LLR with --calibration, else on the cosine score "
                        "(default: no decision without --calibration)")
    v.add_argument("enroll", help="enrolment audio file")
    v.add_argument("test", help="test audio file")
    c = sub.add_parser("classify", help="class posteriors of audio files with a fine-tuned classifier",
                       formatter_class=HelpFormatter, description=(
                           "Class posteriors of audio files with a classifier checkpoint (steps/finetune.sh): "
                           "one line per file, PATH LABEL P [LABEL P ...]."),
                       epilog=("example:\n  utter classify --top 2 --model "
                               "egs/iemocap/exp/dino/finetune/full/fold1/seed0/train/final.pt x.wav"))
    _common(c)
    c.add_argument("--top", type=int, default=1, metavar="N", help="print the N most likely classes")
    c.add_argument("audio", nargs="+", help="audio files or directories (every audio file under one)")
    return p


def _front_end(args):
    from utter.data.options import FbankOptions, VadOptions
    from utter.train.inference import FrontEnd

    if not args.fbank_config:
        note("feature options: the recipe defaults (16 kHz, 80 log-mel, 25/10 ms; checkpoints do not record "
             "them: --fbank-config to use others)")
    fbank = FbankOptions.from_conf(args.fbank_config) if args.fbank_config else FbankOptions()
    vad = VadOptions.from_conf(args.vad_config) if args.vad_config else VadOptions()
    return FrontEnd(fbank, vad, use_vad=args.use_vad, cmn_window=args.cmn_window,
                    min_voiced_frames=args.min_voiced_frames, min_duration=args.min_duration, note=note,
                    channel=args.channel)


def _inputs(args, paths: Sequence[str]):
    """Features and durations of every file of ``paths``; the first that fails stops (verify's two)."""
    fe = _front_end(args)
    feats, durs = zip(*(fe.features(p) for p in paths))
    return list(feats), np.array(durs)


def _each_input(args, paths: Sequence[str]) -> tuple[list[int], list, list[str]]:
    """(indices of the files read, their features, the paths that failed): each failure is named on
    stderr as it happens and the other files are still read, so one bad file among many costs only itself."""
    fe = _front_end(args)
    good, feats, bad = [], [], []
    for i, p in enumerate(paths):
        try:
            feats.append(fe.features(p)[0])
        except (ValueError, OSError, RuntimeError) as e:
            print(f"utter: error: {e}", file=sys.stderr)
            bad.append(p)
            continue
        good.append(i)
    return good, feats, bad


def _failed(bad: Sequence[str], total: int, what: str) -> int:
    """Exit status of a command over many files: 1, with one line naming the failed ones, when any failed."""
    if not bad:
        return 0
    shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
    print(f"utter: error: {len(bad)} of {total} files could not be {what} (above): {shown}", file=sys.stderr)
    return 1


def audio_extensions() -> set[str]:
    """File name endings of the formats soundfile reads here (.wav, .flac, .ogg ...), lower case."""
    import soundfile as sf

    return {"." + k.lower() for k in sf.available_formats()} | {".wave", ".aif", ".oga", ".opus"}


def expand_dirs(items: Sequence[str]) -> list[str]:
    """``items`` with each directory replaced by the audio files under it (recursively, sorted by path);
    a directory with none is an error naming it and the endings looked for."""
    exts = None
    out: list[str] = []
    for item in items:
        if not os.path.isdir(item):
            out.append(item)
            continue
        exts = exts or audio_extensions()
        found = sorted(os.path.join(d, f) for d, _, names in os.walk(item) for f in names
                       if os.path.splitext(f)[1].lower() in exts)
        if not found:
            raise ValueError(f"{item}: a directory with no audio files under it (looked for "
                             f"{', '.join(sorted(exts))})")
        note(f"{item}: {len(found)} audio files under it")
        out.extend(found)
    return out


def _embedder(args):
    from utter.train.checkpoint import load_embedder

    if not Path(args.model).is_file():
        raise OSError(f"{args.model}: no such model file")
    return load_embedder(args.model, device=args.device)


def _read_lists(lists: Sequence[str]) -> tuple[list[str], list[str]]:
    keys, paths = [], []
    for name in lists:
        try:
            text = Path(name).read_text(encoding="utf-8")
        except OSError as e:
            raise OSError(f"{name}: cannot read the list ({e.strerror})") from None
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split(None, 1)
            if len(parts) != 2 or parts[1].rstrip().endswith("|"):
                raise ValueError(f"{name}:{i}: expected 'KEY PATH' (a file path, not a pipe), got '{line}'")
            keys.append(parts[0])
            paths.append(parts[1].strip())
    return keys, paths


def _keys(paths: Sequence[str], how: str = "path") -> tuple[list[str], str]:
    """Unique embedding keys of ``paths`` (``how``: path or basename) and a note saying how."""
    stems = [os.path.splitext(os.path.abspath(p))[0] for p in paths]
    if how == "basename":
        keys = [os.path.basename(s) for s in stems]
        said = "the file names without their extension"
    else:
        common = os.path.commonpath([os.path.dirname(s) for s in stems])
        keys = [os.path.relpath(s, common) for s in stems]
        shown = os.path.relpath(common)
        said = (f"the paths relative to {shown if shown != '.' else 'the current directory'}, "
                "without their extension")
    keys = [k.replace(" ", "_") for k in keys]
    seen: dict[str, str] = {}
    for k, p in zip(keys, paths):
        if k in seen:
            hint = ("--key-from path" if how == "basename" else
                    "--key-from list with a list file of 'KEY PATH' lines")
            raise ValueError(f"two input files give the embedding key {k}: {seen[k]} and {p} (use {hint})")
        seen[k] = p
    return keys, said


def embed(args) -> int:
    from utter.train.inference import batched_forward

    if args.key_from == "list":
        keys, paths = _read_lists(args.audio)
        if len(set(keys)) < len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise ValueError(f"key {dup} appears more than once in {' '.join(args.audio)}")
        said = f"the keys of {' '.join(args.audio)}"
    else:
        paths = expand_dirs(args.audio)
        keys, said = _keys(paths, args.key_from)
    if not paths:
        raise ValueError(f"no audio files in {' '.join(args.audio)}")
    net = _embedder(args)
    good, feats, bad = _each_input(args, paths)
    if not good:
        return _failed(bad, len(paths), "embedded")
    keys = [keys[i] for i in good]
    emb = batched_forward(net, feats, args.device, args.batch_size)
    if args.out_ark:
        from utter.data.kaldi_io import write_vectors

        scp = Path(args.out_ark).with_suffix(".scp")
        write_vectors(dict(zip(keys, emb)), args.out_ark, scp)
        note(f"wrote {len(keys)} embeddings to {args.out_ark} and {scp}, keyed by {said} (--key-from)")
    if args.out_npy:
        np.save(args.out_npy, emb.astype(np.float32))
        note(f"wrote a {emb.shape[0]} x {emb.shape[1]} matrix to {args.out_npy} (rows in argument order"
             + (f", without the {len(bad)} that failed)" if bad else ")"))
    if not args.out_ark and not args.out_npy:
        if len(keys) > 1:
            note(f"keys: {said} (--key-from)")
        for k, v in zip(keys, emb):
            print(f"{k}  [ {' '.join(f'{x:.6g}' for x in v)} ]")
    return _failed(bad, len(paths), "embedded")


def _calibrated(args, score: float, emb: np.ndarray, durs: np.ndarray) -> float:
    from utter.backend.calibration import LinearCalibration, duration_quality
    from utter.backend.io import load_npz

    kind = load_npz(args.calibration, ("calibration", "quality_calibration"))[0]["kind"]
    s = np.array([score])
    if kind == "quality_calibration":
        from utter.backend.cosine import CosineScorer
        from utter.backend.quality import QualityCalibration, trial_quality_vectors
        from utter.data.kaldi_io import read_embeddings

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


def check_calibration(calibration: str, model: str) -> None:
    """Refuse a calibration trained for another system: on other scores than verify's cosine, or on the
    scores of another model (its recorded SHA-256 differs from ``model``'s); its LLRs and decisions would
    be another system's. A calibration without the record (made before it was kept) is applied, with a note."""
    from utter.backend.io import load_npz
    from utter.stage import file_digest

    made = load_npz(calibration, ("calibration", "quality_calibration"))[0].get("trained_for") or {}
    if not made:
        note(f"{calibration} does not record the model it was trained for (made before such records): "
             f"make sure it is the cosine calibration of {model}")
        return
    scorer = made.get("scorer")
    if scorer and scorer != "cosine":
        raise ValueError(f"{calibration} calibrates {scorer} scores, but utter verify scores by cosine: its LLR "
                         "would be wrong; use the cosine calibration (exp/<sys>/calibration/cosine/calibration.npz)")
    if made.get("model_sha256") and made["model_sha256"] != file_digest(model):
        raise ValueError(f"{calibration} was trained for another model ({made.get('model')}), not {model} (their "
                         "SHA-256 differ): its LLR would be another system's; use the calibration of "
                         f"{model}'s system (exp/<sys>/calibration/cosine/calibration.npz beside exp/<sys>/final.pt)")


def verify(args) -> None:
    from utter.train.inference import batched_forward

    net = _embedder(args)
    if args.calibration:
        check_calibration(args.calibration, args.model)
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


def classify(args) -> int:
    from utter.train.inference import batched_forward, load_classifier

    if not Path(args.model).is_file():
        raise OSError(f"{args.model}: no such model file")
    model = load_classifier(args.model, device=args.device)
    paths = expand_dirs(args.audio)
    good, feats, bad = _each_input(args, paths)
    if good:
        logp = batched_forward(model, feats, args.device, args.batch_size)
        top = max(1, min(args.top, len(model.labels)))
        for i, row in zip(good, logp):
            best = np.argsort(-row)[:top]
            print(paths[i] + " " + " ".join(f"{model.labels[j]} {np.exp(row[j]):.4f}" for j in best))
    return _failed(bad, len(paths), "classified")


def _main(args) -> int:
    from utter.bin.common import set_num_threads

    set_num_threads(args.num_threads)
    return {"embed": embed, "verify": verify, "classify": classify}[args.command](args)


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point (``utter``)."""
    status = run(_main, build_parser(), argv)
    if argv is None:
        sys.exit(status)
    return status


if __name__ == "__main__":
    main()
