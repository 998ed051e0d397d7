#!/usr/bin/env python3
"""Kaldi's utt2spk_to_spk2utt.pl: utt2spk (files or stdin) to spk2utt on stdout, speakers in order
of first appearance, each speaker's utterances in utt2spk's order.

usage: utt2spk_to_spk2utt.py [utt2spk ...] > spk2utt
"""
import fileinput
import sys
from pathlib import Path

# utils/ must not shadow the standard library (utils/queue.py vs the queue module).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pylib"))
from utter.data.datadir import utt2spk_to_spk2utt  # noqa: E402


def pairs():
    with fileinput.input(openhook=fileinput.hook_encoded("utf-8", "surrogateescape")) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 2:
                name = "stdin" if f.isstdin() else f.filename()
                sys.exit(f"utt2spk_to_spk2utt.py: error: {name}:{f.filelineno()}: invalid utt2spk line "
                         f"'{line.rstrip()}' (expected 'utt spk')")
            yield parts[0], parts[1]


if __name__ == "__main__":
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__.strip())
        sys.exit(0)
    spk2utt = utt2spk_to_spk2utt(pairs(), sort=False)
    sys.stdout.reconfigure(errors="surrogateescape")
    sys.stdout.write("".join(f"{s} {' '.join(u)}\n" for s, u in spk2utt.items()))
