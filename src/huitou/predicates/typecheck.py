"""Type-check a predicate AST against the feature catalog and the named segments.

>>> from huitou.features import CATALOG
>>> from huitou.predicates.parser import parse
>>> [p.code for p in check(parse("tier > 3"), CATALOG, set())]
['HT203']
>>> [p.message for p in check(parse("ordr_count = 1"), CATALOG, set())]
["unknown feature 'ordr_count'"]
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..diagnostics import did_you_mean
from ..features import NUMERIC, Feature
from ..i18n import N_, _
from .ast import Between, Compare, Contains, Expr, InList, IsNull, Literal, Name, Operand, Term, walk


@dataclass(frozen=True)
class TypeProblem:
    code: str
    message: str
    offset: int
    hint: str = ""


def referenced_segments(tree: Expr, segments: set[str]) -> list[Name]:
    """Bare terms that name a segment, in order of appearance."""
    return [n.name for n in walk(tree) if isinstance(n, Term) and n.name.name in segments]


def check(tree: Expr, catalog: dict[str, Feature], segments: set[str]) -> list[TypeProblem]:
    problems: list[TypeProblem] = []
    for node in walk(tree):
        problems.extend(_check_node(node, catalog, segments))
    return problems


def _check_node(node: Expr, catalog: dict[str, Feature], segments: set[str]) -> list[TypeProblem]:
    if isinstance(node, Term):
        return _check_term(node.name, catalog, segments)
    if isinstance(node, Compare):
        return _check_pair(node.left, node.right, node.op, catalog, segments)
    if isinstance(node, Between):
        return _check_pair(node.operand, node.low, "BETWEEN", catalog, segments) or _check_pair(node.operand, node.high, "BETWEEN", catalog, segments)
    if isinstance(node, InList):
        out: list[TypeProblem] = []
        for item in node.items:
            out.extend(_check_pair(node.operand, item, "IN", catalog, segments))
            if out:
                break
        return out
    if isinstance(node, IsNull):
        return _resolve(node.operand, catalog, segments)[1]
    if isinstance(node, Contains):
        return _check_contains(node, catalog, segments)
    return []


def _check_term(name: Name, catalog: dict[str, Feature], segments: set[str]) -> list[TypeProblem]:
    if name.name in segments:
        return []
    feature = catalog.get(name.name)
    if feature is None:
        candidates = sorted(segments) + [f.name for f in catalog.values() if f.type == "boolean"]
        hint = did_you_mean(name.name, candidates) or _("define it under `segments:` or use a boolean feature")
        return [TypeProblem("HT301", _("unknown segment '{name}'", name=name.name), name.start, hint)]
    if feature.type != "boolean":
        example = f"{name.name} IS NOT NULL" if feature.type != "list" else f"{name.name} CONTAINS 'x'"
        if feature.type in NUMERIC:
            example = f"{name.name} > 0"
        said = _("'{name}' is {kind}, not a condition", name=name.name, kind=_a(feature.type))
        return [TypeProblem("HT203", said, name.start, _("compare it, e.g. {example}", example=example))]
    return []


def _resolve(operand: Operand, catalog: dict[str, Feature], segments: set[str]) -> tuple[str | None, list[TypeProblem]]:
    """The operand's type, or None with problems when it cannot be typed."""
    if isinstance(operand, Literal):
        return _literal_type(operand), []
    feature = catalog.get(operand.name)
    if feature is not None:
        return feature.type, []
    if operand.name in segments:
        return None, [
            TypeProblem(
                "HT203",
                _("'{name}' is a segment (true or false), not a value", name=operand.name),
                operand.start,
                _("use it alone as a condition: {name} AND ...", name=operand.name),
            )
        ]
    hint = did_you_mean(operand.name, catalog) or _("see docs/features.md for the feature names")
    return None, [TypeProblem("HT201", _("unknown feature '{name}'", name=operand.name), operand.start, hint)]


def _literal_type(lit: Literal) -> str:
    if lit.kind == "reldate":
        return "date"
    if lit.kind == "string" and _is_date(str(lit.value)):
        return "date-string"
    return lit.kind


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _compatible(a: str, b: str) -> bool:
    if a == "null" or b == "null":
        return False
    numeric = NUMERIC | {"integer", "number"}
    if a in numeric and b in numeric:
        return True
    if a == "date-string":
        a = "string" if b == "string" else "date"
    if b == "date-string":
        b = "string" if a == "string" else "date"
    return a == b and a != "list"


