"""The engine behind the utils/ data-dir scripts: ``python -m utter.bin.datadir_tools TOOL ...``.

Tools: fix, split, subset, combine, copy (then validates the copy), filter-scp.
The utils/*.sh wrappers parse Kaldi-style options (utils/parse_options.sh) and pass them here as
``--name=value`` (so a value may start with ``-``); the logic is in :mod:`utter.data.dirtools` (a module per tool).
Errors: one line ``PROG: error: ...`` on stderr, exit status 1. SIGTERM/SIGINT/SIGHUP remove
the temporary files of the table being written, so no table is left half-written.
"""
from __future__ import annotations

import argparse
import signal
import sys


def _stop(signum, frame):
    raise SystemExit(128 + signum)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(allow_abbrev=False, prog="python -m utter.bin.datadir_tools",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--prog", default=None, help="name to print in messages (the calling script)")
    sub = p.add_subparsers(dest="tool", required=True,
                         parser_class=lambda **kw: argparse.ArgumentParser(allow_abbrev=False, **kw))
    s = sub.add_parser("split", help="split_data.sh")
    s.add_argument("--per-utt", action="store_true")
    s.add_argument("data")
    s.add_argument("num")
    s = sub.add_parser("subset", help="subset_data_dir.sh")
    s.add_argument("--mode", default="even")
    s.add_argument("--num", default=None)
    s.add_argument("--id-list", default=None)
    s.add_argument("src")
    s.add_argument("dest")
    s = sub.add_parser("fix", help="fix_data_dir.sh")
    s.add_argument("--utt-extra-files", default="")
    s.add_argument("--spk-extra-files", default="")
    s.add_argument("data")
    s = sub.add_parser("combine", help="combine_data.sh")
    s.add_argument("--extra-files", default="")
    s.add_argument("--skip-fix", default="false", choices=["true", "false"])
    s.add_argument("dest")
    s.add_argument("srcs", nargs="+")
    s = sub.add_parser("copy", help="copy_data_dir.sh (then validate_data_dir.sh)")
    for o in ("utt-prefix", "utt-suffix", "spk-prefix", "spk-suffix", "validate-opts"):
        s.add_argument(f"--{o}", default="")
    s.add_argument("src")
    s.add_argument("dest")
    s = sub.add_parser("filter-scp", help="filter_scp.pl")
    s.add_argument("--exclude", action="store_true")
    s.add_argument("-f", default="1", dest="field")
    s.add_argument("id_list")
    s.add_argument("inputs", nargs="*")
    return p


def _feat_lengths(scp: str):
    """feat-to-len: (utt, number of frames) of each matrix of feats.scp."""
    import kaldiio
    for utt, m in kaldiio.load_scp_sequential(scp):
        yield utt, m.shape[0]


def _durations(d: str) -> dict:
    """get_utt2dur.sh: utt -> seconds, from the audio of the data dir."""
    from utter.data.audio import compute_utt2dur
    return compute_utt2dur(d)


def _int_arg(value, what: str) -> int:
    from utter.data.datadir import DataDirError
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise DataDirError(f"{what} must be a positive integer, got '{value}'") from None
    return n


def _read_inputs(inputs: list[str]):
    from utter.data.dirtools.tables import Table
    if not inputs:
        data = sys.stdin.buffer.read()
        t = Table("stdin", [], on_disk=False)
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        t.lines = lines
        t.simple = False
        yield t
        return
    for path in inputs:
        yield Table.read(path) if path != "-" else next(_read_inputs([]))


def _out(lines) -> None:
    out = sys.stdout.buffer
    if lines:
        out.write(b"\n".join(lines))
        out.write(b"\n")
    out.flush()


def main(argv=None) -> int:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop)
    a = build_parser().parse_args(argv)
    prog = a.prog or a.tool
    from utter.data.datadir import DataDirError
    try:
        if a.tool == "split":
            from utter.data.dirtools.split import split_data
            n = _int_arg(a.num, "<num-to-split>")
            split_data(a.data, n, a.per_utt, prog=prog)
        elif a.tool == "subset":
            from utter.data.dirtools.subset import subset_data_dir
            num = None if a.num is None else _int_arg(a.num, "<num-utt>")
            subset_data_dir(a.src, a.dest, num=num, mode=a.mode, id_list=a.id_list, prog=prog,
                            feat_lengths=_feat_lengths)
        elif a.tool == "fix":
            from utter.data.dirtools.fix import fix_data_dir
            fix_data_dir(a.data, utt_extra_files=a.utt_extra_files.split(),
                         spk_extra_files=a.spk_extra_files.split(), prog=prog)
        elif a.tool == "combine":
            from utter.data.dirtools.combine import combine_data
            combine_data(a.dest, a.srcs, extra_files=a.extra_files.split(), skip_fix=a.skip_fix == "true",
                         prog=prog, durations=_durations)
        elif a.tool == "copy":
            from utter.data.dirtools.copy import copy_data_dir
            written = copy_data_dir(a.src, a.dest, utt_prefix=a.utt_prefix, utt_suffix=a.utt_suffix,
                                    spk_prefix=a.spk_prefix, spk_suffix=a.spk_suffix, prog=prog)
            from utter.bin.validate_data_dir import run_validate
            opts = a.validate_opts.split()
            import os
            if not os.path.isfile(os.path.join(a.src, "feats.scp")):
                opts.append("--no-feats")
            if not os.path.isfile(os.path.join(a.src, "text")):
                opts.append("--no-text")
            return run_validate(opts + [a.dest], prog="utils/validate_data_dir.sh", tables=written)
        elif a.tool == "filter-scp":
            from utter.data.dirtools.filter_scp import filter_lines, read_ids
            n = _int_arg(a.field, "-f")
            if n < 1:
                raise DataDirError(f"-f must be a positive field number, got {n}")
            ids = set(read_ids(a.id_list))
            for t in _read_inputs(a.inputs):
                if n == 1:
                    _out([line for line, k in zip(t.lines, t.keys) if (k in ids) != a.exclude])
                else:
                    _out(filter_lines([x for x in t.lines if x.strip()], ids, exclude=a.exclude, n=n,
                                      path=t.path))
    except (DataDirError, OSError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
