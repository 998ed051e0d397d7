#!/usr/bin/env python3
"""A trial list (VoxCeleb, Kaldi or NIST-like format) -> the Kaldi trials of a data dir (utter.data.trials)."""
import logging
from pathlib import Path

from utter.bin.common import main_entry, make_parser
from utter.data.trials import FORMATS, convert_trials

log = logging.getLogger("utter")


def build_parser():
    p = make_parser(
        "Write OUT, the Kaldi trials ('<enroll> <test> target|nontarget') of TRIAL_LIST over the utterances "
        "of DATA. Formats: voxceleb ('1 a.wav b.wav'), kaldi ('a b target', labels also 1/0, tgt/imp; no "
        "label: unlabelled), nist (a header line naming modelid/segmentid/targettype-like columns). Each side "
        "is an utterance id of DATA, or its audio file: a path or any trailing part of it, with or without "
        "extension. A trial naming audio not in DATA is an error naming the line.", threads=False)
    p.add_argument("--format", default="auto", choices=FORMATS, help="trial list format (auto: from the first line)")
    p.add_argument("trial_list", type=Path)
    p.add_argument("data", type=Path, help="data dir of the trial utterances (wav.scp, utt2spk)")
    p.add_argument("out", type=Path, help="Kaldi trials file to write")
    return p


def main(args):
    c = convert_trials(args.trial_list, args.data, args.out, args.format)
    dup = f", {c['duplicates']} repeated pairs" if c["duplicates"] else ""
    if c["target"] or c["nontarget"]:
        log.info("%s: %d trials (%d target, %d nontarget%s) from %s", args.out, c["trials"],
                                        c["target"], c["nontarget"], dup, args.trial_list)
    else:
        log.info("%s: %d unlabelled trials%s from %s", args.out, c["trials"], dup,
                                        args.trial_list)
    print(f"trials\t{args.out}")


if __name__ == "__main__":
    main_entry(main, build_parser)
