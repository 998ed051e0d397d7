"""Build a recipe's RESULTS.md from the per-evaluation results JSON files (and published figures).

Each evaluation is named on the command line as ``SYSTEM:BACKEND:TRIALS=PATH`` (PATH a results
JSON written by utter.metrics.results, with ``EER`` in % and ``minDCF@<p>``). One table per trial
list (``--heading TRIALS=TEXT``, in the order of the headings): a row per system, the back-ends' EER
and minDCFs side by side, as in the DINO paper's table. With ``--published TSV`` (the recipe's
conf/published.tsv) the published figures follow, with their sources and protocol notes; with
``--calibrated`` the calibrated scores' actual DCFs and Cllr.

With ``--task classification`` (egs/iemocap, egs/adress) each evaluation is ``GROUP:SYSTEM/METHOD:PROTOCOL=PATH``
(PATH a summary results JSON of train_classifier, finetune ..., figures as ``{mean, std, n}`` over
folds x seeds): one table per GROUP (``--heading GROUP=TEXT``), a row per system and method, columns
PROTOCOL x ``--metrics`` (e.g. ``UA,WA,macro_f1`` or ``WA=accuracy,macro_f1=F1,RMSE``) as mean ± std;
the published TSV is quoted as it is.

Rows name each system by ``--system-label SYSTEM=TEXT`` (in their order; ``{net}`` in TEXT is the
network), with the network as trained when ``--system-model SYSTEM=MODEL`` gives its model (the
``arch`` of the ``config.json`` beside the model, links resolved), else ``--system-net SYSTEM=NET``.
The program holds no recipe's wording: titles, headings and row labels come from the recipe
(egs/*/conf/results.conf, passed by utils/recipe_lib.sh's results_table); without them the tables
are headed by the names on the command line. The page is rendered by :mod:`utter.report.document`.
"""
from __future__ import annotations

import dataclasses

from utter.bin.common import main_entry, make_parser
from utter.report.document import DEFAULT_SECTIONS, Page, write_results_page


def build_parser():
    p = make_parser(__doc__.split("\n\n")[0], threads=False)
    p.add_argument("--title", default="Results", help="first heading of the file")
    p.add_argument("--intro", default="", help="a paragraph under the title (how the figures were made)")
    p.add_argument("--train-plan", action="append", default=[], metavar="SYSTEM=JSON",
                   help="a system's train_plan.json (written by the trainer): a sentence after the intro says "
                        "how long it trained and which utterances it used; repeatable")
    p.add_argument("--intro-sentence", action="append", default=[], metavar="TEXT",
                   help="a sentence appended to the --intro paragraph (a period added when it lacks one); "
                        "repeatable, in order")
    p.add_argument("--published", default="", help="tab-separated published figures to quote (conf/published.tsv)")
    p.add_argument("--det-plot", default="", help="a DET plot PNG to link (path relative to the output)")
    p.add_argument("--calibrated", action="append", default=[], metavar="SYSTEM:BACKEND:TRIALS=JSON",
                   help="results of calibrated scores (actDCF, Cllr), tabulated separately; repeatable")
    p.add_argument("--pseudo-round", action="append", default=[], metavar="ROUND=CLUSTER_JSON,SCORES_JSON",
                   help="a pseudo-label round (purity, NMI, EER) for the rounds table; repeatable, in order")
    p.add_argument("--quality-calibration", action="append", default=[], metavar="SYSTEM:BACKEND:TRIALS=JSON",
                   help="score-only vs quality-aware calibration figures; repeatable")
    p.add_argument("--task", choices=("verification", "classification"), default="verification",
                   help="verification: SYSTEM:BACKEND:TRIALS=JSON (EER/minDCF); classification: "
                        "GROUP:SYSTEM/METHOD:PROTOCOL=JSON (mean ± std of --metrics)")
    p.add_argument("--metrics", default="UA,WA,macro_f1",
                   help="classification: figures shown, KEY or KEY=NAME, comma-separated")
    p.add_argument("--heading", action="append", default=[], metavar="KEY=TEXT",
                   help="the heading of a table: verification, a trial list's (KEY the TRIALS of the evaluations; "
                        "tables in the order of the headings); classification, a group's; repeatable")
    p.add_argument("--findings", default="",
                   help="a Findings table (python -m utter.bin.make_findings --out) to put first, under its heading")
    for name, what in (("findings", "Findings table"), ("calibrated", "--calibrated table"),
                       ("pseudo", "--pseudo-round table"),
                       ("quality", "--quality-calibration table"), ("published", "published figures")):
        p.add_argument(f"--{name}-heading", default=DEFAULT_SECTIONS[name], help=f"the heading of the {what}")
    p.add_argument("--system-label", action="append", default=[], metavar="SYSTEM=TEXT",
                   help="a system's row label, {net} its network (rows in the order of the labels); repeatable")
    p.add_argument("--system-net", action="append", default=[], metavar="SYSTEM=NET",
                   help="the network of a system's label when no --system-model gives it; repeatable")
    p.add_argument("--system-model", action="append", default=[], metavar="SYSTEM=MODEL",
                   help="a system's model (final.pt), whose config.json names the network in the row labels; "
                        "repeatable")
    p.add_argument("--notes", default="", help="classification: a paragraph after the tables (protocol notes)")
    p.add_argument("out", help="the Markdown file to write (RESULTS.md)")
    p.add_argument("evaluations", nargs="+", help="SYSTEM:BACKEND:TRIALS=RESULTS_JSON, one per evaluation")
    return p


def main(args) -> None:
    page = Page(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Page)})
    write_results_page(page, args.evaluations, args.out)


if __name__ == "__main__":
    main_entry(main, build_parser)
