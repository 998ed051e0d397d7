"""Skip a finished stage: its outputs exist, are non-empty and newer than its inputs.

Stages call :func:`skip_if_complete` (Python) or, from shell,
``python -m utter.stage --overwrite $overwrite --what NAME [--inputs 'a b'] OUTPUT... && exit 0``,
which exits 0 (and says so) when the stage can be skipped, 1 when it must run.
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from utter.atomic import outputs_complete

log = logging.getLogger("utter")


def skip_if_complete(outputs: Sequence[str | os.PathLike], inputs: Sequence[str | os.PathLike] = (),
                     overwrite: bool = False, what: str = "stage") -> bool:
    """True (after logging 'skipping') when every output is complete and ``overwrite`` is false."""
    if overwrite:
        return False
    if outputs_complete(list(outputs), list(inputs)):
        log.info("%s: skipping, outputs complete: %s (--overwrite true to redo)", what,
                 " ".join(str(p) for p in outputs))
        return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="python -m utter.stage", description=__doc__.split("\n\n")[0])
    p.add_argument("--overwrite", default="false", choices=["true", "false"])
    p.add_argument("--what", default="stage", help="name printed in the message")
    p.add_argument("--inputs", default="", help="space-separated input files")
    p.add_argument("outputs", nargs="+")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    return 0 if skip_if_complete(a.outputs, a.inputs.split(), a.overwrite == "true", a.what) else 1


if __name__ == "__main__":
    sys.exit(main())
