"""HT501 care-first: every promotion must target customers some care rule can also reach.

A promotion is covered when its segment and some care rule's segment can both be true for
one customer. Overlap is decided without data, by putting ``promotion AND care`` in
disjunctive normal form and looking for one conjunction whose constraints on each feature
can all hold (numeric and date intervals, equalities, NULL). Anything the analysis does
not model (CONTAINS, comparisons between two features, month offsets) counts as possibly
true, so the check only reports a promotion when the contradiction is certain.

>>> from huitou.predicates import parse
>>> may_overlap(parse("days_since_last_order BETWEEN 90 AND 180"), parse("days_since_last_order > 360"), {})
False
>>> may_overlap(parse("order_count >= 2"), parse("tier = 'gold'"), {})
True
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ..diagnostics import Diagnostic
from ..i18n import _
from ..predicates import PredicateError
from ..predicates.ast import And, Between, Compare, Expr, InList, IsNull, Literal, Name, Not, Or, Term
from ..vocabulary import Intent
from .context import PlaybookContext

_NEGATE = {"=": "!=", "!=": "=", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
_FLIP = {"=": "=", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
MAX_CONJUNCTIONS = 512


@dataclass(frozen=True)
class Atom:
    feature: str
    op: str  # comparison operator, or "null" / "notnull"
    value: object = None
    domain: str = ""  # num | date | reldate | text | bool


OPAQUE = None  # an atom the analysis does not model: always possibly true

Conj = tuple[Atom | None, ...]


def care_forms(contexts: list[PlaybookContext]) -> list[list[Conj] | None]:
    """The distinct care segments of a project, in normal form (computed once per run)."""
    forms: dict[object, list[Conj] | None] = {}
    for ctx in contexts:
        segments = _segment_trees(ctx)
        for rule, pred in zip(ctx.rules, ctx.rule_segments):
            if rule["intent"] == Intent.CARE and rule.get("enabled", True) and not isinstance(pred.tree, PredicateError):
                form = _dnf(pred.tree, False, segments, ())
                forms.setdefault(tuple(form) if form is not None else None, form)
    return list(forms.values())


def run(ctx: PlaybookContext) -> Iterator[Diagnostic]:
    forms = ctx.care_forms if ctx.care_forms is not None else care_forms([ctx])
    segments = _segment_trees(ctx)
    for i, (rule, pred) in enumerate(zip(ctx.rules, ctx.rule_segments)):
        if rule["intent"] != Intent.PROMOTION or not rule.get("enabled", True) or isinstance(pred.tree, PredicateError):
            continue
        promo = _dnf(pred.tree, False, segments, ())
        if not any(_forms_overlap(promo, care) for care in forms):
            hint = (
                _("add a care rule (birthday wishes, a check-in) that reaches these customers first")
                if forms
                else _("the project has no care rule: add one before promoting")
            )
            message = _("promotion {rule} reaches customers no care rule reaches (care first)", rule=ctx.rule_label(i))
            yield ctx.at(("rules", i, "segment"), "HT501", message, hint)


def _segment_trees(ctx: PlaybookContext) -> dict[str, Expr]:
    return {name: p.tree for name, p in ctx.segments.items() if not isinstance(p.tree, PredicateError)}


def _forms_overlap(left: list[Conj] | None, right: list[Conj] | None) -> bool:
    if left is None or right is None or len(left) * len(right) > MAX_CONJUNCTIONS * 8:
        return True
    return any(_satisfiable(x + y) for x in left for y in right)


def may_overlap(a: Expr, b: Expr, segments_a: Mapping[str, Expr], segments_b: Mapping[str, Expr] | None = None) -> bool:
    """Whether some customer could satisfy both predicates (False only when certain)."""
    right = _dnf(b, False, segments_b if segments_b is not None else segments_a, ())
    return _forms_overlap(_dnf(a, False, segments_a, ()), right)


def _dnf(node: Expr, negated: bool, segments: Mapping[str, Expr], seen: tuple[str, ...]) -> list[Conj] | None:
    """The node (negated if asked) as a list of conjunctions; None when it grows too large."""
    if isinstance(node, Not):
        return _dnf(node.item, not negated, segments, seen)
    if isinstance(node, (And, Or)):
        conjunctive = isinstance(node, And) != negated
        parts = [_dnf(item, negated, segments, seen) for item in node.items]
        if any(p is None for p in parts):
            return None
        if not conjunctive:
            merged = [c for p in parts for c in p]  # type: ignore[union-attr]
            return merged if len(merged) <= MAX_CONJUNCTIONS else None
        product: list[Conj] = [()]
        for p in parts:
            product = [x + y for x in product for y in p]  # type: ignore[union-attr]
            if len(product) > MAX_CONJUNCTIONS:
                return None
        return product
    if isinstance(node, Term):
        name = node.name.name
        if name in segments and name not in seen:
            return _dnf(segments[name], negated, segments, (*seen, name))
        if name in segments:
            return [(OPAQUE,)]
        return [(Atom(name, "!=" if negated else "=", True, "bool"),)]
    if isinstance(node, Between):
        lo = Compare(">=", node.operand, node.low, node.start, node.end)
        hi = Compare("<=", node.operand, node.high, node.start, node.end)
        return _dnf(And((lo, hi), node.start, node.end), negated != node.negated, segments, seen)
    if isinstance(node, InList):
        eqs = tuple(Compare("=", node.operand, item, node.start, node.end) for item in node.items)
        return _dnf(Or(eqs, node.start, node.end), negated != node.negated, segments, seen)
    if isinstance(node, IsNull):
        if not isinstance(node.operand, Name):
            return [(OPAQUE,)]
        is_null = node.negated == negated
        return [(Atom(node.operand.name, "null" if is_null else "notnull"),)]
    if isinstance(node, Compare):
        return [(_compare_atom(node, negated),)]
    return [(OPAQUE,)]  # CONTAINS and anything else not modelled


def _compare_atom(node: Compare, negated: bool) -> Atom | None:
    op = _NEGATE[node.op] if negated else node.op
    name, lit = node.left, node.right
    if isinstance(name, Literal) and isinstance(lit, Name):
        name, lit, op = lit, name, _FLIP[op]
    if not isinstance(name, Name) or not isinstance(lit, Literal):
        return OPAQUE
    if lit.kind in ("integer", "number"):
        return Atom(name.name, op, float(lit.value), "num")  # type: ignore[arg-type]
    if lit.kind == "reldate":
        if lit.unit not in ("d", "w"):
            return OPAQUE
        return Atom(name.name, op, float(lit.value) * (7 if lit.unit == "w" else 1), "reldate")  # type: ignore[arg-type]
    if lit.kind == "string":
        try:
            return Atom(name.name, op, float(dt.date.fromisoformat(str(lit.value)).toordinal()), "date")
        except ValueError:
            return Atom(name.name, op, lit.value, "text")
    if lit.kind == "boolean":
        return Atom(name.name, op, lit.value, "bool")
    return OPAQUE


def _satisfiable(conj: Conj) -> bool:
    atoms = [a for a in conj if a is not None]
    for feature in {a.feature for a in atoms}:
        mine = [a for a in atoms if a.feature == feature]
        nulls = {a.op for a in mine if a.op in ("null", "notnull")}
        compares = [a for a in mine if a.op not in ("null", "notnull")]
        if "null" in nulls and (compares or "notnull" in nulls):
            return False
        for domain in {a.domain for a in compares}:
            if not _domain_satisfiable([a for a in compares if a.domain == domain]):
                return False
    return True


def _domain_satisfiable(atoms: list[Atom]) -> bool:
    if atoms[0].domain in ("text", "bool"):
        equal = {a.value for a in atoms if a.op == "="}
        unequal = {a.value for a in atoms if a.op == "!="}
        if atoms[0].domain == "bool" and len(unequal) >= 2:
            return False  # neither true nor false
        return len(equal) <= 1 and not (equal & unequal)
    lo, lo_open, hi, hi_open = -math.inf, True, math.inf, True
    excluded = set()
    for a in atoms:
        v = float(a.value)  # type: ignore[arg-type]
        if a.op in (">", ">=", "=") and (v > lo or (v == lo and a.op == ">")):
            lo, lo_open = v, a.op == ">"
        if a.op in ("<", "<=", "=") and (v < hi or (v == hi and a.op == "<")):
            hi, hi_open = v, a.op == "<"
        if a.op == "!=":
            excluded.add(v)
    return not (lo > hi or (lo == hi and (lo_open or hi_open or lo in excluded)))
