#!/usr/bin/env python3
"""Convert utt2spk (files or stdin) to spk2utt on stdout, in Kaldi's order (utt2spk_to_spk2utt.pl).

usage: utt2spk_to_spk2utt.py [utt2spk] > spk2utt
"""
import fileinput
import sys
from pathlib import Path

# utils/ must not shadow the standard library (utils/queue.py vs the queue module).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pylib"))
from utter.data.dirtools import DataDirError, utt2spk_to_spk2utt  # noqa: E402

if __name__ == "__main__":
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__.strip())
        sys.exit(0)
    lines = [line.rstrip("\n") for line in fileinput.input(openhook=fileinput.hook_encoded("utf-8", "surrogateescape"))]
    try:
        out = utt2spk_to_spk2utt(lines, sys.argv[1] if len(sys.argv) > 1 else "stdin")
    except DataDirError as e:
        print(f"utt2spk_to_spk2utt.py: error: {e}", file=sys.stderr)
        sys.exit(1)
    sys.stdout.reconfigure(errors="surrogateescape")
    sys.stdout.write("".join(line + "\n" for line in out))
