"""The Findings table of a recipe's RESULTS.md: each paper finding as a difference with a 95% CI and a verdict.

Reads result files the stages already wrote (nothing is re-run). Each positional argument is one
finding, seven fields separated by ``|``::

    NAME|CLAIM|LABEL_A=PATH_A|LABEL_B=PATH_B|FIGURE|greater or less|KIND

KIND ``runs``: PATH_A/PATH_B are summary results.json files whose runs are paired by
(fold, seed); ``trials=TRIALS,utt2spk=UTT2SPK``: they are score files of that trial list,
compared by EER with a bootstrap over the speakers of ``utt2spk``. A finding whose files
are missing is listed as "not run". Example::

    python -m utter.bin.make_findings --out findings.md \\
      "F2|affine first beats all at once|affine=exp/dino/finetune/affine/results.json|\
full=exp/dino/finetune/full/results.json|UA|greater|runs"
"""
from __future__ import annotations

import json
from pathlib import Path

from utter.atomic import atomic_open
from utter.bin.common import main_entry, make_parser
from utter.data.datadir import read_table
from utter.transfer.findings import Finding, FindingResult, compare_summaries, compare_verification, findings_table


def parse_spec(spec: str) -> tuple[Finding, str, str, dict[str, str] | None]:
    """(finding, path A, path B, verification options or None) of one ``|``-separated spec."""
    fields = spec.split("|")
    if len(fields) != 7:
        raise ValueError(f"finding '{spec}': expected 7 '|'-separated fields "
                         "(NAME|CLAIM|A=PATH|B=PATH|FIGURE|greater or less|runs or trials=...,utt2spk=...), "
                         f"got {len(fields)}")
    name, claim, a, b, figure, direction, kind = (f.strip() for f in fields)
    for side in (a, b):
        if "=" not in side:
            raise ValueError(f"finding {name}: '{side}' must be LABEL=PATH")
    if direction not in ("greater", "less"):
        raise ValueError(f"finding {name}: direction must be 'greater' or 'less', got '{direction}'")
    label_a, path_a = a.split("=", 1)
    label_b, path_b = b.split("=", 1)
    opts = None
    if kind != "runs":
        opts = dict(kv.split("=", 1) for kv in kind.split(",") if "=" in kv)
        if set(opts) != {"trials", "utt2spk"}:
            raise ValueError(f"finding {name}: kind must be 'runs' or 'trials=FILE,utt2spk=FILE', got '{kind}'")
    return Finding(name, claim, label_a, label_b, figure, direction), path_a, path_b, opts


def build_parser():
    p = make_parser(__doc__.split("\n\n")[0], threads=False)
    p.add_argument("--out", required=True, help="Markdown file to write the Findings table to")
    p.add_argument("--json", default="", help="also write the findings as JSON here (default: none)")
    p.add_argument("--bootstrap-resamples", type=int, default=1000,
                   help="speaker bootstrap resamples of an EER finding")
    p.add_argument("findings", nargs="+", help="one finding per argument, NAME|CLAIM|A=PATH|B=PATH|FIGURE|DIR|KIND")
    return p


def main(args) -> None:
    results: list[FindingResult] = []
    for spec in args.findings:
        finding, path_a, path_b, opts = parse_spec(spec)
        missing = [p for p in (path_a, path_b) if not Path(p).is_file()]
        if missing:
            results.append(FindingResult(finding, None, 0, f"not run (no {missing[0]})"))
        elif opts is None:
            results.append(compare_summaries(finding, path_a, path_b))
        else:
            utt2spk = {u: v.split()[0] for u, v in read_table(opts["utt2spk"]).items()}
            results.append(compare_verification(finding, path_a, path_b, opts["trials"], utt2spk,
                                                num_resamples=args.bootstrap_resamples))
    with atomic_open(args.out, "w") as f:
        f.write(findings_table(results))
    if args.json:
        with atomic_open(args.json, "w") as f:
            json.dump([r.as_dict() for r in results], f, indent=1)
            f.write("\n")
    for r in results:
        print(f"{r.finding.name}: {r.verdict}")


if __name__ == "__main__":
    main_entry(main, build_parser)
