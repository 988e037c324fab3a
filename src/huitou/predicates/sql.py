"""Compile a type-checked predicate to a sqlglot expression, for any SQL dialect.

Features are columns of the feature table; ``as_of`` is the evaluation date (a column of
that table unless a literal date is given). Named segments are inlined, parenthesized.
NULL follows SQL three-valued logic: a comparison with a missing value is unknown, so
the customer is not in the segment (and ``NOT`` of unknown is still unknown).

>>> from huitou.predicates.parser import parse
>>> to_sql(parse("order_count = 1 AND last_order_date >= -45d")).sql("duckdb")
'order_count = 1 AND last_order_date >= CAST(as_of + INTERVAL (-45) DAY AS DATE)'
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlglot.expressions as exp

from ..features import CATALOG, Feature
from .ast import And, Between, Compare, Contains, Expr, InList, IsNull, Literal, Name, Not, Operand, Or, Term

_UNITS = {"d": "DAY", "w": "WEEK", "m": "MONTH", "y": "YEAR"}
_COMPARE = {"=": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}


def to_sql(
    tree: Expr,
    segments: Mapping[str, exp.Expr] | None = None,
    *,
    as_of: exp.Expr | None = None,
    catalog: Mapping[str, Feature] = CATALOG,
    columns: Mapping[str, exp.Expr] | None = None,
) -> exp.Expr:
    """The predicate as a boolean SQL expression. `columns` replaces feature columns by
    expressions (a playbook's own lifecycle thresholds replace `lifecycle`)."""
    return _Compiler(segments or {}, as_of if as_of is not None else exp.column("as_of"), catalog, columns or {}).expr(tree)


class _Compiler:
    def __init__(
        self,
        segments: Mapping[str, exp.Expr],
        as_of: exp.Expr,
        catalog: Mapping[str, Feature],
        columns: Mapping[str, exp.Expr],
    ) -> None:
        self.segments = segments
        self.as_of = as_of
        self.catalog = catalog
        self.columns = columns

    def column(self, name: str) -> exp.Expr:
        override = self.columns.get(name)
        return exp.paren(override.copy(), copy=False) if override is not None else exp.column(name)

    def expr(self, node: Expr) -> exp.Expr:
        if isinstance(node, And):
            return exp.and_(*(self.expr(i) for i in node.items), wrap=True)
        if isinstance(node, Or):
            return exp.or_(*(self.expr(i) for i in node.items), wrap=True)
        if isinstance(node, Not):
            return exp.not_(exp.paren(self.expr(node.item), copy=False) if isinstance(node.item, (And, Or)) else self.expr(node.item))
        if isinstance(node, Term):
            if node.name.name in self.segments:
                return exp.paren(self.segments[node.name.name].copy(), copy=False)
            return self.column(node.name.name)
        if isinstance(node, Compare):
            date_side = self._is_date(node.left) or self._is_date(node.right)
            return _COMPARE[node.op](this=self.operand(node.left, date_side), expression=self.operand(node.right, date_side))
        if isinstance(node, Between):
            date_side = self._is_date(node.operand)
            between = exp.Between(
                this=self.operand(node.operand, date_side), low=self.operand(node.low, date_side), high=self.operand(node.high, date_side)
            )
            return exp.not_(between) if node.negated else between
        if isinstance(node, InList):
            date_side = self._is_date(node.operand)
            in_ = exp.In(this=self.operand(node.operand, date_side), expressions=[self.operand(i, date_side) for i in node.items])
            return exp.not_(in_) if node.negated else in_
        if isinstance(node, IsNull):
            is_null = exp.Is(this=self.operand(node.operand, False), expression=exp.Null())
            return exp.not_(is_null) if node.negated else is_null
        if isinstance(node, Contains):
            return self.contains(node)
        raise TypeError(f"not a predicate node: {node!r}")  # pragma: no cover - the AST is closed

    def contains(self, node: Contains) -> exp.Expr:
        this = self.operand(node.operand, False)
        item = self.operand(node.item, False)
        feature = self.catalog.get(node.operand.name) if isinstance(node.operand, Name) else None
        if feature is not None and feature.type == "list":
            found: exp.Expr = exp.ArrayContains(this=this, expression=item)
        else:
            found = exp.GT(this=exp.StrPosition(this=this, substr=item), expression=exp.Literal.number(0))
        return exp.not_(found) if node.negated else found

    def _is_date(self, operand: Operand) -> bool:
        if isinstance(operand, Name):
            feature = self.catalog.get(operand.name)
            return feature is not None and feature.type == "date"
        return operand.kind == "reldate"

    def operand(self, operand: Operand, date_context: bool) -> exp.Expr:
        if isinstance(operand, Name):
            return self.column(operand.name)
        return self.literal(operand, date_context)

    def literal(self, lit: Literal, date_context: bool) -> exp.Expr:
        if lit.kind == "reldate":
            if lit.value == 0:
                return exp.cast(self.as_of.copy(), "DATE")
            shifted = exp.DateAdd(this=self.as_of.copy(), expression=exp.Literal.number(lit.value), unit=exp.Var(this=_UNITS[lit.unit]))
            return exp.cast(shifted, "DATE")
        if lit.kind == "string":
            text = exp.Literal.string(str(lit.value))
            return exp.cast(text, "DATE") if date_context else text
        if lit.kind == "boolean":
            return exp.true() if lit.value else exp.false()
        if lit.kind == "null":
            return exp.Null()
        return exp.Literal.number(lit.value)
