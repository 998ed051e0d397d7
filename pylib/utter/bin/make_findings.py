"""The Findings table of a recipe's RESULTS.md: each paper finding as a declared test over pretraining seeds.

Reads result files the stages already wrote (nothing is re-run). Each positional argument is one
finding, seven or eight fields separated by ``|``::

    NAME|CLAIM|LABEL_A=PATHS_A|LABEL_B=PATHS_B|FIGURE|greater or less|KIND[|DECLARATION]

PATHS: one result file per pretraining seed, comma-separated, in the same seed order on both sides
(``pretrained_paths`` of utils/recipe_lib.sh writes them). KIND ``runs``: summary results.json
files whose runs are paired by (fold, seed); ``trials=TRIALS,utt2spk=UTT2SPK``: score files of that
trial list, compared by EER. DECLARATION, what the row tests, declared before any run:
``role=primary|exploratory,test=superiority|noninferiority,margin=M,delta=D,folds=crossed|nested``
(default exploratory superiority, no delta, crossed folds; see utter.transfer.findings.Declaration);
the grammar is utter.report.spec's, the one spec language of results.conf.
A finding whose files are missing is listed as "not run". Example::

    python -m utter.bin.make_findings --out findings.md \\
      "F2|affine first beats all at once|affine=exp/dino/ft/affine/results.json,exp/dino_p1/ft/affine/results.json|\
full=exp/dino/ft/full/results.json,exp/dino_p1/ft/full/results.json|UA|greater|runs|role=primary,delta=2"
"""
from __future__ import annotations

import json
from pathlib import Path

from utter.atomic import atomic_open
from utter.bin.common import main_entry, make_parser, str2bool
from utter.data.datadir import read_table
from utter.report.spec import parse_finding
from utter.transfer.findings import (
    FindingResult,
    adjust_and_decide,
    compare_summaries,
    compare_verification,
    findings_table,
)


def build_parser():
    p = make_parser(__doc__.split("\n\n")[0], threads=False)
    p.add_argument("--out", required=True, help="Markdown file to write the Findings table to")
    p.add_argument("--json", default="", help="also write the findings as JSON here (default: none)")
    p.add_argument("--bootstrap-resamples", type=int, default=1000,
                   help="speaker bootstrap resamples of an EER finding")
    p.add_argument("--simulated", type=str2bool, default=False,
                   help="the corpora are the simulator's: the table says so above the rows")
    p.add_argument("findings", nargs="+", help="one finding per argument, NAME|CLAIM|A=PATHS|B=PATHS|FIGURE|DIR|KIND"
                   "[|DECLARATION]")
    return p


def main(args) -> None:
    results: list[FindingResult] = []
    for spec in args.findings:
        parsed = parse_finding(spec)
        finding, paths_a, paths_b, opts = parsed.finding, parsed.paths_a, parsed.paths_b, parsed.verification
        missing = [p for p in (*paths_a, *paths_b) if not Path(p).is_file()]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            results.append(FindingResult(finding, None, None, f"not run (no {missing[0]}{more})", "not run"))
        elif opts is None:
            results.append(compare_summaries(finding, paths_a, paths_b))
        else:
            utt2spk = {u: v.split()[0] for u, v in read_table(opts["utt2spk"]).items()}
            results.append(compare_verification(finding, paths_a, paths_b, opts["trials"], utt2spk,
                                                num_resamples=args.bootstrap_resamples))
    results = adjust_and_decide(results)
    with atomic_open(args.out, "w") as f:
        f.write(findings_table(results, simulated=args.simulated))
    if args.json:
        with atomic_open(args.json, "w") as f:
            json.dump([r.as_dict() for r in results], f, indent=1)
            f.write("\n")
    for r in results:
        print(f"{r.finding.name}: {r.verdict}")


if __name__ == "__main__":
    main_entry(main, build_parser)
