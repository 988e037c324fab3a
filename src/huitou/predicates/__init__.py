"""The predicate language: parse text into a typed AST, check it, compile it to SQL."""

from __future__ import annotations

from typing import Any

from .ast import Expr
from .parser import PredicateError, parse
from .typecheck import TypeProblem, check, referenced_segments


def to_sql(*args: Any, **kwargs: Any) -> Any:
    """See huitou.predicates.sql.to_sql; imported on first use, since validating never needs
    sqlglot and it is a tenth of the command's start-up time."""
    from .sql import to_sql as compile_

    return compile_(*args, **kwargs)


__all__ = ["Expr", "PredicateError", "TypeProblem", "check", "parse", "referenced_segments", "to_sql"]
