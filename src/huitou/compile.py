"""Compile a valid playbook's segments and rules to SQL (what `evaluate` will run).

Named segments are inlined where they are used, so each rule's SQL stands alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sqlglot.expressions as exp

from .checks.context import PlaybookContext
from .predicates import PredicateError, referenced_segments, to_sql
from .predicates.ast import Expr


@dataclass(frozen=True)
class Compiled:
    kind: str  # segment | rule
    name: str
    sql: exp.Expr


def compile_playbook(ctx: PlaybookContext, columns: Mapping[str, exp.Expr] | None = None) -> list[Compiled]:
    """Assumes the playbook validated clean (no cycles, every name known)."""
    catalog = ctx.project.catalog
    trees: dict[str, Expr] = {n: p.tree for n, p in ctx.segments.items() if not isinstance(p.tree, PredicateError)}
    done: dict[str, exp.Expr] = {}

    def segment_sql(name: str) -> exp.Expr:
        if name not in done:
            for ref in referenced_segments(trees[name], set(trees)):
                segment_sql(ref.name)
            done[name] = to_sql(trees[name], done, catalog=catalog, columns=columns)
        return done[name]

    out = [Compiled("segment", name, segment_sql(name)) for name in trees]
    for rule, pred in zip(ctx.rules, ctx.rule_segments):
        if not isinstance(pred.tree, PredicateError):
            out.append(Compiled("rule", str(rule["id"]), to_sql(pred.tree, done, catalog=catalog, columns=columns)))
    return out
