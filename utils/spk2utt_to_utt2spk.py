#!/usr/bin/env python3
"""Kaldi's spk2utt_to_utt2spk.pl: spk2utt (files or stdin) to utt2spk on stdout, one ``utt spk``
line per utterance in spk2utt's order.

usage: spk2utt_to_utt2spk.py [spk2utt ...] > utt2spk
"""
import fileinput
import sys
from pathlib import Path

# utils/ must not shadow the standard library (utils/queue.py vs the queue module).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pylib"))
from utter.data.datadir import spk2utt_to_utt2spk  # noqa: E402


def groups():
    with fileinput.input(openhook=fileinput.hook_encoded("utf-8", "surrogateescape")) as f:
        for line in f:
            parts = line.split()
            if not parts:
                name = "stdin" if f.isstdin() else f.filename()
                sys.exit(f"spk2utt_to_utt2spk.py: error: {name}:{f.filelineno()}: empty line")
            yield parts[0], parts[1:]


if __name__ == "__main__":
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__.strip())
        sys.exit(0)
    sys.stdout.reconfigure(errors="surrogateescape")
    sys.stdout.write("".join(f"{u} {s}\n" for u, s in spk2utt_to_utt2spk(groups(), sort=False)))
