#!/usr/bin/env python3
"""Print the lines of in.scp (or stdin) whose field F (default 1) is in the first column of id_list,
in in.scp's order; with --exclude, those whose field is not. As Kaldi's filter_scp.pl.

usage: filter_scp.py [--exclude] [-f F] id_list [in.scp ...] > out.scp
"""
import argparse
import sys
from pathlib import Path

# utils/ must not shadow the standard library (utils/queue.py vs the queue module).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pylib"))
from utter.data.dirtools import DataDirError, filter_lines, read_ids  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(prog="filter_scp.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--exclude", action="store_true", help="keep lines whose field is NOT in id_list")
    p.add_argument("-f", type=int, default=1, dest="field", help="1-based field to filter on")
    p.add_argument("id_list")
    p.add_argument("inputs", nargs="*")
    a = p.parse_args()
    try:
        ids = read_ids(a.id_list)
        sources = a.inputs or ["-"]
        for src in sources:
            if src == "-":
                lines, name = sys.stdin.read().splitlines(), "stdin"
            else:
                with open(src, encoding="utf-8", errors="surrogateescape") as f:
                    lines, name = f.read().splitlines(), src
            lines = [ln for ln in lines if ln.strip()] if a.field != 1 else lines
            for line in filter_lines(lines, ids, exclude=a.exclude, n=a.field, path=name):
                sys.stdout.write(line + "\n")
    except (DataDirError, OSError) as e:
        print(f"filter_scp.py: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.stdout.reconfigure(errors="surrogateescape")
    sys.exit(main())
