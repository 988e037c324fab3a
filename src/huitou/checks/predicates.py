"""HT201-HT206, HT301: segment and rule predicates parse, name real things and type-check.

Errors point at the column inside the expression, wherever the YAML puts it.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..diagnostics import Diagnostic
from ..features import Feature
from ..forecast import MIN_CUSTOMERS, MIN_REPEAT_BUYERS
from ..i18n import _
from ..predicates import PredicateError, check, referenced_segments
from ..predicates.ast import Expr, Name, walk
from .context import PlaybookContext, Predicate


def run(ctx: PlaybookContext) -> Iterator[Diagnostic]:
    names = set(ctx.segments)
    for pred in [*ctx.segments.values(), *ctx.rule_segments]:
        yield from _check_one(ctx, pred, names)
    yield from _cycles(ctx)


def _check_one(ctx: PlaybookContext, pred: Predicate, names: set[str]) -> Iterator[Diagnostic]:
    if isinstance(pred.tree, PredicateError):
        yield ctx.in_predicate(pred, pred.tree.offset, "HT202", pred.tree.message, pred.tree.hint)
        return
    for problem in check(pred.tree, ctx.project.catalog, names):
        yield ctx.in_predicate(pred, problem.offset, problem.code, problem.message, problem.hint)
    for name in _fitted_names(pred.tree, ctx.project.catalog):
        yield ctx.in_predicate(
            pred,
            name.start,
            "HT206",
            _(
                "'{name}' is fitted from the shop's history (BG/NBD): it is empty, and this condition false, for a shop with "
                "fewer than {customers} customers with a purchase or {repeaters} who bought again",
                name=name.name,
                customers=MIN_CUSTOMERS,
                repeaters=MIN_REPEAT_BUYERS,
            ),
            _("run `huitou forecast` on the shop's data to see the fit and how well it predicts"),
        )


def _fitted_names(tree: Expr, catalog: dict[str, Feature]) -> list[Name]:
    """The names in the predicate of features fitted by forecast/ (source `forecast`)."""
    return [
        value
        for node in walk(tree)
        for value in vars(node).values()
        if isinstance(value, Name) and value.name in catalog and catalog[value.name].source == "forecast"
    ]


def _cycles(ctx: PlaybookContext) -> Iterator[Diagnostic]:
    """Each back edge of a depth-first walk closes one cycle; report it at that reference."""
    names = set(ctx.segments)
    graph = {name: referenced_segments(pred.tree, names) if not isinstance(pred.tree, PredicateError) else [] for name, pred in ctx.segments.items()}
    done: set[str] = set()
    for root in graph:
        if root in done:
            continue
        trail: list[str] = [root]
        iters = [iter(graph[root])]
        while iters:
            ref = next(iters[-1], None)
            if ref is None:
                done.add(trail.pop())
                iters.pop()
            elif ref.name in trail:
                loop = " -> ".join([*trail[trail.index(ref.name) :], ref.name])
                yield ctx.in_predicate(
                    ctx.segments[trail[-1]],
                    ref.start,
                    "HT205",
                    _("segments refer to each other in a cycle: {loop}", loop=loop),
                    _("a segment cannot contain itself; inline the shared condition"),
                )
            elif ref.name not in done:
                trail.append(ref.name)
                iters.append(iter(graph[ref.name]))
