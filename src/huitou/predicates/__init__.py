"""The predicate language: parse text into a typed AST, check it, compile it to SQL."""

from .ast import Expr
from .parser import PredicateError, parse
from .sql import to_sql
from .typecheck import TypeProblem, check, referenced_segments

__all__ = ["Expr", "PredicateError", "TypeProblem", "check", "parse", "referenced_segments", "to_sql"]
