"""What every stage program shares: Kaldi-style ``--config`` files, booleans, logging, exit codes.

A stage program builds an ``argparse`` parser with :func:`make_parser`, and hands its
``main(args)`` to :func:`run`, which parses (config file first, command line wins), sets up
logging to stderr and the thread count, and turns a failure into a one-line reason and
exit status 1. A Kaldi option set of the library (``utter.data.options.FbankOptions`` ...)
becomes one ``--kaldi-name`` option per field with :func:`add_kaldi_options`, and is read back
with :func:`kaldi_options_from_args`.

Library modules are imported inside ``main``, not at the top of a stage module, so that
``--help`` and argument errors come back without loading torch.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shlex
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from utter.config import ConfigError, config_argv, config_items, read_config_text
from utter.data.options import KaldiOptions, convert_option

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

K = TypeVar("K", bound=KaldiOptions)


class _OptionType:
    """argparse ``type`` for one Kaldi option field (named, so argparse's error names the type)."""

    def __init__(self, field: dataclasses.Field):
        self.field = field
        self.__name__ = str(field.type)

    def __call__(self, value: str) -> object:
        return convert_option(self.field, value)


def add_kaldi_options(parser: argparse.ArgumentParser, options: type[KaldiOptions]) -> None:
    """Add one ``--kaldi-name`` option per field of the option set ``options``, with its default."""
    group = parser.add_argument_group(f"{options.__name__} (Kaldi option names)")
    for f in dataclasses.fields(options):
        is_bool = f.type in (bool, "bool")
        group.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=_OptionType(f),
                           default=f.default, metavar="true|false" if is_bool else str(f.type).upper(),
                           help=f.metadata.get("help", ""))


def kaldi_options_from_args(options: type[K], args: argparse.Namespace) -> K:
    """The option set ``options`` of parsed arguments (from :func:`add_kaldi_options`)."""
    return options(**{f.name: getattr(args, f.name) for f in dataclasses.fields(options)})


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """States each option's default once, after its help: not for required options, options whose
    help already names a default, or defaults that say nothing (None, empty)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text or action.required or default in (None, "", [], argparse.SUPPRESS)
                or not action.option_strings or isinstance(action, argparse._HelpAction)):
            return text
        if isinstance(default, bool):
            default = "true" if default else "false"
        return f"{text} (default: {str(default).replace('%', '%%')})"


class StageParser(argparse.ArgumentParser):
    """argparse without prefix matching (``--max=5`` in a config, or ``--max-st 3``, is an error rather
    than ``--max-steps``), in its sub-commands too (``add_subparsers`` makes parsers of this class)."""

    def __init__(self, *args, allow_abbrev: bool = False, **kwargs):
        super().__init__(*args, allow_abbrev=allow_abbrev, **kwargs)


def make_parser(description: str, *, threads: bool = True, device: bool = False) -> argparse.ArgumentParser:
    """A parser whose ``--help`` states each default once (:class:`HelpFormatter`), with ``--config``
    and the common options."""
    parser = StageParser(
        description=description, formatter_class=HelpFormatter,
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
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--config", action="append", default=[])
    known, _ = pre.parse_known_args(argv)
    config_args: list[str] = []
    for path in known.config:
        try:
            _check_config_options(parser, path)
            config_args.extend(read_config(path))
        except ConfigError as e:
            parser.error(str(e))
    return parser.parse_args(config_args + argv)


def _check_config_options(parser: argparse.ArgumentParser, path: str | os.PathLike) -> None:
    """ConfigError naming the file and line of the first option ``parser`` does not know (a config
    read by this program must not hold another program's options, nor an abbreviation)."""
    known = getattr(parser, "_option_string_actions", {})
    for lineno, key, value in config_items(read_config_text(path), str(path)):
        if key == "--config":
            nested = Path(value)
            if not nested.is_absolute() and not nested.exists():
                nested = Path(path).parent / nested
            _check_config_options(parser, nested)
        elif key not in known:
            raise ConfigError(f"{path}:{lineno}: unknown option {key} for {parser.prog} (see its --help)")
        else:
            _check_config_value(known[key], value, f"{path}:{lineno}")


def _check_config_value(action: argparse.Action, value: str, where: str) -> None:
    """ConfigError naming the config file and line (not only the option, as argparse would) when a
    single-valued option's value does not convert to its type or is not one of its choices."""
    if action.nargs not in (None, "?") or not value:
        return
    words = shlex.split(value)
    if len(words) != 1:
        return
    try:
        converted = (action.type or str)(words[0])
    except (TypeError, ValueError, argparse.ArgumentTypeError) as e:
        raise ConfigError(f"{where}: bad value '{words[0]}' for {action.option_strings[0]} ({e})") from None
    if action.choices is not None and converted not in action.choices:
        raise ConfigError(f"{where}: {action.option_strings[0]} must be one of "
                          f"{', '.join(map(str, action.choices))}, got '{words[0]}'")


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


def error_reason(e: BaseException) -> str:
    """The one-line reason of an error: its message, or for an error re-raised from a data-loader
    worker (``Caught ValueError in DataLoader worker process 0. Original Traceback ...``) the
    worker's own message (its last line) rather than the traceback copied into it."""
    text = str(e)
    if text.startswith("Caught ") and "Original Traceback" in text:
        last = text.rstrip().splitlines()[-1]
        name = type(e).__name__
        text = last[len(name) + 2:] if last.startswith(name + ": ") else last
    return text if text else type(e).__name__


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
        print(f"{parser.prog}: error: {error_reason(e)}", file=sys.stderr)
        return 1
    return int(status or 0)


def main_entry(
    main: Callable[[argparse.Namespace], int | None], build_parser: Callable[[], argparse.ArgumentParser]
) -> None:
    """``if __name__ == '__main__': main_entry(main, build_parser)`` for every stage module."""
    sys.exit(run(main, build_parser()))
