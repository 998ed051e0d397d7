#!/usr/bin/env python3
"""Kaldi's filter_scp.pl: print the lines of in.scp (or stdin) whose field F (default 1) is in the
first column of id_list, in in.scp's order; with --exclude, those whose field is not.

usage: filter_scp.py [--exclude] [-f F] id_list [in.scp ...] > out.scp
"""
import sys
from pathlib import Path

# utils/ must not shadow the standard library (utils/queue.py vs the queue module).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pylib"))

if __name__ == "__main__":
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__.strip())
        sys.exit(0)
    from utter.bin.datadir_tools import main
    sys.exit(main(["--prog", "filter_scp.py", "filter-scp", *sys.argv[1:]]))
