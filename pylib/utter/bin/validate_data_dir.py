"""validate_data_dir.sh's engine: ``python -m utter.bin.validate_data_dir [options] DIR``.

Options as Kaldi's: --no-feats, --no-wav, --no-text (the table need not exist; it is checked when
it does), --no-spk-sort (utt2spk need not also be sorted by speaker), --non-print (text may hold
non-printable characters). Prints ``PROG: Successfully validated data-directory DIR``, or one
line ``PROG: error: FILE:LINE: ...`` on stderr and exits 1. The checks: :mod:`utter.data.validate`.
"""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m utter.bin.validate_data_dir", description=__doc__.split("\n\n")[0],
                                allow_abbrev=False)
    p.add_argument("--prog", default="validate_data_dir.sh", help="name to print in messages")
    for o, h in (("--no-feats", "feats.scp need not exist"), ("--no-wav", "wav.scp need not exist"),
                 ("--no-text", "text need not exist"),
                 ("--no-spk-sort", "utt2spk need not be sorted by speaker too"),
                 ("--non-print", "allow non-printable characters in text")):
        p.add_argument(o, action="store_true", help=h)
    p.add_argument("data")
    return p


def run_validate(argv, prog: str | None = None, tables=None) -> int:
    """Validate as the command line asks; ``tables``: tables just written there (not read again)."""
    a = build_parser().parse_args(argv)
    prog = prog or a.prog
    from utter.data.datadir import DataDirError
    from utter.data.validate import validate_data_dir
    try:
        notes = validate_data_dir(a.data, no_feats=a.no_feats, no_wav=a.no_wav, no_text=a.no_text,
                                  no_spk_sort=a.no_spk_sort, non_print=a.non_print, tables=tables)
    except (DataDirError, OSError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    for n in notes:
        print(f"{prog}: note: {n}")
    print(f"{prog}: Successfully validated data-directory {a.data}")
    return 0


def main(argv=None) -> int:
    return run_validate(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
