"""The predicate AST. Every node knows its span (start, end) in the expression text."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Name:
    name: str
    start: int
    end: int


@dataclass(frozen=True)
class Literal:
    """kind: integer | number | string | boolean | null | reldate | today."""

    kind: str
    value: object
    start: int
    end: int
    unit: str = ""  # for reldate: d, w, m, y


@dataclass(frozen=True)
class Compare:
    op: str  # = != < <= > >=
    left: Operand
    right: Operand
    start: int
    end: int


@dataclass(frozen=True)
class Between:
    operand: Operand
    low: Operand
    high: Operand
    negated: bool
    start: int
    end: int


@dataclass(frozen=True)
class InList:
    operand: Operand
    items: tuple[Literal, ...]
    negated: bool
    start: int
    end: int


@dataclass(frozen=True)
class IsNull:
    operand: Operand
    negated: bool
    start: int
    end: int


@dataclass(frozen=True)
class Contains:
    operand: Operand
    item: Operand
    negated: bool
    start: int
    end: int


@dataclass(frozen=True)
class Term:
    """A bare name used as a condition: a named segment or a boolean feature."""

    name: Name
    start: int
    end: int


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Not:
    item: Expr
    start: int
    end: int


Operand = Name | Literal
Expr = Compare | Between | InList | IsNull | Contains | Term | And | Or | Not


def walk(node: Expr) -> list[Expr]:
    """Every condition node, depth first, the node itself included."""
    out: list[Expr] = [node]
    if isinstance(node, (And, Or)):
        for item in node.items:
            out.extend(walk(item))
    elif isinstance(node, Not):
        out.extend(walk(node.item))
    return out
