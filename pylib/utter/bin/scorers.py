"""Print the scoring back-ends' names (utter.backend.scorers.SCORERS), space-separated, in order.

The recipes read their back-end list from here (``backends=$(python -m utter.bin.scorers)``), so a
new back-end is registered in one place.
"""
from __future__ import annotations

from utter.bin.common import main_entry, make_parser


def build_parser():
    return make_parser(__doc__.splitlines()[0], threads=False)


def main(args) -> None:
    from utter.backend.scorers import SCORERS
    print(" ".join(SCORERS))


if __name__ == "__main__":
    main_entry(main, build_parser)
