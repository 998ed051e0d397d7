"""The one spec language of results.conf (utter.report.spec), checked against the grammars the two
programs had before it was shared: the evaluation regex of make_results_table and the
'|'-field reading of make_findings, restated here as the references."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from utter.report.spec import (
    parse_declaration,
    parse_evaluation,
    parse_finding,
    parse_metrics,
    parse_pair,
    parse_pairs,
)

#: make_results_table's evaluation grammar before the shared parser (the reference)
OLD_EVALUATION = re.compile(r"^([^:=\s]+):([^:=\s]+):([^:=\s]+)=(.+)$")


@pytest.mark.parametrize("spec", [
    "dino:cosine:O=exp/dino/scores/O/scores_cosine.json", "frozen:dino/logreg:loso=a=b.json", "a:b:c=d",
    "a:b=c", "a:b:c:d=e", ":b:c=d", "a::c=d", "a:b c:d=e", "a:b:c=", "a:b:c", "a\t:b:c=d", "a:b:c= x",
    "a=b:c:d=e"])
def test_evaluation_grammar_is_the_old_one(spec):
    m = OLD_EVALUATION.match(spec)
    if m:
        assert parse_evaluation(spec) == m.groups()
    else:
        with pytest.raises(ValueError, match=r"expected SYSTEM:BACKEND:TRIALS=PATH"):
            parse_evaluation(spec)


def test_pairs_and_items():
    assert parse_pair("dino=DINO ({net})", "--system-label") == ("dino", "DINO ({net})")
    assert parse_pair("k=", "--heading") == ("k", "")
    assert parse_pairs(["a=1", "b=x=y", "a=2"], "--heading") == {"a": "2", "b": "x=y"}
    for bad in ("novalue", "=text"):
        with pytest.raises(ValueError, match=f"bad --heading '{bad}': expected KEY=TEXT"):
            parse_pair(bad, "--heading")
    with pytest.raises(ValueError, match="bad --train-plan 'dino=': expected SYSTEM=JSON"):
        parse_pair("dino=", "--train-plan", "SYSTEM=JSON", value_required=True)
    assert parse_metrics("UA, WA=accuracy,,RMSE=", {"UA": "UA %"}) == [("UA", "UA %"), ("WA", "accuracy"),
                                                                     ("RMSE", "RMSE")]
    with pytest.raises(ValueError, match="names no figure"):
        parse_metrics(" , ")


def test_finding_and_declaration():
    spec = ("F3|long chunks are not worse|400 frames=a0.json,a1.json|200 frames=b0.json,b1.json|UA|greater|runs|"
            "role=primary,test=noninferiority,margin=2,delta=2")
    f = parse_finding(spec)
    assert (f.finding.name, f.finding.label_a, f.finding.label_b, f.finding.figure) == (
        "F3", "400 frames", "200 frames", "UA")
    assert f.paths_a == ["a0.json", "a1.json"] and f.paths_b == ["b0.json", "b1.json"] and f.verification is None
    d = f.finding.declaration
    assert (d.role, d.test, d.margin, d.delta) == ("primary", "noninferiority", 2.0, 2.0)
    v = parse_finding("E1|x-vector verifies better|xv=s0|dino=s1|EER|less|trials=data/t,utt2spk=data/u")
    assert v.verification == {"trials": "data/t", "utt2spk": "data/u"}
    assert v.finding.declaration == parse_declaration("")
    for bad, match in (("F9|too|few", "7 or 8 '|'-separated fields"),
                       ("F1|c|a|b=p|UA|greater|runs", "expected LABEL=PATH"),
                       ("F1|c|a=p|b=p|UA|up|runs", "direction must be"),
                       ("F1|c|a=p|b=p|UA|less|trials=t", "kind must be 'runs'"),
                       ("F1|c|a=p|b=p|UA|less|runs|role", r"declaration 'role': 'role': expected role=")):
        with pytest.raises(ValueError, match=match):
            parse_finding(bad)


def test_results_table_program_is_parsing_and_a_call():
    """bin/ holds argument parsing and a call (DESIGN.md): the program defines build_parser and main only."""
    source = (Path(__file__).resolve().parents[2] / "pylib/utter/bin/make_results_table.py").read_text()
    defs = [n.name for n in ast.parse(source).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert defs == ["build_parser", "main"]