def _check_pair(left: Operand, right: Operand, op: str, catalog: dict[str, Feature], segments: set[str]) -> list[TypeProblem]:
    left_type, problems = _resolve(left, catalog, segments)
    right_type, more = _resolve(right, catalog, segments)
    problems += more
    if problems or left_type is None or right_type is None:
        return problems
    if "null" in (left_type, right_type):
        target = left if isinstance(left, Name) else right
        word = "IS NOT NULL" if op == "!=" else "IS NULL"
        return [
            TypeProblem(
                "HT203",
                _("a comparison with NULL is never true"),
                right.start if right_type == "null" else left.start,
                _("write {name} {word}", name=getattr(target, "name", "x"), word=word),
            )
        ]
    if "list" in (left_type, right_type):
        name = left.name if isinstance(left, Name) else getattr(right, "name", "?")
        said = _("'{name}' is a list; '{op}' does not apply to lists", name=name, op=op)
        return [TypeProblem("HT203", said, left.start, _("use {name} CONTAINS 'value'", name=name))]
    if left_type == "boolean" and right_type == "boolean" and op not in ("=", "!=", "IN"):
        return [TypeProblem("HT203", _("'{op}' does not apply to true/false values", op=op), left.start, _("use = or !="))]
    if not _compatible(left_type, right_type):
        culprit = right if isinstance(left, Name) else left
        feature_side = left if isinstance(left, Name) else right
        hint = _fix_hint(left_type if isinstance(left, Name) else right_type)
        return [
            TypeProblem(
                "HT203",
                _(
                    "cannot compare {this} with {that}",
                    this=_describe(feature_side, left_type if feature_side is left else right_type),
                    that=_describe(culprit, right_type if culprit is right else left_type),
                ),
                culprit.start,
                hint,
            )
        ]
    return _check_value_set(left, right, catalog) + _check_value_set(right, left, catalog)


def _check_value_set(name: Operand, value: Operand, catalog: dict[str, Feature]) -> list[TypeProblem]:
    if not (isinstance(name, Name) and isinstance(value, Literal) and value.kind == "string"):
        return []
    feature = catalog.get(name.name)
    if feature is None or not feature.values or value.value in feature.values:
        return []
    hint = did_you_mean(str(value.value), feature.values) or _("one of: {values}", values=", ".join(feature.values))
    return [TypeProblem("HT204", _("'{name}' is never '{value}'", name=name.name, value=value.value), value.start, hint)]


def _check_contains(node: Contains, catalog: dict[str, Feature], segments: set[str]) -> list[TypeProblem]:
    left_type, problems = _resolve(node.operand, catalog, segments)
    right_type, more = _resolve(node.item, catalog, segments)
    problems += more
    if problems or left_type is None:
        return problems
    if left_type not in ("list", "string"):
        return [
            TypeProblem(
                "HT203",
                _("CONTAINS needs a list or text, and '{name}' is {kind}", name=getattr(node.operand, "name", "?"), kind=_a(left_type)),
                node.operand.start,
                _("use = or IN for single values"),
            )
        ]
    if right_type not in ("string", "date-string"):
        said = _("CONTAINS looks for text, not {kind}", kind=_a(right_type or "value"))
        return [TypeProblem("HT203", said, node.item.start, _("quote the value: CONTAINS 'vip'"))]
    return []


_FIX_HINTS = {
    "integer": N_("compare with a number, e.g. >= 3"),
    "money": N_("compare with an amount, e.g. >= 140"),
    "number": N_("compare with a number, e.g. <= 7"),
    "date": N_("compare with a date: '2026-11-11', -90d or today"),
    "string": N_("quote the text: 'gold'"),
    "boolean": N_("compare with true or false, or use the name alone"),
}


_FIX_OTHER = N_("compare values of the same type")


def _fix_hint(feature_type: str) -> str:
    return _(_FIX_HINTS.get(feature_type, _FIX_OTHER))


def _describe(operand: Operand, type_: str | None) -> str:
    if isinstance(operand, Name):
        return f"'{operand.name}' ({type_})"
    kind = {"date-string": "text", "reldate": "date"}.get(type_ or "", type_)
    text = repr(operand.value) if operand.kind == "string" else str(operand.value).lower() if operand.kind == "boolean" else operand.value
    return f"{kind} {text}"


# A type with its article, as a sentence says it; the types' own names (date, string)
# are the words huitou.yaml declares fields with, and stay as written there.
_A = {
    "list": N_("a list"),
    "money": N_("an amount"),
    "number": N_("a number"),
    "integer": N_("an integer"),
    "date": N_("a date"),
    "string": N_("a string"),
    "boolean": N_("a boolean"),
    "null": N_("a null"),
    "value": N_("a value"),
}


def _a(type_: str) -> str:
    return _(_A[type_]) if type_ in _A else ("an " if type_[0] in "aeiou" else "a ") + type_
