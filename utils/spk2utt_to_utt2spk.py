#!/usr/bin/env python3
"""Convert spk2utt (files or stdin) to utt2spk on stdout, in Kaldi's order (spk2utt_to_utt2spk.pl).

usage: spk2utt_to_utt2spk.py [spk2utt] > utt2spk
"""
import fileinput
import sys
from pathlib import Path

# utils/ must not shadow the standard library (utils/queue.py vs the queue module).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pylib"))
from utter.data.dirtools import DataDirError, spk2utt_to_utt2spk  # noqa: E402

if __name__ == "__main__":
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__.strip())
        sys.exit(0)
    lines = [line.rstrip("\n") for line in fileinput.input(openhook=fileinput.hook_encoded("utf-8", "surrogateescape"))]
    try:
        out = spk2utt_to_utt2spk(lines, sys.argv[1] if len(sys.argv) > 1 else "stdin")
    except DataDirError as e:
        print(f"spk2utt_to_utt2spk.py: error: {e}", file=sys.stderr)
        sys.exit(1)
    sys.stdout.reconfigure(errors="surrogateescape")
    sys.stdout.write("".join(line + "\n" for line in out))
