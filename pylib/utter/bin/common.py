"""What every stage program shares: Kaldi-style ``--config`` files, booleans, logging, exit codes.

A stage program builds an ``argparse`` parser with :func:`make_parser`, and hands its
``main(args)`` to :func:`run`, which parses (config file first, command line wins), sets up
logging to stderr and the thread count, and turns a failure into a one-line reason and
exit status 1.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from utter.config import ConfigError, config_argv

log = logging.getLogger("utter")

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def str2bool(value: str | bool) -> bool:
    """Kaldi's booleans: exactly ``true`` or ``false``."""
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise argparse.ArgumentTypeError(f"expected true or false, got '{value}'")


read_config = config_argv


def make_parser(description: str, *, threads: bool = True, device: bool = False) -> argparse.ArgumentParser:
    """A parser whose ``--help`` shows every default, with ``--config`` and the common options."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        prog=_prog_name(),
    )
    parser.add_argument("--config", action="append", default=[], metavar="FILE",
                        help="Kaldi-style config file of --option=value lines (command line wins); repeatable")
    parser.add_argument("--verbose", type=int, default=0, help="0 info, 1 debug (and tracebacks on failure)")
    if threads:
        parser.add_argument("--num-threads", type=int, default=1, help="threads this job may use")
    if device:
        parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1 ...")
    return parser


def _prog_name() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        return f"python -m {spec.name}"
    return Path(sys.argv[0]).name


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` after the lines of every ``--config`` file, so the command line wins."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", action="append", default=[])
    known, _ = pre.parse_known_args(argv)
    config_args: list[str] = []
    for path in known.config:
        try:
            config_args.extend(read_config(path))
        except ConfigError as e:
            parser.error(str(e))
    return parser.parse_args(config_args + argv)


def set_num_threads(n: int) -> None:
    """Limit this process to ``n`` threads (BLAS/OpenMP environment, and torch if loaded)."""
    n = max(1, int(n))
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
        try:
            torch.set_num_interop_threads(n)
        except RuntimeError:  # already set once in this process
            pass


def setup_logging(verbose: int = 0) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose > 0 else logging.INFO, stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s", datefmt="%H:%M:%S", force=True,
    )


def run(main: Callable[[argparse.Namespace], int | None], parser: argparse.ArgumentParser,
        argv: Sequence[str] | None = None) -> int:
    """Parse, set up, call ``main(args)``; on failure print one line naming the reason, return 1."""
    args = parse_args(parser, argv)
    setup_logging(args.verbose)
    if hasattr(args, "num_threads"):
        set_num_threads(args.num_threads)
    try:
        status = main(args)
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError, KeyError) as e:
        if args.verbose > 0 or os.environ.get("UTTER_DEBUG"):
            traceback.print_exc()
        reason = str(e) if str(e) else type(e).__name__
        print(f"{parser.prog}: error: {reason}", file=sys.stderr)
        return 1
    return int(status or 0)


def main_entry(
    main: Callable[[argparse.Namespace], int | None], build_parser: Callable[[], argparse.ArgumentParser]
) -> None:
    """``if __name__ == '__main__': main_entry(main, build_parser)`` for every stage module."""
    sys.exit(run(main, build_parser()))
