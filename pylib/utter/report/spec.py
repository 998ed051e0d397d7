"""The one spec language of results.conf and of the RESULTS.md programs' arguments.

Every item a recipe's ``conf/results.conf`` hands to ``make_results_table`` and ``make_findings`` is
built from three forms, parsed here only:

- a pair ``KEY=VALUE`` (split at the first ``=``): ``--heading``, ``--system-label``, a finding's sides
  ``LABEL=PATH[,PATH...]``, a pseudo-label round ``ROUND=CLUSTER_JSON,SCORES_JSON``;
- a list of ``KEY[=VALUE]`` items separated by ``,``: ``--metrics UA,WA=accuracy``, a finding's kind
  ``trials=FILE,utt2spk=FILE`` and its declaration ``role=primary,delta=2``;
- fields separated by one character: an evaluation ``SYSTEM:BACKEND:TRIALS=PATH`` (``:``), a finding
  ``NAME|CLAIM|A=PATHS|B=PATHS|FIGURE|DIRECTION|KIND[|DECLARATION]`` (``|``).

Every error names the item as written.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from utter.transfer.findings import Declaration, Finding

#: the keys of a finding's declaration, and those whose values are numbers
DECLARATION_KEYS = ("role", "test", "margin", "delta", "folds")
_NUMBER_KEYS = ("margin", "delta")


def parse_pair(spec: str, option: str, what: str = "KEY=TEXT", value_required: bool = False) -> tuple[str, str]:
    """``KEY=VALUE`` -> (KEY, VALUE); a missing ``=`` or KEY (or VALUE, when required) is an error naming
    ``option`` and the item."""
    key, sep, value = spec.partition("=")
    if not sep or not key or (value_required and not value):
        raise ValueError(f"bad {option} '{spec}': expected {what}")
    return key, value


def parse_pairs(specs: Sequence[str], option: str, what: str = "KEY=TEXT") -> dict[str, str]:
    """``KEY=TEXT`` items -> {KEY: TEXT} in their order (a later KEY wins); an error names the option."""
    return dict(parse_pair(spec, option, what) for spec in specs)


def parse_items(text: str) -> list[tuple[str, str | None]]:
    """``a,b=c`` -> [(a, None), (b, c)]: the comma-separated items (blank ones dropped), each split at its
    first ``=`` (None: the item has none)."""
    out = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, sep, value = item.partition("=")
        out.append((key, value if sep else None))
    return out


def split_fields(spec: str, sep: str, counts: Sequence[int], expected: str) -> list[str]:
    """``spec`` split at ``sep``; an error, naming the item and ``expected``, unless the number of
    fields is one of ``counts``."""
    fields = spec.split(sep)
    if len(fields) not in counts:
        raise ValueError(f"'{spec}': expected {expected}, got {len(fields)} fields")
    return fields


def parse_evaluation(spec: str) -> tuple[str, str, str, str]:
    """``A:B:C=PATH`` (``SYSTEM:BACKEND:TRIALS`` or ``GROUP:SYSTEM/METHOD:PROTOCOL``) -> its four parts;
    A, B and C non-empty, without blanks, ``:`` or ``=``."""
    head, sep, path = spec.partition("=")
    fields = head.split(":")
    if not sep or not path or len(fields) != 3 or any(not f or any(c.isspace() for c in f) for f in fields):
        raise ValueError(f"bad evaluation '{spec}': expected SYSTEM:BACKEND:TRIALS=PATH")
    return fields[0], fields[1], fields[2], path


def parse_declaration(text: str) -> Declaration:
    """A finding's declaration from ``key=value,...`` (:data:`DECLARATION_KEYS`); empty text: the defaults."""
    kw: dict = {}
    for key, value in parse_items(text):
        if value is None or key not in DECLARATION_KEYS:
            item = key if value is None else f"{key}={value}"
            raise ValueError(f"'{item}': expected {', '.join(k + '=' for k in DECLARATION_KEYS[:-1])} or "
                             f"{DECLARATION_KEYS[-1]}=")
        kw[key] = float(value) if key in _NUMBER_KEYS else value
    return Declaration(**kw)


@dataclass(frozen=True)
class FindingSpec:
    """One finding of results.conf: the comparison, one result file per pretraining seed on each side,
    and the verification options (trial list, utt2spk; None: summaries of runs)."""

    finding: Finding
    paths_a: list[str]
    paths_b: list[str]
    verification: dict[str, str] | None


_FINDING = ("7 or 8 '|'-separated fields (NAME|CLAIM|A=PATHS|B=PATHS|FIGURE|greater or less|runs or "
            "trials=...,utt2spk=...[|role=...,test=...,margin=...,delta=...,folds=...])")


def parse_finding(spec: str) -> FindingSpec:
    """``NAME|CLAIM|A=PATHS|B=PATHS|FIGURE|greater or less|KIND[|DECLARATION]`` -> :class:`FindingSpec`."""
    try:
        fields = split_fields(spec, "|", (7, 8), _FINDING)
    except ValueError as e:
        raise ValueError(f"finding {e}") from None
    name, claim, a, b, figure, direction, kind = (f.strip() for f in fields[:7])
    sides = [parse_pair(side, f"side of finding {name}", "LABEL=PATH[,PATH...]") for side in (a, b)]
    if direction not in ("greater", "less"):
        raise ValueError(f"finding {name}: direction must be 'greater' or 'less', got '{direction}'")
    try:
        declaration = parse_declaration(fields[7] if len(fields) == 8 else "")
    except ValueError as e:
        raise ValueError(f"finding {name}: declaration '{fields[7]}': {e}") from e
    opts = None
    if kind != "runs":
        opts = {k: v for k, v in parse_items(kind) if v is not None}
        if set(opts) != {"trials", "utt2spk"}:
            raise ValueError(f"finding {name}: kind must be 'runs' or 'trials=FILE,utt2spk=FILE', got '{kind}'")
    finding = Finding(name, claim, sides[0][0], sides[1][0], figure, direction, declaration)
    return FindingSpec(finding, sides[0][1].split(","), sides[1][1].split(","), opts)


def parse_metrics(spec: str, names: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """``UA,WA=accuracy`` -> [(key, shown name)]; a name defaults to ``names[key]``, else the key."""
    out = [(key, name or (names or {}).get(key, key)) for key, name in parse_items(spec)]
    if not out:
        raise ValueError("--metrics names no figure")
    return out

